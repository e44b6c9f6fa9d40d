"""Reinterpret batch dimensions of a reparameterized distribution as event dimensions."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.types import _size

from .base import ReparamDistribution, sum_rightmost

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["Independent"]

_EMPTY = torch.Size()


class Independent(ReparamDistribution):
    r"""The base distribution with its rightmost ``n`` batch dimensions made event dimensions.

    .. math::
        z = g_{\text{base}}(\varepsilon, \theta), \qquad
        \log q(z) = \sum_{\text{reinterpreted dims}} \log q_{\text{base}}(z)

    Noise passes straight through: ε has the base's noise shape, and ``sample_noise``,
    ``from_noise`` and ``log_prob_from_noise`` delegate to the base (the latter summed).

    As in torch, the base may be any distribution (e.g. ``Bernoulli``, or a torch
    family): ``has_rsample`` is the base's, ``sample``/``log_prob``/moments always
    delegate, ``rsample`` needs a base with ``rsample``, and the noise methods need a
    :class:`ReparamDistribution` base (``reparam.wrap`` turns a torch family into one);
    otherwise they raise a ``TypeError`` that says so.

    Args:
        base_distribution: any ``torch.distributions.Distribution``.
        reinterpreted_batch_ndims: how many rightmost batch dimensions become event
            dimensions.
        validate_args: check the arguments and samples passed to ``log_prob``.

    Raises:
        TypeError: the base is not a distribution.
        ValueError: ``reinterpreted_batch_ndims`` is negative or exceeds the base's
            batch dimensions.

    Example:
        >>> from reparam import Normal
        >>> q = Independent(Normal(torch.zeros(4, 3), torch.ones(4, 3)), 1)
        >>> q.batch_shape, q.event_shape
        (torch.Size([4]), torch.Size([3]))
    """

    arg_constraints: dict[str, constraints.Constraint] = {}

    def __init__(
        self,
        base_distribution: Distribution,
        reinterpreted_batch_ndims: int,
        *,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(base_distribution, Distribution):
            raise TypeError(
                "Independent: base_distribution must be a torch.distributions.Distribution, "
                f"got {type(base_distribution).__name__}"
            )
        n = int(reinterpreted_batch_ndims)
        base_batch = base_distribution.batch_shape
        if not 0 <= n <= len(base_batch):
            raise ValueError(
                f"Independent: reinterpreted_batch_ndims must be in [0, {len(base_batch)}] "
                f"(the base's batch shape is {tuple(base_batch)}); got {reinterpreted_batch_ndims}"
            )
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = n
        # None when the base has no ε (not a ReparamDistribution); the noise methods raise
        self.noise = getattr(base_distribution, "noise", None)  # type: ignore[assignment]
        cut = len(base_batch) - n
        super().__init__(
            base_batch[:cut],
            base_batch[cut:] + base_distribution.event_shape,
            validate_args=validate_args,
        )

    # ----------------------------------------------------------------- properties
    @constraints.dependent_property
    def support(self) -> constraints.Constraint:
        # torch types support as Optional; a distribution's support is a Constraint
        result = cast(constraints.Constraint, self.base_dist.support)
        if self.reinterpreted_batch_ndims:
            result = constraints.independent(result, self.reinterpreted_batch_ndims)
        return result

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]  # as torch's Independent does
        return self.base_dist.has_rsample

    @property
    def noise_event_shape(self) -> torch.Size:
        n = self.reinterpreted_batch_ndims
        base_batch = self.base_dist.batch_shape
        return base_batch[len(base_batch) - n :] + self._reparam_base().noise_event_shape

    def _reference(self) -> Tensor:
        base = self.base_dist
        if isinstance(base, ReparamDistribution):
            return base._reference()
        for name in base.arg_constraints:
            value = getattr(base, name, None)
            if isinstance(value, Tensor):
                return value
        raise NotImplementedError(f"{type(base).__name__} exposes no parameter tensor")

    def _reparam_base(self) -> ReparamDistribution:
        """The base, if it has an ε (a ReparamDistribution); a TypeError otherwise."""
        base = self.base_dist
        if isinstance(base, ReparamDistribution):
            return base
        how = (
            "reparam.wrap(base) turns a torch family with rsample into one"
            if base.has_rsample
            else "it has no rsample either, so use sample() and the score-function estimator"
        )
        raise TypeError(
            f"Independent: the base {type(base).__name__} is not a ReparamDistribution, so it "
            f"has no noise ε for sample_noise/from_noise; {how}"
        )

    # ----------------------------------------------------------------- the map g
    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        return self._reparam_base().sample_noise(sample_shape, noise=noise)

    def from_noise(self, eps: Tensor) -> Tensor:
        return self._reparam_base().from_noise(eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        lad = self._reparam_base().log_abs_det_jacobian(eps, z)
        return sum_rightmost(lad, self.reinterpreted_batch_ndims)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        lp = self._reparam_base().log_prob_from_noise(eps, z)
        return sum_rightmost(lp, self.reinterpreted_batch_ndims)

    def rsample_and_log_prob(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> tuple[Tensor, Tensor]:
        z, lp = self._reparam_base().rsample_and_log_prob(sample_shape, noise=noise)
        return z, sum_rightmost(lp, self.reinterpreted_batch_ndims)

    def rsample(
        self, sample_shape: _size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        base = self.base_dist
        if isinstance(base, ReparamDistribution):
            return base.rsample(torch.Size(sample_shape), noise=noise)
        if not base.has_rsample:
            raise TypeError(
                f"Independent: the base {type(base).__name__} has no rsample (has_rsample is "
                "False); use sample() and the score-function estimator"
            )
        if noise != "mc":
            self._reparam_base()  # raises: noise strategies need ε
        return base.rsample(sample_shape)

    def sample(self, sample_shape: _size = _EMPTY) -> Tensor:
        return self.base_dist.sample(sample_shape)

    def log_prob(self, value: Tensor) -> Tensor:
        lp = self.base_dist.log_prob(value)
        return sum_rightmost(lp, self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    # ----------------------------------------------------------------- moments
    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    # ----------------------------------------------------------------- shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> Independent:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(Independent, _instance)
        n = self.reinterpreted_batch_ndims
        base_batch = self.base_dist.batch_shape
        new.base_dist = self.base_dist.expand(batch_shape + base_batch[len(base_batch) - n :])
        new.reinterpreted_batch_ndims = n
        new.noise = self.noise
        ReparamDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_dist}, {self.reinterpreted_batch_ndims})"
