"""The ``.amat`` text format of statically binarized MNIST (raw or gzip).

One image per line, its pixels as whitespace-separated ``0``/``1`` values, no header:

    x_11 x_12 … x_1D\\n
    x_21 x_22 … x_2D\\n
    …

with D = 784 (28 × 28, row-major) for binarized MNIST: 50000 / 10000 / 10000 lines in
``binarized_mnist_{train,valid,test}.amat``. The files in the canonical layout (single
spaces, ``\\n`` line ends) are parsed by a vectorized byte check; any other whitespace
falls back to a general text parser. Either way every line must have the same number of
columns and every value must be 0 or 1, else the error names the file, the line and the
expected format.

Reference:
    Larochelle & Murray, "The Neural Autoregressive Distribution Estimator",
    AISTATS 2011 (the binarization); Salakhutdinov & Murray, "On the Quantitative
    Analysis of Deep Belief Networks", ICML 2008.
"""

from __future__ import annotations

import os

import numpy as np

from ._files import read_bytes

__all__ = ["AMAT_FORMAT", "read_amat"]

#: One-line description of the format, used in every error message.
AMAT_FORMAT = (
    "an .amat text file (optionally gzip-compressed): one image per line, "
    "whitespace-separated 0/1 values, the same number of columns on every line "
    "(784 for binarized MNIST)"
)

_ZERO, _ONE, _SPACE, _NEWLINE = b"0"[0], b"1"[0], b" "[0], b"\n"[0]


def read_amat(path: str | os.PathLike[str], *, columns: int | None = None) -> np.ndarray:
    """Read a binary ``.amat`` file (raw or gzip) into a ``(lines, columns)`` uint8 array.

    Args:
        path: the file, e.g. ``binarized_mnist_train.amat.gz``.
        columns: if given, the number of values every line must have (784 for MNIST).

    Returns:
        a writable uint8 array of 0s and 1s, one row per line.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: an empty file, a line with a different number of values, or a value
            other than 0/1; the message names the file, the line and the expected format.

    Example:
        >>> import pathlib, tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     path = pathlib.Path(d) / "tiny.amat"
        ...     _ = path.write_text("0 1 1\\n1 0 0\\n")
        ...     read_amat(path, columns=3)
        array([[0, 1, 1],
               [1, 0, 0]], dtype=uint8)
    """
    if columns is not None and columns < 1:
        raise ValueError(f"read_amat: columns must be a positive integer, got {columns!r}")
    buf = read_bytes(path, AMAT_FORMAT)
    fast = _parse_canonical(buf, columns)
    return fast if fast is not None else _parse_general(buf, path, columns)


def _parse_canonical(buf: bytes, columns: int | None) -> np.ndarray | None:
    """Vectorized parse of the exact layout ``"v v … v\\n"`` (single spaces); ``None`` if
    the bytes are not in that layout (the general parser then finds the problem)."""
    if not buf.endswith(b"\n"):
        buf += b"\n"
    first = buf.find(b"\n")
    if first <= 0 or first % 2 == 0:  # a line of D values has 2D - 1 bytes
        return None
    width = (first + 1) // 2
    if (columns is not None and width != columns) or len(buf) % (2 * width):
        return None
    rows = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 2 * width)
    values = rows[:, 0::2]
    if (
        (rows[:, 1:-1:2] != _SPACE).any()
        or (rows[:, -1] != _NEWLINE).any()
        or ((values != _ZERO) & (values != _ONE)).any()
    ):
        return None
    return values - np.uint8(_ZERO)  # a new, writable array


def _parse_general(buf: bytes, path: str | os.PathLike[str], columns: int | None) -> np.ndarray:
    """Line-by-line parse of any whitespace layout, with precise error messages."""

    def bad(problem: str) -> ValueError:
        return ValueError(f"{path}: {problem}; expected {AMAT_FORMAT}")

    try:
        text = buf.decode("ascii")
    except UnicodeDecodeError as err:
        raise bad(f"not a text file (byte {err.start} is not ASCII)") from err
    lines = [(i + 1, line.split()) for i, line in enumerate(text.splitlines())]
    lines = [(number, tokens) for number, tokens in lines if tokens]  # skip blank lines
    if not lines:
        raise bad("the file holds no values")
    width = columns if columns is not None else len(lines[0][1])
    for number, tokens in lines:
        if len(tokens) != width:
            raise bad(f"line {number} has {len(tokens)} values, {width} expected")
    tokens = [token for _, line_tokens in lines for token in line_tokens]
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError:
        values = np.array([_to_float(token) for token in tokens])
    wrong = np.flatnonzero((values != 0) & (values != 1))
    if wrong.size:
        number = lines[wrong[0] // width][0]
        raise bad(f"line {number} holds the value {tokens[wrong[0]]!r}, only 0 and 1 are allowed")
    return values.reshape(len(lines), width).astype(np.uint8)


def _to_float(token: str) -> float:
    """``float(token)``, or NaN (reported as a non-binary value) when it is not a number."""
    try:
        return float(token)
    except ValueError:
        return float("nan")
