"""``reparam flow fit --data``: density estimation with a flow, by maximum likelihood.

The data is a 2-D toy of :data:`reparam.data.TOY_DATA` (``--n-train`` training points;
validation and test sets of :data:`~reparam.cli.flow.TOY_EVAL` points drawn with other
seeds) or an (N, D) ``.csv`` / ``.npy`` matrix split 80/10/10 with ``--seed`` and
standardized on the training split. ``result.json`` holds the train / valid / test NLL
per point (± s.e.) and the test NLL of a full-covariance Gaussian fit.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from ._common import CommandError
from ._flow_run import TOY_EVAL, FlowFit, _check_memory, _toys, make_flow, write_fit_plots

__all__ = ["DensityFit", "density_result", "load_data"]


def _seed(seed: int, stream: int) -> int:
    import numpy as np

    return int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0] >> 1)


def load_data(options: dict[str, Any]) -> dict[str, Any]:
    """The train / valid / test tensors of a density run (toy draws or a split file)."""
    import torch

    from ..data import load_tabular, sample_toy, split_tabular, standardize

    name = options["data"]
    if name in _toys():
        parts = []
        for stream, n in ((0, options["n_train"]), (1, TOY_EVAL), (2, TOY_EVAL)):
            g = torch.Generator().manual_seed(_seed(options["seed"], stream))
            parts.append(sample_toy(name, n, generator=g))
        train, valid, test = parts
    else:
        x = load_tabular(name)
        try:
            train, valid, test = standardize(*split_tabular(x, options["seed"]))
        except ValueError as exc:
            raise CommandError(f"{name}: {exc}") from None
    return {"train": train, "valid": valid, "test": test}


def _nll(model: Any, x: Any, chunk: int = 4096) -> tuple[float, float]:
    """Mean NLL per point and its standard error."""
    import torch

    with torch.no_grad():
        lp = torch.cat([model.log_prob(x[i : i + chunk]) for i in range(0, len(x), chunk)])
    lp = lp.double()
    se = (lp.std() / math.sqrt(len(lp))).item() if len(lp) > 1 else float("nan")
    return -lp.mean().item(), se


def density_result(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Train / valid / test NLL per point (± s.e.) and the full-covariance Gaussian's."""
    from ..density import gaussian_nll

    out: dict[str, Any] = {"features": int(data["train"].shape[1])}
    for part in ("train", "valid", "test"):
        out[f"{part}_nll"], out[f"{part}_nll_se"] = _nll(model, data[part])
        out[f"n_{part}"] = len(data[part])
    out["gaussian_test_nll"] = gaussian_nll(data["train"], data["test"])
    out["gaussian_train_nll"] = gaussian_nll(data["train"], data["train"])
    return out


def _data_bounds(data: dict[str, Any]) -> tuple[float, float, float, float]:
    """The box of the training and test points, 5% wider on each side."""
    import torch

    pts = torch.cat([data["train"], data["test"]])
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = 0.05 * (hi - lo) + 1e-3
    return ((lo[0] - pad[0]).item(), (hi[0] + pad[0]).item(),
            (lo[1] - pad[1]).item(), (hi[1] + pad[1]).item())  # fmt: skip


class DensityFit(FlowFit):
    """``flow fit --data``: maximum likelihood on data; data: the dict of :func:`load_data`."""

    def features(self, data: Any) -> int:
        return int(data["train"].shape[1])

    def problem(self, options: dict[str, Any], data: Any) -> str:
        return (f"{Path(options['data']).name} ({len(data['train'])} train / "
                f"{len(data['valid'])} valid / {len(data['test'])} test points, "
                f"D={self.features(data)})")  # fmt: skip

    def load(self, options: dict[str, Any]) -> Any:
        data = load_data(options)
        _check_memory(options, self.features(data))
        return data

    def build_model(self, options: dict[str, Any], data: Any) -> Any:
        from ..density import DensityEstimator

        return DensityEstimator(make_flow(options, self.features(data)))

    def train_config(self, options: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
        return {"batch_size": options["batch_size"]}

    def datasets(self, options: dict[str, Any], model: Any, data: Any) -> tuple[Any, Any]:
        return data["train"], data["valid"]

    def evaluate(self, model: Any, data: Any, options: dict[str, Any]) -> dict[str, Any]:
        return density_result(model, data)

    def write_plots(
        self, model: Any, data: Any, evaluated: dict[str, Any], options: dict[str, Any], out: Path
    ) -> list[str]:
        def histogram(grid: Any) -> dict[str, Any]:
            return {"reference_points": data["train"],
                    "reference_title": "training data (histogram)"}  # fmt: skip

        two_d = self.features(data) == 2
        return write_fit_plots(
            model, out, f"{options['flow']} on {Path(options['data']).name}",
            "NLL (nats / point)", data["test"], _data_bounds(data) if two_d else None, histogram,
        )  # fmt: skip

    def summary(self, evaluated: dict[str, Any]) -> str:
        res = evaluated
        return (
            f"test NLL {res['test_nll']:.4f} ± {res['test_nll_se']:.4f} nats/point "
            f"(full-covariance Gaussian: {res['gaussian_test_nll']:.4f}); train "
            f"{res['train_nll']:.4f}, valid {res['valid_nll']:.4f}"
        )
