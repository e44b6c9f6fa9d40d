"""The IDX format of MNIST and Fashion-MNIST (``*-idx3-ubyte``, ``*-idx1-ubyte``, raw or gzip).

An IDX file is a big-endian header followed by the array in row-major (C) order:

    magic (4 bytes: 0x00, 0x00, type code, ndim) | ndim × uint32 sizes d_1 … d_ndim | data

type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64,
so MNIST images have magic 0x00000803 = 2051 (uint8, 3-d: n, rows, cols) and labels
0x00000801 = 2049 (uint8, 1-d: n). The file holds exactly 4 + 4·ndim + itemsize·Π d_i
bytes; :func:`read_idx` checks every part of this and names the file on any mismatch.

Reference:
    LeCun, Cortes & Burges, "The MNIST database of handwritten digits",
    http://yann.lecun.com/exdb/mnist/ (section "File formats").
"""

from __future__ import annotations

import math
import os

import numpy as np

from ._files import read_bytes

__all__ = ["IDX_FORMAT", "read_idx"]

#: One-line description of the format, used in every error message.
IDX_FORMAT = (
    "an IDX file (optionally gzip-compressed): 4-byte magic 0x00 0x00 <type code> <ndim>, "
    "ndim big-endian uint32 sizes, then the data, e.g. magic 2051 for images (n, rows, cols) "
    "and 2049 for labels (n,), uint8"
)

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str], *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a NumPy array.

    Args:
        path: the file, e.g. ``train-images-idx3-ubyte.gz``.
        ndim: if given, the number of dimensions the file must have (3 for images,
            1 for labels).

    Returns:
        a writable array in native byte order, with the shape and type of the header.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: wrong magic number, unknown type code, wrong number of dimensions,
            or a file length that does not match the header (truncated or trailing bytes);
            the message names the file and the expected format.

    Example:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = pathlib.Path(d) / "labels-idx1-ubyte"
        ...     _ = path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))
        ...     read_idx(path)
        array([7, 2, 1], dtype=uint8)
    """
    buf = read_bytes(path, IDX_FORMAT)

    def bad(problem: str) -> ValueError:
        return ValueError(f"{path}: {problem}; expected {IDX_FORMAT}")

    if len(buf) < 4:
        raise bad(f"file has {len(buf)} bytes, too short for the 4-byte magic number")
    magic = int.from_bytes(buf[:4], "big")
    code, dims = buf[2], buf[3]
    if buf[0] != 0 or buf[1] != 0 or code not in _DTYPES or dims == 0:
        raise bad(f"wrong magic number {magic} (0x{magic:08X})")
    if ndim is not None and dims != ndim:
        raise bad(f"the header gives {dims} dimensions, {ndim} are required here")
    header = 4 + 4 * dims
    if len(buf) < header:
        raise bad(f"file has {len(buf)} bytes, shorter than its {header}-byte header")
    shape = tuple(int.from_bytes(buf[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    dtype = _DTYPES[code]
    expected = header + dtype.itemsize * math.prod(shape)
    if len(buf) != expected:
        kind = "truncated" if len(buf) < expected else "trailing bytes"
        raise bad(
            f"{kind}: the header gives shape {shape}, i.e. {expected} bytes, "
            f"but the file has {len(buf)}"
        )
    data = np.frombuffer(buf, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # a native-order, writable copy
