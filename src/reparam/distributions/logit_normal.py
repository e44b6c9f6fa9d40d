"""The logit-normal distribution, z = sigmoid(μ + σn) with n ~ N(0, 1)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.distributions import constraints

from .location_scale import LocationScale
from .standard import HALF_LOG_2PI, StandardNormal

__all__ = ["LogitNormal"]


class LogitNormal(LocationScale):
    r"""Logit-normal distribution on (0, 1): logit z ~ N(μ, σ²).

    .. math::
        n \sim \mathcal N(0, 1), \quad x = \mu + \sigma n, \quad z = \operatorname{sigmoid}(x),
        \quad \log q(z) = \log\varphi(n) - \log\sigma + \operatorname{softplus}(x)
            + \operatorname{softplus}(-x)

    log q from ε uses log z(1 − z) = −softplus(x) − softplus(−x), which stays finite
    where z itself rounds to 0 or 1 (|x| ≳ 17 in float32, 37 in float64); ``log_prob`` of
    such a rounded z is −inf. The moments have no closed form: ``mean``, ``variance``
    and ``entropy`` raise ``NotImplementedError`` (TFP offers only approximations).

    Args:
        loc: μ, the mean of logit z, with shape (*).
        scale: σ > 0, broadcastable with ``loc``.
        validate_args: check that μ is finite and σ positive and finite.

    Raises:
        ValueError: a parameter is NaN/inf or σ ≤ 0, or the shapes do not broadcast.

    References:
        Atchison & Shen, "Logistic-normal distributions: some properties and uses",
        Biometrika 67(2), 1980; Mead, "Generalized inverse normal distributions",
        Biometrics 21(1), 1965.

    Example:
        >>> q = LogitNormal(torch.tensor([-1.0, 0.0, 2.0]), torch.ones(3))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, bool(((z > 0) & (z < 1)).all())
        (torch.Size([5, 3]), True)
    """

    support = constraints.unit_interval  # type: ignore[assignment]  # LocationScale: real
    noise = StandardNormal()

    def from_noise(self, eps: Tensor) -> Tensor:
        return torch.sigmoid(self.loc + self.scale * eps)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        # dz/dn = σ z (1 − z)
        x = self.loc + self.scale * eps
        return self.scale.log() - F.softplus(x) - F.softplus(-x)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        inside = (value > 0) & (value < 1)
        value = torch.where(inside, value, torch.full_like(value, 0.5))
        log_z, log_1mz = value.log(), torch.log1p(-value)
        n = (log_z - log_1mz - self.loc) / self.scale
        lp = -0.5 * n * n - HALF_LOG_2PI - self.scale.log() - log_z - log_1mz
        return torch.where(inside, lp, -math.inf)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.special.ndtr((torch.logit(value) - self.loc) / self.scale)

    def icdf(self, value: Tensor) -> Tensor:
        return torch.sigmoid(self.loc + self.scale * torch.special.ndtri(value))
