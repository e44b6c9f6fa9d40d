"""Registry entries for the univariate explicit families (see registry.py for the fields)."""

import numpy as np
import scipy.stats as st
from scipy.integrate import quad

import reparam

NAN, INF = float("nan"), float("inf")


class _KumaraswamyGen(st.rv_continuous):
    """Kumaraswamy(a, b) on (0, 1) for scipy, which has none: pdf a b zᵃ⁻¹ (1 − zᵃ)ᵇ⁻¹.

    The shapes are named c1 = a, c0 = b, since ``a`` and ``b`` are scipy's support bounds.
    """

    def _logpdf(self, x, c1, c0):
        return np.log(c1) + np.log(c0) + (c1 - 1) * np.log(x) + (c0 - 1) * np.log1p(-(x**c1))

    def _pdf(self, x, c1, c0):
        return np.exp(self._logpdf(x, c1, c0))

    def _cdf(self, x, c1, c0):
        return -np.expm1(c0 * np.log1p(-(x**c1)))

    def _ppf(self, q, c1, c0):
        return (-np.expm1(np.log1p(-q) / c0)) ** (1 / c1)


_kumaraswamy = _KumaraswamyGen(a=0.0, b=1.0, name="kumaraswamy")


class _GumbelGen(type(st.gumbel_r)):
    """scipy's gumbel_r, without its RuntimeWarning when exp(−x) overflows to inf far
    in the left tail (the density there is exactly 0, which is what it returns)."""

    def _logpdf(self, x):
        with np.errstate(over="ignore"):
            return super()._logpdf(x)


_gumbel_r = _GumbelGen(name="gumbel_r")


def expect_sin_cos(pdf, func, lo: float, hi: float, kwds: dict, limit: int, left: bool):
    """E[func(z)] for func = sin or cos, z of density ``pdf``: the body [lo, hi] by ``quad``,
    the right tail [hi, ∞) — and the left one (−∞, lo] where ``left`` — by QUADPACK's
    Fourier-integral rule (QAWF, ``weight="sin"/"cos"``). Plain ``quad`` over an infinite
    oscillating tail that decays like 1/x² hits its subdivision limit."""
    weight, parity = ("sin", -1.0) if func is np.sin else ("cos", 1.0)  # f(−y) = parity·f(y)
    epsabs = kwds.get("epsabs", 1.49e-8)
    epsrel = kwds.get("epsrel", 1.49e-8)
    body = quad(lambda x: func(x) * pdf(x), lo, hi, epsabs=epsabs, epsrel=epsrel, limit=limit)
    total = body[0] + quad(pdf, hi, np.inf, weight=weight, wvar=1.0, epsabs=epsabs)[0]
    if left:
        tail = quad(lambda y: pdf(-y), -lo, np.inf, weight=weight, wvar=1.0, epsabs=epsabs)
        total = total + parity * tail[0]
    return np.array(total)[()]


class _CauchyGen(type(st.cauchy)):
    """scipy's cauchy, with an ``expect`` of sin/cos that converges.

    E[sin z] = ∫ sin(x) q(x) dx decays like 1/x² while oscillating: the body
    [μ − 50γ, μ + 50γ] is integrated as usual and both tails by :func:`expect_sin_cos`,
    which matches the closed form sin(μ) e^{−γ} to ~1e-14.
    """

    def expect(
        self, func=None, args=(), loc=0, scale=1, lb=None, ub=None, conditional=False, **kwds
    ):
        if func not in (np.sin, np.cos) or lb is not None or ub is not None or conditional:
            return super().expect(func, args, loc, scale, lb, ub, conditional, **kwds)

        def pdf(x):
            return self.pdf(x, loc=loc, scale=scale)

        half = 50.0 * scale
        limit = kwds.get("limit", 50)
        return expect_sin_cos(pdf, func, loc - half, loc + half, kwds, limit, left=True)


_cauchy = _CauchyGen(name="cauchy")


def _positive(name: str, shape_error: str | None = None) -> tuple:
    """Bad cases for a positive parameter ``name`` of a 3-element batch."""
    cases = [
        ({name: [1.0, -1.0, 1.0]}, rf"'{name}'.*> 0"),
        ({name: [1.0, 0.0, 1.0]}, rf"'{name}'"),
        ({name: [NAN, 1.0, 1.0]}, rf"'{name}'.*finite"),
        ({name: [INF, 1.0, 1.0]}, rf"'{name}'.*finite"),
    ]
    if shape_error is not None:
        cases.append(({shape_error: [0.5, 1.0]}, r"broadcast"))
    return tuple(cases)


def _loc_scale(name: str, dist, scipy, **extra) -> dict:
    """A location-scale family with the same parameters as the Normal example."""
    return dict(
        name=name,
        make=lambda loc, scale, **kw: dist(loc, scale, **kw),
        params={"loc": [0.3, -1.2, 2.0], "scale": [0.5, 1.0, 2.5]},
        scipy=lambda loc, scale: scipy(loc, scale),
        bad=(
            *_positive("scale"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
            ({"loc": [0.0, 1.0]}, r"broadcast"),
        ),
        **extra,
    )


EXAMPLES = [
    dict(
        name="Normal",
        make=lambda loc, scale, **kw: reparam.Normal(loc, scale, **kw),
        params={"loc": [0.3, -1.2, 2.0], "scale": [0.5, 1.0, 2.5]},
        scipy=lambda loc, scale: st.norm(loc, scale),
        bad=(
            ({"scale": [1.0, -1.0, 1.0]}, r"'scale'.*> 0"),
            ({"scale": [1.0, 0.0, 1.0]}, r"'scale'"),
            ({"loc": [float("nan"), 0.0, 0.0]}, r"'loc'.*finite"),
            ({"scale": [float("inf"), 1.0, 1.0]}, r"'scale'.*finite"),
            ({"loc": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
    # σ ≤ 0.5 keeps the E[z²] pathwise estimates light-tailed enough for a 5-SE test.
    dict(
        name="LogNormal",
        make=lambda loc, scale, **kw: reparam.LogNormal(loc, scale, **kw),
        params={"loc": [0.3, -1.2, 1.0], "scale": [0.2, 0.5, 0.35]},
        scipy=lambda loc, scale: st.lognorm(s=scale, scale=np.exp(loc)),
        bad=(
            *_positive("scale"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
            ({"loc": [INF, 0.0, 0.0]}, r"'loc'.*finite"),
            ({"loc": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
    _loc_scale("Laplace", reparam.Laplace, st.laplace),
    _loc_scale("Logistic", reparam.Logistic, st.logistic),
    _loc_scale("Gumbel", reparam.Gumbel, _gumbel_r),
    # No mean or variance. The pathwise gradient of E[sin z] in γ is ε·cos z with ε
    # Cauchy: not even absolutely integrable, so a mean-of-estimates test is meaningless
    # for γ; only μ is tested statistically (γ's gradient: test_univariate_stability.py).
    _loc_scale("Cauchy", reparam.Cauchy, _cauchy, moments=False, grad_params=("loc",)),
    dict(
        name="Exponential",
        make=lambda rate, **kw: reparam.Exponential(rate, **kw),
        params={"rate": [0.5, 1.0, 3.0]},
        scipy=lambda rate: st.expon(scale=1 / rate),
        bad=_positive("rate"),
    ),
    dict(
        name="Uniform",
        make=lambda low, high, **kw: reparam.Uniform(low, high, **kw),
        params={"low": [-1.0, 0.0, 2.0], "high": [0.5, 3.0, 2.5]},
        scipy=lambda low, high: st.uniform(loc=low, scale=high - low),
        bad=(
            ({"high": [0.5, 0.0, 2.5]}, r"'low'.*'high'.*low < high"),
            ({"low": [1.0, 0.0, 2.0]}, r"'low'.*'high'.*low < high"),
            ({"low": [NAN, 0.0, 2.0]}, r"'low'.*finite"),
            ({"high": [0.5, INF, 2.5]}, r"'high'.*finite"),
            ({"low": [-1.0, 0.0]}, r"broadcast"),
        ),
    ),
    # k ≥ 1 keeps the gradients in k of E[z²] and E[sin z] of finite variance.
    dict(
        name="Weibull",
        make=lambda scale, concentration, **kw: reparam.Weibull(scale, concentration, **kw),
        params={"scale": [0.5, 1.0, 2.0], "concentration": [1.0, 1.5, 3.0]},
        scipy=lambda scale, concentration: st.weibull_min(concentration, scale=scale),
        param_sets=(("mode-at-0", {"concentration": [0.5, 1.0, 0.9]}),),
        bad=(*_positive("scale"), *_positive("concentration", shape_error="scale")),
        extra={
            "reference_deviations": {
                "support": "[0, inf) where torch has (0, inf): a draw λ(−log u)^{1/k} "
                "underflows to 0 for large k, and log_prob of a draw must not raise",
                "mode-at-0:mode": "0 for k ≤ 1 (the density's supremum); torch's "
                "λ((k − 1)/k)^{1/k} is NaN or, for k = ½, λ",
            }
        },
    ),
    dict(
        name="Kumaraswamy",
        make=lambda concentration1, concentration0, **kw: reparam.Kumaraswamy(
            concentration1, concentration0, **kw
        ),
        params={"concentration1": [1.5, 2.5, 1.0], "concentration0": [2.0, 1.0, 3.0]},
        param_sets=(
            ("below-one", {"concentration1": [0.5, 0.8, 1.0], "concentration0": [0.5, 1.0, 1.0]}),
        ),
        scipy=lambda concentration1, concentration0: _kumaraswamy(concentration1, concentration0),
        extra={
            "reference_deviations": {
                "default:mode": "((a − 1)/(ab − 1))^{1/a}; torch's mode takes "
                "log1p(−concentration0) and is NaN wherever concentration0 ≥ 1"
            }
        },
        bad=(
            *_positive("concentration1"),
            *_positive("concentration0", shape_error="concentration1"),
        ),
    ),
    dict(
        name="HalfNormal",
        make=lambda scale, **kw: reparam.HalfNormal(scale, **kw),
        params={"scale": [0.5, 1.0, 2.5]},
        scipy=lambda scale: st.halfnorm(scale=scale),
        bad=_positive("scale"),
    ),
]
