"""Fixed permutations of the features (volume preserving: log|det| = 0).

Placed between autoregressive or coupling layers so every feature gets to condition
on every other (Dinh et al. 2017, arXiv:1605.08803; Papamakarios et al. 2017,
arXiv:1705.07057).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import Bijection

__all__ = ["Permutation", "ReversePermutation"]


class Permutation(Bijection):
    """y = x[..., π]: output feature i is input feature π(i).

    Args:
        features: D.
        permutation: a permutation of range(D) (sequence or integer tensor); None draws
            a random one from ``seed`` (a fresh generator, so the global RNG is untouched
            when a seed is given; the global RNG otherwise).
        seed: seed of the random permutation (only with ``permutation=None``).

    Raises:
        ValueError: ``permutation`` is not a permutation of range(D), or both
            ``permutation`` and ``seed`` are given.

    Shapes: x, y (*, D); log-determinant (*) of zeros.
    """

    fast = "both"

    permutation: Tensor  # buffers
    inverse_permutation: Tensor

    def __init__(
        self,
        features: int,
        permutation: Sequence[int] | Tensor | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(features)
        name = type(self).__name__
        if permutation is None:
            generator = None
            if seed is not None:
                generator = torch.Generator().manual_seed(int(seed))
            perm = torch.randperm(features, generator=generator)
        else:
            if seed is not None:
                raise ValueError(f"{name}: give either a permutation or a seed, not both")
            try:
                perm = torch.as_tensor(permutation)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"{name}: permutation must be integers, got {permutation!r}"
                ) from err
            if perm.dtype.is_floating_point or perm.dtype == torch.bool or perm.dim() != 1:
                raise ValueError(
                    f"{name}: permutation must be a 1-D sequence of integers, got {permutation!r}"
                )
            perm = perm.long()
            if perm.numel() != features or not torch.equal(
                torch.sort(perm).values, torch.arange(features)
            ):
                raise ValueError(
                    f"{name}: permutation must be a permutation of range({features}), "
                    f"got {perm.tolist()}"
                )
        self.register_buffer("permutation", perm.clone())
        self.register_buffer("inverse_permutation", torch.argsort(perm))

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return x[..., self.permutation], x.new_zeros(x.shape[:-1])

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return y[..., self.inverse_permutation], y.new_zeros(y.shape[:-1])


class ReversePermutation(Bijection):
    """y = x reversed along the features (``flip``); its own inverse.

    Args:
        features: D.

    Shapes: x, y (*, D); log-determinant (*) of zeros.
    """

    fast = "both"

    def __init__(self, features: int) -> None:
        super().__init__(features)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return x.flip(-1), x.new_zeros(x.shape[:-1])

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return y.flip(-1), y.new_zeros(y.shape[:-1])
