"""Peak memory of one step: the most bytes allocated and not yet freed during the step.

Measured with ``torch.profiler`` (``profile_memory=True``): every allocation and free of
the step, in time order, summed; the peak of that running sum is what the step needs
beyond what existed before it (parameters, optimizer state and inputs are not counted;
gradients and optimizer state created inside the step are). It is deterministic for a
given step, unlike a process's peak RSS, and sees torch's CPU and CUDA allocations alike.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

__all__ = ["peak_step_bytes"]


def peak_step_bytes(step: Callable[[], object], warmup: int = 3) -> int:
    """The peak of bytes allocated and not freed during one call of ``step``.

    Args:
        step: one step (e.g. forward, backward and optimizer step).
        warmup: calls before the measured one (optimizer state and caches exist then).
    """
    for _ in range(warmup):
        step()
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities, profile_memory=True) as prof:
        step()
    # the raw allocator records: one "[memory]" event per allocation (+) or free (−)
    records = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]"
    ]
    live = peak = 0
    for _, delta in sorted(records, key=lambda r: r[0]):
        live += delta
        peak = max(peak, live)
    return peak
