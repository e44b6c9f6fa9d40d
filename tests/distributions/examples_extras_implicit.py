"""Registry entries for the univariate families with implicit or composite
reparameterizations of issue 15 (see registry.py for the fields): Chi (√ of implicit χ²
noise), GeneralizedNormal (± scale·G^{1/p}, G implicit Gamma(1/p) noise),
PERT (an affine implicit Beta), Horseshoe (explicit HalfCauchy × Normal scale mixture;
its scipy reference is the rv_continuous _HorseshoeGen), Stable (Chambers–Mallows–Stuck,
S⁰, no log_prob).
"""

import numpy as np
import scipy.special as sp
import scipy.stats as st

import reparam

from .examples_implicit import INF, NAN, _positive

_LOG_NORM = 0.5 * np.log(2 * np.pi**3)
# Gauss–Legendre nodes on [0, 1] split at log-spaced points (the integrand of the cdf
# turns over at u ≈ |z|/scale, which may be tiny)
_EDGES = np.concatenate(([0.0], np.logspace(-12, 0, 13)))
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(48)


def log_scaled_exp1_reference(x):
    """log(eˣE₁(x)) by scipy (x < 700) and the asymptotic series Σ (−1)^k k!/x^k beyond."""
    x = np.asarray(x, dtype=float)
    small = x < 700
    with np.errstate(divide="ignore"):
        direct = np.log(sp.exp1(np.where(small, x, 1.0))) + np.where(small, x, 1.0)
    big = np.where(small, 1e4, x)
    term, series = np.ones_like(big), np.zeros_like(big)
    for k in range(1, 12):  # (−1)^k k!/x^k, error < 1e-20 for x ≥ 700
        term = -term * k / big
        series = series + term
    return np.where(small, direct, -np.log(big) + np.log1p(series))


class _HorseshoeGen(st.rv_continuous):
    """The horseshoe law of scale 1: pdf eˣE₁(x)/√(2π³), x = z²/2; cdf E_λ[Φ(z/λ)] by
    Gauss–Legendre in u (λ = tan(πu/2)); mean 0 and variance NaN, as TFP's."""

    def _logpdf(self, z):
        return log_scaled_exp1_reference(0.5 * z * z) - _LOG_NORM

    def _pdf(self, z):
        return np.exp(self._logpdf(z))

    def _cdf(self, z):
        z = np.asarray(z, dtype=float)
        lo, hi = _EDGES[:-1, None], _EDGES[1:, None]
        u = (0.5 * (hi - lo) * (_NODES + 1) + lo).reshape(-1)
        w = (0.5 * (hi - lo) * _WEIGHTS).reshape(-1)
        lam = np.tan(0.5 * np.pi * u)
        return (w * sp.ndtr(z[..., None] / lam)).sum(-1)

    def _stats(self):
        return 0.0, np.nan, np.nan, np.nan


_horseshoe = _HorseshoeGen(name="horseshoe")

EXAMPLES = [
    dict(
        name="Chi",
        make=lambda df, **kw: reparam.Chi(df, **kw),
        params={"df": [0.7, 3.0, 9.0]},
        scipy=lambda df: st.chi(df),
        bad=_positive("df"),
    ),
    dict(
        name="GeneralizedNormal",
        make=lambda loc, scale, power, **kw: reparam.GeneralizedNormal(loc, scale, power, **kw),
        params={"loc": [0.3, -1.2, 2.0], "scale": [0.5, 1.0, 2.5], "power": [0.8, 2.0, 5.0]},
        scipy=lambda loc, scale, power: st.gennorm(power, loc, scale),
        bad=(
            *_positive("scale", shape_error="loc"),
            *_positive("power"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
        ),
    ),
    dict(
        name="PERT",
        make=lambda low, peak, high, temperature, **kw: reparam.PERT(
            low, peak, high, temperature, **kw
        ),
        params={
            "low": [0.0, -2.0, 1.0],
            "peak": [0.3, 1.0, 7.0],
            "high": [1.0, 3.0, 11.0],
            "temperature": [4.0, 1.5, 10.0],
        },
        scipy=lambda low, peak, high, temperature: st.beta(
            1 + temperature * (peak - low) / (high - low),
            1 + temperature * (high - peak) / (high - low),
            loc=low,
            scale=high - low,
        ),
        bad=(
            *_positive("temperature", shape_error="low"),
            ({"peak": [0.0, 1.0, 7.0]}, r"'peak'.*> low"),
            ({"peak": [0.3, 1.0, 12.0]}, r"'high'.*> peak"),
            ({"low": [NAN, -2.0, 1.0]}, r"'low'.*finite"),
            ({"high": [INF, 3.0, 11.0]}, r"'high'.*finite"),
        ),
    ),
    dict(
        name="Horseshoe",
        make=lambda scale, **kw: reparam.Horseshoe(scale, **kw),
        params={"scale": [0.3, 1.0, 4.0]},
        scipy=lambda scale: _horseshoe(scale=scale),
        moments=False,  # E[z] does not exist, E[z²] = ∞
        # ∂ sin(z)/∂scale = cos(z) z/scale has infinite variance (E[λ²] = ∞); see
        # test_extras_implicit.py for gradients of E[exp(−b z²)]
        extra={"quadrature_grad_params": (), "undefined_variance": np.nan},
        bad=_positive("scale"),
    ),
    # Stable has no log_prob (NotImplementedError, as documented): extra "log_prob" False
    # makes the generic tests that need a density skip (log_prob consistency, the noise
    # shape check of from_noise_and_log_prob) or check the samples only (shapes, float32,
    # expand, gradcheck of from_noise). No scipy= (its KS and quadrature tests need a
    # density or a fast cdf): test_extras_implicit.py tests the law against scipy's
    # levy_stable and closed forms, and the gradients through the characteristic function.
    dict(
        name="Stable",
        make=lambda stability, skew, scale, loc, **kw: reparam.Stable(
            stability, skew, scale, loc, **kw
        ),
        params={
            "stability": [0.5, 1.0, 1.5],
            "skew": [1.0, -0.3, 0.6],
            "scale": [1.0, 0.5, 2.0],
            "loc": [0.0, 1.0, -2.0],
        },
        moments=False,  # E[z²] = ∞ for α < 2; E[z] only for α > 1
        extra={"log_prob": False},
        bad=(
            ({"stability": [0.5, 0.0, 1.5]}, r"'stability'.*> 0"),
            ({"stability": [0.5, -1.0, 1.5]}, r"'stability'"),
            ({"stability": [0.5, 2.5, 1.5]}, r"'stability'.*<= 2"),
            ({"stability": [NAN, 1.0, 1.5]}, r"'stability'.*finite"),
            ({"skew": [1.0, -1.5, 0.6]}, r"'skew'.*>= -1"),
            ({"skew": [1.0, 1.0001, 0.6]}, r"'skew'.*<= 1"),
            *_positive("scale", shape_error="stability"),
            ({"loc": [0.0, INF, -2.0]}, r"'loc'.*finite"),
        ),
    ),
]
