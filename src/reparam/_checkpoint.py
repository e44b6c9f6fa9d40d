"""Checkpoint files that are verified on load: a SHA-256 of their contents inside them.

:func:`save_checkpoint` stores ``checksum`` = SHA-256 over a canonical walk of the state
(dict keys in order, every tensor's dtype, shape and bytes, every plain value's type and
``repr``) and writes the file atomically. :func:`load_checkpoint` reads it with
``weights_only=True`` and recomputes the digest, so a byte changed inside a tensor after
the write is found; every other defect — empty, truncated, not a checkpoint, another
program's file, missing entries — is one :class:`CheckpointError` naming the file and
the problem. Checkpoints written before checksums existed (no ``checksum`` entry) load
unverified.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ._atomic import atomic_open

__all__ = ["CheckpointError", "load_checkpoint", "restore_state", "save_checkpoint", "digest"]

CHECKSUM = "checksum"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used (reported as one line naming the file)."""


def _update(h: Any, obj: Any) -> None:
    if isinstance(obj, Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)}".encode())
        for key, value in obj.items():
            _update(h, key)
            _update(h, value)
    elif isinstance(obj, list | tuple):
        h.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
        for value in obj:
            _update(h, value)
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def digest(state: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``state`` without its ``checksum`` entry (see the module docstring)."""
    h = hashlib.sha256()
    _update(h, {k: v for k, v in state.items() if k != CHECKSUM})
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` with its checksum to ``path`` atomically (the old file stays on
    any failure, a full disk included)."""
    state = {**state, CHECKSUM: digest(state)}
    # Serialized in memory first: an OS error of the write (a full disk, a size limit)
    # then reaches the caller as the OSError it is (torch.save turns it into a
    # RuntimeError while closing its archive).
    buf = io.BytesIO()
    torch.save(state, buf)
    with atomic_open(path, "wb") as fh:
        fh.write(buf.getbuffer())


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_checkpoint(
    path: str | os.PathLike[str], required: Collection[str] = ()
) -> dict[str, Any]:
    """Load and verify a checkpoint onto the CPU (``weights_only=True``).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is empty, truncated, not a reparam checkpoint, lacks a
            ``required`` entry, or its contents do not match its checksum.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise CheckpointError(
            f"{path} cannot be read as a checkpoint, it is damaged or not one ({_first_line(exc)})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path} is not a reparam checkpoint (it holds a {type(state).__name__})"
        )
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(
            f"{path} is not a reparam checkpoint (no {', '.join(repr(k) for k in missing)})"
        )
    stored = state.get(CHECKSUM)
    if stored is not None and stored != digest(state):
        raise CheckpointError(
            f"{path} is damaged: its contents do not match the checksum stored in it "
            "(the file changed after it was written)"
        )
    return state


def restore_state(module: nn.Module | Any, state: Any, path: str | os.PathLike[str]) -> None:
    """``module.load_state_dict(state)`` (a model or an optimizer) with a mismatch
    reported as a :class:`CheckpointError` naming ``path``."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        what = "model" if isinstance(module, nn.Module) else type(module).__name__
        raise CheckpointError(f"{path} does not fit this {what} ({_first_line(exc)})") from None
