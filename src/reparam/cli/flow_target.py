"""``reparam flow fit --target``: variational inference with a flow on an unnormalized 2-D
density of :data:`reparam.data.TARGETS`.

The one place where the command calls the library's VI-on-target side
(:class:`reparam.density.VariationalFit`, :func:`reparam.density.vi_diagnostics`): the
model, its loop data (``dummy_data``: ``--steps-per-epoch`` steps of batch 1), the result
(ELBO, reverse KL with log Z in closed form or by quadrature, ESS) and the plots.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .flow import VI_EVAL, FlowFit, _check_memory, make_flow, write_fit_plots

__all__ = ["TargetFit", "log_z", "vi_result"]


def log_z(target: str) -> tuple[float, str]:
    """log Z of ``target`` and how it was found ("closed form" or "quadrature")."""
    from ..data.toy2d import (
        log_normalizer_2d,
        target_bounds,
        target_log_normalizer,
        target_log_prob,
    )

    exact = target_log_normalizer(target)
    if exact is not None:
        return exact, "closed form"
    return log_normalizer_2d(target_log_prob(target), target_bounds(target), 1000), "quadrature"


def vi_result(model: Any, target: str) -> dict[str, Any]:
    """ELBO, KL(q‖p) with its standard error, log Z and the ESS of the weights p̃/q."""
    from ..density import vi_diagnostics

    value, source = log_z(target)
    out = vi_diagnostics(model.flow, model.log_target, VI_EVAL, log_z=value)
    out["log_z_source"] = source
    return out


class TargetFit(FlowFit):
    """``flow fit --target``: reverse-KL fit of a flow to a 2-D target (data: None)."""

    def features(self, data: Any) -> int:
        return 2

    def problem(self, options: dict[str, Any], data: Any) -> str:
        return f"target {options['target']} (VI, {options['samples']} samples/step)"

    def load(self, options: dict[str, Any]) -> Any:
        _check_memory(options, self.features(None))
        return None

    def build_model(self, options: dict[str, Any], data: Any) -> Any:
        from ..data.toy2d import target_log_prob
        from ..density import VariationalFit

        return VariationalFit(
            make_flow(options, self.features(data)), target_log_prob(options["target"]),
            samples=options["samples"], anneal_steps=options.get("anneal_steps") or 0,
        )  # fmt: skip

    def train_config(self, options: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
        return {"batch_size": 1}

    def datasets(self, options: dict[str, Any], model: Any, data: Any) -> tuple[Any, Any]:
        from ..density import VariationalFit

        return VariationalFit.dummy_data(options["steps_per_epoch"]), None

    def evaluate(self, model: Any, data: Any, options: dict[str, Any]) -> dict[str, Any]:
        return vi_result(model, options["target"])

    def write_plots(
        self, model: Any, data: Any, evaluated: dict[str, Any], options: dict[str, Any], out: Path
    ) -> list[str]:
        from ..data.toy2d import target_bounds, target_log_prob

        target = options["target"]

        def target_panel(grid: Any) -> dict[str, Any]:
            return {"reference_log_p": target_log_prob(target)(grid)}

        what = f"{options['flow']} on {target}"
        return write_fit_plots(model, out, what, "−ELBO (nats)", None, target_bounds(target),
                               target_panel)  # fmt: skip

    def summary(self, evaluated: dict[str, Any]) -> str:
        res = evaluated
        kl = "" if res["kl"] is None else (
            f", KL(q‖p) {res['kl']:.4f} ± {res['kl_se']:.4f} (log Z {res['log_z']:.4f}, "
            f"{res['log_z_source']})"
        )  # fmt: skip
        return (
            f"ELBO {res['elbo']:.4f} ± {res['elbo_se']:.4f}{kl}, ESS "
            f"{100 * res['ess_fraction']:.1f}% of {res['n']} samples"
        )
