r"""Monte Carlo predictive distributions of a Bayesian network.

Classification (:func:`predictive`): with S forward passes (S weight samples), class
probabilities p_s = softmax(f(x; W_s)) and their mean p̄ = (1/S) Σ_s p_s,

.. math::
    \underbrace{\mathcal H[\bar p]}_{\text{entropy (total)}}
    = \underbrace{\tfrac1S \textstyle\sum_s \mathcal H[p_s]}_{\text{aleatoric}}
    + \underbrace{\mathcal H[\bar p]
      - \tfrac1S \textstyle\sum_s \mathcal H[p_s]}_{\text{epistemic}},

the epistemic part being the mutual information between the label and the weights
(≥ 0 by concavity of the entropy; Houlsby et al. 2011, Depeweg et al. 2018).

Regression (:func:`gaussian_predictive`): a network giving a Gaussian N(m_s, v_s) per
sample has the mixture predictive with mean m̄ = (1/S) Σ m_s and variance

.. math:: \mathrm{Var} = \underbrace{\tfrac1S \textstyle\sum_s v_s}_{\text{aleatoric}}
          + \underbrace{\tfrac1S \textstyle\sum_s (m_s - \bar m)^2}_{\text{epistemic}} .

Both run under ``torch.no_grad`` and keep the model's train / eval mode.

References:
    Houlsby, Huszár, Ghahramani & Lengyel, "Bayesian Active Learning for Classification
    and Preference Learning", 2011, arXiv:1112.5745.
    Depeweg, Hernández-Lobato, Doshi-Velez & Udluft, "Decomposition of Uncertainty in
    Bayesian Deep Learning", ICML 2018, arXiv:1710.07283.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_positive_int

__all__ = ["GaussianPredictive", "Predictive", "gaussian_predictive", "predictive"]


def _entropy(p: Tensor) -> Tensor:
    return -torch.special.xlogy(p, p).sum(-1)


@dataclass(frozen=True)
class Predictive:
    """The Monte Carlo predictive distribution of a classifier (all in nats).

    ``probs``: (S, B, C) per-sample class probabilities; ``mean``: (B, C); ``entropy``,
    ``aleatoric``, ``epistemic``: (B,), with entropy = aleatoric + epistemic.
    """

    probs: Tensor
    mean: Tensor
    entropy: Tensor
    aleatoric: Tensor
    epistemic: Tensor

    @classmethod
    def from_probs(cls, probs: Tensor) -> Predictive:
        """Build from per-sample probabilities of shape (S, ..., C)."""
        mean = probs.mean(0)
        entropy = _entropy(mean)
        aleatoric = _entropy(probs).mean(0)
        # ≥ 0 exactly; clamp the rounding error of the difference
        epistemic = (entropy - aleatoric).clamp_min(0.0)
        return cls(probs, mean, entropy, aleatoric, epistemic)


@dataclass(frozen=True)
class GaussianPredictive:
    """The Monte Carlo predictive of a Gaussian regressor: variance = aleatoric + epistemic.

    ``means``: (S, ...) per-sample means; ``mean``, ``variance``, ``aleatoric``,
    ``epistemic``: (...).
    """

    means: Tensor
    mean: Tensor
    variance: Tensor
    aleatoric: Tensor
    epistemic: Tensor


@torch.no_grad()
def predictive(model: Callable[[Tensor], Tensor], x: Tensor, num_samples: int = 32) -> Predictive:
    """Class probabilities of ``num_samples`` forward passes of ``model`` (logits out).

    >>> from reparam.nn import BayesLinear
    >>> p = predictive(BayesLinear(3, 4, init_scale=0.5), torch.randn(5, 3), num_samples=8)
    >>> p.probs.shape, p.mean.shape, p.entropy.shape
    (torch.Size([8, 5, 4]), torch.Size([5, 4]), torch.Size([5]))
    >>> bool((p.epistemic >= 0).all())
    True
    """
    n = check_positive_int("num_samples", num_samples)
    probs = torch.stack([torch.softmax(model(x), dim=-1) for _ in range(n)])
    return Predictive.from_probs(probs)


@torch.no_grad()
def gaussian_predictive(
    model: Callable[[Tensor], Tensor | tuple[Tensor, Tensor]],
    x: Tensor,
    num_samples: int = 32,
    noise_variance: float | Tensor | None = None,
) -> GaussianPredictive:
    """Mean and variance of a Gaussian regressor over ``num_samples`` forward passes.

    ``model(x)`` returns the mean, or a pair (mean, variance); ``noise_variance`` is the
    observation noise of a model that returns only the mean (0 if neither is given).

    >>> from reparam.nn import BayesLinear
    >>> g = gaussian_predictive(BayesLinear(3, 1), torch.randn(5, 3), 4, noise_variance=0.1)
    >>> g.mean.shape, bool(torch.allclose(g.variance, g.aleatoric + g.epistemic))
    (torch.Size([5, 1]), True)
    """
    n = check_positive_int("num_samples", num_samples)
    means, variances = [], []
    for _ in range(n):
        out = model(x)
        if isinstance(out, tuple):
            if len(out) != 2:
                raise ValueError(
                    f"gaussian_predictive: model must return mean or (mean, variance); "
                    f"got a tuple of {len(out)}"
                )
            if noise_variance is not None:
                raise ValueError(
                    "gaussian_predictive: noise_variance given but the model returns a variance"
                )
            means.append(out[0])
            variances.append(out[1].expand_as(out[0]))
        else:
            means.append(out)
    m = torch.stack(means)
    mean = m.mean(0)
    epistemic = (m - mean).square().mean(0)
    if variances:
        aleatoric = torch.stack(variances).mean(0)
    elif noise_variance is None:
        aleatoric = torch.zeros_like(mean)
    else:
        nv = torch.as_tensor(noise_variance, dtype=mean.dtype, device=mean.device)
        if (nv < 0).any():
            raise ValueError(
                f"gaussian_predictive: noise_variance must be >= 0; got {noise_variance!r}"
            )
        aleatoric = nv.expand_as(mean).clone()
    return GaussianPredictive(m, mean, aleatoric + epistemic, aleatoric, epistemic)
