r"""Image data sets for the VAE: bundled 8×8 digits, MNIST, Fashion-MNIST, binarized MNIST.

Every loader returns an :class:`ImageData`: float32 tensors of shape (N, C, H, W) with
values in [0, 1] for deterministic train / validation / test splits, and int64 labels.

- ``"digits"``: scikit-learn's bundled 8×8 digits (1797 images, pixel values 0–16,
  divided by 16). Ships with an installed dependency, so it needs no data files. The
  test split (250 images) is fixed; the validation split (default 250) is drawn from the
  remaining 1547 by a permutation seeded with ``seed``.
- ``"mnist"``, ``"fashion-mnist"``: the IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte``
  (each raw or ``.gz``). Pixels x/255; test = the 10000 t10k images; validation =
  ``valid_size`` (default 10000) of the 60000 training images chosen by a permutation
  seeded with ``seed``.
- ``"binarized-mnist"``: the fixed binarization of Larochelle & Murray (2011) from
  ``binarized_mnist_{train,valid,test}.amat`` (raw or ``.gz``) with its own fixed splits
  (50000 / 10000 / 10000), values {0, 1}; the files carry no labels (all −1).

Split indices are kept in file order, so a split is a subset of the file, not a shuffle.

Dynamic binarization (``binarize="dynamic"``) keeps the grey values and marks the data
binary; a fresh binary image is drawn for every use,

.. math:: x_{\mathrm{bin}} \sim \operatorname{Bernoulli}(x), \qquad
          \mathbb E[x_{\mathrm{bin}}] = x,

by :func:`dynamic_binarize` (the training loop calls it per batch), as in Burda et al.
(2016) for MNIST and Omniglot.

References:
    LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
    recognition", Proc. IEEE 86, 1998 (MNIST).
    Xiao, Rasul & Vollgraf, "Fashion-MNIST", arXiv:1708.07747, 2017.
    Larochelle & Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011.
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._files import DATA_DIR_HINT, find_data_file
from .amat import read_amat
from .idx import read_idx

__all__ = ["DATASETS", "ImageData", "default_data_dir", "dynamic_binarize", "load_images"]

#: The data sets :func:`load_images` knows.
DATASETS = ("digits", "mnist", "fashion-mnist", "binarized-mnist")

#: The sub-directory of a data root (``$REPARAM_DATA_DIR``, ``shared/data``) for each set.
#: the classes of MNIST and Fashion-MNIST (labels 0-9).
_NUM_CLASSES = 10
_SUBDIRS = {
    "mnist": "mnist",
    "fashion-mnist": "fashion_mnist",
    "binarized-mnist": "binarized_mnist",
}

_BINARIZE = ("none", "dynamic")
_DIGITS_TEST_SIZE = 250
_DIGITS_VALID_SIZE = 250
_DIGITS_TEST_SEED = 0  # the digits test split never depends on ``seed``
_MNIST_VALID_SIZE = 10000
_BINARIZED_PIXELS = 784


@dataclass(repr=False, eq=False)
class ImageData:
    """Train / validation / test images and labels of one data set.

    Attributes:
        name: the data set (one of :data:`DATASETS`).
        train, valid, test: float32 tensors of shape (N, C, H, W), values in [0, 1]
            (exactly 0 or 1 for static binarization).
        train_labels, valid_labels, test_labels: int64 tensors of shape (N,); −1 where the
            data set has no labels.
        binary: True when the model should treat the data as binary: statically binarized
            values, or grey values to binarize per batch with :func:`dynamic_binarize`.

    Raises:
        ValueError: a split that is not 4-d, splits with different (C, H, W), or labels
            whose length differs from their images'.

    Example:
        >>> data = load_images("digits")
        >>> data
        ImageData('digits', shape=(1, 8, 8), train=1297, valid=250, test=250, binary=False)
    """

    name: str
    train: Tensor
    valid: Tensor
    test: Tensor
    train_labels: Tensor
    valid_labels: Tensor
    test_labels: Tensor
    binary: bool = False

    def __post_init__(self) -> None:
        for split in ("train", "valid", "test"):
            images, labels = getattr(self, split), getattr(self, f"{split}_labels")
            if images.dim() != 4:
                raise ValueError(
                    f"ImageData({self.name!r}): {split} must have shape (N, C, H, W), "
                    f"got {tuple(images.shape)}"
                )
            if images.shape[1:] != self.train.shape[1:]:
                raise ValueError(
                    f"ImageData({self.name!r}): {split} images are {tuple(images.shape[1:])}, "
                    f"train images {tuple(self.train.shape[1:])}"
                )
            if labels.shape != images.shape[:1]:
                raise ValueError(
                    f"ImageData({self.name!r}): {split}_labels must have shape "
                    f"({images.shape[0]},), got {tuple(labels.shape)}"
                )

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape (C, H, W) of one image."""
        channels, height, width = self.train.shape[1:]
        return (channels, height, width)

    def __repr__(self) -> str:
        return (
            f"ImageData({self.name!r}, shape={self.shape}, train={len(self.train)}, "
            f"valid={len(self.valid)}, test={len(self.test)}, binary={self.binary})"
        )


def dynamic_binarize(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Draw x_bin ~ Bernoulli(x) elementwise: a fresh binary image for each use.

    Args:
        x: probabilities in [0, 1] (grey values), any shape, floating point.
        generator: the random generator (on ``x``'s device); ``None`` for torch's global one.

    Returns:
        a tensor of 0s and 1s with the shape and dtype of ``x``; E[x_bin] = x.

    Raises:
        TypeError: ``x`` is not floating point.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> dynamic_binarize(torch.tensor([0.0, 1.0, 0.0, 1.0]), g)
        tensor([0., 1., 0., 1.])
    """
    if not x.is_floating_point():
        raise TypeError(f"dynamic_binarize: x must be floating point, got {x.dtype}")
    return torch.bernoulli(x, generator=generator)


def _data_roots() -> list[Path]:
    """Where data sets are looked for: ``$REPARAM_DATA_DIR`` (which must then be a
    directory: a mistyped path is an error, not a silent fall-back), ``../shared/data``
    and ``/work/shared/data``.

    Raises:
        FileNotFoundError: ``$REPARAM_DATA_DIR`` is set but not a directory.
    """
    roots = []
    env = os.environ.get("REPARAM_DATA_DIR")
    if env:
        if not Path(env).is_dir():
            raise FileNotFoundError(
                f"REPARAM_DATA_DIR={env} is not a directory; point it at the folder that "
                "holds mnist/, fashion_mnist/, uci/ … or unset it"
            )
        roots.append(Path(env))
    roots += [Path.cwd().parent / "shared" / "data", Path("/work/shared/data")]
    return roots


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(DATASETS)}")


def default_data_dir(name: str) -> Path | None:
    """The directory a data set is read from when no ``data_dir`` is given.

    The first existing one of ``$REPARAM_DATA_DIR/<sub>``, ``../shared/data/<sub>``
    (relative to the current directory) and ``/work/shared/data/<sub>``, where ``<sub>``
    is ``mnist``, ``fashion_mnist`` or ``binarized_mnist``.

    Args:
        name: one of :data:`DATASETS`.

    Returns:
        the directory, or ``None`` if none exists or the set needs no files (``"digits"``).

    Raises:
        ValueError: an unknown name (the message lists the valid ones).

    Example:
        >>> default_data_dir("digits") is None
        True
    """
    _check_name(name)
    if name not in _SUBDIRS:
        return None
    for root in _data_roots():
        if (root / _SUBDIRS[name]).is_dir():
            return root / _SUBDIRS[name]
    return None


def load_images(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    valid_size: int | None = None,
    seed: int = 0,
    binarize: str = "none",
) -> ImageData:
    """Load an image data set from local files (nothing is downloaded) and split it.

    Args:
        name: one of :data:`DATASETS`: ``"digits"``, ``"mnist"``, ``"fashion-mnist"``,
            ``"binarized-mnist"``.
        data_dir: the directory holding the files (ignored for ``"digits"``); default
            :func:`default_data_dir`.
        valid_size: images taken from the training images for validation (default 250 for
            digits, 10000 for (Fashion-)MNIST); must be ``None`` for binarized MNIST,
            whose validation split is fixed by its files.
        seed: seeds the permutation that picks the validation images.
        binarize: ``"none"``, or ``"dynamic"`` to mark the data binary and binarize per
            batch with :func:`dynamic_binarize` (the values stay grey here).

    Returns:
        an :class:`ImageData`.

    Raises:
        ValueError: an unknown ``name`` or ``binarize``, a ``valid_size`` out of range, or
            a malformed file (the message names the file and the expected format).
        FileNotFoundError: a missing data directory or file (the message names it and
            says how to pass ``--data-dir``).

    Example:
        >>> data = load_images("digits", seed=0)
        >>> data.train.shape, data.valid.shape, data.test.shape, data.shape
        (torch.Size([1297, 1, 8, 8]), torch.Size([250, 1, 8, 8]), torch.Size([250, 1, 8, 8]), (1, 8, 8))
    """  # noqa: E501
    _check_name(name)
    if binarize not in _BINARIZE:
        raise ValueError(f"binarize must be one of {', '.join(_BINARIZE)}; got {binarize!r}")
    if valid_size is not None and (
        isinstance(valid_size, bool) or not isinstance(valid_size, int)
    ):
        raise ValueError(f"valid_size must be an integer or None, got {valid_size!r}")
    if name == "digits":
        data = _load_digits(valid_size, seed)
    else:
        directory = _resolve_dir(name, data_dir)
        if name == "binarized-mnist":
            if valid_size is not None:
                raise ValueError(
                    "binarized-mnist has fixed train/valid/test files: valid_size must be "
                    f"None, got {valid_size}"
                )
            data = _load_binarized_mnist(directory)
        else:
            data = _load_idx_set(name, directory, valid_size, seed)
    data.binary = data.binary or binarize == "dynamic"
    return data


def _resolve_dir(name: str, data_dir: str | os.PathLike[str] | None) -> Path:
    if data_dir is not None:
        return Path(data_dir)
    directory = default_data_dir(name)
    if directory is None:
        searched = ", ".join(str(root / _SUBDIRS[name]) for root in _data_roots())
        raise FileNotFoundError(
            f"{name}: no data directory found (searched {searched}); {DATA_DIR_HINT}"
        )
    return directory


def _split(n: int, valid_size: int, seed: int, what: str) -> tuple[Tensor, Tensor]:
    """Indices (train, valid), each in increasing order: valid = the last ``valid_size``
    entries of a permutation of range(n) seeded with ``seed``."""
    if not 0 <= valid_size < n:
        raise ValueError(
            f"{what}: {n} training images are too few to hold out {valid_size} for "
            f"validation (the data needs more than {valid_size})"
            if valid_size >= n
            else f"{what}: valid_size must be >= 0, got {valid_size}"
        )
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[: n - valid_size].sort().values, perm[n - valid_size :].sort().values


def _images(pixels: np.ndarray, scale: float) -> Tensor:
    """(N, H, W) or (N, H·W) array → float32 tensor (N, 1, H, W) divided by ``scale``."""
    return torch.from_numpy(pixels).to(torch.float32).div_(scale).unsqueeze(1)


def _load_digits(valid_size: int | None, seed: int) -> ImageData:
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    digits = load_digits()
    images = _images(np.ascontiguousarray(digits.images), 16.0)
    labels = torch.from_numpy(np.asarray(digits.target, dtype=np.int64))
    rest, test = _split(len(images), _DIGITS_TEST_SIZE, _DIGITS_TEST_SEED, "digits")
    valid_size = _DIGITS_VALID_SIZE if valid_size is None else valid_size
    train, valid = (rest[i] for i in _split(len(rest), valid_size, seed, "digits"))
    return ImageData(
        "digits", images[train], images[valid], images[test],
        labels[train], labels[valid], labels[test],
    )  # fmt: skip


def _read_idx_pair(name: str, directory: Path, prefix: str) -> tuple[Tensor, Tensor]:
    """Images (N, 1, H, W) in [0, 1] and labels (N,) from ``<prefix>-*-ubyte(.gz)``."""
    image_path = find_data_file(directory, f"{prefix}-images-idx3-ubyte", name)
    label_path = find_data_file(directory, f"{prefix}-labels-idx1-ubyte", name)
    pixels, labels = read_idx(image_path, ndim=3), read_idx(label_path, ndim=1)
    for path, array in ((image_path, pixels), (label_path, labels)):
        if array.dtype != np.uint8:
            raise ValueError(
                f"{path}: {name} needs uint8 data (type code 0x08), got {array.dtype}"
            )
    if len(pixels) != len(labels):
        raise ValueError(
            f"{image_path} holds {len(pixels)} images but {label_path} holds {len(labels)} "
            "labels; expected one label per image"
        )
    if len(labels) and int(labels.max()) >= _NUM_CLASSES:
        bad = int(np.argmax(labels >= _NUM_CLASSES))
        raise ValueError(
            f"{label_path}: label {int(labels[bad])} at position {bad} is outside the "
            f"{_NUM_CLASSES} classes of {name} (0-{_NUM_CLASSES - 1})"
        )
    if len(pixels) == 0:
        raise ValueError(f"{image_path} holds no images")
    return _images(pixels, 255.0), torch.from_numpy(labels.astype(np.int64))


def _load_idx_set(name: str, directory: Path, valid_size: int | None, seed: int) -> ImageData:
    train_images, train_labels = _read_idx_pair(name, directory, "train")
    test_images, test_labels = _read_idx_pair(name, directory, "t10k")
    if test_images.shape[1:] != train_images.shape[1:]:
        raise ValueError(
            f"{name} in {directory}: train images are {tuple(train_images.shape[2:])} pixels, "
            f"t10k images {tuple(test_images.shape[2:])}; expected the same size"
        )
    valid_size = _MNIST_VALID_SIZE if valid_size is None else valid_size
    train, valid = _split(len(train_images), valid_size, seed, name)
    return ImageData(
        name, train_images[train], train_images[valid], test_images,
        train_labels[train], train_labels[valid], test_labels,
    )  # fmt: skip


def _load_binarized_mnist(directory: Path) -> ImageData:
    side = int(_BINARIZED_PIXELS**0.5)
    splits = {}
    for split in ("train", "valid", "test"):
        path = find_data_file(directory, f"binarized_mnist_{split}.amat", "binarized-mnist")
        pixels = read_amat(path, columns=_BINARIZED_PIXELS)
        splits[split] = _images(pixels.reshape(-1, side, side), 1.0)
    no_labels = {
        f"{s}_labels": torch.full((len(x),), -1, dtype=torch.int64) for s, x in splits.items()
    }
    return ImageData("binarized-mnist", **splits, **no_labels, binary=True)
