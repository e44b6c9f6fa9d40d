"""Argument checks shared across the library: integers with a lower bound.

One place for the ``isinstance(v, bool) or not isinstance(v, int) or v < m`` test, so that
every module rejects a bool, a float or a too-small count the same way and with a
``ValueError`` that names the argument and the value. The wording is a parameter because
the public messages predate this module (tests and users match them):

- ``check_int("k", 0)`` → ``k must be an integer >= 1, got 0``;
- ``check_int("k", 0, noun="an int")`` → ``k must be an int >= 1, got 0``;
- ``check_int("dim", 0, owner="MeanFieldGuide")`` → ``MeanFieldGuide: dim must be …``;
- ``check_positive_int("groups", 0, owner="BayesConv2d")`` →
  ``BayesConv2d: groups must be a positive integer; got 0``.
"""

from __future__ import annotations

from numbers import Integral

__all__ = ["check_int", "check_positive_int"]


def _prefix(owner: str | None) -> str:
    return f"{owner}: " if owner else ""


def check_int(
    name: str,
    value: object,
    minimum: int = 1,
    *,
    owner: str | None = None,
    noun: str = "an integer",
    sep: str = ", ",
    integral: bool = False,
) -> int:
    """``value`` as an int, or ValueError unless it is an int (not a bool) >= ``minimum``.

    Args:
        name: the argument's name, as the message shows it.
        value: the value to check.
        minimum: the smallest value accepted.
        owner: a class or function name put in front of the message (``"Owner: …"``).
        noun: how the message names the type (``"an integer"`` or ``"an int"``).
        sep: what separates the requirement from ``got …`` (``", "`` or ``"; "``).
        integral: accept any :class:`numbers.Integral` (e.g. a NumPy integer), not just int.

    Example:
        >>> check_int("num_samples", 3)
        3
        >>> check_int("num_samples", True, noun="an int")
        Traceback (most recent call last):
        ValueError: num_samples must be an int >= 1, got True
    """
    kinds = Integral if integral else int
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        raise ValueError(f"{_prefix(owner)}{name} must be {noun} >= {minimum}{sep}got {value!r}")
    return int(value)


def check_positive_int(name: str, value: object, *, owner: str | None = None) -> int:
    """``value`` as an int, or ValueError (``… must be a positive integer; got …``).

    Example:
        >>> check_positive_int("in_features", 0, owner="BayesLinear")
        Traceback (most recent call last):
        ValueError: BayesLinear: in_features must be a positive integer; got 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{_prefix(owner)}{name} must be a positive integer; got {value!r}")
    return value
