"""What the benchmark scripts share: the interleaved timing loop and the machine facts.

Imported by the ``bench_*.py`` scripts (run as scripts, so this directory is on
``sys.path``). A case is a dict with a ``"step"`` callable; :func:`run_timing` adds
``"reps"`` (calls per measurement) and ``"times"`` (seconds per call, one per round).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable

__all__ = [
    "CLOCKS",
    "add_timing_args",
    "calibrate",
    "cpu_model",
    "loadavg",
    "paired_ratio",
    "run_timing",
]

#: ``--clock``: wall time, or this process's CPU time (hardly affected by other
#: processes when torch runs on one thread).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def add_timing_args(p: argparse.ArgumentParser, *, rounds: int, target_ms: float) -> None:
    """The timing options every interleaved benchmark takes: --rounds, --target-ms,
    --threads, --clock and --seed (with this script's defaults)."""
    p.add_argument(
        "--rounds", type=int, default=rounds, help=f"round-robin rounds (default {rounds})"
    )
    p.add_argument(
        "--target-ms", type=float, default=target_ms, help=f"one measurement, ms ({target_ms:g})"
    )
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="wall: time.perf_counter (default); cpu: time.process_time, the process's CPU"
        " time (robust to other load; use with --threads 1)",
    )
    p.add_argument("--seed", type=int, default=0)


def calibrate(
    step: Callable[[], object], target_s: float, *, warmup: int = 3, max_reps: int = 1 << 12
) -> int:
    """Calls per measurement so that one measurement lasts about ``target_s`` seconds."""
    for _ in range(warmup):
        step()
    reps = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        dt = time.perf_counter() - t0
        if dt >= target_s / 4 or reps >= max_reps:
            return max(1, int(round(reps * target_s / max(dt, 1e-9))))
        reps *= 2


def run_timing(
    cases: list[dict],
    rounds: int,
    target_s: float,
    seed: int = 0,
    clock: str = "wall",
    *,
    sync: Callable[[], None] | None = None,
    report_every: int = 10,
) -> None:
    """Time every case once per round, in an order shuffled each round (seeded).

    Args:
        cases: dicts with ``"step"``; ``"reps"`` and ``"times"`` are written into them.
        rounds: measurements per case.
        target_s: the length of one measurement.
        seed: seeds the shuffles.
        clock: a key of :data:`CLOCKS`.
        sync: called before and after each measurement (e.g. ``torch.cuda.synchronize``).
        report_every: print the round number to stderr every this many rounds.
    """
    now = CLOCKS[clock]
    for c in cases:
        c["reps"] = calibrate(c["step"], target_s)
        c["times"] = []
    rng = random.Random(seed)
    order = list(range(len(cases)))
    for r in range(rounds):
        rng.shuffle(order)
        for i in order:
            c = cases[i]
            step, reps = c["step"], c["reps"]
            if sync is not None:
                sync()
            t0 = now()
            for _ in range(reps):
                step()
            if sync is not None:
                sync()
            c["times"].append((now() - t0) / reps)
        if (r + 1) % report_every == 0:
            print(f"  round {r + 1}/{rounds}", file=sys.stderr, flush=True)


def paired_ratio(a: dict, b: dict) -> tuple[float, float, float]:
    """Median and quartiles over rounds of time(a) / time(b) measured in the same round."""
    ratios = sorted(x / y for x, y in zip(a["times"], b["times"], strict=True))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
    return statistics.median(ratios), q[0], q[2]


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> list[float] | None:
    """The 1/5/15-minute load averages (None where the OS has none)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
