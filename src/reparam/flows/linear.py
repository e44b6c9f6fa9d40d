"""An invertible linear layer in LU form (Kingma & Dhariwal, "Glow", 2018, arXiv:1807.03039).

.. math::
    y = W x + b, \\qquad W = P L U, \\qquad
    \\log|\\det W| = \\sum_i \\log u_{ii}

P is a fixed permutation, L unit lower-triangular, U upper-triangular with a positive
diagonal u_ii = softplus(ũ_i) + 10⁻³. The determinant is O(D) and the inverse two
triangular solves, O(D²) per point.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Bijection

__all__ = ["LULinear"]

_MIN_DIAG = 1e-3


class LULinear(Bijection):
    """y = P L U x + b, with log|det| = Σ log u_ii; starts at W = P (a permutation).

    Args:
        features: D.
        seed: seed of the fixed random permutation P (None: the global RNG).

    Shapes: x, y (*, D); log-determinant (*), the same for every point.
    """

    fast = "both"

    permutation: Tensor  # buffers
    inverse_permutation: Tensor
    _lower_index: Tensor
    _upper_index: Tensor

    def __init__(self, features: int, seed: int | None = None) -> None:
        super().__init__(features)
        d = features
        generator = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        perm = torch.randperm(d, generator=generator)
        self.register_buffer("permutation", perm)
        self.register_buffer("inverse_permutation", torch.argsort(perm))
        rows, cols = torch.tril_indices(d, d, offset=-1)
        self.register_buffer("_lower_index", torch.stack([rows, cols]), persistent=False)
        self.register_buffer("_upper_index", torch.stack([cols, rows]), persistent=False)
        n_off = d * (d - 1) // 2
        self.lower_entries = nn.Parameter(torch.zeros(n_off))
        self.upper_entries = nn.Parameter(torch.zeros(n_off))
        # softplus(raw) + 1e-3 = 1 at init
        self.unconstrained_diag = nn.Parameter(
            torch.full((d,), math.log(math.expm1(1.0 - _MIN_DIAG)))
        )
        self.bias = nn.Parameter(torch.zeros(d))

    def _factors(self) -> tuple[Tensor, Tensor, Tensor]:
        d = self.features
        diag = F.softplus(self.unconstrained_diag) + _MIN_DIAG
        eye = torch.eye(d, dtype=diag.dtype, device=diag.device)
        lower = eye.index_put(tuple(self._lower_index), self.lower_entries)
        upper = torch.diag(diag).index_put(tuple(self._upper_index), self.upper_entries)
        return lower, upper, diag

    def weight(self) -> Tensor:
        """W = P L U, shape (D, D)."""
        lower, upper, _ = self._factors()
        return (lower @ upper)[self.permutation]

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        lower, upper, diag = self._factors()
        w = (lower @ upper)[self.permutation]
        y = F.linear(x, w, self.bias)
        return y, diag.log().sum().expand(x.shape[:-1])

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        lower, upper, diag = self._factors()
        v = (y - self.bias)[..., self.inverse_permutation]
        flat = v.reshape(-1, self.features).T  # (D, N)
        w = torch.linalg.solve_triangular(lower, flat, upper=False, unitriangular=True)
        x = torch.linalg.solve_triangular(upper, w, upper=True)
        return x.T.reshape(y.shape), (-diag.log().sum()).expand(y.shape[:-1])
