"""SIGTERM handled like Ctrl-C, and blocks that a signal may not cut in half.

:func:`installed` makes SIGTERM raise :class:`Terminated`, a ``KeyboardInterrupt``, in the
main thread, so every ``except KeyboardInterrupt`` (the training loop's checkpoint on
interrupt, the commands' one-line message) covers both. :func:`exit_code` is the shell's
convention for the signal received: 130 for SIGINT, 143 for SIGTERM.

:func:`deferred` holds SIGINT and SIGTERM during a block (e.g. writing a command's set of
output files) and delivers the last one received when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = [
    "Terminated",
    "deferred",
    "exit_code",
    "handled",
    "installed",
    "signal_name",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM received (a ``KeyboardInterrupt``, so it is handled as Ctrl-C is)."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """Within the block SIGTERM raises :class:`Terminated` (main thread only; elsewhere a
    no-op); the previous handler is restored at its end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def handled() -> None:
    """Tell CPython that a ``KeyboardInterrupt`` was handled, so the exit status chosen by
    the caller (130, 143) is the one the process ends with.

    CPython remembers a ``KeyboardInterrupt`` that escaped any ``exec``/``eval`` of source
    text (``PyRun_String``), e.g. the one :mod:`dataclasses` runs while a module is being
    imported, as "unhandled", and at the exit of ``python -m reparam`` kills the process
    with SIGINT (status -2) even when an outer ``except`` handled it and ``sys.exit(130)``
    was called. Every
    ``PyRun_String`` clears that mark before it runs, so running an empty one forgets it.
    """
    exec("pass", {})  # noqa: S102 - a constant string: resets CPython's interrupt mark


def signal_name(exc: BaseException) -> str:
    """``"SIGTERM"`` for :class:`Terminated`, else ``"SIGINT"``."""
    return "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"


def exit_code(exc: BaseException) -> int:
    """128 + the signal number: 143 for SIGTERM, 130 for Ctrl-C."""
    return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM for the block; the last one received is raised at its end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if received:
            raise Terminated() if received[-1] == signal.SIGTERM else KeyboardInterrupt()
