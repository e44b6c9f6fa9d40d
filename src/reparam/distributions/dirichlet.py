r"""The Dirichlet distribution as normalized implicitly reparameterized Gammas.

With u ∈ (0, 1)^K uniform, X_k = P⁻¹(α_k, u_k) ~ Gamma(α_k, 1) independent and
z = X / Σ_k X_k ~ Dirichlet(α). The pathwise gradient goes through the normalization and
the Gammas' implicit gradients (Figurnov, Mohamed & Mnih 2018, arXiv:1805.08498):

.. math::
    \frac{\partial z_j}{\partial \alpha_k} = (\delta_{jk} - z_k)\, z_j\,
    \frac{\partial \log X_k}{\partial \alpha_k}.

Computed from log X in float64 (log z = log X − logsumexp(log X)), so tiny
concentrations keep the right proportions and a finite log-density; the K uniforms map
onto the (K − 1)-simplex, so log q comes from ``log_prob`` at the exact sample. Plain
Monte Carlo draws X with torch's exact Gamma sampler and skips the inversion (see
:class:`~reparam.distributions.gamma.NativeGammaNoise`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gamma_noise import LogSpaceNoiseCache, NativeGammaNoise, exp_clamped, log_standard_gamma
from ._params import as_tensors
from .base import ReparamDistribution
from .standard import StandardUniform

__all__ = ["Dirichlet", "dirichlet_mode"]

_F64 = torch.float64


def dirichlet_mode(concentration: Tensor) -> Tensor:
    r"""The Dirichlet mode with torch's rules for concentrations ≤ 1, branch-free.

    .. math:: m_k = \frac{(\alpha_k - 1)_+}{\sum_j (\alpha_j - 1)_+}

    so a component with α_k ≤ 1 sits on the boundary (0) while another exceeds 1; where
    every α_k < 1 the mode is the first vertex (torch: the one-hot of the argmax of the
    0/0 row), and where none exceeds 1 but not all are below 1 it is NaN.
    """
    excess = (concentration - 1).clamp(min=0)
    mode = excess / excess.sum(-1, keepdim=True)
    vertex = torch.nn.functional.one_hot(mode.argmax(-1), mode.shape[-1]).to(mode)
    all_below = (concentration < 1).all(-1, keepdim=True)
    return torch.where(all_below, vertex, mode)


class Dirichlet(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""Dirichlet distribution on the simplex with concentrations α ∈ (0, ∞)^K.

    .. math::
        u \sim \mathcal U(0,1)^K, \quad X_k = P^{-1}(\alpha_k, u_k), \quad
        z = X / \textstyle\sum_k X_k, \quad
        \log q(z) = \sum_k (\alpha_k - 1)\log z_k + \log\Gamma(\alpha_0)
        - \sum_k \log\Gamma(\alpha_k)

    with α₀ = Σ α_k. ``log_prob`` of a value off the simplex is an error with
    ``validate_args``; without it, it is the formula's value, as torch's (not −inf).
    Components are clamped to [tiny, 1 − eps/2] of the dtype (as
    torch does); ``rsample_and_log_prob`` evaluates the density at the unclamped sample.

    Args:
        concentration: α > 0 with shape (*batch, K), K ≥ 1 (the event dimension).
        validate_args: check that α is positive and finite.

    Raises:
        ValueError: α is a scalar, has an empty last dimension, is NaN/inf or ≤ 0.

    References:
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> alpha = torch.tensor([[0.5, 1.0, 2.0]], requires_grad=True)
        >>> q = Dirichlet(alpha)
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, log_q.shape, bool(torch.allclose(z.sum(-1), torch.ones(4, 1)))
        (torch.Size([4, 1, 3]), torch.Size([4, 1]), True)
    """

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    noise = StandardUniform()

    def __init__(
        self, concentration: Tensor | float, *, validate_args: bool | None = None
    ) -> None:
        (concentration,) = as_tensors("Dirichlet", {"concentration": concentration})
        if concentration.dim() < 1:
            raise ValueError(
                "Dirichlet: parameter 'concentration' must have at least one dimension "
                f"(the event dimension K), got a scalar {concentration.item():g}"
            )
        if concentration.shape[-1] == 0:
            raise ValueError(
                "Dirichlet: parameter 'concentration' must have K >= 1 categories in its last "
                f"dimension (the event dimension), got shape {tuple(concentration.shape)}"
            )
        self.concentration = concentration
        super().__init__(
            concentration.shape[:-1], concentration.shape[-1:], validate_args=validate_args
        )

    def _native_concentration(self) -> Tensor:
        return self.concentration

    def _log_z(self, eps: Tensor) -> Tensor:
        """log z in float64 with the implicit gradients attached."""
        log_x = log_standard_gamma(eps, self.concentration, self._recall_draw(eps))
        return log_x - torch.logsumexp(log_x, -1, keepdim=True)

    def from_noise(self, eps: Tensor) -> Tensor:
        log_z = self._log_z(eps)
        dtype = self.concentration.dtype
        z = exp_clamped(log_z, dtype, high=1.0 - torch.finfo(dtype).eps / 2)
        self._remember(eps, z, log_z)
        return z

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_z = self._recall(eps, z, self._log_z)
        a = self.concentration.to(_F64)
        lp = ((a - 1) * log_z).sum(-1) + torch.lgamma(a.sum(-1)) - torch.lgamma(a).sum(-1)
        return lp.to(self.concentration.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a = self.concentration
        return (
            torch.xlogy(a - 1, value).sum(-1) + torch.lgamma(a.sum(-1)) - torch.lgamma(a).sum(-1)
        )

    def entropy(self) -> Tensor:
        a = self.concentration
        k = a.shape[-1]
        a0 = a.sum(-1)
        return (
            torch.lgamma(a).sum(-1)
            - torch.lgamma(a0)
            + (a0 - k) * torch.digamma(a0)
            - ((a - 1) * torch.digamma(a)).sum(-1)
        )

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        """The mode by torch's rules (see :func:`dirichlet_mode`)."""
        return dirichlet_mode(self.concentration)

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        a0 = a.sum(-1, keepdim=True)
        return a * (a0 - a) / (a0.pow(2) * (a0 + 1))
