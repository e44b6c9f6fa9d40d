"""The elementwise affine map with a bounded log-scale, shared by MAF/IAF and RealNVP.

.. math::
    s = c \\tanh(\\tilde s / c), \\qquad y = x\\,e^{s} + t, \\qquad
    \\log|\\det \\partial y/\\partial x| = \\textstyle\\sum_i s_i

The soft clamp keeps |s| < c (c = ``max_log_scale``) so one layer scales by at most e^c,
which keeps early training stable (Dinh et al. 2017 bound the scale with tanh as well).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["bounded_affine"]


def bounded_affine(
    x: Tensor, params: Tensor, max_log_scale: float, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    """y = x·exp(s) + t (or its inverse) with s = c·tanh(s̃/c).

    Args:
        x: shape (*, D).
        params: shape (*, D, 2): the raw log-scale s̃ and the shift t per feature.
        max_log_scale: c > 0.
        inverse: compute x = (y − t)·exp(−s) instead.

    Returns:
        the output (*, D) and log|det J| of the computed direction, shape (*).
    """
    raw_s, shift = params.unbind(-1)
    bounded = torch.tanh(raw_s / max_log_scale)
    if inverse:
        # −s computed as tanh(·)·(−c): the same floats as −(tanh(·)·c), two ops fewer
        neg_log_scale = bounded * -max_log_scale
        return (x - shift) * torch.exp(neg_log_scale), _sum_last(neg_log_scale)
    log_scale = bounded * max_log_scale
    return x * torch.exp(log_scale) + shift, _sum_last(log_scale)


def _sum_last(s: Tensor) -> Tensor:
    """``s.sum(-1)``; a view of the one entry when the last dimension has size 1."""
    return s[..., 0] if s.shape[-1] == 1 else s.sum(-1)
