"""Hyperbolic functions without overflow, shared by the sinh/asinh families."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["log_cosh", "log_sinh", "log_two_cosh", "sinh_ratio"]

_LOG_2 = math.log(2.0)
# Above this argument sinh and cosh are computed from one exponential: e^{−2x} < 1e-17.
_BIG = 20.0


def log_two_cosh(x: Tensor) -> Tensor:
    """log(2 cosh x) = logaddexp(x, −x) = |x| + log1p(e^{−2|x|}), finite for every finite x."""
    ax = x.abs()
    return ax + torch.log1p(torch.exp(-2 * ax))


def log_cosh(x: Tensor) -> Tensor:
    """log cosh x, finite for every finite x."""
    return log_two_cosh(x) - _LOG_2


def log_sinh(x: Tensor) -> Tensor:
    """log sinh x for x > 0: x − log 2 + log(1 − e^{−2x}), accurate at both ends."""
    return x - _LOG_2 + torch.log(-torch.expm1(-2 * x))


def sinh_ratio(a: Tensor, b: Tensor) -> Tensor:
    """sinh(a)/sinh(b) for b > 0, finite wherever the ratio is (both may overflow).

    Where |a| and b are below 20 the two sinh are divided as they are; otherwise the
    ratio is e^{|a| − b} sgn(a) (1 − e^{−2|a|})/(1 − e^{−2b}), or, for |a| < 20 ≤ b,
    2 sinh(a) e^{−b}/(1 − e^{−2b}). Every branch is evaluated at safe arguments so that
    no gradient is NaN.
    """
    big_a = a.abs() >= _BIG
    big_b = b >= _BIG
    one = torch.ones_like(b)
    small_a = torch.where(big_a, torch.zeros_like(a), a)
    small_b = torch.where(big_b, one, b)
    direct = torch.sinh(small_a) / torch.sinh(small_b)
    denominator = -torch.expm1(-2 * b)
    near = 2 * torch.sinh(small_a) * torch.exp(-b) / denominator
    abs_a = torch.where(big_a, a.abs(), torch.full_like(a, _BIG))
    far = torch.sign(a) * torch.exp(abs_a - b) * -torch.expm1(-2 * abs_a) / denominator
    return torch.where(big_a, far, torch.where(big_b, near, direct))
