"""What the training loop saves and restores besides the state dicts: the global RNG
states (torch, CUDA, NumPy, Python), per-epoch seeds, CPU snapshots and ``metrics.jsonl``."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor

from ._atomic import atomic_write_text

__all__ = ["cpu_copy", "derived_seed", "diverged", "rng_state", "set_rng_state", "write_metrics"]


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
    if isinstance(obj, list | tuple):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


def diverged(losses: list[float], reference: float | None, factor: float | None) -> bool:
    """Whether the median of an epoch's step losses is above L₀ + factor · max(|L₀|, 1)."""
    if factor is None or reference is None or not losses:
        return False
    return float(np.median(losses)) > reference + factor * max(abs(reference), 1.0)


def write_metrics(path: Path, history: list[dict[str, float]]) -> None:
    """``history`` as JSON lines, a non-finite value as ``null``, written atomically."""

    def clean(v: float) -> float | None:
        return v if not isinstance(v, float) or math.isfinite(v) else None

    lines = [json.dumps({k: clean(v) for k, v in row.items()}) + "\n" for row in history]
    atomic_write_text(path, "".join(lines))
