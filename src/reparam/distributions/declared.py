"""User-declared reparameterizations: any g(ε, θ) on a θ-free noise base is a distribution."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypedDict, cast

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.func import jvp
from torch.types import _size

from ._params import as_tensors, check_params
from .base import ReparamDistribution
from .standard import NoiseBase, StandardNormal, StandardUniform

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..noise import NoiseStrategy

_EMPTY = torch.Size()

__all__ = ["Reparameterized", "reparameterize"]

_NOISES: dict[str, NoiseBase] = {"normal": StandardNormal(), "uniform": StandardUniform()}


def _as_noise(noise: str | NoiseBase) -> NoiseBase:
    if isinstance(noise, NoiseBase):
        return noise
    if isinstance(noise, str) and noise in _NOISES:
        return _NOISES[noise]
    raise ValueError(
        f"Reparameterized: noise must be one of {sorted(_NOISES)} or a NoiseBase instance, "
        f"got {noise!r}"
    )


_jvp_ready = False


def _jvp(fn: Callable[[Tensor], Tensor], eps: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.func.jvp`` with a tangent of ones: (g(ε), ∂g/∂ε · 1)."""
    global _jvp_ready
    if _jvp_ready:
        # (primal, tangent): torch types jvp's result loosely (it has 3 items with has_aux)
        return cast(tuple[Tensor, Tensor], jvp(fn, (eps,), (torch.ones_like(eps),)))
    # torch loads its forward-AD decompositions through torch.jit.script on first use,
    # which warns (a torch-internal DeprecationWarning); keep it out of users' logs.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*torch.jit.script", category=DeprecationWarning
        )
        out = jvp(fn, (eps,), (torch.ones_like(eps),))
    _jvp_ready = True
    return cast(tuple[Tensor, Tensor], out)


@functools.lru_cache(maxsize=256)
def _constraint_dict(
    items: tuple[tuple[str, constraints.Constraint], ...],
) -> dict[str, constraints.Constraint]:
    # One dict per distinct set of constraints: check_params caches its plan per dict.
    return dict(items)


def _convert(params: Mapping[str, object]) -> dict[str, Tensor]:
    if not isinstance(params, Mapping):
        raise TypeError(
            f"Reparameterized: params must be a dict name → tensor, got {type(params).__name__}"
        )
    for name in params:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Reparameterized: parameter names must be identifiers, got {name!r}")
    return dict(zip(params, as_tensors("Reparameterized", params), strict=True))


class Reparameterized(ReparamDistribution):
    r"""A distribution declared by its reparameterization: z = g(ε, θ), ε from a fixed base.

    .. math::
        \varepsilon \sim p(\varepsilon), \quad z = g(\varepsilon, \theta), \quad
        \log q(z) = \log p(\varepsilon) - \log\left|\det \partial g/\partial\varepsilon\right|

    It is a :class:`~reparam.distributions.ReparamDistribution` like every built-in
    family, so noise strategies (antithetic, QMC), estimators and objectives work on it.
    ``g`` is called as ``g(eps, **params)`` and must broadcast: given ε with shape
    ``sample_shape + batch_shape + noise_event_shape`` it returns z with shape
    ``sample_shape + batch_shape + event_shape`` (checked on every call).

    The density, in order of preference:

    1. ``log_abs_det_jacobian(eps, z, **params)`` → log|det ∂g/∂ε| summed over the event
       dims (shape ``sample_shape + batch_shape``): log q = log p(ε) − that;
    2. ``log_prob(z, **params)`` → log q(z);
    3. neither, with ``event_shape == ()`` and ``noise_event_shape == ()``: g is taken to
       act **elementwise** (z_i depends on ε_i only) and log|dg/dε| is computed by
       forward-mode autograd, one ``torch.func.jvp`` with a tangent of ones (the same
       pass also gives z). For a g that mixes elements this is wrong: declare the
       log-determinant instead.

    ``log_prob(value)`` uses the declared ``log_prob``; otherwise, given ``inverse(z,
    **params)`` → ε, it is the change of variables at ε = inverse(z).

    Args:
        g: the map ``g(eps, **params) -> z``, differentiable in the parameters.
        params: name → tensor (or number) θ; ``batch_shape`` is their broadcast shape
            (for a non-scalar event it is read off g's output on the base's median).
            The tensors are stored as given, so gradients flow back to them.
        noise: ``"normal"`` (ε ~ N(0, 1)), ``"uniform"`` (u ~ U(0, 1)) or any
            :class:`~reparam.distributions.NoiseBase`.
        event_shape: event shape of z.
        noise_event_shape: event shape of ε (defaults to ``event_shape``).
        batch_shape: the batch shape, when it is not the parameters' broadcast shape.
        log_abs_det_jacobian: ``(eps, z, **params) -> log|det ∂g/∂ε|``.
        log_prob: ``(z, **params) -> log q(z)``.
        inverse: ``(z, **params) -> eps``, so that ``log_prob`` works without a formula.
        support: the support of z.
        arg_constraints: name → constraint for some parameters (others: finite reals).
        validate_args: check that every parameter is finite and inside its constraint.

    Raises:
        TypeError: ``g`` (or a density callable) is not callable, or a parameter is not
            a real number or tensor.
        ValueError: a parameter is NaN/inf or outside its constraint (named in the
            message), the shapes do not broadcast, or g returns the wrong shape.

    Example:
        >>> def gumbel(u, loc, scale):
        ...     return loc - scale * torch.log(-torch.log(u))
        >>> q = Reparameterized(gumbel, {"loc": torch.zeros(3), "scale": torch.ones(3)},
        ...                     noise="uniform")
        >>> z, log_q = q.rsample_and_log_prob((5,))  # log|dg/du| by autograd
        >>> z.shape, log_q.shape
        (torch.Size([5, 3]), torch.Size([5, 3]))
    """

    def __init__(
        self,
        g: Callable[..., Tensor],
        params: Mapping[str, Tensor | float],
        *,
        noise: str | NoiseBase = "normal",
        event_shape: Sequence[int] = (),
        noise_event_shape: Sequence[int] | None = None,
        batch_shape: Sequence[int] | None = None,
        log_abs_det_jacobian: Callable[..., Tensor] | None = None,
        log_prob: Callable[..., Tensor] | None = None,
        inverse: Callable[..., Tensor] | None = None,
        support: constraints.Constraint = constraints.real,
        arg_constraints: Mapping[str, constraints.Constraint] | None = None,
        validate_args: bool | None = None,
    ) -> None:
        if not callable(g):
            raise TypeError(f"Reparameterized: g must be callable, got {type(g).__name__}")
        for name, fn in (
            ("log_abs_det_jacobian", log_abs_det_jacobian),
            ("log_prob", log_prob),
            ("inverse", inverse),
        ):
            if fn is not None and not callable(fn):
                raise TypeError(
                    f"Reparameterized: {name} must be callable or None, got {type(fn).__name__}"
                )
        self._g = g
        self._params = _convert(params)
        self.noise = _as_noise(noise)
        self._ladj = log_abs_det_jacobian
        self._log_prob = log_prob
        self._inverse = inverse
        self._support = support
        extra = set(arg_constraints or {}) - set(self._params)
        if extra:
            raise ValueError(f"Reparameterized: arg_constraints names unknown parameters {extra}")
        user = dict(arg_constraints or {})
        self._arg_constraints = _constraint_dict(
            tuple((name, user.get(name, constraints.real)) for name in self._params)
        )
        event_shape = torch.Size(event_shape)
        self._noise_event_shape = (
            event_shape if noise_event_shape is None else torch.Size(noise_event_shape)
        )
        if batch_shape is None:
            batch_shape = self._infer_batch_shape(event_shape)
        super().__init__(torch.Size(batch_shape), event_shape, validate_args=validate_args)

    def _infer_batch_shape(self, event_shape: torch.Size) -> torch.Size:
        shapes = [v.shape for v in self._params.values()]
        if not event_shape and not self._noise_event_shape:
            try:
                return torch.broadcast_shapes(*shapes)
            except RuntimeError:
                described = ", ".join(f"{n} {tuple(v.shape)}" for n, v in self._params.items())
                raise ValueError(
                    f"Reparameterized: parameter shapes cannot be broadcast together: {described}"
                ) from None
        # A non-scalar event: the batch shape is what g adds to one draw of ε.
        ref = self._reference()
        try:
            half = torch.full(self._noise_event_shape, 0.5, dtype=ref.dtype, device=ref.device)
            probe = self.noise.icdf(half)
        except NotImplementedError:
            probe = self.noise.sample(self._noise_event_shape, dtype=ref.dtype, device=ref.device)
        try:
            with torch.no_grad():
                z = self._g(probe, **self._params)
        except RuntimeError as error:
            raise ValueError(
                f"Reparameterized: g failed on eps of shape {tuple(probe.shape)} (one draw, "
                f"used to find the batch shape; pass batch_shape= to skip it): {error}"
            ) from error
        self._check_output_type(z)
        n = len(event_shape)
        if z.dim() < n or tuple(z.shape[z.dim() - n :]) != tuple(event_shape):
            raise ValueError(
                f"Reparameterized: g returned shape {tuple(z.shape)} for eps of shape "
                f"{tuple(probe.shape)}; expected it to end with event_shape {tuple(event_shape)}"
            )
        return z.shape[: z.dim() - n]

    # ------------------------------------------------------------------ state
    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        return self._arg_constraints

    @property
    def support(self) -> constraints.Constraint:
        return self._support

    @property
    def params(self) -> dict[str, Tensor]:
        """The parameters θ, name → tensor (the caller's tensors, not copies)."""
        return dict(self._params)

    def _param_items(self) -> dict[str, Tensor]:
        return self._params

    def _check_params(self) -> None:
        check_params("Reparameterized", self._params, self._arg_constraints)

    def _reference(self) -> Tensor:
        for value in self._params.values():
            return value
        return torch.empty((), dtype=torch.get_default_dtype())

    @property
    def noise_event_shape(self) -> torch.Size:
        return self._noise_event_shape

    # ------------------------------------------------------------------ g and its density
    @staticmethod
    def _check_output_type(z: object) -> None:
        if not isinstance(z, Tensor):
            raise TypeError(f"Reparameterized: g must return a tensor, got {type(z).__name__}")

    def _check_output(self, eps: Tensor, z: Tensor) -> Tensor:
        self._check_output_type(z)  # g is typed to return a tensor, but user code may not
        expected = eps.shape[: eps.dim() - len(self._noise_event_shape)] + self.event_shape
        if z.shape != expected:
            raise ValueError(
                f"Reparameterized: g returned shape {tuple(z.shape)} for eps of shape "
                f"{tuple(eps.shape)}; expected sample_shape + batch_shape + event_shape = "
                f"{tuple(expected)}"
            )
        return z

    def from_noise(self, eps: Tensor) -> Tensor:
        return self._check_output(eps, self._g(eps, **self._params))

    @property
    def _elementwise_autograd(self) -> bool:
        return (
            self._ladj is None
            and self._log_prob is None
            and not self.event_shape
            and not self._noise_event_shape
        )

    def _jvp(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(z, log|dg/dε|) for an elementwise g, by one forward-mode pass."""
        z, dz = _jvp(lambda e: self._g(e, **self._params), eps)
        return self._check_output(eps, z), dz.abs().log()

    def _no_density(self) -> NotImplementedError:
        return NotImplementedError(
            "Reparameterized: no density declared. Pass log_abs_det_jacobian=(eps, z, **params) "
            "or log_prob=(z, **params); the autograd log-determinant only applies to an "
            "elementwise g with event_shape == noise_event_shape == ()"
        )

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        if self._ladj is not None:
            return self._ladj(eps, z, **self._params)
        if self._elementwise_autograd:
            return self._jvp(eps)[1]
        if self._log_prob is not None:
            return super().log_abs_det_jacobian(eps, z)
        raise self._no_density()

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        if self._ladj is not None:
            return self._noise_log_prob(eps) - self._ladj(eps, z, **self._params)
        if self._log_prob is not None:
            return self._log_prob(z, **self._params)
        if self._elementwise_autograd:
            return self._noise_log_prob(eps) - self._jvp(eps)[1]
        raise self._no_density()

    def from_noise_and_log_prob(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        if not self._elementwise_autograd:
            return super().from_noise_and_log_prob(eps)
        if self._validate_args:
            self._check_noise(eps)
        z, ladj = self._jvp(eps)  # one pass gives z and log|dg/dε|
        return z, self._noise_log_prob(eps) - ladj

    def rsample_and_log_prob(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> tuple[Tensor, Tensor]:
        if not self._elementwise_autograd:
            return super().rsample_and_log_prob(sample_shape, noise=noise)
        eps = self.sample_noise(sample_shape, noise=noise)
        z, ladj = self._jvp(eps)
        return z, self._noise_log_prob(eps) - ladj

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        if self._log_prob is not None:
            return self._log_prob(value, **self._params)
        if self._inverse is not None:
            return self.log_prob_from_noise(self._inverse(value, **self._params), value)
        raise NotImplementedError(
            "Reparameterized: log_prob(value) needs log_prob=(z, **params) or "
            "inverse=(z, **params) at construction"
        )

    # ------------------------------------------------------------------ shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> Reparameterized:
        """A view with a larger batch shape; g broadcasts the parameters against ε."""
        batch_shape = torch.Size(batch_shape)
        try:
            ok = torch.broadcast_shapes(batch_shape, self.batch_shape) == batch_shape
        except RuntimeError:
            ok = False
        if not ok:
            raise ValueError(
                f"Reparameterized: cannot expand batch_shape {tuple(self.batch_shape)} "
                f"to {tuple(batch_shape)}"
            )
        new = self._get_checked_instance(Reparameterized, _instance)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("_batch_shape",)})
        ReparamDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self) -> str:
        name = getattr(self._g, "__name__", type(self._g).__name__)
        shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in self._params.items())
        return f"Reparameterized({name}, {{{shapes}}}, noise={self.noise!r})"


class _Options(TypedDict, total=False):
    """The keyword options of :class:`Reparameterized` that :func:`reparameterize` takes."""

    noise: str | NoiseBase
    event_shape: Sequence[int]
    noise_event_shape: Sequence[int] | None
    batch_shape: Sequence[int] | None
    log_abs_det_jacobian: Callable[..., Tensor] | None
    log_prob: Callable[..., Tensor] | None
    inverse: Callable[..., Tensor] | None
    support: constraints.Constraint
    arg_constraints: Mapping[str, constraints.Constraint] | None


def reparameterize(
    g: Callable[..., Tensor] | None = None,
    /,
    **options: Unpack[_Options],
) -> (
    Callable[..., Reparameterized]
    | Callable[[Callable[..., Tensor]], Callable[..., Reparameterized]]
):
    """Turn g(ε, θ₁, θ₂, …) into a constructor of :class:`Reparameterized` distributions.

    Use it as ``@reparameterize(noise="uniform")`` or ``reparameterize(g, noise=...)``;
    the keyword options are those of :class:`Reparameterized`. The constructor takes
    g's parameters after ε, by position or name (g's defaults apply), plus
    ``validate_args``.

    Example:
        >>> @reparameterize(noise="uniform")
        ... def exponential(u, rate):
        ...     return -torch.log(u) / rate
        >>> q = exponential(torch.tensor([1.0, 2.0]))
        >>> q.rsample((4,)).shape
        torch.Size([4, 2])
    """
    if "validate_args" in options or "params" in options:
        raise TypeError("reparameterize: pass params and validate_args to the constructor")

    def decorate(fn: Callable[..., Tensor]) -> Callable[..., Reparameterized]:
        if not callable(fn):
            raise TypeError(f"reparameterize: g must be callable, got {type(fn).__name__}")
        signature = inspect.signature(fn)

        def make(
            *args: object, validate_args: bool | None = None, **kwargs: object
        ) -> Reparameterized:
            bound = signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            params = dict(list(bound.arguments.items())[1:])
            return Reparameterized(fn, params, validate_args=validate_args, **options)

        make.__name__ = getattr(fn, "__name__", "make")
        make.__qualname__ = getattr(fn, "__qualname__", make.__name__)
        make.__doc__ = fn.__doc__
        return make

    return decorate if g is None else decorate(g)
