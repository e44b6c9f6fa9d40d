r"""The von Mises–Fisher distribution on S^{d−1}, every d ≥ 2, reparameterized implicitly.

z = H_μ(cos θ, sin θ · v): the angle θ = arccos(μᵀz) has density ∝ e^{κ cos θ} sin^{d−2}θ
on [0, π] and v is uniform on S^{d−2}. The gradient is **implicit** (Figurnov, Mohamed &
Mnih 2018), a pure pathwise gradient: with F the CDF of θ,

.. math::
    \frac{\partial\theta}{\partial\kappa} = -\frac{\partial F(\theta;\kappa)/\partial\kappa}
    {p(\theta;\kappa)} = -\int_0^\theta (\cos t - A_d(\kappa))\,
    \frac{e^{\kappa\cos t}\sin^{d-2}t}{e^{\kappa\cos\theta}\sin^{d-2}\theta}\,dt,

by one windowed Gauss–Legendre rule per sample, on the side of θ that also gives its CDF
(:mod:`._vmf_angle`); at d = 3 θ and ∂θ/∂κ are closed forms (no quadrature, no
rejection: ε₀ is drawn directly). ∂z/∂μ is that of the explicit reflection.
ε = (ε₀, n) ~ N(0, I_d): θ = F⁻¹(Φ(ε₀)), v = n/|n|. For d ≠ 3 plain Monte Carlo draws θ
by Wood's (1994) rejection sampler and stores ε₀ = Φ⁻¹(F(θ)) (from the smaller tail, so
both tails keep full precision); ``from_noise`` given that very tensor (same values, same
κ) takes the drawn θ, any other ε (antithetic, quasi-Monte Carlo, your own) is inverted by
safeguarded Newton steps. Either way θ solves F(θ; κ) = Φ(ε₀), so the implicit gradient is
the derivative of from_noise at fixed ε, and unbiased.

The normalizer log C_d(κ) = (d/2 − 1) log κ − (d/2) log 2π − log I_{d/2−1}(κ) and
A_d(κ) = I_{d/2}/I_{d/2−1} come from one quadrature windowed around the mode of θ (a
power series for κ² ≤ d/2), within ~5e-14 relatively of the scanned reference rule
(itself ~1e-15 from mpmath) for κ ∈ [1e-3, 1e4], d ∈ [2, 1000]; their
κ-derivatives are attached in closed form: d log C_d/dκ = −A_d,
A_d′ = 1 − A_d² − (d − 1)A_d/κ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ._sphere_math import (
    SphereFamily,
    householder,
    log_sphere_area,
    unit_direction,
    vmf_stats,
    wood_theta,
)
from ._vmf_angle import AngleGradient, angle_dkappa, angle_noise, angle_quantile, d3_angle
from .base import ReparamDistribution
from .implicit import attach_gradients
from .standard import StandardNormal

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["VonMisesFisher"]

_EMPTY = torch.Size()
_F64 = torch.float64


class VonMisesFisher(SphereFamily, ReparamDistribution):
    r"""Von Mises–Fisher distribution on the unit sphere S^{d−1}, with mean direction
    μ = ``loc`` and concentration κ = ``concentration``, for every d ≥ 2.

    .. math::
        q(z) = C_d(\kappa)\, e^{\kappa\mu^\top z}, \quad
        C_d(\kappa) = \frac{\kappa^{d/2-1}}{(2\pi)^{d/2} I_{d/2-1}(\kappa)}, \quad
        z = H_\mu\bigl(\cos\theta,\ \sin\theta\,\tfrac{n}{|n|}\bigr), \quad
        \theta = F^{-1}(\Phi(\varepsilon_0); \kappa)

    Gradients: implicit reparameterization of θ through its CDF (see the module
    docstring), exact and unbiased; plain Monte Carlo samples θ by Wood's algorithm.
    ``mean`` = A_d(κ) μ, ``mode`` = μ, ``variance`` the diagonal of
    Cov z = (A_d/κ) I + (1 − d A_d/κ − A_d²) μμᵀ, ``entropy`` = −κ A_d − log C_d.
    Computed in float64, returned in the parameters' dtype.

    Args:
        loc: unit vectors μ, with shape (*, d), d ≥ 2.
        concentration: κ ≥ 0 (κ = 0 is the uniform distribution), with shape (*).
        validate_args: check that μ has unit norm and κ is finite and ≥ 0.

    Raises:
        ValueError: d < 2, the batch shapes do not broadcast, or (with validation) a
            parameter is NaN/inf, κ < 0 or |μ| ≠ 1 (each named in the message).

    References:
        Wood, "Simulation of the von Mises Fisher distribution", Communications in
        Statistics – Simulation and Computation 23, 1994; Figurnov, Mohamed & Mnih,
        "Implicit Reparameterization Gradients", NeurIPS 2018, arXiv:1805.08498;
        Davidson et al., "Hyperspherical Variational Auto-Encoders", UAI 2018,
        arXiv:1804.00891.

    Example:
        >>> kappa = torch.tensor([1.0, 50.0], requires_grad=True)
        >>> q = VonMisesFisher(torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]]), kappa)
        >>> z = q.rsample((100,))
        >>> z.shape, bool(torch.allclose(z.norm(dim=-1), torch.ones(100, 2)))
        (torch.Size([100, 2, 3]), True)
        >>> (z * q.loc).sum(-1).mean(0).sum().backward()  # E[μᵀz] = A_d(κ) grows with κ
        >>> bool((kappa.grad > 0).all())
        True
    """

    noise = StandardNormal()
    _drawn: tuple[Tensor, Tensor, Tensor, Tensor, Tensor] | None = None

    # ------------------------------------------------------------------ sampling
    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        """ε ~ N(0, I_d); for plain Monte Carlo ε₀ = Φ⁻¹(F(θ)) of a Wood draw θ (d ≠ 3;
        at d = 3 θ = F⁻¹(Φ(ε₀)) is explicit and ε₀ is drawn directly)."""
        self._drawn = None
        shape = torch.Size(sample_shape) + self.batch_shape
        if noise != "mc" or shape.numel() == 0 or self._dim == 3:
            return super().sample_noise(sample_shape, noise=noise)
        kappa = self.concentration.detach()
        theta = wood_theta(kappa, self._dim, shape)
        e0, grad = angle_noise(theta, kappa, self._dim, vmf_stats(kappa, self._dim))
        n = self.noise.sample(shape + (self._dim - 1,), dtype=kappa.dtype, device=kappa.device)
        eps = torch.cat((e0.to(kappa.dtype).unsqueeze(-1), n), -1)
        self._drawn = (eps, eps.detach().clone(), kappa.clone(), theta, grad)
        return eps

    def _theta(self, eps: Tensor) -> tuple[Tensor, Tensor | None]:
        """(θ, ∂θ/∂κ or None) for θ = F⁻¹(Φ(ε₀); κ), float64, no gradient attached (the
        Wood draw for its own ε; None: ∂θ/∂κ is left to the backward pass)."""
        kappa = self.concentration.detach()
        if self._dim == 3:
            return d3_angle(eps[..., 0].detach(), kappa)
        drawn = self._drawn
        if (
            drawn is not None
            and drawn[0] is eps
            and torch.equal(eps.detach(), drawn[1])
            and torch.equal(kappa, drawn[2])
        ):
            return drawn[3], drawn[4]
        stats = vmf_stats(kappa, self._dim)
        return angle_quantile(eps[..., 0].detach(), kappa, self._dim, stats), None

    def from_noise(self, eps: Tensor) -> Tensor:
        theta, grad = self._theta(eps)
        kappa = self.concentration
        if torch.is_grad_enabled() and kappa.requires_grad:
            if grad is None and torch.compiler.is_compiling():
                grad = angle_dkappa(theta, kappa.detach(), self._dim, vmf_stats(kappa, self._dim))
            if grad is None:  # ∂θ/∂κ in the backward pass, if it comes
                log_ck, a, one_minus_a, _ = vmf_stats(kappa, self._dim)
                theta = AngleGradient.apply(kappa, theta, log_ck, a, one_minus_a, self._dim)
            else:  # from the nodes that gave ε₀ (or the closed form at d = 3)
                theta = attach_gradients(theta, [(kappa, grad)])
        dtype = self.loc.dtype
        v = unit_direction(eps[..., 1:])
        y = torch.cat(
            (
                torch.cos(theta).to(dtype).unsqueeze(-1),
                torch.sin(theta).to(dtype).unsqueeze(-1) * v,
            ),
            -1,
        )
        return householder(self.loc, y)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    # ------------------------------------------------------------------ density
    def _stats(self) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(log C_d + κ, A_d, 1 − A_d, A_d/κ) with their κ-derivatives attached."""
        kappa = self.concentration
        log_c, a, one_minus, a_over_k = vmf_stats(kappa, self._dim)
        d = self._dim
        da = one_minus * (1 + a) - (d - 1) * a_over_k  # A′ = 1 − A² − (d − 1)A/κ
        d_aok = torch.where(kappa.detach() > 0, (da - a_over_k) / kappa.detach().to(_F64), 0.0)
        dtype = kappa.dtype
        return (
            attach_gradients(log_c.to(dtype), [(kappa, one_minus.to(dtype))]),
            attach_gradients(a.to(dtype), [(kappa, da.to(dtype))]),
            attach_gradients(one_minus.to(dtype), [(kappa, -da.to(dtype))]),
            attach_gradients(a_over_k.to(dtype), [(kappa, d_aok.to(dtype))]),
        )

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # κ(μᵀz − 1) = −κ|z − μ|²/2 for unit vectors: no cancellation at large κ
        sq = ((value - self.loc) ** 2).sum(-1)
        return -0.5 * self.concentration * sq + self._stats()[0]

    def entropy(self) -> Tensor:
        log_c, _, one_minus, _ = self._stats()
        return -log_c + self.concentration * one_minus

    @property
    def mean(self) -> Tensor:
        return self._stats()[1].unsqueeze(-1) * self.loc

    @property
    def variance(self) -> Tensor:
        _, a, _, a_over_k = self._stats()
        a, a_over_k = a.unsqueeze(-1), a_over_k.unsqueeze(-1)
        return a_over_k + (1 - self._dim * a_over_k - a * a) * self.loc**2

    def kl_to_uniform(self) -> Tensor:
        """KL(q ‖ uniform on S^{d−1}) = κ A_d + log C_d + log |S^{d−1}|."""
        log_c, _, one_minus, _ = self._stats()
        return log_c - self.concentration * one_minus + log_sphere_area(self._dim)
