r"""Fit a normalizing flow to an unnormalized target p̃ by annealed reverse KL.

The flow q = ``flow()`` (a :mod:`reparam.flows` flow, or a :class:`~reparam.vi.FlowGuide`)
is the guide of :func:`reparam.vi.fit`, which maximizes the reparameterized objective

.. math::
    \mathcal L_t(\varphi) = \mathbb E_q[\beta_t \log \tilde p(z) - \log q(z)], \qquad
    \beta_t = \min(1, 0.01 + t/N),

(−log q from the same ``rsample_and_log_prob`` walk, so IAF-form flows are one pass). The
annealing over the first N steps (Rezende & Mohamed 2015, §6.1) flattens the target early,
so q spreads over every mode before it settles, where plain reverse KL tends to lock onto
one (a planar flow on U1 keeps both modes only with it); N = 0 turns it off, and at β = 1
the objective is the ELBO, a lower bound on log Z. :func:`target_diagnostics` judges the
fit by importance sampling (:func:`reparam.importance.importance_summary`).

References:
    Rezende & Mohamed, "Variational Inference with Normalizing Flows", ICML 2015,
    arXiv:1505.05770.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..importance import importance_summary, log_weights
from .fit import fit

__all__ = [
    "FlowFit",
    "TemperedLogJoint",
    "anneal_beta",
    "fit_flow_to_target",
    "target_diagnostics",
]

LogTarget = Callable[[Tensor], Tensor]


def anneal_beta(step: int, anneal_steps: int) -> float:
    """β_t = min(1, 0.01 + t/N) at step t for N = ``anneal_steps`` > 0; 1 when N = 0."""
    if isinstance(anneal_steps, bool) or not isinstance(anneal_steps, int) or anneal_steps < 0:
        raise ValueError(f"anneal_steps must be an integer >= 0, got {anneal_steps!r}")
    return 1.0 if not anneal_steps else min(1.0, 0.01 + step / anneal_steps)


class TemperedLogJoint:
    """z ↦ β_t log p̃(z), with t the number of calls so far (one per step of
    :func:`reparam.vi.fit`), for z (S, d) → (S,). Records β_t and mean_s log p̃(z_s) of each
    call, so that the untempered ELBO of a step is its value + (1 − β_t) · mean log p̃."""

    def __init__(self, log_target: LogTarget, anneal_steps: int, step: int = 0) -> None:
        anneal_beta(0, anneal_steps)  # validates
        self.log_target = log_target
        self.anneal_steps = anneal_steps
        self.step = step
        self._betas: list[float] = []
        self._means: list[Tensor] = []

    def __call__(self, z: Tensor) -> Tensor:
        beta = anneal_beta(self.step, self.anneal_steps)
        log_p = self.log_target(z)
        self.step += 1
        self._betas.append(beta)
        self._means.append(log_p.detach().mean())
        return log_p if beta == 1.0 else beta * log_p

    def pop(self) -> tuple[Tensor, Tensor]:
        """(β_t, mean log p̃) of the calls since the last pop, float64 tensors (steps,)."""
        betas = torch.tensor(self._betas, dtype=torch.float64)
        means = torch.stack(self._means).double().cpu() if self._means else betas.new_zeros(0)
        self._betas, self._means = [], []
        return betas, means


@dataclass
class FlowFit:
    """What :func:`fit_flow_to_target` returns.

    Attributes:
        flow: the trained flow (the module passed in, trained in place).
        history: one row per epoch: ``epoch``, ``step`` (total), ``loss`` (mean of
            −L_t), ``elbo`` (mean of the β = 1 ELBO estimates), ``beta`` (mean β_t),
            ``seconds`` (since the call started).
        optimizer: the optimizer (its state continues a fit).
        diagnostics: :func:`target_diagnostics` of the trained flow, or None.
    """

    flow: nn.Module
    history: list[dict[str, float]] = field(repr=False)
    optimizer: torch.optim.Optimizer = field(repr=False)
    diagnostics: dict[str, Any] | None = None


@torch.no_grad()
def target_diagnostics(
    flow: nn.Module | Callable[[], Any],
    log_target: LogTarget,
    num_samples: int = 20000,
    *,
    log_z: float | None = None,
    chunk: int = 4096,
) -> dict[str, Any]:
    """ELBO ± se, KL(q‖p) = log Z − ELBO (given log Z), the IS log Z ± se, ESS and k̂ of
    q = flow() for p = p̃/Z, from n = ``num_samples`` draws of the global torch RNG in
    chunks of ``chunk``: :func:`reparam.importance.importance_summary` of
    log w = log p̃(z) − log q(z), plus ``log_z`` and ``ess_fraction`` = ESS / n."""
    lw = log_weights(log_target, flow(), num_samples, chunk=chunk).cpu()
    out = importance_summary(lw, log_z=log_z)
    out["log_z"] = log_z
    out["ess_fraction"] = out["ess"] / num_samples
    return out


def fit_flow_to_target(
    flow: nn.Module,
    log_target: LogTarget,
    *,
    epochs: int,
    steps_per_epoch: int = 100,
    samples: int = 256,
    lr: float = 3e-3,
    anneal_steps: int = 0,
    noise: str = "mc",
    optimizer: torch.optim.Optimizer | None = None,
    history: list[dict[str, float]] | None = None,
    on_epoch: Callable[[FlowFit], None] | None = None,
    log_z: float | None = None,
    eval_samples: int = 20000,
) -> FlowFit:
    """Fit ``flow`` to exp(log_target) by :func:`reparam.vi.fit`, annealed (module docstring).

    Each epoch is one call of :func:`~reparam.vi.fit` for ``steps_per_epoch`` steps of
    ``samples`` draws, sharing one Adam optimizer (``lr``) across epochs. The noise comes
    from the global torch RNG (seed it before the call).

    Args:
        flow: an unconditional flow on R^d (``flow()`` gives q, event shape (d,)).
        log_target: log p̃, z (S, d) → (S,).
        epochs: the total epochs (≥ 1), counting those in ``history``.
        anneal_steps: N of β_t (0: no annealing); t counts steps from the start of the fit.
        optimizer: to continue a fit, its optimizer (state restored); None starts afresh.
        history: to continue a fit, the rows of its completed epochs; None starts afresh.
        on_epoch: called after every epoch with the fit so far (e.g. to checkpoint).
        log_z: the known log normalizer of the target (None: unknown), for the closing
            :func:`target_diagnostics`.
        eval_samples: for the closing :func:`target_diagnostics` (0: none).

    Returns:
        :class:`FlowFit`.

    Raises:
        ValueError: bad arguments, or a non-finite ELBO (from :func:`reparam.vi.fit`).
    """
    opt = optimizer or torch.optim.Adam(flow.parameters(), lr=lr)
    done = list(history or [])
    tempered = TemperedLogJoint(log_target, anneal_steps, int(done[-1]["step"]) if done else 0)
    result = FlowFit(flow, done, opt)
    start = time.perf_counter()
    for epoch in range(len(done), epochs):
        res = fit(tempered, flow, num_particles=samples, noise=noise, steps=steps_per_epoch,
                  optimizer=opt, tol=0, progress=False)  # fmt: skip
        betas, mean_log_p = tempered.pop()
        values = torch.tensor(res.elbo, dtype=torch.float64)  # L_t, before each update
        row = {
            "epoch": epoch + 1,
            "step": tempered.step,
            "loss": -values.mean().item(),
            "elbo": (values + (1 - betas) * mean_log_p).mean().item(),
            "beta": betas.mean().item(),
            "seconds": time.perf_counter() - start,
        }
        done.append(row)
        if on_epoch is not None:
            on_epoch(result)
    if eval_samples:
        result.diagnostics = target_diagnostics(flow, log_target, eval_samples, log_z=log_z)
    return result
