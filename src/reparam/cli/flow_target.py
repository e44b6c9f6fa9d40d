"""``reparam flow fit --target``: variational inference with a flow on an unnormalized 2-D
density of :data:`reparam.vi.targets.TARGETS`.

The flow is fitted by :func:`reparam.vi.fit_flow_to_target` (through ``_flow_target``, which
keeps the run files and ``--resume``); the result (ELBO, reverse KL with log Z in closed
form or by quadrature, IS log Z, ESS, k̂) is :func:`reparam.vi.target_diagnostics`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._flow_run import VI_EVAL, FlowFit, _check_memory, make_flow, write_fit_plots

__all__ = ["TargetFit", "log_z", "vi_result"]


def log_z(target: str) -> tuple[float, str]:
    """log Z of ``target`` and how it was found ("closed form" or "quadrature")."""
    from ..vi.targets import (
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
    from ..vi import target_diagnostics

    value, source = log_z(target)
    out = target_diagnostics(model.flow, model.log_target, VI_EVAL, log_z=value)
    out.update(n=out["num_samples"], log_z_is=out["log_evidence"], log_z_source=source)
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
        import torch

        from ..vi.targets import target_log_prob

        model = torch.nn.ModuleDict({"flow": make_flow(options, self.features(data))})
        model.log_target = target_log_prob(options["target"])  # type: ignore[assignment]
        return model

    def train_config(self, options: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
        return {"batch_size": 1}  # unused: every VI step draws its own samples

    def datasets(self, options: dict[str, Any], model: Any, data: Any) -> tuple[Any, Any]:
        return None, None  # data-free: the flow draws its own samples

    def fit(self, model: Any, prepared: Any, args: argparse.Namespace) -> Any:
        from ._flow_target import fit_target

        model = model.to(prepared.device)
        return fit_target(
            model, prepared.options, args.out, args.resume, args.progress, prepared.tensorboard
        )

    def evaluate(self, model: Any, data: Any, options: dict[str, Any]) -> dict[str, Any]:
        return vi_result(model, options["target"])

    def write_plots(
        self, model: Any, data: Any, evaluated: dict[str, Any], options: dict[str, Any], out: Path
    ) -> list[str]:
        from ..vi.targets import target_bounds, target_log_prob

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
