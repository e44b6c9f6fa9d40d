"""What the training loop saves and restores besides the state dicts: the global RNG
states (torch, CUDA, NumPy, Python), per-epoch seeds, CPU snapshots and ``metrics.jsonl``.

``metrics.jsonl`` is the run's history: one JSON line per completed epoch, *appended*
(one ``write`` per line, so an epoch costs the same however many came before), and
fsynced before each checkpoint, so every row a checkpoint counts is on disk whenever the
checkpoint is. A resume reads the history back from it (:func:`read_metrics`) and cuts
off what lies beyond the checkpoint's epochs (rows of epochs not saved, a line torn by a
crash).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from ._atomic import atomic_write_text
from ._checkpoint import CheckpointError

__all__ = [
    "append_metrics",
    "cpu_copy",
    "derived_seed",
    "diverged",
    "read_metrics",
    "restart_metrics",
    "rng_state",
    "set_rng_state",
    "sync_metrics",
    "write_metrics",
]


def derived_seed(*keys: int) -> int:
    """A 63-bit seed from ``keys``, independent across distinct key tuples."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> 1)


def rng_state() -> dict[str, Any]:
    """The global RNG states, in a form ``torch.load(weights_only=True)`` reads back."""
    # the legacy form (the default) is the tuple; numpy's stubs return a union with a dict
    legacy = cast("tuple[str, np.ndarray, int, int, float]", np.random.get_state())
    kind, key, pos, has_gauss, gauss = legacy
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def cpu_copy(obj: Any) -> Any:
    """Deep copy with tensors cloned to the CPU (a snapshot that later steps cannot alter)."""
    if isinstance(obj, Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return type(obj)((k, cpu_copy(v)) for k, v in obj.items())
    if isinstance(obj, tuple) and all(isinstance(v, int | float | str) for v in obj):
        return obj  # immutable as it is (Python's RNG state: 625 ints, copied each epoch)
    if isinstance(obj, list | tuple):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


def diverged(losses: list[float], reference: float | None, factor: float | None) -> bool:
    """Whether the median of an epoch's step losses is above L₀ + factor · max(|L₀|, 1)."""
    if factor is None or reference is None or not losses:
        return False
    return float(np.median(losses)) > reference + factor * max(abs(reference), 1.0)


def _line(row: dict[str, float]) -> str:
    """``row`` as one JSON line, a non-finite value as ``null``."""

    def clean(v: float) -> float | None:
        return v if not isinstance(v, float) or math.isfinite(v) else None

    return json.dumps({k: clean(v) for k, v in row.items()}) + "\n"


def write_metrics(path: Path, history: list[dict[str, float]]) -> None:
    """``history`` as JSON lines (a non-finite value as ``null``), written atomically."""
    atomic_write_text(path, "".join(_line(row) for row in history))


def append_metrics(path: Path, row: dict[str, float], *, fresh: bool, sync: bool) -> None:
    """Append ``row`` to ``path`` as one JSON line, in one ``write`` call.

    ``fresh`` starts the file anew (the first row of a new run); ``sync`` fsyncs it, making
    every line so far durable (before a checkpoint). A write that fails or comes up short
    (a full disk) is cut back off, so the file keeps whole lines only.

    Raises:
        OSError: the file cannot be opened or written (``filename`` is ``path``).
    """
    data = _line(row).encode()
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (os.O_TRUNC if fresh else 0)
    fd = os.open(path, flags, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def sync_metrics(path: Path) -> None:
    """fsync ``path`` (the rows appended without ``sync``, before a checkpoint counts them)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_metrics(path: Path, epochs: int, step: int) -> tuple[list[dict[str, float]], int]:
    """The history of a checkpoint that has completed ``epochs`` epochs and ``step`` steps:
    the first ``epochs`` rows of ``path`` (``null`` read back as NaN) and the bytes they
    take (what follows is not the checkpoint's: rows of later epochs, a torn last line).

    Raises:
        CheckpointError: ``path`` is missing, holds fewer whole rows, a row that is not the
            next epoch's, or a last row whose step is not ``step`` (another run's file).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from None
    rows: list[dict[str, float]] = []
    end = 0
    while len(rows) < epochs and (newline := data.find(b"\n", end)) >= 0:
        try:
            row = json.loads(data[end:newline])
        except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
            row = None
        if not isinstance(row, dict) or row.get("epoch") != len(rows) + 1:
            raise CheckpointError(
                f"{path} is damaged: line {len(rows) + 1} is not the row of epoch {len(rows) + 1}"
            )
        rows.append({k: math.nan if v is None else v for k, v in row.items()})
        end = newline + 1
    if len(rows) < epochs:
        raise CheckpointError(
            f"{path} holds {len(rows)} whole row(s), fewer than the {epochs} epoch(s) the "
            "checkpoint has completed: the run's history is lost, it cannot be resumed"
        )
    if rows and rows[-1].get("step") != step:
        raise CheckpointError(
            f"{path} is not the checkpoint's history: its row of epoch {epochs} is at step "
            f"{rows[-1].get('step')!r}, the checkpoint at step {step}"
        )
    return rows, end


def restart_metrics(path: Path, history: list[dict[str, float]], size: int | None) -> None:
    """``path`` at a resume: cut back to its first ``size`` bytes, the checkpoint's rows
    (:func:`read_metrics`), or with ``size=None`` rewritten from ``history`` (a checkpoint
    of an older reparam, which carried the history)."""
    if size is None:
        write_metrics(path, history)
        return
    with contextlib.suppress(FileNotFoundError):  # (then size is 0: no row to keep)
        if path.stat().st_size > size:
            os.truncate(path, size)
