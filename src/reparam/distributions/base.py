"""The base class of every reparameterized distribution: ε is first-class.

The reparameterization trick rewrites z ~ q(z; θ) as ε ~ p(ε), z = g(ε, θ), so that
∇θ E_q[f(z)] = E_p(ε)[∇θ f(g(ε, θ))] (Kingma & Welling 2014, arXiv:1312.6114;
Rezende, Mohamed & Wierstra 2014, arXiv:1401.4082). torch.distributions hides ε
inside ``rsample``; here both halves are public.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from numbers import Number

import torch
from torch import Tensor
from torch.distributions import Distribution
from torch.types import _size

from ..noise import NoiseStrategy, draw_noise
from ._params import check_params
from .standard import NoiseBase, StandardNormal

__all__ = ["ReparamDistribution", "sum_rightmost"]

_EMPTY = torch.Size()


def sum_rightmost(value: Tensor, n: int) -> Tensor:
    """Sum over the ``n`` rightmost dimensions (all of them if ``value`` has fewer)."""
    return value.reshape(value.shape[: value.dim() - n] + (-1,)).sum(-1) if n > 0 else value


_VALUE_METHODS = ("log_prob", "cdf", "icdf")


def _as_value(q: Distribution, value: object) -> object:
    """A Python number as a tensor of the parameters' dtype and device (as torch's
    ``Gamma.log_prob`` does); anything else unchanged."""
    if isinstance(value, Tensor) or not isinstance(value, Number):
        return value
    try:
        ref = q._reference()  # type: ignore[attr-defined]
    except NotImplementedError:
        return torch.as_tensor(value, dtype=torch.get_default_dtype())
    return torch.as_tensor(value, dtype=ref.dtype, device=ref.device)


def _accepting_numbers(name: str, method: Callable[..., Tensor]) -> Callable[..., Tensor]:
    @functools.wraps(method)
    def accepting_numbers(self: Distribution, value: object, *args: object) -> Tensor:
        if not self._validate_args or name in getattr(self, "_validated_numbers", ()):
            value = _as_value(self, value)
        return method(self, value, *args)

    accepting_numbers._accepts_numbers = True  # type: ignore[attr-defined]
    return accepting_numbers


class ReparamDistribution(Distribution):
    r"""A distribution q(z; θ) written as z = g(ε, θ) with ε ~ p(ε) free of θ.

    .. math::
        \varepsilon \sim p(\varepsilon), \qquad z = g(\varepsilon, \theta), \qquad
        \log q(z) = \log p(\varepsilon) - \log\left|\det \partial g / \partial \varepsilon\right|

    Public API (owned by this class, shared by every family):

    - ``sample_noise(sample_shape)`` → ε with shape ``noise_shape(sample_shape)``;
    - ``from_noise(eps)`` → z = g(ε, θ), differentiable in θ;
    - ``rsample(sample_shape)`` = ``from_noise(sample_noise(sample_shape))``;
    - ``rsample_and_log_prob(sample_shape)`` → (z, log q(z)) with log q computed from ε
      by the change of variables, the fast path of every ELBO.
    - each of ``sample_noise``, ``rsample`` and ``rsample_and_log_prob`` takes a
      keyword ``noise=``: ``"mc"`` (default), ``"antithetic"``, ``"qmc"`` or a
      :class:`~reparam.noise.NoiseStrategy` (see :mod:`reparam.noise`).

    Implementing a family (one class in one file):

    1. Set the class attributes ``arg_constraints``, ``support`` and ``noise`` (a
       :class:`~reparam.distributions.standard.NoiseBase`: ``StandardNormal()`` for
       location-scale maps, ``StandardUniform()`` for inverse-CDF maps).
    2. In ``__init__``, convert the parameters with
       :func:`~reparam.distributions._params.as_params` (numbers → tensors, one dtype,
       broadcast, shape errors named), store them under their ``arg_constraints`` names
       and call ``super().__init__(batch_shape, event_shape, validate_args=...)``; that
       validates every parameter (finite and inside its constraint) when enabled.
       Override ``_check_params`` to add checks between parameters.
    3. Write ``from_noise(eps)`` and ``log_abs_det_jacobian(eps, z)`` (summed over the
       event dimensions). When g is not a bijection of ε (e.g. a fold, or more noise
       than dimensions), override ``log_prob_from_noise(eps, z)`` instead.
    4. Write ``log_prob`` and whatever of ``mean``, ``variance``, ``entropy``, ``cdf``,
       ``icdf`` exists in closed form. If ε has a different event shape from z,
       override ``noise_event_shape``. ``expand`` works for any family whose state is
       its ``arg_constraints`` parameters; override it otherwise.
    """

    has_rsample = True
    noise: NoiseBase = StandardNormal()

    def __init_subclass__(cls, **kwargs: object) -> None:
        # As torch: ``log_prob``, ``cdf`` and ``icdf`` take a Python number where
        # validation is off; with it on, only the methods a family names in
        # ``_validated_numbers`` do (Gamma's log_prob), the others raise ValueError.
        super().__init_subclass__(**kwargs)
        for name in _VALUE_METHODS:
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "_accepts_numbers", False):
                setattr(cls, name, _accepting_numbers(name, method))

    def __init__(
        self,
        batch_shape: torch.Size = _EMPTY,
        event_shape: torch.Size = _EMPTY,
        validate_args: bool | None = None,
    ) -> None:
        if type(batch_shape) is not torch.Size:
            batch_shape = torch.Size(batch_shape)
        if type(event_shape) is not torch.Size:
            event_shape = torch.Size(event_shape)
        super().__init__(batch_shape, event_shape, validate_args=False)
        if validate_args is None:
            validate_args = Distribution._validate_args
        self._validate_args = bool(validate_args)
        if self._validate_args:
            self._check_params()

    # ----------------------------------------------------------------- parameters
    def _param_items(self) -> dict[str, Tensor]:
        return {
            name: self.__dict__[name]
            for name in self.arg_constraints
            if isinstance(self.__dict__.get(name), Tensor)
        }

    def _check_params(self) -> None:
        """Raise ValueError if a parameter is non-finite or outside its constraint."""
        cls = type(self)
        # check_params skips names that are missing or not tensors, so where _param_items
        # is the default the instance's __dict__ serves as is (no dict built per instance)
        params = self.__dict__ if cls._param_items is _DEFAULT_PARAM_ITEMS else self._param_items()
        check_params(cls.__name__, params, self.arg_constraints)

    def _reference(self) -> Tensor:
        """A parameter tensor whose dtype and device the noise takes."""
        for name in self.arg_constraints:
            value = self.__dict__.get(name)
            if isinstance(value, Tensor):
                return value
        raise NotImplementedError(f"{type(self).__name__} stores no parameter tensor")

    # ----------------------------------------------------------------- noise
    @property
    def noise_event_shape(self) -> torch.Size:
        """Event shape of ε (defaults to ``event_shape``)."""
        return self.event_shape

    def noise_shape(self, sample_shape: torch.Size = _EMPTY) -> torch.Size:
        """``sample_shape + batch_shape + noise_event_shape``: the shape of ε."""
        return torch.Size(sample_shape) + self.batch_shape + self.noise_event_shape

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        """Draw ε ~ p(ε), free of θ, with the parameters' dtype and device.

        Args:
            sample_shape: leading sample dimensions.
            noise: how ε is drawn: ``"mc"`` (independent draws, the default),
                ``"antithetic"``, ``"qmc"`` or a :class:`~reparam.noise.NoiseStrategy`
                (see :mod:`reparam.noise`); every strategy leaves each ε_i ~ p(ε).

        Returns:
            ε with shape ``sample_shape + batch_shape + noise_event_shape``.
        """
        if noise != "mc":
            return draw_noise(self, sample_shape, noise)
        ref = self._reference()
        return self.noise.sample(
            self.noise_shape(sample_shape), dtype=ref.dtype, device=ref.device
        )

    def _check_noise(self, eps: Tensor) -> None:
        if not isinstance(eps, Tensor):
            raise TypeError(
                f"{type(self).__name__}: eps must be a tensor, got {type(eps).__name__}"
            )
        tail = self.batch_shape + self.noise_event_shape
        if tuple(eps.shape[eps.dim() - len(tail) :]) != tuple(tail) or eps.dim() < len(tail):
            raise ValueError(
                f"{type(self).__name__}: eps must end with batch_shape + noise_event_shape = "
                f"{tuple(tail)}; got shape {tuple(eps.shape)}"
            )

    def from_noise(self, eps: Tensor) -> Tensor:
        """z = g(ε, θ), differentiable in θ.

        Args:
            eps: noise with shape ``(*sample_shape, *batch_shape, *noise_event_shape)``.

        Returns:
            z with shape ``(*sample_shape, *batch_shape, *event_shape)``.
        """
        raise NotImplementedError

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        """log |det ∂g/∂ε| at (ε, z), summed over the event dims: shape ``sample+batch``.

        The default goes through the density at z, log p(ε) − log q(z); families
        override it with the closed form.
        """
        return self._noise_log_prob(eps) - self.log_prob(z)

    def _noise_log_prob(self, eps: Tensor) -> Tensor:
        return sum_rightmost(self.noise.log_prob(eps), len(self.noise_event_shape))

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        r"""log q(z) for z = g(ε, θ), by the change of variables.

        .. math:: \log q(z) = \log p(\varepsilon) - \log|\det \partial g/\partial\varepsilon|

        Args:
            eps: the noise z was made from.
            z: ``from_noise(eps)``.

        Returns:
            log q(z) with shape ``sample_shape + batch_shape``.
        """
        return self._noise_log_prob(eps) - self.log_abs_det_jacobian(eps, z)

    # ----------------------------------------------------------------- sampling
    def rsample(
        self, sample_shape: _size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        """Reparameterized sample: ``from_noise(sample_noise(sample_shape, noise=noise))``."""
        if noise != "mc":
            return self.from_noise(draw_noise(self, sample_shape, noise))
        return self.from_noise(self.sample_noise(torch.Size(sample_shape)))

    def sample(self, sample_shape: _size = _EMPTY) -> Tensor:
        """A sample with no gradient."""
        with torch.no_grad():
            return self.rsample(sample_shape)

    def from_noise_and_log_prob(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(z, log q(z)) for given noise: ``from_noise`` plus ``log_prob_from_noise``."""
        if self._validate_args:
            self._check_noise(eps)
        z = self.from_noise(eps)
        return z, self.log_prob_from_noise(eps, z)

    def rsample_and_log_prob(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> tuple[Tensor, Tensor]:
        """Draw z by the trick and return (z, log q(z)), log q computed from ε.

        Args:
            sample_shape: leading sample dimensions.
            noise: how ε is drawn (as in :meth:`sample_noise`).

        Returns:
            z with shape ``sample_shape + batch_shape + event_shape`` and log q(z) with
            shape ``sample_shape + batch_shape``.
        """
        if noise != "mc":
            eps = draw_noise(self, sample_shape, noise)
        else:
            eps = self.sample_noise(sample_shape)
        z = self.from_noise(eps)
        return z, self.log_prob_from_noise(eps, z)

    # ----------------------------------------------------------------- shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> ReparamDistribution:
        """A view with a larger batch shape; parameters are expanded, not copied."""
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(type(self), _instance)
        n_batch = len(self.batch_shape)
        for name, value in self._param_items().items():
            setattr(new, name, value.expand(batch_shape + value.shape[n_batch:]))
        ReparamDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new


_DEFAULT_PARAM_ITEMS = ReparamDistribution._param_items
