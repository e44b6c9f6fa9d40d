"""The option checks of :class:`reparam.vae.VAE`: every constructor argument is checked at
construction, with a ``ValueError`` naming the option and the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

from ._checks import check_int
from .noise import noise_names

__all__ = ["FLOW_POSTERIORS", "check_choice", "check_flow_length", "check_noise", "check_sizes",
           "vae_option"]  # fmt: skip

#: the posteriors that are flows, and their default number of steps K.
FLOW_POSTERIORS: dict[str, int] = {"planar": 10, "iaf": 2}


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"VAE: {name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_sizes(values: object) -> tuple[int, ...] | None:
    """A sequence of integers >= 1 as a tuple, or None (not such a sequence)."""
    try:
        sizes: tuple[Any, ...] = tuple(values)  # type: ignore[arg-type]  # checked below
    except TypeError:
        return None
    if any(isinstance(v, bool) or not isinstance(v, Integral) or v < 1 for v in sizes):
        return None
    return tuple(int(v) for v in sizes)


def check_noise(noise: object, k: int) -> None:
    """The training noise: a registered name, and an even k for antithetic pairs."""
    if not isinstance(noise, str) or noise not in noise_names():
        raise ValueError(f"VAE: noise must be one of {', '.join(noise_names())}; got {noise!r}")
    if noise == "antithetic" and k % 2:
        raise ValueError(
            f"VAE: noise='antithetic' pairs the k samples, so k must be even; got {k}"
        )


def vae_option(check: Any, value: object) -> Any:
    """``check(value)``, a ValueError it raises re-raised with the prefix ``VAE:``."""
    try:
        return check(value)
    except ValueError as err:
        raise ValueError(f"VAE: {err}") from None


def check_flow_length(posterior: str, flow_length: int | None) -> int | None:
    """K for a flow posterior (its default when None); None for the Gaussian ones."""
    if posterior not in FLOW_POSTERIORS:
        if flow_length is not None:
            raise ValueError(
                f"VAE: flow_length applies to the flow posteriors ({', '.join(FLOW_POSTERIORS)})"
                f" only; got flow_length={flow_length!r} with posterior {posterior!r}"
            )
        return None
    if flow_length is None:
        return FLOW_POSTERIORS[posterior]
    return check_int("flow_length", flow_length, owner="VAE", sep="; ")
