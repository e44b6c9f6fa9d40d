"""Memory a command will need, estimated before it allocates, against what the machine has.

Options that size tensors (``--latent-dim``, ``--hidden``, ``--k``, ``--particles``,
``--samples``, ``--chunk``, ``--num-samples``) can ask for more memory than any machine
has; the allocator then fails with a traceback, or the kernel kills the process. A
command estimates its peak from its options first — a *lower* bound (parameters with
their gradient and two Adam moments, float32 activations kept for the backward pass,
batch-sized intermediates), so that only requests that cannot fit are refused — and
:func:`check_memory` compares it with the memory available now (``MemAvailable`` of
``/proc/meminfo``; the free memory of a CUDA device).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence

__all__ = ["MemoryTooLarge", "available_memory", "check_memory", "format_bytes", "mlp_params"]

FLOAT = 4  # bytes of a float32
#: bytes per trained parameter: the value, its gradient and Adam's two moments.
TRAINED = 4 * FLOAT


class MemoryTooLarge(ValueError):
    """An option asks for more memory than the machine has (one line at the command line)."""


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human figure: ``'3.1 TB'``, ``'512 MB'``."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def available_memory(device: str = "cpu") -> int | None:
    """Bytes available for new allocations on ``device`` now, or None when unknown."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return None
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def mlp_params(sizes: Sequence[int]) -> int:
    """Weights and biases of a dense network with these layer widths (input first)."""
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def check_memory(
    need: float, options: Iterable[str], device: str = "cpu", available: int | None = None
) -> None:
    """Refuse a run whose estimated peak ``need`` (bytes) exceeds the memory available.

    Args:
        need: the estimated peak in bytes (a lower bound).
        options: the options that set the size, named in the message (e.g. ``--k 1e8``).
        device: ``"cpu"`` or a CUDA device.
        available: bytes available (default: :func:`available_memory`).

    Raises:
        MemoryTooLarge: ``need`` is above what is available.
    """
    if available is None:
        available = available_memory(device)
    if math.isfinite(need) and (available is None or need <= available):
        return
    where = "GPU" if device.startswith("cuda") else "machine"
    have = "an unknown amount" if available is None else format_bytes(available)
    named = ", ".join(options) or "the options"
    raise MemoryTooLarge(
        f"{named}: needs at least {format_bytes(need)} of memory, more than the {have} "
        f"available on this {where}; use smaller values"
    )
