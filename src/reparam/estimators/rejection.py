r"""The reparameterization estimator through acceptance–rejection samplers.

For a :class:`~reparam.distributions.RejectionReparameterized` q (z = h(ε, θ) with
accepted ε, L = log q(h) − log r(h)):

.. math::
    \hat g = \frac1N \sum_i \Bigl[\nabla_\theta f(h(\varepsilon_i, \theta))
    + \bigl(f(z_i) - b_i\bigr)\,\nabla_\theta L(\varepsilon_i, \theta)\Bigr]

the pathwise term plus the correction term of Naesseth et al. (2017), the latter built
by the score-function machinery (:func:`~reparam.estimators.score.score_surrogate`, so
the same baselines apply; a baseline free of z_i keeps it unbiased because
E_π[∇θ L] = ∇θ ∫ π = 0).

References:
    Naesseth, Ruiz, Linderman & Blei, "Reparameterization Gradients through
    Acceptance-Rejection Sampling Algorithms", AISTATS 2017, arXiv:1610.05683.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution

from .base import Function, _evaluate, register_estimator
from .score import ScoreFunction, score_surrogate

__all__ = ["RejectionCorrected"]


@register_estimator
class RejectionCorrected(ScoreFunction):
    r"""Pathwise gradient through a rejection sampler plus its correction term (unbiased).

    Needs q with ``rsample_with_correction`` (e.g.
    :class:`~reparam.distributions.RejectionReparameterized`).

    Options as :class:`~reparam.estimators.ScoreFunction`:

    Args:
        baseline: None, ``"loo"`` or a :class:`~reparam.estimators.Baseline` for the
            correction term.
        elementwise: weight each value by the correction of its own batch element only
            (f's value at batch index b depends on z[..., b] alone).

    Example:
        >>> from reparam.distributions import RejectionReparameterized
        >>> from reparam.estimators import expectation
        >>> rate = torch.tensor(1.5, requires_grad=True)
        >>> q = RejectionReparameterized(
        ...     lambda u, rate: -2 * torch.log(u) / rate, {"rate": rate},
        ...     log_prob=lambda z, rate: torch.log(rate) - rate * z,
        ...     proposal_log_prob=lambda z, u, rate: torch.log(rate / 2) - rate * z / 2,
        ...     log_bound=lambda rate: 0.7, noise="uniform")
        >>> expectation(lambda z: z, q, 100, "rejection", baseline="loo").backward()
        >>> rate.grad.shape
        torch.Size([])
    """

    name = "rejection"

    def check(self, q: Distribution) -> None:
        if not callable(getattr(q, "rsample_with_correction", None)):
            raise ValueError(
                f"the rejection estimator needs q.rsample_with_correction (a "
                f"RejectionReparameterized); {type(q).__name__} has none"
            )

    def _surrogate(self, f: Function, q: Distribution, num_samples: int) -> Tensor:
        baseline = self._checked_baseline(num_samples)
        z, log_ratio = q.rsample_with_correction(torch.Size((num_samples,)))  # type: ignore[attr-defined]
        fz = _evaluate(f, z, num_samples)
        return score_surrogate(fz, fz, log_ratio, q.batch_shape, baseline, self.elementwise)
