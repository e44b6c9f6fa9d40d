r"""The power spherical distribution (De Cao & Aziz 2020) on S^{d−1}, fully reparameterized.

t = 2B − 1 with B ~ Beta(α, β), α = (d−1)/2 + κ, β = (d−1)/2; v uniform on S^{d−2};
z = H_μ (t, √(1 − t²) v), H_μ an orthogonal map carrying e₁ to μ. B = X/(X + Y) with
X ~ Gamma(α) implicitly reparameterized (Figurnov, Mohamed & Mnih 2018), so ∂z/∂κ is
exact, and Y ~ Gamma(β) free of parameters (no gradient); everything else is explicit.
√(1 − t²) = 2√(B(1 − B)) is formed from log B and log(1 − B), exact at both poles; with
B = σ(log X − log Y) the derivatives of t and of r = 2√(B(1 − B)) in log X are 2B(1 − B)
and −t√(B(1 − B)), attached in closed form (no float64 graph).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor

from ._gamma_noise import (
    NativeGammaNoise,
    draw_standard_gamma_noise,
    log_standard_gamma_parts,
)
from ._sphere_math import SphereFamily
from .base import ReparamDistribution
from .implicit import attach_gradients
from .standard import StandardNormal, StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["PowerSpherical"]

_EMPTY = torch.Size()
_F64 = torch.float64
_LOG2 = math.log(2.0)
_LOGPI = math.log(math.pi)


def reflect_to_loc(loc: Tensor, t: Tensor, scale: Tensor, n: Tensor) -> Tensor:
    r"""``householder(loc, y)`` for y = (t, c·n) (t, c: shape (*), n: (*, d − 1)), with
    y never formed: with s = sign(μ₁), u = e₁ + sμ, u₁ = 1 + |μ₁|, k = 2uᵀy/|u|²,

    .. math::
        u^\top y = u_1 t + s c\,\mu_{2:}^\top n, \quad |u|^2 = u_1^2 + |\mu_{2:}|^2, \quad
        z_1 = -s(t - k u_1), \quad z_{2:} = k\mu_{2:} - s c\, n.
    """
    mu1, rest = loc[..., 0], loc[..., 1:]
    sign = torch.where(mu1 >= 0, 1.0, -1.0).to(loc.dtype)
    u1 = sign * mu1 + 1
    sc = sign * scale
    uy = u1 * t + sc * (rest * n).sum(-1)
    k = 2 * uy / (u1 * u1 + (rest * rest).sum(-1))
    z1 = -sign * (t - k * u1)
    z_rest = torch.addcmul(k.unsqueeze(-1) * rest, sc.unsqueeze(-1), n, value=-1.0)
    return torch.cat((z1.unsqueeze(-1), z_rest), -1)


class PowerSpherical(SphereFamily, NativeGammaNoise, ReparamDistribution):
    r"""Power spherical distribution on the unit sphere S^{d−1} with mean direction μ =
    ``loc`` and concentration κ = ``concentration``.

    .. math::
        q(z) = C\,(1 + \mu^\top z)^\kappa, \quad
        \log C = -\bigl[(\alpha+\beta)\log 2 + \beta\log\pi + \log\Gamma(\alpha)
        - \log\Gamma(\alpha+\beta)\bigr], \quad \alpha = \tfrac{d-1}2 + \kappa,\
        \beta = \tfrac{d-1}2

    .. math::
        u \sim \mathcal U(0,1)^{d+1}, \quad B = \frac{X}{X+Y},\ X = P^{-1}(\alpha, u_1),\
        Y = P^{-1}(\beta, u_2), \quad v = \frac{n}{|n|},\ n = \Phi^{-1}(u_{3:d+1}),
        \quad z = H_\mu\bigl(2B - 1,\ 2\sqrt{B(1-B)}\,v\bigr)

    ε has d + 1 uniforms; plain Monte Carlo draws X, Y with torch's exact Gamma sampler
    (as :class:`~reparam.distributions.Beta`). ``mean`` = (α − β)/(α + β) μ, ``mode`` = μ,
    ``variance`` is the diagonal of the covariance, ``entropy`` closed form.

    Args:
        loc: unit vectors μ, with shape (*, d), d ≥ 2.
        concentration: κ ≥ 0, with shape (*) (broadcast with loc's batch shape).
        validate_args: check that μ has unit norm and κ is finite and ≥ 0.

    Raises:
        ValueError: d < 2, the batch shapes do not broadcast, or (with validation) a
            parameter is NaN/inf, κ < 0 or |μ| ≠ 1 (each named in the message).

    References:
        De Cao & Aziz, "The Power Spherical distribution", 2020, arXiv:2006.04437.

    Example:
        >>> kappa = torch.tensor([1.0, 50.0], requires_grad=True)
        >>> q = PowerSpherical(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]]), kappa)
        >>> z = q.rsample((100,))
        >>> z.shape, bool(torch.allclose(z.norm(dim=-1), torch.ones(100, 2)))
        (torch.Size([100, 2, 3]), True)
        >>> (z * q.loc).sum(-1).mean(0).sum().backward()  # E[μᵀz] grows with κ
        >>> bool((kappa.grad > 0).all())
        True
    """

    noise = StandardUniform()

    @property
    def _beta(self) -> float:
        return 0.5 * (self._dim - 1)

    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size((self._dim + 1,))

    def _native_concentration(self) -> Tensor:
        """α = κ + β, the one Gamma shape with a parameter behind it (β is a number)."""
        return self.concentration + self._beta

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        shape = self._use_native(torch.Size(sample_shape), noise)
        if shape is None:
            return ReparamDistribution.sample_noise(self, sample_shape, noise=noise)
        alpha, lead = self._native_concentration(), shape[:-1]
        dtype, device = alpha.dtype, alpha.device
        # One pass for both Gammas: its cost is per iteration, hardly per element, so a
        # separate derivative-free draw of Y costs more than the derivative it skips;
        # Y's derivative is dropped here and no gradient is attached to Y.
        both = torch.stack((alpha, torch.full_like(alpha, self._beta)), -1)
        u, log_xy, native, d_both = draw_standard_gamma_noise(both, lead + (2,), dtype)
        (log_x, log_y), (native_x, native_y) = log_xy.unbind(-1), native.unbind(-1)
        dlogx = None if d_both is None else d_both[..., 0]
        rest = self.noise.sample(lead + (self._dim - 1,), dtype=dtype, device=device)
        eps = torch.cat((u, rest), -1)
        self._remember_draw(eps, log_x, native_x, dlogx, log_y, native_y)
        return eps

    def _remembered_noise(self, eps: Tensor) -> Tensor:
        return eps[..., :2]  # the Gammas' uniforms; v is recomputed from the rest

    def _log_gammas(self, eps: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """(log X, log Y, ∂ log X/∂κ or None) in float64, no graph: X ~ Gamma(α) from
        ε₁ (the implicit derivative only where κ requires grad), Y ~ Gamma(β) from ε₂
        (β is a number: no derivative); the native draws where ``eps`` is the last one."""
        drawn = cast("tuple[Tensor, ...] | None", self._recall_draw(eps))
        alpha = self._native_concentration()
        grad = torch.is_grad_enabled() and alpha.requires_grad
        parts_x = parts_y = None
        if drawn is not None:
            parts_x, parts_y = (drawn[0], drawn[1], drawn[2]), (drawn[3], drawn[4], None)
        log_x, dlogx = log_standard_gamma_parts(eps[..., 0], alpha, parts_x, grad)
        beta = torch.tensor(self._beta, dtype=alpha.dtype, device=alpha.device)
        log_y = log_standard_gamma_parts(eps[..., 1], beta, parts_y, False)[0]
        return log_x.to(_F64), log_y.to(_F64), dlogx

    def from_noise(self, eps: Tensor) -> Tensor:
        log_x, log_y, dlogx = self._log_gammas(eps)
        dtype = self.loc.dtype
        with torch.no_grad():
            log_sum = torch.logaddexp(log_x, log_y)
            log_b, log_1mb = log_x - log_sum, log_y - log_sum
            t64 = torch.exp(log_b) - torch.exp(log_1mb)
            half_r = torch.exp(0.5 * (log_b + log_1mb))  # √(B(1 − B)), exact at the poles
            tr = torch.stack((t64, 2 * half_r), -1)
        if dlogx is not None and torch.is_grad_enabled():
            # B = σ(log X − log Y): ∂t/∂log X = 2B(1 − B), ∂(2√(B(1 − B)))/∂log X = −t√(B(1 − B))
            slopes = torch.stack((2 * half_r * half_r, -t64 * half_r), -1) * dlogx.unsqueeze(-1)
            kappa = self.concentration.unsqueeze(-1)
            tr = attach_gradients(tr.to(dtype), [(kappa, slopes.to(dtype))])
        else:
            tr = tr.to(dtype)
        n = StandardNormal().icdf(eps[..., 2:])  # v = n/|n|
        norm = torch.linalg.vector_norm(n, dim=-1).clamp(min=torch.finfo(n.dtype).tiny)
        t, r = tr.unbind(-1)
        return reflect_to_loc(self.loc, t, r / norm, n)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    # ------------------------------------------------------------------ density
    def _alpha_beta(self) -> tuple[Tensor, float]:
        return self.concentration + self._beta, self._beta

    def _log_normalizer(self) -> Tensor:
        a, b = self._alpha_beta()
        return -((a + b) * _LOG2 + b * _LOGPI + torch.lgamma(a) - torch.lgamma(a + b))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # 1 + μᵀz = |z + μ|²/2 for unit vectors: exact near z = −μ too
        half_sq = 0.5 * ((value + self.loc) ** 2).sum(-1)
        return self._log_normalizer() + torch.xlogy(self.concentration, half_sq)

    def entropy(self) -> Tensor:
        a, b = self._alpha_beta()
        e_log = _LOG2 + torch.digamma(a) - torch.digamma(a + b)  # E[log(1 + t)]
        return -self._log_normalizer() - self.concentration * e_log

    def _t_moments(self) -> tuple[Tensor, Tensor]:
        a, b = self._alpha_beta()
        mean = (a - b) / (a + b)
        var = 4 * a * b / ((a + b) ** 2 * (a + b + 1))
        return mean, var

    @property
    def mean(self) -> Tensor:
        return self._t_moments()[0].unsqueeze(-1) * self.loc

    @property
    def variance(self) -> Tensor:
        """The diagonal of Cov z = Var t μμᵀ + (1 − E[t²])/(d − 1) (I − μμᵀ)."""
        mean, var = self._t_moments()
        second = (var + mean**2).unsqueeze(-1)
        mu2 = self.loc**2
        return var.unsqueeze(-1) * mu2 + (1 - second) / (self._dim - 1) * (1 - mu2)
