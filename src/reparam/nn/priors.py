r"""Priors over the weights of a Bayesian layer.

- :class:`GaussianPrior` — p(w) = N(w; 0, s²) elementwise. Against the mean-field
  posterior q(w) = N(μ, σ²) its KL has the closed form

  .. math:: \mathrm{KL}\big(\mathcal N(\mu, \sigma^2)\,\|\,\mathcal N(0, s^2)\big)
            = \log\frac{s}{\sigma} + \frac{\sigma^2 + \mu^2}{2 s^2} - \frac12 .

- :class:`ScaleMixturePrior` — the scale mixture of two zero-mean Gaussians of
  Blundell et al. (2015),

  .. math:: p(w) = \pi\,\mathcal N(w; 0, s_1^2) + (1 - \pi)\,\mathcal N(w; 0, s_2^2),

  with a wide component s₁ and a narrow one s₂ ≪ 1 that pulls many weights to zero. Its
  KL has no closed form and is estimated by Monte Carlo (see :meth:`BayesLayer.kl
  <reparam.nn.layers.BayesLayer.kl>`).

Priors are small immutable value objects (not modules): they hold no parameters, and a
layer keeps a reference to one. ``log_prob`` is elementwise.

Reference:
    Blundell, Cornebise, Kavukcuoglu & Wierstra, "Weight Uncertainty in Neural Networks",
    ICML 2015, arXiv:1505.05424.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["GaussianPrior", "Prior", "ScaleMixturePrior"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _positive_scale(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}") from None
    if not (math.isfinite(v) and v > 0.0):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return v


class Prior:
    """A factorised prior over a layer's weights: ``log_prob(w)`` is elementwise."""

    def log_prob(self, w: Tensor) -> Tensor:
        """Elementwise log density log p(w), same shape as ``w``."""
        raise NotImplementedError

    def kl_normal(self, mu: Tensor, sigma: Tensor) -> Tensor | None:
        """Σ KL(N(μ, σ²) ‖ p) in closed form, or ``None`` when there is none."""
        return None


class GaussianPrior(Prior):
    r"""p(w) = N(w; 0, s²) elementwise, with s = ``scale`` > 0.

    >>> GaussianPrior(1.0).log_prob(torch.zeros(2))
    tensor([-0.9189, -0.9189])
    """

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = _positive_scale("GaussianPrior: scale", scale)
        self._log_scale = math.log(self.scale)

    def log_prob(self, w: Tensor) -> Tensor:
        return -0.5 * (w / self.scale) ** 2 - self._log_scale - _HALF_LOG_2PI

    def kl_normal(self, mu: Tensor, sigma: Tensor) -> Tensor:
        r"""Σ [log(s/σ) + (σ² + μ²)/(2s²) − 1/2] over all elements."""
        inv_2s2 = 0.5 / self.scale**2
        return (
            (sigma.square() + mu.square()).sum() * inv_2s2
            - sigma.log().sum()
            + mu.numel() * (self._log_scale - 0.5)
        )

    def __repr__(self) -> str:
        return f"GaussianPrior(scale={self.scale:g})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GaussianPrior) and other.scale == self.scale

    def __hash__(self) -> int:
        return hash(("GaussianPrior", self.scale))


class ScaleMixturePrior(Prior):
    r"""p(w) = π N(w; 0, s₁²) + (1 − π) N(w; 0, s₂²) (Blundell et al. 2015).

    ``pi`` ∈ [0, 1]; the defaults (π = 1/2, s₁ = 1, s₂ = e⁻⁶) are among the settings
    of the paper's MNIST experiments.

    >>> p = ScaleMixturePrior(pi=1.0, scale1=1.0)
    >>> torch.allclose(p.log_prob(torch.ones(3)), GaussianPrior(1.0).log_prob(torch.ones(3)))
    True
    """

    def __init__(self, pi: float = 0.5, scale1: float = 1.0, scale2: float = math.exp(-6)) -> None:
        try:
            p = float(pi)
        except (TypeError, ValueError):
            raise ValueError(f"ScaleMixturePrior: pi must be in [0, 1]; got {pi!r}") from None
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise ValueError(f"ScaleMixturePrior: pi must be in [0, 1]; got {pi!r}")
        self.pi = p
        self.scale1 = _positive_scale("ScaleMixturePrior: scale1", scale1)
        self.scale2 = _positive_scale("ScaleMixturePrior: scale2", scale2)
        # log π − log s − ½ log 2π for each component; −inf for an empty component.
        self._c1 = (math.log(p) if p > 0 else -math.inf) - math.log(self.scale1) - _HALF_LOG_2PI
        self._c2 = (math.log1p(-p) if p < 1 else -math.inf) - math.log(self.scale2) - _HALF_LOG_2PI

    def log_prob(self, w: Tensor) -> Tensor:
        if self.pi == 1.0:
            return self._c1 - 0.5 * (w / self.scale1) ** 2
        if self.pi == 0.0:
            return self._c2 - 0.5 * (w / self.scale2) ** 2
        a = self._c1 - 0.5 * (w / self.scale1) ** 2
        b = self._c2 - 0.5 * (w / self.scale2) ** 2
        return torch.logaddexp(a, b)

    def __repr__(self) -> str:
        return f"ScaleMixturePrior(pi={self.pi:g}, scale1={self.scale1:g}, scale2={self.scale2:g})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScaleMixturePrior) and (other.pi, other.scale1, other.scale2) == (
            self.pi,
            self.scale1,
            self.scale2,
        )

    def __hash__(self) -> int:
        return hash(("ScaleMixturePrior", self.pi, self.scale1, self.scale2))
