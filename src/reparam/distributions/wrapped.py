"""``wrap``: any torch.distributions object with ``rsample`` as a ReparamDistribution."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.distributions import Independent as _TorchIndependent
from torch.distributions import TransformedDistribution as _TorchTransformed
from torch.types import _size

from ._counterparts import TORCH_ARGUMENTS
from .base import ReparamDistribution
from .standard import NoiseBase

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

_EMPTY = torch.Size()

__all__ = ["SeedNoise", "WrappedRSample", "wrap"]

_SEED_HIGH = 2**62


class SeedNoise(NoiseBase):
    """Opaque noise: an int64 seed for the wrapped distribution's own sampler.

    Every entry of a draw holds the same seed, taken from torch's global (CPU) generator;
    the shape of the tensor only carries the sample and batch shapes. A seed has no
    density, no inverse CDF and no antithetic partner, so noise strategies that act on
    ε (antithetic pairs, quasi-Monte Carlo) cannot act on it and raise.
    """

    name = "seed"
    support = constraints.integer_interval(0, _SEED_HIGH - 1)

    def sample(
        self, shape: torch.Size, *, dtype: torch.dtype, device: torch.device | str
    ) -> Tensor:
        """``shape`` copies of one seed (int64; ``dtype`` is ignored)."""
        seed = torch.randint(0, _SEED_HIGH, (), dtype=torch.int64)
        return seed.to(device).expand(shape).clone()

    def _opaque(self, what: str) -> NotImplementedError:
        return NotImplementedError(
            f"SeedNoise has no {what}: the noise of a WrappedRSample is an opaque seed, so "
            "antithetic and quasi-Monte Carlo noise cannot act on it; use a reparam family "
            "with explicit noise instead"
        )

    def log_prob(self, eps: Tensor) -> Tensor:
        raise self._opaque("density")

    def icdf(self, u: Tensor) -> Tensor:
        raise self._opaque("inverse CDF")

    def reflect(self, eps: Tensor) -> Tensor:
        raise self._opaque("antithetic reflection")


class WrappedRSample(ReparamDistribution):
    r"""A torch distribution with ``rsample`` seen through the ε / g interface.

    .. math::
        \varepsilon = \text{seed}, \qquad z = g(\varepsilon, \theta) =
        \texttt{dist.rsample()} \text{ run under } \texttt{manual\_seed}(\varepsilon)

    The distribution's own sampler is the noise: ``sample_noise(sample_shape)`` returns an
    int64 tensor of shape ``sample_shape + batch_shape`` whose entries are all one seed,
    and ``from_noise(eps)`` re-seeds a forked RNG with that seed and calls
    ``dist.rsample(sample_shape)``, so the same ε gives the same z and the gradient is
    whatever ``dist.rsample`` provides (explicit or implicit reparameterization).
    ``log_prob_from_noise(eps, z)`` is ``dist.log_prob(z)``.

    ε is **opaque**: it is not a draw from a standard base, so noise strategies that act
    on ε (antithetic pairs, randomized QMC) cannot act on it, and ``from_noise`` reads
    the seed on the host (no ``torch.compile`` graph through it). Prefer a reparam family
    when one exists — :func:`wrap` picks it.

    Args:
        dist: a ``torch.distributions.Distribution`` with ``has_rsample``.

    Raises:
        TypeError: ``dist`` is not a distribution or has no ``rsample``.

    Example:
        >>> q = WrappedRSample(torch.distributions.Gamma(torch.ones(2), torch.ones(2)))
        >>> eps = q.sample_noise((3,))
        >>> torch.equal(q.from_noise(eps), q.from_noise(eps))
        True
    """

    noise = SeedNoise()

    def __init__(self, dist: Distribution) -> None:
        if not isinstance(dist, Distribution):
            raise TypeError(
                f"WrappedRSample: dist must be a torch Distribution, got {type(dist).__name__}"
            )
        if not dist.has_rsample:
            raise _no_rsample("WrappedRSample", dist)
        self.base_dist = dist
        super().__init__(dist.batch_shape, dist.event_shape, validate_args=dist._validate_args)

    # ------------------------------------------------------------------ state
    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        return self.base_dist.arg_constraints

    @property
    def support(self) -> constraints.Constraint:
        # torch types support as Optional; a distribution's support is a Constraint
        return cast(constraints.Constraint, self.base_dist.support)

    def _check_params(self) -> None:
        """The wrapped distribution validated its parameters when it was built."""

    def _param_items(self) -> dict[str, Tensor]:
        return {}

    def _reference(self) -> Tensor:
        for name in self.base_dist.arg_constraints:
            value = getattr(self.base_dist, name, None)
            if isinstance(value, Tensor):
                return value
        return torch.empty(())

    # ------------------------------------------------------------------ noise and g
    @property
    def noise_event_shape(self) -> torch.Size:
        return torch.Size()

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        if noise != "mc":  # noise strategies refuse the opaque seed with a clear ValueError
            return super().sample_noise(sample_shape, noise=noise)
        device = self._reference().device
        return self.noise.sample(self.noise_shape(sample_shape), dtype=torch.int64, device=device)

    def from_noise(self, eps: Tensor) -> Tensor:
        if not isinstance(eps, Tensor) or eps.dtype != torch.int64:
            got = eps.dtype if isinstance(eps, Tensor) else type(eps).__name__
            raise TypeError(
                f"WrappedRSample: eps must be the int64 seed tensor from sample_noise, got {got}"
            )
        if self._validate_args:
            self._check_noise(eps)
        sample_shape = eps.shape[: eps.dim() - len(self.batch_shape)]
        seed = int(eps.reshape(-1)[0]) if eps.numel() else 0
        device = eps.device
        if device.type == "cpu":
            with torch.random.fork_rng(devices=[], device_type="cpu"):
                torch.random.default_generator.manual_seed(seed)
                return self.base_dist.rsample(sample_shape)
        module = torch.get_device_module(device.type)
        index = device.index if device.index is not None else module.current_device()
        with torch.random.fork_rng(devices=[index], device_type=device.type):
            # Seed only this device's generator (torch.manual_seed would reseed every
            # device, and fork_rng restores only the ones it forked).
            if device.type == "cuda":
                with torch.cuda.device(index):
                    torch.cuda.manual_seed(seed)
            else:
                torch.manual_seed(seed)
            return self.base_dist.rsample(sample_shape)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        raise self.noise._opaque("log-determinant")

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.base_dist.log_prob(z)

    # ------------------------------------------------------------------ delegation
    def log_prob(self, value: Tensor) -> Tensor:
        return self.base_dist.log_prob(value)

    def cdf(self, value: Tensor) -> Tensor:
        return self.base_dist.cdf(value)

    def icdf(self, value: Tensor) -> Tensor:
        return self.base_dist.icdf(value)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy()

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    @property
    def stddev(self) -> Tensor:
        return self.base_dist.stddev

    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> WrappedRSample:
        new = self._get_checked_instance(WrappedRSample, _instance)
        new.base_dist = self.base_dist.expand(batch_shape)
        ReparamDistribution.__init__(
            new, new.base_dist.batch_shape, self.event_shape, validate_args=False
        )
        new._validate_args = self._validate_args
        return new

    def __repr__(self) -> str:
        return f"WrappedRSample({self.base_dist!r})"


def _no_rsample(owner: str, dist: Distribution) -> TypeError:
    return TypeError(
        f"{owner}: {type(dist).__name__} has no rsample (has_rsample is False), so it cannot be "
        "reparameterized; use the score-function (REINFORCE) estimator for it, or a "
        "continuous relaxation of it"
    )


def _family(name: str) -> type | None:
    from reparam import distributions

    cls = getattr(distributions, name, None)
    if isinstance(cls, type) and issubclass(cls, ReparamDistribution):
        return cls
    return None


def _accepts(cls: type, names: tuple[str, ...]) -> bool:
    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = {n for n, p in parameters.items() if p.kind in kinds}
    required = {
        n
        for n, p in parameters.items()
        if p.kind in kinds and p.default is inspect.Parameter.empty
    }
    return set(names) <= accepted and required <= set(names) and "validate_args" in accepted


def _convert(dist: Distribution) -> ReparamDistribution | None:
    """The reparam family of the same name sharing dist's parameter tensors, if any."""
    name = type(dist).__name__
    validate = dist._validate_args
    if isinstance(dist, _TorchIndependent) and type(dist) is _TorchIndependent:
        cls = _family("Independent")
        if cls is None:
            return None
        return cls(wrap(dist.base_dist), dist.reinterpreted_batch_ndims, validate_args=validate)
    if type(dist) is _TorchTransformed:
        from .transformed import TransformedDistribution

        return TransformedDistribution(
            wrap(dist.base_dist), dist.transforms, validate_args=validate
        )
    names = TORCH_ARGUMENTS.get(name)
    cls = _family(name)
    if names is None or cls is None or not _accepts(cls, names):
        return None
    return cls(**{n: getattr(dist, n) for n in names}, validate_args=validate)


def wrap(dist: Distribution) -> ReparamDistribution:
    """A ReparamDistribution for a torch distribution, sharing its parameter tensors.

    In order:

    1. a :class:`ReparamDistribution` is returned unchanged;
    2. a torch family with a reparam counterpart of the same class name that has
       ``rsample`` (Normal, LogNormal, Laplace, Cauchy, Gumbel, Exponential, Uniform,
       Weibull, HalfNormal, Kumaraswamy, MultivariateNormal, LowRankMultivariateNormal,
       Gamma, Chi2, Beta, Dirichlet, StudentT, VonMises, RelaxedBernoulli,
       RelaxedOneHotCategorical, MixtureSameFamily) becomes that family, built from the
       same parameter tensors, so gradients reach the caller's tensors — also where
       torch's has no ``rsample`` (VonMises, MixtureSameFamily of components with a
       ``cdf``); ``Independent`` and ``TransformedDistribution`` are rebuilt around
       ``wrap(dist.base_dist)``;
    3. any other distribution with ``rsample`` becomes a :class:`WrappedRSample`, whose
       noise is an opaque seed (see there);
    4. anything else raises.

    Args:
        dist: a ``torch.distributions.Distribution``.

    Returns:
        A reparameterized distribution with the same batch and event shapes.

    Raises:
        TypeError: ``dist`` is not a distribution, or has no ``rsample`` (use the
            score-function estimator for it).

    Example:
        >>> loc = torch.zeros(2, requires_grad=True)
        >>> q = wrap(torch.distributions.Normal(loc, 1.0))
        >>> type(q).__name__, q.rsample().requires_grad
        ('Normal', True)
    """
    if isinstance(dist, ReparamDistribution):
        return dist
    if not isinstance(dist, Distribution):
        raise TypeError(f"wrap: expected a torch Distribution, got {type(dist).__name__}")
    converted = _convert(dist)
    if converted is not None and converted.has_rsample:
        return converted
    if not dist.has_rsample:
        raise _no_rsample("wrap", dist)
    return WrappedRSample(dist)
