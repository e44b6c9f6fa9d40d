"""Parameter handling shared by every family: conversion, broadcasting, fast validation.

Validation is on the hot path of every training step (a VAE builds a new q(z|x) per
minibatch), so the common elementwise constraints are checked with one fused
``aminmax`` reduction per parameter and one host transfer, instead of torch's
``constraint.check(value).all()`` per parameter. Only when that quick check fails is
the slow, exact check run to name the offending values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Number
from typing import NamedTuple

import torch
from torch import Tensor
from torch.distributions import constraints

__all__ = ["as_params", "check_params", "param_error"]


def _float_dtype(values: list[object]) -> torch.dtype:
    dtypes = [v.dtype for v in values if isinstance(v, Tensor) and v.dtype.is_floating_point]
    if not dtypes:
        return torch.get_default_dtype()
    dtype = dtypes[0]
    for d in dtypes[1:]:
        dtype = torch.promote_types(dtype, d)
    return dtype


def as_params(owner: str, **params: object) -> tuple[Tensor, ...]:
    """Convert numbers/tensors to floating tensors of one dtype and broadcast them.

    Args:
        owner: the distribution's name, used in error messages.
        **params: name → number or tensor, in the order they are returned.

    Returns:
        The broadcast tensors, in the order of ``params``.

    Raises:
        TypeError: a parameter is neither a number nor a tensor.
        ValueError: the shapes cannot be broadcast together.
    """
    values = list(params.values())
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = _float_dtype(values)
    device = ref.device if ref is not None else None
    tensors = []
    for name, value in params.items():
        if isinstance(value, Tensor):
            if value.is_complex():
                raise TypeError(f"{owner}: parameter {name!r} must be real, got {value.dtype}")
            if value.dtype != dtype:
                value = value.to(dtype)
        elif isinstance(value, Number) and not isinstance(value, bool):
            value = torch.tensor(float(value), dtype=dtype, device=device)
        else:
            raise TypeError(
                f"{owner}: parameter {name!r} must be a number or a tensor, "
                f"got {type(value).__name__}"
            )
        tensors.append(value)
    if len(tensors) == 1:
        return (tensors[0],)
    shapes = [t.shape for t in tensors]
    if all(s == shapes[0] for s in shapes):
        return tuple(tensors)
    try:
        return tuple(torch.broadcast_tensors(*tensors))
    except RuntimeError:
        described = ", ".join(f"{n} {tuple(s)}" for n, s in zip(params, shapes, strict=True))
        raise ValueError(
            f"{owner}: parameter shapes cannot be broadcast together: {described}"
        ) from None


def _bounds(constraint: constraints.Constraint) -> tuple[float, float, bool, bool] | None:
    """(low, high, low_inclusive, high_inclusive) for an elementwise interval constraint."""
    inf = math.inf
    if constraint is constraints.real:
        return (-inf, inf, False, False)
    if isinstance(constraint, constraints._GreaterThan):
        return (float(constraint.lower_bound), inf, False, False)
    if isinstance(constraint, constraints._GreaterThanEq):
        return (float(constraint.lower_bound), inf, True, False)
    if isinstance(constraint, constraints._LessThan):
        return (-inf, float(constraint.upper_bound), False, False)
    if isinstance(constraint, constraints._Interval):
        return (float(constraint.lower_bound), float(constraint.upper_bound), True, True)
    if isinstance(constraint, constraints._HalfOpenInterval):
        return (float(constraint.lower_bound), float(constraint.upper_bound), True, False)
    return None


def _unwrap(constraint: constraints.Constraint) -> constraints.Constraint:
    while isinstance(constraint, constraints.independent):
        constraint = constraint.base_constraint
    return constraint


class _Plan(NamedTuple):
    """How to check one parameter quickly: bounds, and which reductions they need."""

    name: str
    constraint: constraints.Constraint
    low: float
    high: float
    low_inclusive: bool
    high_inclusive: bool
    elementwise: bool


def _plan(arg_constraints: Mapping) -> tuple[_Plan, ...]:
    plans = []
    for name, constraint in arg_constraints.items():
        if constraints.is_dependent(constraint):
            continue
        bounds = _bounds(_unwrap(constraint))
        if bounds is None:
            plans.append(_Plan(name, constraint, -math.inf, math.inf, False, False, False))
        else:
            plans.append(_Plan(name, constraint, *bounds, True))
    return tuple(plans)


def _quick_ok(value: Tensor, plan: _Plan) -> bool:
    """Are all values finite and inside the bounds? One or two reductions, no temporaries.

    A finite lower bound is checked on ``amin``, a finite upper bound on ``amax`` (both
    propagate NaN, and NaN fails every comparison); an unbounded side is checked by the
    finiteness of the ``sum``, which is ±inf or NaN as soon as one value is. A sum that
    overflows is a false alarm that the exact check in the caller clears.
    """
    if not plan.elementwise:
        return _exact_ok(value, plan.constraint)
    if value.numel() == 0:
        return True
    value = value.detach()
    low, high = plan.low, plan.high
    low_inf, high_inf = low == -math.inf, high == math.inf
    if (low_inf or high_inf) and not math.isfinite(float(value.sum())):
        return False
    if not low_inf:
        lo = float(value.amin())
        if not (lo >= low if plan.low_inclusive else lo > low):
            return False
    if not high_inf:
        hi = float(value.amax())
        if not (hi <= high if plan.high_inclusive else hi < high):
            return False
    return True


def _exact_ok(value: Tensor, constraint: constraints.Constraint) -> bool:
    value = value.detach()
    return bool(torch.isfinite(value).all()) and bool(constraint.check(value).all())


def param_error(owner: str, name: str, value: Tensor, requirement: str) -> ValueError:
    """A ValueError naming the parameter, its shape, the requirement and the bad values."""
    return ValueError(
        f"{owner}: parameter {name!r} (tensor of shape {tuple(value.shape)}) must {requirement}, "
        f"but found invalid values: {value.detach()}"
    )


def _describe(constraint: constraints.Constraint) -> str:
    bounds = _bounds(_unwrap(constraint))
    if bounds is None:
        return f"satisfy {constraint!r} with finite values"
    low, high, low_in, high_in = bounds
    if math.isinf(low) and math.isinf(high):
        return "be finite"
    parts = []
    if not math.isinf(low):
        parts.append(f"{'>=' if low_in else '>'} {low:g}")
    if not math.isinf(high):
        parts.append(f"{'<=' if high_in else '<'} {high:g}")
    return "be finite and " + " and ".join(parts)


_PLANS: dict[int, tuple[Mapping, tuple[_Plan, ...]]] = {}


def check_params(owner: str, params: Mapping[str, Tensor], arg_constraints: Mapping) -> None:
    """Raise ValueError if a parameter is non-finite or violates its constraint.

    Args:
        owner: the distribution's name for the message.
        params: name → tensor for the parameters to check (others are skipped).
        arg_constraints: name → constraint (``Distribution.arg_constraints``).
    """
    cached = _PLANS.get(id(arg_constraints))
    if cached is None or cached[0] is not arg_constraints:
        cached = (arg_constraints, _plan(arg_constraints))
        _PLANS[id(arg_constraints)] = cached
    for plan in cached[1]:
        value = params.get(plan.name)
        if value is None:
            continue
        if not _quick_ok(value, plan) and not _exact_ok(value, plan.constraint):
            raise param_error(owner, plan.name, value, _describe(plan.constraint))
