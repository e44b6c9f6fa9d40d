"""Linear-algebra helpers shared by the multivariate Gaussian families and their KLs."""

from __future__ import annotations

import torch
from torch import Tensor

from ._params import param_error
from .standard import HALF_LOG_2PI

__all__ = [
    "HALF_LOG_2PI",
    "batch_mahalanobis",
    "batch_shape_of",
    "capacitance_tril",
    "precision_to_scale_tril",
    "tril_solve",
]


def batch_shape_of(owner: str, **shapes: torch.Size) -> torch.Size:
    """Broadcast the batch parts of several parameters, naming them if that fails."""
    try:
        return torch.broadcast_shapes(*shapes.values())
    except RuntimeError:
        described = ", ".join(f"{n} batch shape {tuple(s)}" for n, s in shapes.items())
        raise ValueError(
            f"{owner}: parameter shapes cannot be broadcast together: {described}"
        ) from None


def tril_solve(L: Tensor, X: Tensor) -> Tensor:
    """L⁻¹ X for lower-triangular L with shape (*, d, d) and X with shape (*, d, k)."""
    return torch.linalg.solve_triangular(L, X, upper=False)


def precision_from_scale_tril(L: Tensor) -> Tensor:
    """(L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹ for lower-triangular L with shape (*, d, d), by one triangular solve."""
    eye = torch.eye(L.shape[-1], dtype=L.dtype, device=L.device)
    L_inv = tril_solve(L, eye)
    return torch.matmul(L_inv.mT, L_inv)


def check_matrix_param(owner: str, name: str, matrix: Tensor, info: Tensor | None) -> None:
    """ValueError unless ``matrix`` is finite and, for ``scale_tril``, lower-triangular with
    a positive diagonal, else symmetric with a successful Cholesky factorization (``info``:
    ``torch.linalg.cholesky_ex``'s, None when none was taken)."""
    matrix = matrix.detach()
    if not bool(torch.isfinite(matrix).all()):
        raise param_error(owner, name, matrix, "be finite")
    if name == "scale_tril":
        diag = matrix.diagonal(dim1=-2, dim2=-1)
        if not bool((matrix.triu(1) == 0).all()) or not bool((diag > 0).all()):
            raise param_error(owner, name, matrix, "be lower-triangular with a positive diagonal")
        return
    symmetric = torch.isclose(matrix, matrix.mT, rtol=1e-5, atol=1e-6).all()
    if not bool(symmetric) or (info is not None and bool((info != 0).any())):
        raise param_error(owner, name, matrix, "be symmetric positive definite")


def batch_mahalanobis(L: Tensor, x: Tensor) -> Tensor:
    """‖L⁻¹ x‖² for L with shape (*b, d, d) and x with shape (*s, *b', d), b' ⊆ b broadcast.

    Leading sample dimensions of ``x`` (those beyond L's batch) are folded into the
    columns of one triangular solve, so L is never copied per sample.
    """
    extra = x.dim() - 1 - (L.dim() - 2)
    if extra <= 0:
        return tril_solve(L, x.unsqueeze(-1)).squeeze(-1).pow(2).sum(-1)
    sample = x.shape[:extra]
    cols = x.reshape(-1, *x.shape[extra:]).movedim(0, -1)  # (*b', d, S)
    m = tril_solve(L, cols).pow(2).sum(-2)  # (*b, S)
    return m.movedim(-1, 0).reshape(sample + m.shape[:-1])


def precision_to_scale_tril(P: Tensor) -> tuple[Tensor, Tensor]:
    """(L, info) with L Lᵀ = P⁻¹, by a Cholesky factor of the flipped precision.

    Avoids inverting P (the route torch.distributions takes, after Fehiepsi). ``info``
    is ``torch.linalg.cholesky_ex``'s: nonzero where P is not positive definite.
    """
    Lf, info = torch.linalg.cholesky_ex(torch.flip(P, (-2, -1)))
    L_inv = torch.flip(Lf, (-2, -1)).mT
    eye = torch.eye(P.shape[-1], dtype=P.dtype, device=P.device)
    return tril_solve(L_inv, eye), info


def capacitance_tril(W: Tensor, D: Tensor) -> tuple[Tensor, Tensor]:
    """(Cholesky factor of C = I + Wᵀ D⁻¹ W, info) for W (*, d, r) and D (*, d)."""
    K = torch.matmul(W.mT / D.unsqueeze(-2), W)
    K = K + torch.eye(W.shape[-1], dtype=W.dtype, device=W.device)
    return torch.linalg.cholesky_ex(K)
