"""What every benchmark script prints about the machine it ran on.

Imported by the ``bench_*.py`` scripts (run as scripts, so this directory is on
``sys.path``).
"""

from __future__ import annotations

import os
import platform

__all__ = ["cpu_model", "loadavg"]


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
