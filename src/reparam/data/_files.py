"""Reading local data files: raw or gzip-compressed, found by name in a data directory.

Data are only ever read from local files (never downloaded). A file ``<stem>`` may be
stored as ``<stem>.gz`` or as ``<stem>``; compression is recognised from the content
(the gzip magic bytes ``1f 8b``), not the name. Every failure names the file: a missing
file gives a :class:`FileNotFoundError` that names the directory searched and how to
point the loader elsewhere (``--data-dir`` on the command line, ``data_dir=`` in Python),
a corrupt gzip stream a :class:`ValueError`.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

__all__ = ["DATA_DIR_HINT", "find_data_file", "read_bytes"]

#: How to point the loaders at other files; appended to every "not found" message.
DATA_DIR_HINT = (
    "pass the directory that holds the files with --data-dir DIR (command line) or "
    "data_dir=DIR (reparam.data.load_images), or set $REPARAM_DATA_DIR"
)

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | os.PathLike[str], expected: str) -> bytes:
    """The content of ``path``, decompressed when it is gzip.

    Args:
        path: the file.
        expected: a description of the expected format, used in error messages.

    Returns:
        the (decompressed) bytes.

    Raises:
        FileNotFoundError: ``path`` does not exist or is not a file.
        ValueError: ``path`` looks like gzip but is not a complete gzip stream.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({DATA_DIR_HINT})")
    raw = path.read_bytes()
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(
            f"{path}: corrupt or truncated gzip stream ({err}); expected {expected}"
        ) from err


def find_data_file(directory: str | os.PathLike[str], stem: str, what: str) -> Path:
    """``directory/<stem>.gz`` if it exists, else ``directory/<stem>``.

    Args:
        directory: the data directory.
        stem: the file name without ``.gz``.
        what: the data set, for the error message (e.g. ``"mnist"``).

    Returns:
        the path of the existing file.

    Raises:
        FileNotFoundError: ``directory`` does not exist, or neither file is in it.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(
            f"{what}: data directory {directory} does not exist (looking for {stem}(.gz)); "
            f"{DATA_DIR_HINT}"
        )
    for name in (f"{stem}.gz", stem):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(
        f"{what}: neither {stem}.gz nor {stem} found in {directory}; {DATA_DIR_HINT}"
    )
