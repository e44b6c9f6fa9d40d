"""Tabular data for density estimation: read a matrix from .csv or .npy, split, standardize.

:func:`load_tabular` reads an (N, D) float32 matrix strictly (every error names the file
and the problem), :func:`split_tabular` makes seeded train / validation / test parts
(80 / 10 / 10 by default) and :func:`standardize` rescales every part with the training
set's mean and standard deviation.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["load_tabular", "split_tabular", "standardize"]


def _read_csv(path: Path) -> np.ndarray:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a UTF-8 text file") from None
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if not rows:
        raise ValueError(f"{path}: the file holds no rows")

    def numbers(row: list[str]) -> list[float] | None:
        try:
            return [float(c) for c in row]
        except ValueError:
            return None

    start = 0
    if numbers(rows[0]) is None:  # a header row: the first row, and not numeric
        start = 1
    width = len(rows[0])
    values = []
    for i, row in enumerate(rows[start:], start=start + 1):
        if len(row) != width:
            raise ValueError(
                f"{path}: row {i} has {len(row)} columns, the first row has {width} (ragged rows)"
            )
        parsed = numbers(row)
        if parsed is None:
            bad = next(c for c in row if numbers([c]) is None)
            raise ValueError(f"{path}: row {i} holds a non-numeric value {bad.strip()!r}")
        values.append(parsed)
    return np.asarray(values, dtype=np.float64).reshape(len(values), width)


def load_tabular(path: str | os.PathLike[str]) -> Tensor:
    """Read an (N, D) data matrix from a comma-separated ``.csv`` or a ``.npy`` file.

    A CSV file may start with one header row of names (recognized by being non-numeric);
    every other row must hold D numbers.

    Args:
        path: a ``.csv`` or ``.npy`` file.

    Returns:
        A float32 tensor of shape (N, D), N ≥ 2.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: another suffix, ragged rows, non-numeric values, NaN or infinite
            values, an array that is not 2-D, fewer than 2 rows; the message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        x = _read_csv(path)
    elif suffix == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
        if x.ndim != 2:
            raise ValueError(f"{path}: expected a 2-D array (N, D), got shape {x.shape}")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise ValueError(f"{path}: expected a numeric array, got dtype {x.dtype}")
        if np.iscomplexobj(x):
            raise ValueError(f"{path}: complex values are not supported")
        x = x.astype(np.float64)
    else:
        raise ValueError(f"{path}: expected a .csv or .npy file, got suffix {suffix!r}")
    if x.shape[1] < 1:
        raise ValueError(f"{path}: the data has no columns")
    if x.shape[0] < 2:
        raise ValueError(f"{path}: need at least 2 rows of data, got {x.shape[0]}")
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{path}: {int(bad.sum())} NaN or infinite values (first at data row {row + 1}, "
            f"column {col + 1})"
        )
    limit = float(np.finfo(np.float32).max)
    big = np.abs(x.astype(np.float64)) > limit
    if big.any():
        row, col = np.argwhere(big)[0]
        raise ValueError(
            f"{path}: {int(big.sum())} values beyond float32's range (±{limit:.3g}; first "
            f"{x[row, col]!r} at data row {row + 1}, column {col + 1}): the flows compute in "
            "float32; rescale the data"
        )
    return torch.from_numpy(x.astype(np.float32))


def split_tabular(
    x: Tensor, seed: int = 0, fractions: tuple[float, float] = (0.1, 0.1)
) -> tuple[Tensor, Tensor, Tensor]:
    """Shuffle the rows with ``seed`` and split them into train / validation / test.

    Args:
        x: (N, D) data.
        seed: the seed of the row permutation.
        fractions: the validation and test fractions (each part gets ≥ 1 row); the
            rest, ≥ 2 rows, is the training set.

    Returns:
        (train, valid, test).

    Raises:
        ValueError: too few rows for the three parts.
    """
    n = len(x)
    n_valid = max(1, round(fractions[0] * n))
    n_test = max(1, round(fractions[1] * n))
    n_train = n - n_valid - n_test
    if n_train < 2:
        raise ValueError(
            f"split_tabular: {n} rows are too few for train / validation / test parts "
            f"({n_valid} validation and {n_test} test rows leave {n_train} < 2 for training)"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    shuffled = x[perm]
    return (
        shuffled[:n_train],
        shuffled[n_train : n_train + n_valid],
        shuffled[n_train + n_valid :],
    )


def standardize(train: Tensor, *others: Tensor) -> tuple[Tensor, ...]:
    """(x − μ) / σ for ``train`` and every tensor in ``others``, μ and σ from ``train``.

    μ and σ are the per-column mean and (population) standard deviation of the training
    set; a constant column (σ = 0) gets σ = 1, so it is only centred.

    Computed in float64 and returned in each tensor's dtype.

    Returns:
        The standardized tensors, ``train`` first, in the order given.
    """
    # in float64: float32 sums of values near float32's limit overflow
    t64 = train.double()
    mean = t64.mean(0)
    std = t64.std(0, correction=0)
    std = torch.where(std > 0, std, torch.ones_like(std))
    return tuple(((t.double() - mean) / std).to(t.dtype) for t in (train, *others))
