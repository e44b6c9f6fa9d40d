r"""Implicit reparameterization: pathwise gradients through a standardizing function.

When z = F⁻¹(u; θ) has no closed form, z is drawn by any means (a numerical inverse of
the CDF, a rejection sampler) *without* gradient, and the gradient is supplied by the
implicit function theorem applied to the standardizing function S(z; θ) = u, for a
univariate distribution its CDF F:

.. math::
    \frac{\partial z}{\partial \theta} =
    -\frac{\partial F(z; \theta) / \partial \theta}{\partial F(z; \theta)/\partial z}
    = -\frac{\partial F(z; \theta) / \partial \theta}{q(z; \theta)}

(Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
arXiv:1805.08498). The gradient is attached to the drawn z with the surrogate

.. math::
    \tilde z = z + \sum_i (\theta_i - \mathrm{sg}(\theta_i))\,
    \mathrm{sg}(\partial z/\partial\theta_i),

whose value is exactly z and whose first derivatives are the implicit gradients (the
second derivatives are not those of z; as for torch's own Gamma ``rsample``).

Here every implicit family draws z = F⁻¹(u; θ) from u ~ U(0, 1), so the noise is
visible and the noise strategies (antithetic, quasi-Monte Carlo) apply unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.types import _size

from ._params import as_tensors
from .base import ReparamDistribution
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

_EMPTY = torch.Size()

__all__ = [
    "ImplicitReparamDistribution",
    "ImplicitReparameterized",
    "attach_gradients",
    "cdf_gradients",
    "expand_bracket",
    "implicit_surrogate",
    "invert_cdf",
]


def attach_gradients(z: Tensor, pairs: Iterable[tuple[Tensor, Tensor]]) -> Tensor:
    r"""z (value unchanged) with ∂z/∂θ_i = g_i for each (θ_i, g_i) in ``pairs``.

    Args:
        z: the drawn values (any graph is cut), shape ``S``.
        pairs: (θ, g) with θ broadcastable to ``S`` and g = ∂z/∂θ elementwise, shape ``S``.
            Pairs whose θ does not require grad are skipped.

    Returns:
        z + Σ (θ − sg θ)·sg(g): the value of z, the gradient Σ g · upstream summed to θ.
    """
    out = z.detach()
    if not torch.is_grad_enabled():
        return out
    for theta, g in pairs:
        if theta.requires_grad:
            out = out + (theta - theta.detach()) * g.detach()
    return out


def implicit_surrogate(z: Tensor, cdf_value: Tensor, log_density: Tensor) -> Tensor:
    r"""z̃ = z − (F − sg F)/sg q: the value of z with the implicit gradient −(∂F/∂θ)/q.

    Args:
        z: the solution of F(z; θ) = u (any graph is cut).
        cdf_value: F(z; θ) evaluated at the detached z with the live (grad-carrying)
            parameters, same shape as ``z``.
        log_density: log q(z; θ) = log ∂F/∂z at z (detached here).

    Returns:
        A tensor equal to z whose derivative in every θ behind ``cdf_value`` is
        −(∂F/∂θ)/q(z). Where q underflows (u exactly at a gap between far-apart
        components, where the true derivative is infinite) 1/q is capped at 1/√tiny
        of the dtype so that gradients stay finite.
    """
    z = z.detach()
    if not cdf_value.requires_grad:
        return z
    floor = 0.5 * math.log(torch.finfo(z.dtype).tiny)
    inv_density = torch.exp(-log_density.detach().clamp(min=floor))
    return z - (cdf_value - cdf_value.detach()) * inv_density


def cdf_gradients(
    cdf: Callable[..., Tensor],
    z: Tensor,
    params: Mapping[str, Tensor],
    log_density: Tensor,
) -> dict[str, Tensor]:
    r"""∂z/∂θ = −(∂F/∂θ)/q(z) for every θ in ``params``, by autograd through ``cdf``.

    Args:
        cdf: ``cdf(z, **params)`` → F(z; θ), differentiable in the parameters and acting
            elementwise after broadcasting.
        z: the points (no gradient is taken through them), shape ``S``.
        params: name → θ broadcastable to ``S``; only these are differentiated.
        log_density: log q(z; θ) at ``z`` (shape ``S``).

    Returns:
        name → ∂z/∂θ with shape ``S`` (elementwise, before any reduction over θ's
        broadcast dimensions).
    """
    if not params:
        return {}
    z = z.detach()
    with torch.enable_grad():
        leaves = {
            name: theta.detach().expand(z.shape).clone().requires_grad_(True)
            for name, theta in params.items()
        }
        value = cdf(z, **leaves)
        grads = torch.autograd.grad(value.sum(), tuple(leaves.values()), allow_unused=True)
    inv_density = torch.exp(-log_density.detach())
    return {
        name: torch.zeros_like(z) if g is None else -g * inv_density
        for name, g in zip(leaves, grads, strict=True)
    }


def invert_cdf(
    cdf: Callable[[Tensor], Tensor],
    u: Tensor,
    lo: Tensor,
    hi: Tensor,
    *,
    log_density: Callable[[Tensor], Tensor] | None = None,
    max_iter: int = 200,
) -> Tensor:
    r"""Solve F(z) = u elementwise on a bracket [lo, hi] with F(lo) ≤ u ≤ F(hi).

    Safeguarded Newton: a Newton step z − (F(z) − u)/q(z) when ``log_density`` is given
    and the step stays inside the current bracket, bisection otherwise; the bracket
    shrinks every iteration, so it converges for any monotone F. It stops when every
    bracket is as narrow as the dtype allows or the Newton steps stall.

    Args:
        cdf: F, monotone non-decreasing, elementwise.
        u: targets in (0, 1), shape ``S``.
        lo, hi: finite brackets broadcastable to ``S``.
        log_density: log q = log F′, for Newton steps (optional).
        max_iter: iteration cap (bisection alone halves the bracket each time).

    Returns:
        z with shape ``S``; no gradient.
    """
    with torch.no_grad():
        lo, hi, u = torch.broadcast_tensors(lo.detach(), hi.detach(), u.detach())
        lo, hi = lo.clone(), hi.clone()
        eps = torch.finfo(u.dtype).eps
        z = 0.5 * (lo + hi)
        done = torch.zeros(u.shape, dtype=torch.bool, device=u.device)
        f_prev = torch.full_like(u, math.nan)
        for _ in range(max_iter):
            f = cdf(z)
            below = f < u
            lo = torch.where(below, z, lo)
            hi = torch.where(below, hi, z)
            tol = 4 * eps * torch.maximum(lo.abs(), hi.abs())
            # converged: the bracket is as narrow as the dtype allows, or F stopped
            # changing (its own rounding level reached).
            converged = (hi - lo <= tol) | (f == f_prev)
            z_new = 0.5 * (lo + hi)
            if log_density is not None:
                newton = z - (f - u) * torch.exp(-log_density(z))
                near = torch.isfinite(newton) & (newton >= lo - tol) & (newton <= hi + tol)
                newton = torch.minimum(torch.maximum(newton, lo), hi)
                converged = converged | (near & ((newton - z).abs() <= tol))
                ok = near & (((newton != lo) & (newton != hi)) | (newton == z))
                z_new = torch.where(ok, newton, z_new)
            done = done | converged  # sticky: converged elements stay put
            z = torch.where(done, z, z_new)
            f_prev = f
            if bool(done.all()):
                break
        return z


def expand_bracket(
    cdf: Callable[[Tensor], Tensor], u: Tensor, lo: Tensor, hi: Tensor, support: object
) -> tuple[Tensor, Tensor]:
    """Widen [lo, hi] geometrically until F(lo) ≤ u ≤ F(hi), staying inside ``support``'s
    finite bounds (halving the distance to a bound instead of crossing it)."""
    lower_bound = getattr(support, "lower_bound", -math.inf)
    upper_bound = getattr(support, "upper_bound", math.inf)
    lo, hi, u = torch.broadcast_tensors(lo, hi, u)
    lo, hi = lo.clone(), hi.clone()
    for _ in range(2100):
        low_bad = cdf(lo) > u
        high_bad = cdf(hi) < u
        if not bool((low_bad | high_bad).any()):
            break
        width = (hi - lo).clamp(min=1.0)
        new_lo = lo - width
        new_hi = hi + width
        if isinstance(lower_bound, (int, float)) and math.isfinite(lower_bound):
            new_lo = torch.where(new_lo < lower_bound, 0.5 * (lo + lower_bound), new_lo)
        if isinstance(upper_bound, (int, float)) and math.isfinite(upper_bound):
            new_hi = torch.where(new_hi > upper_bound, 0.5 * (hi + upper_bound), new_hi)
        lo = torch.where(low_bad, new_lo, lo)
        hi = torch.where(high_bad, new_hi, hi)
    return lo, hi


class ImplicitReparamDistribution(ReparamDistribution):
    r"""Base of the implicitly reparameterized families: u ~ U(0, 1), z = F⁻¹(u; θ).

    ``from_noise(u)`` computes z = F⁻¹(u; θ) without gradient (``_quantile``) and
    attaches ∂z/∂θ = −(∂F/∂θ)/q(z) (``_implicit_grads``). log q(z) from the noise is
    simply ``log_prob(z)`` (the inverse CDF has |dz/du| = 1/q(z)).

    A family implements ``_quantile(u)`` (no gradient needed) and either
    ``_cdf_of(z, **params)`` (a CDF differentiable in θ: the gradients then come by
    autograd) or ``_implicit_grads(z)`` directly (for CDFs whose θ-derivative needs
    special numerics, e.g. the Gamma's concentration).
    """

    noise = StandardUniform()
    _abstract = True

    def _quantile(self, u: Tensor) -> Tensor:
        """F⁻¹(u; θ) elementwise, no gradient; shape of ``u``."""
        raise NotImplementedError

    def _cdf_of(self, z: Tensor, **params: Tensor) -> Tensor:
        """F(z; θ) with θ given explicitly (so that autograd can differentiate it)."""
        raise NotImplementedError

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._cdf_of(value, **self._param_items())

    def _implicit_grads(self, z: Tensor) -> dict[str, Tensor]:
        """name → ∂z/∂θ (shape of z) for the parameters that require grad."""
        wanted = {n: p for n, p in self._param_items().items() if p.requires_grad}
        if not wanted:
            return {}
        return cdf_gradients(self._cdf_of_with_fixed, z, wanted, self.log_prob(z.detach()))

    def _cdf_of_with_fixed(self, z: Tensor, **varying: Tensor) -> Tensor:
        params = {n: p.detach() for n, p in self._param_items().items()}
        params.update(varying)
        return self._cdf_of(z, **params)

    def from_noise(self, eps: Tensor) -> Tensor:
        with torch.no_grad():
            z = self._quantile(eps)
        if not torch.is_grad_enabled():
            return z
        params = self._param_items()
        grads = self._implicit_grads(z)
        return attach_gradients(z, ((params[n], g) for n, g in grads.items()))

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        return -self.log_prob(z)

    def icdf(self, value: Tensor) -> Tensor:
        """F⁻¹(u; θ) with implicit gradients in θ."""
        return self.from_noise(value)


class ImplicitReparameterized(ImplicitReparamDistribution):
    r"""A univariate distribution given by its CDF, reparameterized implicitly.

    .. math::
        u \sim \mathcal U(0,1), \quad z = F^{-1}(u;\theta), \quad
        \frac{\partial z}{\partial\theta} =
        -\frac{\partial F(z;\theta)/\partial\theta}{q(z;\theta)}

    z is found by a safeguarded Newton iteration on F (or given by ``icdf`` when it is
    known, without gradient), and ∂F/∂θ comes by autograd through ``cdf``.

    With a ``sampler`` (any exact sampler, e.g. a rejection sampler), plain Monte Carlo
    skips the numerical inverse: ``sample_noise`` draws z with it and returns its noise
    u = F(z), remembering the pair, and ``from_noise`` given that very tensor returns
    the drawn z (with the implicit gradient). So ``rsample`` stays
    ``from_noise(sample_noise())`` and costs one sampler call, while noise from any other
    source (antithetic, qmc, your own u) is inverted numerically.

    Args:
        cdf: ``cdf(z, **params)`` → F(z; θ), differentiable in θ, elementwise.
        params: name → tensor (or number) θ; ``batch_shape`` is their broadcast shape.
        log_prob: ``log_prob(z, **params)`` → log q(z); defaults to log ∂F/∂z by autograd.
        icdf: ``icdf(u, **params)`` → F⁻¹(u) (no gradient needed), if known.
        sampler: ``sampler(shape, **params)`` → exact draws z with the given shape
            (``sample_shape + batch_shape``; no gradient needed), if one is cheaper than
            inverting the CDF.
        support: the support of z (a torch constraint); brackets the numerical inverse.
        bracket: (lo, hi) initial guesses for the inverse (widened as needed).
        arg_constraints: name → constraint for some parameters (others: finite reals).
        validate_args: check parameters against their constraints.

    Raises:
        TypeError: ``cdf``/``log_prob``/``icdf`` is not callable or a parameter is not a
            number or tensor.
        ValueError: parameter shapes do not broadcast, or a parameter violates its
            constraint.

    Example:
        >>> # Exponential(rate) by its CDF 1 − e^{−rate·z}
        >>> rate = torch.tensor(2.0, requires_grad=True)
        >>> q = ImplicitReparameterized(
        ...     cdf=lambda z, rate: -torch.expm1(-rate * z), params={"rate": rate},
        ...     log_prob=lambda z, rate: rate.log() - rate * z, support=constraints.positive)
        >>> z = q.rsample((4,))
        >>> z.sum().backward()  # ∂z/∂rate = −z/rate
        >>> bool(torch.allclose(rate.grad, -z.detach().sum() / 2.0))
        True
    """

    _abstract = False

    def __init__(
        self,
        cdf: Callable[..., Tensor],
        params: Mapping[str, Tensor | float],
        *,
        log_prob: Callable[..., Tensor] | None = None,
        icdf: Callable[..., Tensor] | None = None,
        sampler: Callable[..., Tensor] | None = None,
        support: constraints.Constraint = constraints.real,
        bracket: tuple[float, float] = (-1.0, 1.0),
        arg_constraints: Mapping[str, constraints.Constraint] | None = None,
        validate_args: bool | None = None,
    ) -> None:
        for name, fn in (
            ("cdf", cdf),
            ("log_prob", log_prob),
            ("icdf", icdf),
            ("sampler", sampler),
        ):
            if fn is not None and not callable(fn):
                raise TypeError(
                    f"ImplicitReparameterized: {name} must be callable, got {type(fn).__name__}"
                )
        if not isinstance(params, Mapping) or not params:
            raise ValueError(
                "ImplicitReparameterized: params must be a non-empty dict name → tensor"
            )
        for name in params:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(
                    f"ImplicitReparameterized: parameter names must be identifiers, got {name!r}"
                )
        tensors = as_tensors("ImplicitReparameterized", params)
        try:
            batch_shape = torch.broadcast_shapes(*(t.shape for t in tensors))
        except RuntimeError as err:
            shapes = {n: tuple(t.shape) for n, t in zip(params, tensors, strict=True)}
            raise ValueError(
                f"ImplicitReparameterized: parameter shapes do not broadcast: {shapes}"
            ) from err
        given = dict(arg_constraints or {})
        unknown = sorted(set(given) - set(params))
        if unknown:
            raise ValueError(
                f"ImplicitReparameterized: arg_constraints names unknown parameters {unknown}"
            )
        lo, hi = (float(b) for b in bracket)
        if not lo < hi:
            raise ValueError(f"ImplicitReparameterized: bracket must have lo < hi, got {bracket}")
        self._arg_constraints = {n: given.get(n, constraints.real) for n in params}
        self._support = support
        self._names = tuple(params)
        for name, tensor in zip(params, tensors, strict=True):
            setattr(self, name, tensor)
        self._cdf_fn, self._log_prob_fn, self._icdf_fn = cdf, log_prob, icdf
        self._sampler = sampler
        self._drawn: tuple[Tensor, Tensor] | None = None  # (u, z) of the last sampler draw
        self._bracket = (lo, hi)
        super().__init__(batch_shape, validate_args=validate_args)

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        return self._arg_constraints

    @property
    def support(self) -> constraints.Constraint:
        return self._support

    def _param_items(self) -> dict[str, Tensor]:
        return {name: self.__dict__[name] for name in self._names}

    def _cdf_of(self, z: Tensor, **params: Tensor) -> Tensor:
        return self._cdf_fn(z, **params)

    def log_prob(self, value: Tensor) -> Tensor:
        params = self._param_items()
        if self._log_prob_fn is not None:
            return self._log_prob_fn(value, **params)
        with torch.enable_grad():
            z = value.detach().requires_grad_(True)
            (density,) = torch.autograd.grad(self._cdf_fn(z, **params).sum(), z)
        return density.log()

    def _log_density_nograd(self, z: Tensor) -> Tensor:
        with torch.no_grad():
            return self.log_prob(z)

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape
        if self._sampler is None or noise != "mc" or shape.numel() == 0:
            self._drawn = None
            return super().sample_noise(sample_shape, noise=noise)
        params = {n: p.detach() for n, p in self._param_items().items()}
        with torch.no_grad():
            z = self._sampler(shape, **params).detach()
            if z.shape != shape:
                raise ValueError(
                    f"ImplicitReparameterized: sampler returned shape {tuple(z.shape)}, "
                    f"expected sample_shape + batch_shape = {tuple(shape)}"
                )
            u = StandardUniform.clamp(self._cdf_fn(z, **params).to(z.dtype))
        self._drawn = (u, z)
        return u

    def _quantile(self, u: Tensor) -> Tensor:
        if self._drawn is not None and u is self._drawn[0]:
            return self._drawn[1]
        params = {n: p.detach() for n, p in self._param_items().items()}
        if self._icdf_fn is not None:
            return self._icdf_fn(u, **params).detach()
        shape = torch.broadcast_shapes(u.shape, self.batch_shape)

        def cdf(z: Tensor) -> Tensor:
            return self._cdf_fn(z, **params)

        lo = torch.full(shape, self._bracket[0], dtype=u.dtype, device=u.device)
        hi = torch.full(shape, self._bracket[1], dtype=u.dtype, device=u.device)
        lower = getattr(self.support, "lower_bound", None)
        if isinstance(lower, (int, float)) and lo.min() <= lower:
            lo = torch.full_like(lo, float(lower))
        lo, hi = expand_bracket(cdf, u.expand(shape), lo, hi, self.support)
        log_density = self._log_density_nograd if self._log_prob_fn is not None else None
        return invert_cdf(cdf, u.expand(shape), lo, hi, log_density=log_density)

    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> ImplicitReparameterized:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(ImplicitReparameterized, _instance)
        new.__dict__.update(self.__dict__)
        new._drawn = None
        for name, value in self._param_items().items():
            setattr(new, name, value.expand(batch_shape))
        ReparamDistribution.__init__(new, batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
