"""A clear error for numerics that ``torch.jit.trace`` would record wrongly.

A trace records the operations one example input runs. Numerics that choose a method,
an iteration count or a set of elements from tensor values (``if bool(mask.any())``)
would replay the example's choices for every later input and silently give wrong values,
so they raise under tracing instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch

__all__ = ["refuse_tracing", "untraceable"]

F = TypeVar("F", bound=Callable[..., object])


def refuse_tracing(what: str) -> None:
    """Raise a RuntimeError naming ``what`` if ``torch.jit.trace`` is tracing."""
    if torch.jit.is_tracing():
        raise RuntimeError(
            f"reparam: {what} cannot be traced with torch.jit.trace: its numerics branch on "
            "tensor values, so a trace would replay the example input's branches for every "
            "input; call it eagerly"
        )


def untraceable(what: str) -> Callable[[F], F]:
    """Decorate a function so that it calls :func:`refuse_tracing` with ``what`` first."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*args: object, **kwargs: object) -> object:
            refuse_tracing(what)
            return fn(*args, **kwargs)

        return guarded  # type: ignore[return-value]

    return decorate
