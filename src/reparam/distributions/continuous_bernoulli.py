"""The continuous Bernoulli distribution on [0, 1], z = F⁻¹(u) in closed form."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import constraints
from torch.types import _size

from ._params import as_params
from .base import ReparamDistribution
from .discrete import check_probs, select_parameter, validating
from .relaxed import _clamp_probs
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["ContinuousBernoulli"]

_EMPTY = torch.Size()


class _Pieces(NamedTuple):
    """λ's pieces (torch's "cut" probabilities): see ``ContinuousBernoulli._pieces``."""

    outside: Tensor
    cut: Tensor
    log1m: Tensor
    logit: Tensor


class ContinuousBernoulli(ReparamDistribution):
    r"""Continuous Bernoulli distribution (Loaiza-Ganem & Cunningham 2019) on [0, 1].

    With λ = p the shape and C(λ) = 2 artanh(1 − 2λ)/(1 − 2λ) the normalizer:

    .. math::
        q(z) = C(\lambda)\,\lambda^z (1 - \lambda)^{1 - z}, \quad
        u \sim \mathcal U(0, 1), \quad
        z = \frac{\log(1 - \lambda + u(2\lambda - 1)) - \log(1 - \lambda)}
                 {\log\lambda - \log(1 - \lambda)}

    Near λ = ½ (inside ``lims``) C, the mean and the variance use torch's Taylor
    expansions and the sample is z = u (the λ = ½ law), exactly as torch; the
    log-Jacobian is −log q(z), so ``rsample_and_log_prob`` agrees with ``log_prob``.

    Args:
        probs: λ ∈ [0, 1] (give this or ``logits``); clamped to [eps, 1 − eps] of its
            dtype, as torch does.
        logits: log λ − log(1 − λ), finite.
        lims: the interval around ½ where the Taylor forms are used.
        validate_args: check the parameter (and samples passed to ``log_prob``/``cdf``).

    Raises:
        ValueError: both or neither of ``probs`` and ``logits``; a probability outside
            [0, 1]; a non-finite logit.

    References:
        Loaiza-Ganem & Cunningham, "The continuous Bernoulli: fixing a pervasive error in
        variational autoencoders", NeurIPS 2019, arXiv:1907.06845.

    Example:
        >>> q = ContinuousBernoulli(probs=torch.tensor([0.2, 0.5, 0.9]))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool(((z >= 0) & (z <= 1)).all())
        (torch.Size([5, 3]), True)
    """

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    noise = StandardUniform()

    def __init__(
        self,
        probs: Tensor | float | None = None,
        logits: Tensor | float | None = None,
        lims: tuple[float, float] = (0.499, 0.501),
        validate_args: bool | None = None,
    ) -> None:
        owner = "ContinuousBernoulli"
        probs, logits = select_parameter(owner, probs, logits)
        if probs is not None:
            if validating(validate_args):
                check_probs(owner, probs, simplex=False)
            (p,) = as_params(owner, probs=probs)
            self._probs: Tensor | None = _clamp_probs(p)
            self.logits = torch.log(self._probs) - torch.log1p(-self._probs)
        else:
            (self.logits,) = as_params(owner, logits=logits)
            self._probs = None
        self._lims = lims
        super().__init__(self.logits.shape, validate_args=validate_args)

    @property
    def probs(self) -> Tensor:
        """λ: the (clamped) probabilities given, or σ(logits) clamped as torch does."""
        if self._probs is not None:
            return self._probs
        return _clamp_probs(torch.sigmoid(self.logits))

    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> ContinuousBernoulli:
        new = super().expand(torch.Size(batch_shape), _instance)
        assert isinstance(new, ContinuousBernoulli)
        new._lims = self._lims
        new._probs = None if self._probs is None else self._probs.expand(batch_shape)
        return new

    # ----------------------------------------------------------------- torch's pieces
    def _cut(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """(outside, cut): λ outside ``lims``, and λ with the inside replaced by lims[0]."""
        outside = (p <= self._lims[0]) | (p > self._lims[1])
        return outside, torch.where(outside, p, self._lims[0])

    def _pieces(self, p: Tensor) -> _Pieces:
        """What the inverse CDF and log C share: the cut, log(1 − c), log c − log(1 − c)."""
        outside, cut = self._cut(p)
        log1m = torch.log1p(-cut)
        return _Pieces(outside, cut, log1m, torch.log(cut) - log1m)

    def _log_norm(self, p: Tensor | None = None, pieces: _Pieces | None = None) -> Tensor:
        """log C(λ); the Taylor form log 2 + (4/3 + 104/45 x) x, x = (λ − ½)², near ½.

        ``p`` and ``pieces`` (``self._pieces(p)``) are computed here unless passed in."""
        if p is None:
            p = self.probs
        outside, c, _, logit = self._pieces(p) if pieces is None else pieces
        low = c <= 0.5
        below = torch.where(low, c, 0.0)
        above = torch.where(c >= 0.5, c, 1.0)
        # |log(1 − c) − log c| = |log c − log(1 − c)|: the same value as torch's
        exact = torch.log(torch.abs(logit)) - torch.where(
            low, torch.log1p(-2.0 * below), torch.log(2.0 * above - 1.0)
        )
        x = (p - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return torch.where(outside, exact, taylor)

    # ----------------------------------------------------------------- the map
    def from_noise(self, eps: Tensor) -> Tensor:
        return self._icdf(eps, self._pieces(self.probs))

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # g is the inverse CDF: dz/du = 1/q(z).
        return -self._log_prob(z)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        # log p(u) = 0: log q(z) itself (the default's 0 − (−log q) is the same value)
        return self._log_prob(z)

    def rsample_and_log_prob(
        self, sample_shape: _size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> tuple[Tensor, Tensor]:
        """As the base class's, with λ and its pieces computed once for both halves."""
        return self._sample_and_log_prob(self.sample_noise(torch.Size(sample_shape), noise=noise))

    def from_noise_and_log_prob(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        if self._validate_args:
            self._check_noise(eps)
        return self._sample_and_log_prob(eps)

    def _sample_and_log_prob(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        p = self.probs
        pieces = self._pieces(p)
        z = self._icdf(eps, pieces)
        return z, self._log_prob(z, p, pieces)

    def _log_prob(
        self, value: Tensor, p: Tensor | None = None, pieces: _Pieces | None = None
    ) -> Tensor:
        logits, value = torch.broadcast_tensors(self.logits, value)
        bce = F.binary_cross_entropy_with_logits(logits, value, reduction="none")
        return -bce + self._log_norm(p, pieces)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self._log_prob(value)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        outside, cut = self._cut(self.probs)
        exact = (cut.pow(value) * (1.0 - cut).pow(1.0 - value) + cut - 1.0) / (2.0 * cut - 1.0)
        inner = torch.where(outside, exact, value)
        zero, one = torch.zeros_like(inner), torch.ones_like(inner)
        return torch.where(value <= 0, zero, torch.where(value >= 1, one, inner))

    def icdf(self, value: Tensor) -> Tensor:
        return self._icdf(value, self._pieces(self.probs))

    @staticmethod
    def _icdf(value: Tensor, pieces: _Pieces) -> Tensor:
        outside, cut, log1m, logit = pieces
        exact = (torch.log1p(-cut + value * (2.0 * cut - 1.0)) - log1m) / logit
        return torch.where(outside, exact, value)

    # ----------------------------------------------------------------- moments
    def entropy(self) -> Tensor:
        p = self.probs
        log0, log1 = torch.log1p(-p), torch.log(p)
        return self.mean * (log0 - log1) - self._log_norm() - log0

    @property
    def mean(self) -> Tensor:
        p = self.probs
        outside, cut = self._cut(p)
        exact = cut / (2.0 * cut - 1.0) + 1.0 / (torch.log1p(-cut) - torch.log(cut))
        x = p - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return torch.where(outside, exact, taylor)

    @property
    def variance(self) -> Tensor:
        p = self.probs
        outside, cut = self._cut(p)
        exact = cut * (cut - 1.0) / (1.0 - 2.0 * cut).pow(2) + 1.0 / (
            torch.log1p(-cut) - torch.log(cut)
        ).pow(2)
        x = (p - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return torch.where(outside, exact, taylor)
