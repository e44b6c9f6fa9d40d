"""Parameter handling shared by every family: conversion, broadcasting, fast validation.

Validation is on the hot path of every training step (a VAE builds a new q(z|x) per
minibatch), so the common elementwise constraints are checked with one reduction per
parameter instead of torch's ``isfinite`` + ``constraint.check(value).all()`` (two or
three elementwise kernels, a reduction and a host sync each): an unbounded parameter
with one ``sum`` (finite iff every value is, up to overflow), a bounded one with one
fused ``aminmax``. At 10^4 elements the per-op dispatch and host-sync overhead, not the
arithmetic, is the cost, so the fewest ops win (see benchmarks/bench_normal.py). Only
when the quick check fails is the slow, exact check run to name the offending values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Number
from typing import NamedTuple, SupportsFloat, cast

import torch
from torch import Tensor
from torch.distributions import constraints

__all__ = ["as_params", "as_tensors", "check_params", "param_error"]


def _float_dtype(values: list[object]) -> torch.dtype:
    dtypes = [v.dtype for v in values if isinstance(v, Tensor) and v.dtype.is_floating_point]
    if not dtypes:
        return torch.get_default_dtype()
    dtype = dtypes[0]
    for d in dtypes[1:]:
        dtype = torch.promote_types(dtype, d)
    return dtype


def as_tensors(owner: str, params: Mapping[str, object]) -> tuple[Tensor, ...]:
    """Convert numbers/tensors to floating tensors of one dtype and device; shapes untouched.

    Args:
        owner: the distribution's name, used in error messages.
        params: name → number or tensor, in the order they are returned.

    Raises:
        TypeError: a parameter is neither a real number nor a real tensor.
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
            # a Number need not define __float__ (complex does not); float() says so
            value = torch.tensor(float(cast(SupportsFloat, value)), dtype=dtype, device=device)
        else:
            raise TypeError(
                f"{owner}: parameter {name!r} must be a number or a tensor, "
                f"got {type(value).__name__}"
            )
        tensors.append(value)
    return tuple(tensors)


def as_params(owner: str, /, **params: object) -> tuple[Tensor, ...]:
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
    values = tuple(params.values())
    # Fast path (the hot one): floating tensors of one dtype and one shape, as they come
    # out of an encoder, are returned as they are.
    if values and isinstance(values[0], Tensor) and values[0].is_floating_point():
        dtype, shape = values[0].dtype, values[0].shape
        for v in values[1:]:
            if not (isinstance(v, Tensor) and v.dtype == dtype and v.shape == shape):
                break
        else:
            return cast(tuple[Tensor, ...], values)  # all checked to be tensors above
    tensors = as_tensors(owner, params)
    shapes = [t.shape for t in tensors]
    if all(s == shapes[0] for s in shapes):
        return tensors
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


# How the quick check treats a parameter.
_SUM = 0  # no finite bound: finite iff the sum is (one reduction, one host sync)
_MINMAX = 1  # a finite bound: one fused aminmax, compared with both bounds
_EXACT = 2  # not an elementwise interval: the exact check


class _Plan(NamedTuple):
    """How to check one parameter quickly: which reduction, and the bounds."""

    name: str
    constraint: constraints.Constraint
    kind: int
    low: float
    high: float
    low_inclusive: bool
    high_inclusive: bool


def _plan(arg_constraints: Mapping) -> tuple[_Plan, ...]:
    plans = []
    for name, constraint in arg_constraints.items():
        # constraints.is_dependent's test, spelled out: torch.compile does not trace into it
        if isinstance(constraint, constraints._Dependent):
            continue
        bounds = _bounds(_unwrap(constraint))
        if bounds is None:
            plans.append(_Plan(name, constraint, _EXACT, -math.inf, math.inf, False, False))
        elif math.isinf(bounds[0]) and math.isinf(bounds[1]):
            plans.append(_Plan(name, constraint, _SUM, *bounds))
        else:
            plans.append(_Plan(name, constraint, _MINMAX, *bounds))
    return tuple(plans)


def _quick_ok(value: Tensor, plan: _Plan) -> bool:
    """Are all values finite and inside the bounds? One reduction, no temporaries.

    An unbounded parameter is checked by the finiteness of its ``sum``, which is ±inf or
    NaN as soon as one value is (a sum that overflows is a false alarm that the exact
    check in the caller clears). A bounded one is checked on one fused ``aminmax``: the
    minimum against the lower bound, the maximum against the upper bound (or +inf), and
    both propagate NaN, which fails every comparison. -inf is caught by the lower bound
    if finite, otherwise by ``min > -inf``.
    """
    kind = plan.kind
    if kind == _EXACT or not value.is_floating_point():
        return _exact_ok(value, plan.constraint)
    if kind == _SUM:  # the sum of no values is 0: finite
        total = value.detach().sum().item()
        return total - total == 0.0  # False for ±inf and NaN
    if value.numel() == 0:
        return True
    lo_t, hi_t = torch.aminmax(value.detach())
    lo, hi = lo_t.item(), hi_t.item()
    low, high = plan.low, plan.high
    if not (lo >= low if plan.low_inclusive else lo > low):
        return False
    return hi <= high if plan.high_inclusive else hi < high


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


def _traced_ok(value: Tensor, plan: _Plan) -> Tensor:
    """The condition of :func:`_quick_ok` as a boolean tensor (no host sync)."""
    value = value.detach()
    if plan.kind == _EXACT or not value.is_floating_point():
        return torch.isfinite(value).all() & plan.constraint.check(value).all()
    if plan.kind == _SUM:
        return torch.isfinite(value.sum())
    lo, hi = torch.aminmax(value)
    ok_lo = lo >= plan.low if plan.low_inclusive else lo > plan.low
    return ok_lo & (hi <= plan.high if plan.high_inclusive else hi < plan.high)


def _assert_traced(owner: str, plans: tuple[_Plan, ...], params: Mapping[str, Tensor]) -> None:
    """The checks under ``torch.compile``: ``.item()`` would break the graph, so each
    parameter's condition becomes a ``torch._assert_async`` in it (a RuntimeError when run,
    naming the parameter and the requirement; the values cannot leave the graph). The
    exact check of an overflowing sum is not made here: a finite parameter whose sum
    overflows is rejected."""
    for plan in plans:
        value = params.get(plan.name)
        if isinstance(value, Tensor) and value.numel():
            requirement = _describe(plan.constraint)
            message = f"{owner}: parameter {plan.name!r} must {requirement}"
            torch._assert_async(_traced_ok(value, plan), message)


_PLANS: dict[int, tuple[Mapping, tuple[_Plan, ...]]] = {}
_MAX_PLANS = 256


def check_params(owner: str, params: Mapping[str, Tensor], arg_constraints: Mapping) -> None:
    """Raise ValueError if a parameter is non-finite or violates its constraint.

    Args:
        owner: the distribution's name for the message.
        params: name → tensor for the parameters to check; names that are missing or
            not tensors are skipped (so an instance's ``__dict__`` can be passed as is).
        arg_constraints: name → constraint (``Distribution.arg_constraints``).
    """
    cached = _PLANS.get(id(arg_constraints))
    if cached is None or cached[0] is not arg_constraints:
        if len(_PLANS) >= _MAX_PLANS:  # arg_constraints built per instance: don't grow
            _PLANS.clear()
        cached = (arg_constraints, _plan(arg_constraints))
        _PLANS[id(arg_constraints)] = cached
    get = params.get
    if _is_compiling():
        _assert_traced(owner, cached[1], params)
        return
    for plan in cached[1]:
        value = get(plan.name)
        if isinstance(value, Tensor) and not (
            _quick_ok(value, plan) or _exact_ok(value, plan.constraint)
        ):
            raise param_error(owner, plan.name, value, _describe(plan.constraint))


def _is_compiling() -> bool:
    """torch.compiler.is_compiling() where torch has it (2.3 on), else False."""
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    return bool(is_compiling()) if is_compiling is not None else False
