r"""log(eˣ E₁(x)) for x ≥ 0, differentiable, accurate to ~1e-15 over 0 … 1e308.

E₁(x) = ∫₁^∞ e^{−xt}/t dt is the exponential integral (the Horseshoe density is
∝ eˣ E₁(x) at x = z²/(2 scale²)); torch has none. Two evaluations, in float64:

- x ≤ 2: the power series E₁(x) = −γ − log x − Σ_{k≥1} (−x)^k/(k·k!) (26 terms reach
  1e-19 at x = 2, where the series loses at most a factor 30 to cancellation);
- x > 2: the continued fraction eˣ E₁(x) = 1/(x + 1 − 1²/(x + 3 − 2²/(x + 5 − …))),
  evaluated bottom-up from 60 levels (below 1e-16 relative at x = 2, and at every larger
  x, since it converges faster there; no overflow up to the float64 maximum).

The derivative is d/dx log(eˣ E₁(x)) = 1 − 1/(x eˣ E₁(x)) (as E₁' = −e^{−x}/x). For x > 2
it is written (t₁ − 1)/x with t₁ the continued fraction's tail (eˣE₁ = 1/(x + 1 − t₁)), so
it keeps its digits where it tends to −1/x (the direct form cancels there). At x = 0 the
value is +inf and the derivative is taken as 0.

References:
    Abramowitz & Stegun, Handbook of Mathematical Functions, 5.1.11 (series) and 5.1.22
    (continued fraction); Press et al., Numerical Recipes, 3rd ed., §6.3.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["log_scaled_exp1"]

_F64 = torch.float64
_EULER_GAMMA = 0.57721566490153286061
_SERIES_MAX = 2.0
_SERIES_TERMS = 26
_CF_LEVELS = 60


def _series_e1(x: Tensor) -> Tensor:
    """E₁(x) for 0 < x ≤ 2 by the power series (Horner in x)."""
    # Σ_{k≥1} (−1)^{k+1} x^k/(k·k!) = x (c₁ + x (c₂ + …)), c_k = (−1)^{k+1}/(k·k!)
    acc = torch.zeros_like(x)
    for k in range(_SERIES_TERMS, 0, -1):
        acc = acc * x + (-1.0) ** (k + 1) / (k * math.factorial(k))
    return -_EULER_GAMMA - torch.log(x) + x * acc


def _continued_fraction_tail(x: Tensor) -> Tensor:
    """t₁ of eˣ E₁(x) = 1/(x + 1 − t₁), t_k = k²/(x + 2k + 1 − t_{k+1}), for x > 2."""
    t = torch.zeros_like(x)
    for k in range(_CF_LEVELS, 0, -1):
        t = (k * k) / (x + (2 * k + 1) - t)
    return t


def _value_and_derivative(x: Tensor) -> tuple[Tensor, Tensor]:
    """(log(eˣ E₁(x)), its derivative) in float64, no graph."""
    small = x <= _SERIES_MAX
    xs = torch.where(small, x, 1.0).clamp(min=torch.finfo(_F64).tiny)
    e1 = _series_e1(xs)
    value_small = xs + torch.log(e1)
    deriv_small = 1 - torch.exp(-xs) / (xs * e1)
    xl = torch.where(small, 3.0, x)
    t1 = _continued_fraction_tail(xl)
    value_large = -torch.log(xl + 1 - t1)
    deriv_large = (t1 - 1) / xl
    value = torch.where(small, value_small, value_large)
    deriv = torch.where(small, deriv_small, deriv_large)
    zero = x == 0
    value = torch.where(zero, math.inf, value)
    deriv = torch.where(zero, 0.0, deriv)
    return value, deriv


class _LogScaledExp1(torch.autograd.Function):
    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> Tensor:
        value, deriv = _value_and_derivative(x.detach().to(_F64))
        ctx.save_for_backward(deriv.to(x.dtype))
        return value.to(x.dtype)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: Tensor) -> Tensor:
        (deriv,) = ctx.saved_tensors  # type: ignore[attr-defined]
        return grad * deriv


def log_scaled_exp1(x: Tensor) -> Tensor:
    """log(eˣ E₁(x)) elementwise for x ≥ 0 (+inf at 0), differentiable in x.

    Computed in float64 and returned in x's dtype; see the module docstring.

    Example:
        >>> x = torch.tensor([1e-300, 1.0, 1e300], dtype=torch.float64)
        >>> [round(v, 4) for v in log_scaled_exp1(x).tolist()]
        [6.537, -0.5169, -690.7755]
    """
    return _LogScaledExp1.apply(x)
