r"""The Beta distribution as a ratio of two implicitly reparameterized Gammas.

With u = (u₁, u₂) ~ U(0, 1)², X = P⁻¹(α, u₁) ~ Gamma(α, 1) and Y = P⁻¹(β, u₂) ~
Gamma(β, 1) independent, z = X/(X + Y) ~ Beta(α, β). The pathwise gradient goes through
the ratio and the Gammas' implicit gradients (Figurnov, Mohamed & Mnih 2018,
arXiv:1805.08498):

.. math::
    \frac{\partial z}{\partial\alpha} = z(1 - z)\,\frac{\partial\log X}{\partial\alpha},
    \qquad
    \frac{\partial z}{\partial\beta} = -z(1 - z)\,\frac{\partial\log Y}{\partial\beta}.

Everything is computed from log X and log Y in float64: log z = log X − logaddexp(log X,
log Y) and log(1 − z) likewise, so tiny concentrations (where X and Y both underflow) give
the right z and a finite log-density. g is not a bijection of ε (two uniforms, one z), so
log q comes from ``log_prob`` at the exact sample (``log_prob_from_noise``). Plain Monte
Carlo draws X and Y with torch's exact Gamma sampler and skips the inversion (see
:class:`~reparam.distributions.gamma.NativeGammaNoise`).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints

from ._gamma_noise import LogSpaceNoiseCache, NativeGammaNoise, exp_clamped, log_standard_gamma
from ._params import as_params
from .base import ReparamDistribution
from .dirichlet import dirichlet_mode
from .standard import StandardUniform

__all__ = ["Beta", "beta_entropy", "beta_log_parts", "log_beta_fn"]

_F64 = torch.float64


def beta_log_parts(
    eps: Tensor,
    concentrations: Tensor,
    drawn: tuple[Tensor, Tensor | None, Tensor | None] | None = None,
) -> tuple[Tensor, Tensor]:
    """(log z, log(1 − z)) in float64 for z = X/(X + Y), (X, Y) the Gamma quantiles of ε
    at ``concentrations`` = stack(α, β) (last dim), with the implicit gradients attached;
    ``drawn`` as for :func:`~._gamma_noise.log_standard_gamma`."""
    log_x, log_y = log_standard_gamma(eps, concentrations, drawn).unbind(-1)
    log_sum = torch.logaddexp(log_x, log_y)
    return log_x - log_sum, log_y - log_sum


def log_beta_fn(a: Tensor, b: Tensor) -> Tensor:
    return torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)


def beta_entropy(a: Tensor, b: Tensor) -> Tensor:
    """The entropy of Beta(a, b)."""
    return (
        log_beta_fn(a, b)
        - (a - 1) * torch.digamma(a)
        - (b - 1) * torch.digamma(b)
        + (a + b - 2) * torch.digamma(a + b)
    )


class Beta(NativeGammaNoise, LogSpaceNoiseCache, ReparamDistribution):
    r"""Beta distribution on (0, 1) with α = ``concentration1`` and β = ``concentration0``.

    .. math::
        u \sim \mathcal U(0,1)^2, \quad X = P^{-1}(\alpha, u_1), \quad
        Y = P^{-1}(\beta, u_2), \quad z = \frac{X}{X + Y}, \quad
        \log q(z) = (\alpha-1)\log z + (\beta-1)\log(1-z) - \log B(\alpha, \beta)

    Samples are clamped to [tiny, 1 − eps/2] of the dtype (as torch does);
    ``rsample_and_log_prob`` evaluates the density at the unclamped sample in log space.

    Args:
        concentration1: α > 0, with shape (*).
        concentration0: β > 0, broadcastable with ``concentration1``.
        validate_args: check that α and β are positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or ≤ 0, or the shapes do not broadcast.

    References:
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498.

    Example:
        >>> alpha = torch.tensor([0.5, 2.0], requires_grad=True)
        >>> q = Beta(alpha, torch.tensor([1.0, 3.0]))
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, q.noise_event_shape, bool(((z > 0) & (z < 1)).all())
        (torch.Size([4, 2]), torch.Size([2]), True)
        >>> z.sum().backward()
        >>> alpha.grad.shape
        torch.Size([2])
    """

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    noise = StandardUniform()

    def __init__(
        self,
        concentration1: Tensor | float,
        concentration0: Tensor | float,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.concentration1, self.concentration0 = as_params(
            "Beta", concentration1=concentration1, concentration0=concentration0
        )
        super().__init__(self.concentration1.shape, validate_args=validate_args)

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((2,))

    def _native_concentration(self) -> Tensor:
        return torch.stack((self.concentration1, self.concentration0), -1)

    def _log_parts(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(log z, log(1 − z)) in float64 with the implicit gradients attached."""
        concentrations = torch.stack((self.concentration1, self.concentration0), -1)
        return beta_log_parts(eps, concentrations, self._recall_draw(eps))

    def from_noise(self, eps: Tensor) -> Tensor:
        parts = self._log_parts(eps)
        dtype = self.concentration1.dtype
        z = exp_clamped(parts[0], dtype, high=1.0 - torch.finfo(dtype).eps / 2)
        self._remember(eps, z, parts)
        return z

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        log_z, log_1mz = self._recall(eps, z, self._log_parts)
        a, b = self.concentration1.to(_F64), self.concentration0.to(_F64)
        lp = (a - 1) * log_z + (b - 1) * log_1mz - log_beta_fn(a, b)
        return lp.to(self.concentration1.dtype)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        return torch.xlogy(a - 1, value) + torch.special.xlog1py(b - 1, -value) - log_beta_fn(a, b)

    def entropy(self) -> Tensor:
        return beta_entropy(self.concentration1, self.concentration0)

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        """(α − 1)/(α + β − 2) for α, β > 1; on the boundary otherwise, by torch's rules
        (e.g. 1 for α > 1 ≥ β, NaN for α = β = 1; see
        :func:`~reparam.distributions.dirichlet.dirichlet_mode`)."""
        return dirichlet_mode(self._native_concentration())[..., 0]

    @property
    def variance(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        total = a + b
        return a * b / (total.pow(2) * (total + 1))
