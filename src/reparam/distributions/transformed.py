"""A reparameterized base pushed through bijective torch transforms: z = T(g(ε, θ))."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.distributions import Distribution
from torch.distributions import TransformedDistribution as _TorchTransformed
from torch.distributions.transforms import ComposeTransform, Transform
from torch.types import _size

from .base import ReparamDistribution, sum_rightmost
from .standard import NoiseBase

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

_EMPTY = torch.Size()

__all__ = ["TransformedDistribution"]


# has_rsample: torch's read-only property (the base's) wins over ReparamDistribution's
# class attribute True, as intended.
class TransformedDistribution(_TorchTransformed, ReparamDistribution):  # type: ignore[override]
    r"""A reparameterized base distribution pushed through bijective transforms.

    .. math::
        z = T_K \circ \dots \circ T_1\big(g(\varepsilon, \theta)\big), \qquad
        \log q(z) = \log q_0(x_0) - \sum_{k=1}^K \log\left|\det J_{T_k}(x_{k-1})\right|

    with x₀ = g(ε, θ) the base's sample and x_k = T_k(x_{k−1}). The noise is the base's
    noise, unchanged: ``sample_noise`` / ``noise_shape`` are the base's, so noise
    strategies (antithetic, QMC) apply through the transforms. ``log_prob`` (by
    inversion), ``cdf``, ``icdf``, ``support`` and the event-dimension bookkeeping are
    those of :class:`torch.distributions.TransformedDistribution`; unlike it, a base
    whose event has fewer dimensions than a transform's domain is not wrapped in
    ``Independent`` — the extra dimensions are summed in the log-density instead.

    Args:
        base_distribution: a :class:`ReparamDistribution`; any other torch distribution
            with ``rsample`` goes through :func:`~reparam.distributions.wrap` first.
        transforms: a bijective ``torch.distributions.transforms.Transform`` or a list
            of them, applied in order. Their parameters may require grad.
        validate_args: check samples passed to ``log_prob`` against the support.

    Raises:
        TypeError: the base has no ``rsample``.
        ValueError: a transform is not a ``Transform`` (as torch) or not bijective (e.g.
            ``AbsTransform``), or the base's shape is too small for the transforms' domain.

    Example:
        >>> from torch.distributions.transforms import AffineTransform, ExpTransform
        >>> from reparam.distributions import Normal
        >>> transforms = [ExpTransform(), AffineTransform(1.0, 2.0)]
        >>> q = TransformedDistribution(Normal(0.0, 1.0), transforms)
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> bool((z > 1).all()), log_q.shape
        (True, torch.Size([4]))
    """

    base_dist: ReparamDistribution  # wrapped in __init__ when it is not one

    def __init__(
        self,
        base_distribution: Distribution,
        transforms: Transform | list[Transform],
        *,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(base_distribution, ReparamDistribution):
            from .wrapped import wrap

            base_distribution = wrap(base_distribution)
        if isinstance(transforms, Transform):
            transforms = [transforms]
        if not isinstance(transforms, (list, tuple)) or not all(
            isinstance(t, Transform) for t in transforms
        ):
            raise ValueError(
                "TransformedDistribution: transforms must be a Transform or a list of "
                f"Transforms, got {transforms!r}"
            )
        for t in transforms:
            if not t.bijective:
                raise ValueError(
                    f"TransformedDistribution: transform {t!r} is not bijective, so the "
                    "change of variables has no log-density; use a bijective transform"
                )
        self.transforms = list(transforms)

        # Shapes as torch computes them, but without the Independent wrapper.
        base_shape = base_distribution.batch_shape + base_distribution.event_shape
        base_event_dim = len(base_distribution.event_shape)
        transform = ComposeTransform(self.transforms)
        if len(base_shape) < transform.domain.event_dim:
            raise ValueError(
                "TransformedDistribution: the base needs a shape with at least "
                f"{transform.domain.event_dim} dimensions, got {tuple(base_shape)}"
            )
        forward_shape = transform.forward_shape(base_shape)
        expanded_base_shape = transform.inverse_shape(forward_shape)
        if base_shape != expanded_base_shape:
            cut = len(expanded_base_shape) - base_event_dim
            base_distribution = base_distribution.expand(expanded_base_shape[:cut])
        self.base_dist = base_distribution
        event_dim = max(
            transform.codomain.event_dim,
            base_event_dim + transform.codomain.event_dim - transform.domain.event_dim,
        )
        cut = len(forward_shape) - event_dim
        ReparamDistribution.__init__(
            self, forward_shape[:cut], forward_shape[cut:], validate_args=validate_args
        )

    # ------------------------------------------------------------------ noise
    @property
    def noise(self) -> NoiseBase:  # type: ignore[override]  # read-only: the base's
        """The base's noise p(ε)."""
        return self.base_dist.noise

    @property
    def noise_event_shape(self) -> torch.Size:
        """The base's noise shape past this batch shape (the noise is the base's)."""
        base = self.base_dist
        return (base.batch_shape + base.noise_event_shape)[len(self.batch_shape) :]

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        return self.base_dist.sample_noise(sample_shape, noise=noise)

    # ------------------------------------------------------------------ g and its density
    def _forward(self, eps: Tensor) -> list[Tensor]:
        xs = [self.base_dist.from_noise(eps)]
        for t in self.transforms:
            xs.append(t(xs[-1]))
        return xs

    def _log_prob_along(self, eps: Tensor, xs: list[Tensor]) -> Tensor:
        # torch's log_prob bookkeeping, walking the forward values back from z.
        event_dim = len(self.event_shape)
        log_q: Tensor | float = 0.0
        for t, x, y in reversed(list(zip(self.transforms, xs[:-1], xs[1:], strict=True))):
            event_dim += t.domain.event_dim - t.codomain.event_dim
            ladj = t.log_abs_det_jacobian(x, y)
            log_q = log_q - sum_rightmost(ladj, event_dim - t.domain.event_dim)
        base_lp = self.base_dist.log_prob_from_noise(eps, xs[0])
        return log_q + sum_rightmost(base_lp, event_dim - len(self.base_dist.event_shape))

    def from_noise(self, eps: Tensor) -> Tensor:
        return self._forward(eps)[-1]

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        """log q(z) from ε: the base's log-density from ε minus the transforms' log-dets.

        The intermediate values are recomputed from ε (``from_noise_and_log_prob`` and
        ``rsample_and_log_prob`` compute them once).
        """
        return self._log_prob_along(eps, self._forward(eps))

    def from_noise_and_log_prob(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        if self._validate_args:
            self._check_noise(eps)
        xs = self._forward(eps)
        return xs[-1], self._log_prob_along(eps, xs)

    def rsample_and_log_prob(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> tuple[Tensor, Tensor]:
        eps = self.sample_noise(sample_shape, noise=noise)
        xs = self._forward(eps)
        return xs[-1], self._log_prob_along(eps, xs)

    # ε-first sampling, not torch's base.rsample()-then-transform (same values, one path).
    rsample = ReparamDistribution.rsample
    sample = ReparamDistribution.sample

    # ------------------------------------------------------------------ shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> TransformedDistribution:
        new = self._get_checked_instance(TransformedDistribution, _instance)
        return super().expand(batch_shape, _instance=new)

    def __repr__(self) -> str:
        return f"TransformedDistribution({self.base_dist!r}, {self.transforms!r})"
