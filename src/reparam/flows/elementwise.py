"""Elementwise affine transforms: a learned per-feature shift and scale, and ActNorm.

.. math::
    y = \\mu + e^{s} \\odot x, \\qquad \\log|\\det \\partial y/\\partial x| = \\sum_i s_i

ActNorm (Kingma & Dhariwal, "Glow", 2018, arXiv:1807.03039) is the same map with a
data-dependent initialization: on its first density-direction (``inverse``) call in
training mode it sets μ and s so that the inverse output of that batch has zero mean and
unit variance per feature, then trains them as ordinary parameters.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Bijection

__all__ = ["ActNorm", "ElementwiseAffine"]


class ElementwiseAffine(Bijection):
    """y = loc + exp(log_scale) ⊙ x, per feature; starts at the identity.

    Args:
        features: D.

    Shapes: x, y (*, D); log-determinant (*) = Σ log_scale, the same for every point.
    """

    fast = "both"

    def __init__(self, features: int) -> None:
        super().__init__(features)
        self.loc = nn.Parameter(torch.zeros(features))
        self.log_scale = nn.Parameter(torch.zeros(features))

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        y = torch.addcmul(self.loc, self.log_scale.exp(), x)
        return y, self.log_scale.sum().expand(x.shape[:-1])

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        x = (y - self.loc) * torch.exp(-self.log_scale)
        return x, (-self.log_scale.sum()).expand(y.shape[:-1])


class ActNorm(ElementwiseAffine):
    """Activation normalization: :class:`ElementwiseAffine` with data-dependent init.

    On the first :meth:`inverse` call in training mode while the persistent buffer
    ``initialized`` is 0, loc and log_scale are set from the batch y (all leading
    dims pooled) so that x = (y − loc)·exp(−log_scale) has mean 0 and variance 1 per
    feature: loc = mean(y), log_scale = log std(y). The buffer is saved in the
    ``state_dict``, so a restored model is not re-initialized. A batch of one point
    (no variance) sets log_scale = 0.

    Args:
        features: D.

    References:
        Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions",
        2018, arXiv:1807.03039.
    """

    initialized: Tensor  # buffer

    def __init__(self, features: int) -> None:
        super().__init__(features)
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, y: Tensor) -> None:
        """Set loc, log_scale from the batch y (shape (*, D)) and mark as initialized."""
        flat = y.detach().reshape(-1, self.features)
        loc = flat.mean(0)
        if flat.shape[0] > 1:
            std = flat.std(0, unbiased=False).clamp_min(1e-6)
        else:
            std = torch.ones_like(loc)
        self.loc.copy_(loc.to(self.loc.dtype))
        self.log_scale.copy_(std.log().to(self.log_scale.dtype))
        self.initialized.fill_(True)

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self.initialize(y)
        return super()._inverse(y, context)
