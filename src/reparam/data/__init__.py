"""Data sets from local files (nothing is downloaded): images for the VAE and their formats.

- :func:`load_images` / :class:`ImageData`: bundled 8×8 digits (the default, no files
  needed), MNIST and Fashion-MNIST (IDX), statically binarized MNIST (``.amat``), with
  deterministic seeded train / validation / test splits; :func:`dynamic_binarize` draws
  x_bin ~ Bernoulli(x) per batch.
- :func:`read_idx`, :func:`read_amat`: strict readers of the two file formats (raw or gzip).
- :func:`default_data_dir`: where a data set is looked for when no directory is given.
- :func:`load_uci` / :class:`UCIData`: the UCI regression sets with their published splits.
"""

from __future__ import annotations

from .amat import read_amat
from .idx import read_idx
from .images import DATASETS, ImageData, default_data_dir, dynamic_binarize, load_images
from .uci import UCI_DATASETS, UCIData, load_uci

__all__ = [
    "DATASETS",
    "UCI_DATASETS",
    "ImageData",
    "UCIData",
    "default_data_dir",
    "dynamic_binarize",
    "load_images",
    "load_uci",
    "read_amat",
    "read_idx",
]

# 2-D toy data for flows (the VI targets are in reparam.vi.targets); tabular matrices
# (.csv / .npy) for density estimation.
from .tabular import load_tabular, split_tabular, standardize  # noqa: E402
from .toy2d import TOY_DATA, sample_toy  # noqa: E402

__all__ += [
    "TOY_DATA",
    "load_tabular",
    "sample_toy",
    "split_tabular",
    "standardize",
]
