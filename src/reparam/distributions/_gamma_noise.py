"""Gamma noise: the native draws of plain Monte Carlo, log X with its implicit gradient,
and the caches the Gamma family's classes share (used by Gamma, Chi2, Beta, Dirichlet and
StudentT; see :mod:`.gamma` for the method)."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, TypeVar, cast

import torch
from torch import Tensor
from torch.types import _size

from ._gamma_fast import (
    fast_domain,
    gamma_cdf_and_dlogx32,
    in_fast_domain,
    standard_gamma_log_quantile32,
)
from ._gamma_math import (
    standard_gamma_cdf,
    standard_gamma_cdf_and_dlogx_da,
    standard_gamma_dlogx_da,
    standard_gamma_log_quantile,
    standard_gamma_log_quantile_and_grad,
)
from ._params import _is_compiling
from .implicit import attach_gradients
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

_T = TypeVar("_T")

__all__ = [
    "LogSpaceNoiseCache",
    "NativeGammaNoise",
    "draw_standard_gamma_noise",
    "exp_clamped",
    "log_standard_gamma",
    "log_standard_gamma_parts",
]

_F64 = torch.float64
_EMPTY = torch.Size()


_NATIVE_MIN_A = 0.05  # below: X underflows float64 too often; every element is inverted
_NATIVE_MIN_X = 1e-290  # below: torch clamps X at tiny; such draws are redrawn by the inverse
_LOG_NATIVE_MIN_X = math.log(_NATIVE_MIN_X)
_LOG_NATIVE_MIN_X32 = math.log(1e-37)  # float32: just above the smallest normal (1.2e-38)


def log_standard_gamma(
    u: Tensor, a: Tensor, drawn: tuple[Tensor, Tensor | None, Tensor | None] | None = None
) -> Tensor:
    """log X, X = P⁻¹(a, u) ~ Gamma(a, 1), in float64 with ∂ log X/∂a attached (implicit).

    The graph is in float64 (for float32 ``u`` and ``a`` the derivative comes from the
    float32 pass and inverse of :mod:`._gamma_fast`, within 1e-6); the gradient reaches
    ``a`` (any dtype) through :func:`~reparam.distributions.implicit.attach_gradients`.
    ``drawn`` = (log X, native, ∂ log X/∂a or None) from :func:`draw_standard_gamma_noise`
    for this very ``u``: where ``native`` (None: everywhere), log X is taken as it is (no
    inversion), and so is its derivative if given.
    """
    grad = torch.is_grad_enabled() and a.requires_grad
    log_x, dlogx = log_standard_gamma_parts(u, a, drawn, grad)
    return log_x if dlogx is None else attach_gradients(log_x, [(a, dlogx)])


def log_standard_gamma_parts(
    u: Tensor,
    a: Tensor,
    drawn: tuple[Tensor, Tensor | None, Tensor | None] | None,
    grad: bool,
) -> tuple[Tensor, Tensor | None]:
    """(log X, ∂ log X/∂a or None unless ``grad``) of :func:`log_standard_gamma`, no graph
    (for a caller that attaches the gradient further down)."""
    if drawn is not None:
        return complete_draw(u, a, drawn, grad)
    with torch.no_grad():
        u, a = u.detach(), a.detach()
        if u.dtype == torch.float32 and a.dtype == torch.float32:
            return standard_gamma_log_quantile32(u, a, grad)
        if grad:
            return standard_gamma_log_quantile_and_grad(u, a)
        return standard_gamma_log_quantile(u, a), None


def complete_draw(
    u: Tensor, a: Tensor, drawn: tuple[Tensor, Tensor | None, Tensor | None], grad: bool
) -> tuple[Tensor, Tensor | None]:
    """(log X, ∂ log X/∂a or None) of a native draw, no graph: the draw's own where it is
    ``native`` (None: everywhere), the float64 inverse of u elsewhere."""
    known, native, known_dlogx = drawn
    with torch.no_grad():
        if native is None or bool(native.all()):
            log_x, dlogx = known, None
            if grad:
                dlogx = (
                    known_dlogx if known_dlogx is not None else standard_gamma_dlogx_da(known, a)
                )
            return log_x, dlogx
        a64 = a.detach().to(_F64).expand(u.shape)
        log_x, inverse = known.clone(), ~native  # float64
        dlogx = torch.zeros_like(log_x) if grad else None
        if dlogx is not None:
            log_x[inverse], dlogx[inverse] = standard_gamma_log_quantile_and_grad(
                u[inverse], a64[inverse]
            )
            dlogx[native] = (
                known_dlogx[native].to(_F64)
                if known_dlogx is not None
                else standard_gamma_dlogx_da(log_x[native], a64[native])
            )
        else:
            log_x[inverse] = standard_gamma_log_quantile(u[inverse], a64[inverse])
    return log_x, dlogx


def draw_standard_gamma_noise(
    a: Tensor, shape: torch.Size, dtype: torch.dtype, deriv: bool | None = None
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """(u, log X, native, ∂ log X/∂a or None): X ~ Gamma(a, 1) by torch's exact sampler
    and u = P(a, X).

    float32 (``a`` and ``dtype``): X by torch's float32 sampler, u and the derivative by
    the float32 pass of :mod:`._gamma_fast` (∂ log X/∂a within 1e-6 relative; log X is
    the exact float64 log of the float32 draw). Otherwise, in float64: where ``a``
    requires grad (and grad mode is on), u and the derivative come from one pass of the
    accurate series / continued fraction (~1e-15); otherwise u is torch's ``gammainc``
    (~1e-10 relative near X ≈ a ≫ 1) and the derivative None. Elements where the sampler
    is not trusted to full log-space precision (a < 0.05, or X below 1e-290 in float64,
    1e-37 in float32) have ``native`` False and u drawn afresh — U(0, 1) for a < 0.05,
    U(0, P(a, floor)) for a draw below the floor (X given that event) — to be inverted.
    Every u is exactly U(0, 1); u is in ``dtype``, clamped into the open interval.
    """
    grad = torch.is_grad_enabled() and a.requires_grad if deriv is None else deriv
    if dtype == torch.float32 and a.dtype == torch.float32:
        return _draw_float32(a, shape, grad)
    with torch.no_grad():
        a64 = a.detach().to(_F64).expand(shape)
        native = a64 >= _NATIVE_MIN_A
        log_x = torch.log(torch._standard_gamma(torch.where(native, a64, 1.0)))
        dlogx = None
        if grad:
            u, dlogx = standard_gamma_cdf_and_dlogx_da(log_x, a64)
        else:
            u = standard_gamma_cdf(log_x, a64)
        floor = log_x < _LOG_NATIVE_MIN_X
        native, u = _redraw_untrusted(native, floor, u, a64, _LOG_NATIVE_MIN_X)
        return StandardUniform.clamp(u.to(dtype)), log_x, native, dlogx


def _redraw_untrusted(
    native: Tensor, floor: Tensor, u: Tensor, a64: Tensor, log_floor: float
) -> tuple[Tensor, Tensor]:
    """(native, u) with u drawn afresh where the native draw is not used: U(0, 1) where
    ``native`` is False, U(0, P(a, e^log_floor)) where the draw fell below the floor."""
    redo = ~native | floor
    if bool(redo.any()):
        v = torch.rand(u.shape, dtype=_F64, device=u.device)
        p_floor = standard_gamma_cdf(torch.full_like(a64, log_floor), a64)
        u = torch.where(redo, torch.where(native, v * p_floor, v).to(u.dtype), u)
        native = native & ~floor
    return native, u


def _split_passes(log_x: Tensor, a32: Tensor) -> tuple[Tensor, Tensor]:
    """(u, ∂ log x/∂a), float32: the float32 pass where it applies, the float64 one
    elsewhere."""
    fast = fast_domain(log_x, a32)
    u, dlogx = torch.empty_like(a32), torch.empty_like(a32)
    i, j = fast.nonzero().squeeze(1), (~fast).nonzero().squeeze(1)
    u_i, d_i = gamma_cdf_and_dlogx32(log_x.index_select(0, i), a32.index_select(0, i))
    assert d_i is not None
    u.index_copy_(0, i, u_i)
    dlogx.index_copy_(0, i, d_i)
    t64, a64 = log_x.index_select(0, j), a32.index_select(0, j).double()
    u_j, d_j = standard_gamma_cdf_and_dlogx_da(t64, a64, tol=2.0**-32)  # float32 result
    u.index_copy_(0, j, u_j.float())
    dlogx.index_copy_(0, j, d_j.float())
    return u, dlogx


def _draw_float32(
    a: Tensor, shape: torch.Size, grad: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
    """:func:`draw_standard_gamma_noise` for float32: X by torch's float32 sampler (log X
    its exact float64 log), u and the derivative in float32 from the float32 pass where
    it applies (:func:`fast_domain`), else from the float64 one."""
    with torch.no_grad():
        a32 = a.detach().expand(shape).reshape(-1)
        all_native = a32.numel() == 0 or bool(a32.min() >= _NATIVE_MIN_A)
        shapes = a32 if all_native else torch.where(a32 >= _NATIVE_MIN_A, a32, 1.0)
        log_x = torch.log(torch._standard_gamma(shapes).double())  # exact logs of float32 x
        if in_fast_domain(log_x, a32):
            u, dlogx = gamma_cdf_and_dlogx32(log_x, a32, grad)
        else:
            u, dlogx = _split_passes(log_x, a32)
        native = a32 >= _NATIVE_MIN_A
        if a32.numel() and (not all_native or bool(log_x.min() < _LOG_NATIVE_MIN_X32)):
            floor = log_x < _LOG_NATIVE_MIN_X32
            native, u = _redraw_untrusted(native, floor, u, a32.double(), _LOG_NATIVE_MIN_X32)
        u = StandardUniform.clamp(u).reshape(shape)
        d_out = dlogx.reshape(shape) if grad and dlogx is not None else None
        return u, log_x.reshape(shape), native.reshape(shape), d_out


def _native_standard_gamma(a: Tensor, deriv: bool) -> tuple[Tensor, Tensor, Tensor]:
    """(u, log X, ∂ log X/∂a or zeros) of one native draw for every element of ``a`` (the
    noise's shape), completed by the inverse where the draw is not used: the whole of
    :func:`draw_standard_gamma_noise` + :func:`complete_draw` as one operation, opaque to
    ``torch.compile`` (its numerics branch on values). u in a's dtype, log X float64, the
    derivative in a's dtype."""
    u, log_x, native, dlogx = draw_standard_gamma_noise(a, a.shape, a.dtype, deriv)
    log_x, dlogx = complete_draw(u, a, (log_x, native, dlogx), deriv)
    d = torch.zeros_like(a) if dlogx is None else dlogx.to(a.dtype)
    return u, log_x, d


def _native_standard_gamma_fake(a: Tensor, deriv: bool) -> tuple[Tensor, Tensor, Tensor]:
    return torch.empty_like(a), torch.empty_like(a, dtype=torch.float64), torch.empty_like(a)


native_standard_gamma: Callable[[Tensor, bool], tuple[Tensor, Tensor, Tensor]]
if hasattr(torch.library, "custom_op"):  # torch ≥ 2.4
    _op = torch.library.custom_op("reparam::native_standard_gamma", mutates_args=())(
        _native_standard_gamma
    )
    _op.register_fake(_native_standard_gamma_fake)
    native_standard_gamma = _op
else:  # torch 2.3: no custom operators; torch.compile breaks the graph around the numerics
    native_standard_gamma = _native_standard_gamma


class NativeGammaNoise:
    """Plain-MC noise through torch's exact Gamma sampler, remembered for ``from_noise``.

    A family sets ``_native_concentration()`` (the Gamma shapes, broadcastable to the
    noise) and either uses this ``sample_noise`` or overrides it with
    :func:`draw_standard_gamma_noise` and ``_remember_draw``; its ``from_noise`` passes
    ``_recall_draw(eps)`` to :func:`log_standard_gamma`. Set the attribute
    ``native_sampler = False`` to always invert.

    The remembered draw is used only for the very tensor ``sample_noise`` returned, with
    the same values, and while the concentration has the values it had at the draw: both
    are compared by value (a copy of each is kept), since no version counter or pointer
    sees every update (fused optimizers and ``.data`` edits change neither).
    """

    native_sampler: bool = True
    _drawn: tuple[Tensor, Tensor | None, Tensor | None, tuple] | None = None
    _in_rsample = False  # under torch.compile: inside rsample / rsample_and_log_prob

    def _native_concentration(self) -> Tensor:
        raise NotImplementedError

    def _remembered_noise(self, eps: Tensor) -> Tensor:
        """The part of ε the remembered draw was made for (all of it; a family whose ε
        has other, freely recomputed components may narrow it: only it is copied and
        compared)."""
        return eps

    def _remember_draw(self, u: Tensor, *drawn: Tensor | None) -> None:
        a = self._native_concentration().detach().clone()
        self._drawn = (u, self._remembered_noise(u).detach().clone(), a, drawn)

    def _recall_draw(self, eps: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None] | None:
        """(log X, native, ∂ log X/∂a or None) if ``eps`` is the tensor of the last draw,
        holding the values it was drawn with, and the concentration is unchanged; else
        None (the noise is then inverted). Under ``torch.compile`` only rsample's own
        draw is reused, by identity: its ε never leaves rsample."""
        drawn = self._drawn
        if drawn is None or drawn[0] is not eps:
            return None
        saved_eps, saved_a = drawn[1], drawn[2]
        if saved_eps is None or saved_a is None:  # a compiled rsample's own draw
            return drawn[3] if self._in_rsample else None
        if torch.equal(self._remembered_noise(eps).detach(), saved_eps) and torch.equal(
            self._native_concentration().detach(), saved_a
        ):
            return drawn[3]
        return None

    def _use_native(
        self, sample_shape: torch.Size, noise: str | NoiseStrategy
    ) -> torch.Size | None:
        """The noise shape if this draw goes through the native sampler, else None."""
        self._drawn = None
        if noise != "mc" or not self.native_sampler:
            return None
        shape = self.noise_shape(sample_shape)  # type: ignore[attr-defined]
        return shape if shape.numel() > 0 else None

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        shape = self._use_native(torch.Size(sample_shape), noise)
        if shape is None:
            return super().sample_noise(sample_shape, noise=noise)  # type: ignore[misc]
        a = self._native_concentration()
        if _is_compiling():
            # One opaque operation; the draw is kept (by identity: its ε cannot change
            # before from_noise) only for rsample's own from_noise.
            grad = torch.is_grad_enabled() and a.requires_grad
            a_full = a.detach().expand(shape).contiguous()
            u, log_x, dlogx = native_standard_gamma(a_full, grad)
            if self._in_rsample:
                self._drawn = (u, None, None, (log_x, None, dlogx if grad else None))
            return u
        u, *drawn = draw_standard_gamma_noise(a, shape, a.dtype)
        self._remember_draw(u, *drawn)
        return u

    def _draw_gammas_then_uniforms(self, shape: torch.Size, n_gamma: int) -> Tensor:
        """ε of ``shape`` for a family whose last noise dimension starts with ``n_gamma``
        uniforms of Gammas (drawn by torch's sampler, shapes ``_native_concentration()``
        broadcast to ``(*shape[:-1], n_gamma)``) and ends with free uniforms of its
        ``noise``; the draw is remembered for ``from_noise``."""
        lead = shape[:-1]
        a = self._native_concentration()
        u_gamma, *drawn = draw_standard_gamma_noise(a, lead + (n_gamma,), a.dtype)
        free = self.noise.sample(  # type: ignore[attr-defined]
            lead + (shape[-1] - n_gamma,), dtype=a.dtype, device=u_gamma.device
        )
        eps = torch.cat((u_gamma, free), -1)
        self._remember_draw(eps, *drawn)
        return eps

    def _rsample_scope(self) -> AbstractContextManager[None]:
        """While compiling, marks rsample's own sample_noise → from_noise (the draw is
        then reused by identity); otherwise does nothing."""
        if not _is_compiling():
            return nullcontext()

        @contextmanager
        def scope() -> Iterator[None]:
            self._in_rsample = True
            try:
                yield
            finally:
                self._in_rsample = False

        return scope()

    def rsample(
        self, sample_shape: _size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        with self._rsample_scope():
            return super().rsample(sample_shape, noise=noise)  # type: ignore[misc]

    def rsample_and_log_prob(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> tuple[Tensor, Tensor]:
        with self._rsample_scope():
            return super().rsample_and_log_prob(sample_shape, noise=noise)  # type: ignore[misc]


def exp_clamped(log_z: Tensor, dtype: torch.dtype, high: float | None = None) -> Tensor:
    """exp(log z) in ``dtype``, its value clamped to [tiny, high] (the gradient is that
    of the unclamped value, as for torch's samplers)."""
    z = torch.exp(log_z).to(dtype)
    finfo = torch.finfo(dtype)
    clamped = z.detach().clamp(min=finfo.tiny, max=high)
    return z + (clamped - z.detach()) if z.requires_grad else clamped


class LogSpaceNoiseCache:
    """Remembers the float64 log-space sample of the last ``from_noise`` call.

    ``log_prob_from_noise(eps, z)`` right after ``z = from_noise(eps)`` (what
    ``rsample_and_log_prob`` and ``from_noise_and_log_prob`` do) then evaluates the density
    at the exact sample from its logarithm — finite and exact where z rounds to 0 or 1 —
    without solving for the quantiles again. Other calls recompute it from ε. The
    remembered log-sample (and its graph) is released by the next call of either.

    It cannot go stale: it is used only for the very pair (``eps``, ``z``) of that call and
    holds the logarithms of that z (the density is evaluated with the parameters as they
    are at the ``log_prob_from_noise`` call); ``log_prob_from_noise`` never reads the values
    of ``z``, so an edit of z through ``.data`` changes neither path.
    """

    _last_noise: tuple[weakref.ref, weakref.ref, bool, object] | None = None

    def _remember(self, eps: Tensor, z: Tensor, parts: object) -> None:
        if _is_compiling():  # weak references do not trace; log_prob_from_noise recomputes
            self._last_noise = None
            return
        self._last_noise = (weakref.ref(eps), weakref.ref(z), torch.is_grad_enabled(), parts)

    def _recall(self, eps: Tensor, z: Tensor, compute: Callable[[Tensor], _T]) -> _T:
        last, self._last_noise = self._last_noise, None
        if _is_compiling():
            return compute(eps)
        if (
            last is not None
            and last[0]() is eps
            and last[1]() is z
            and last[2] == torch.is_grad_enabled()
        ):
            return cast(_T, last[3])  # what _remember stored: compute's result for eps
        return compute(eps)
