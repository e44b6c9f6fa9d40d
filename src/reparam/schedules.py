r"""Schedules of the KL weight β over optimization steps (KL annealing, β-VAE).

A schedule is a pure function of the step, so nothing needs saving with a checkpoint.
The objectives (:func:`reparam.objectives.elbo`) take the value β(step).

References:
    Bowman et al., "Generating Sentences from a Continuous Space", CoNLL 2016,
    arXiv:1511.06349.
    Higgins et al., "β-VAE: Learning Basic Visual Concepts with a Constrained
    Variational Framework", ICLR 2017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import Tensor

from ._checks import check_int

__all__ = ["BetaSchedule", "check_beta"]


def check_beta(beta: object) -> float:
    """β as a float, or ValueError unless it is a finite number >= 0 (a 1-element tensor too)."""
    if isinstance(beta, Tensor) and beta.numel() == 1:
        beta = beta.item()
    if isinstance(beta, bool) or not isinstance(beta, (int, float)):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    return float(beta)


@dataclass(frozen=True)
class BetaSchedule:
    r"""β(step): a linear warm-up from 0 to ``beta`` over ``warmup_steps`` steps.

    .. math:: \beta(t) = \beta \cdot \min(1, t / T_{\text{warmup}}) \quad
              (\beta(t) = \beta \text{ when } T_{\text{warmup}} = 0)

    A pure function of the step (no state to save): KL annealing (Bowman et al. 2016)
    and the β-VAE weight (Higgins et al. 2017).

    Args:
        beta: the final weight, ≥ 0.
        warmup_steps: the number of steps of the linear ramp, ≥ 0.

    Raises:
        ValueError: beta negative or not finite, warmup_steps not an int ≥ 0; at call: a
            negative step.

    Example:
        >>> schedule = BetaSchedule(beta=2.0, warmup_steps=4)
        >>> [schedule(t) for t in range(6)]
        [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    """

    beta: float = 1.0
    warmup_steps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", check_beta(self.beta))
        check_int("warmup_steps", self.warmup_steps, 0, noun="an int")

    def __call__(self, step: int) -> float:
        """β at the given (0-based) optimization step."""
        check_int("step", step, 0, noun="an int")
        if self.warmup_steps == 0 or step >= self.warmup_steps:
            return self.beta
        return self.beta * step / self.warmup_steps
