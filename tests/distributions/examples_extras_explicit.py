"""Registry entries for the explicit univariate families of Pyro and TFP added for issue 15
(see registry.py for the fields)."""

import numpy as np
import scipy.stats as st

import reparam

from .examples_univariate import INF, NAN, _positive


def _quiet(gen, **kwargs):
    """scipy's ``gen`` without its RuntimeWarning when an exp or cosh overflows to inf far
    in a tail (the density there is exactly 0, which is what it returns)."""

    class Quiet(type(gen)):
        def _pdf(self, x, *args):
            with np.errstate(over="ignore"):
                return super()._pdf(x, *args)

        def _logpdf(self, x, *args):
            with np.errstate(over="ignore"):
                return super()._logpdf(x, *args)

    return Quiet(name=gen.name, **kwargs)


_hypsecant = _quiet(st.hypsecant)
_moyal = _quiet(st.moyal)
_quiet_genextreme = _quiet(st.genextreme)


class _GenextremeGen(type(_quiet_genextreme)):
    """genextreme whose ``expect`` integrates over [ppf(1e-15), ppf(1 − 1e-15)]: for tiny
    c < 0 scipy's default bounds (the support, [−1/|c|, ∞)) make quad miss the mass."""

    def expect(
        self, func=None, args=(), loc=0, scale=1, lb=None, ub=None, conditional=False, **kw
    ):
        if lb is None and ub is None and not conditional:
            lb = self.ppf(1e-15, *args, loc=loc, scale=scale)
            ub = self.ppf(1 - 1e-15, *args, loc=loc, scale=scale)
        return super().expect(func, args, loc, scale, lb, ub, conditional, **kw)


_genextreme = _GenextremeGen(name="genextreme")


class _SinhArcsinhGen(st.rv_continuous):
    """TFP's SinhArcsinh of a standard normal for scipy, which has none (shapes ``skew`` =
    s, ``tail`` = τ; scipy's loc/scale are μ and σ): X = c sinh((arsinh N + s) τ) with
    c = 2/sinh(arsinh(2) τ), so N = sinh(arsinh(X/c)/τ − s), by the change of variables."""

    def _argcheck(self, skew, tail):
        return np.isfinite(skew) & (tail > 0)

    def _score(self, x, skew, tail):
        c = 2 / np.sinh(np.arcsinh(2.0) * tail)
        w = np.arcsinh(x / c) / tail - skew
        return np.sinh(w), w, x / c, c

    def _logpdf(self, x, skew, tail):
        n, w, y, c = self._score(x, skew, tail)
        log_jac = np.log(np.cosh(w)) - 0.5 * np.log1p(y * y) - np.log(tail) - np.log(c)
        return st.norm.logpdf(n) + log_jac

    def _pdf(self, x, skew, tail):
        return np.exp(self._logpdf(x, skew, tail))

    def _cdf(self, x, skew, tail):
        return st.norm.cdf(self._score(x, skew, tail)[0])

    def _ppf(self, q, skew, tail):
        c = 2 / np.sinh(np.arcsinh(2.0) * tail)
        return c * np.sinh((np.arcsinh(st.norm.ppf(q)) + skew) * tail)


_sinh_arcsinh = _SinhArcsinhGen(name="sinh_arcsinh")


class _TwoPieceNormalGen(st.rv_continuous):
    """The Fernández–Steel two-piece normal for scipy, which has none (shape ``g`` = γ):
    pdf 2γ/(1 + γ²) · φ(xγ) for x < 0 and φ(x/γ) for x ≥ 0."""

    def _argcheck(self, g):
        return g > 0

    def _logpdf(self, x, g):
        w = np.where(x < 0, x * g, x / g)
        return np.log(2 * g / (1 + g * g)) + st.norm.logpdf(w)

    def _pdf(self, x, g):
        return np.exp(self._logpdf(x, g))

    def _cdf(self, x, g):
        p = 1 / (1 + g * g)
        return np.where(x < 0, 2 * p * st.norm.cdf(x * g), 1 - 2 * (1 - p) * st.norm.sf(x / g))

    def _ppf(self, q, g):
        p = 1 / (1 + g * g)
        left = st.norm.ppf(np.minimum(q / (2 * p), 0.5)) / g
        right = -g * st.norm.ppf(np.minimum((1 - q) / (2 * (1 - p)), 0.5))
        return np.where(q < p, left, right)


_two_piece_normal = _TwoPieceNormalGen(name="two_piece_normal")


class _LogitNormalGen(st.rv_continuous):
    """The logit-normal on (0, 1) for scipy, which has none (shapes ``m`` = μ, ``s`` = σ):
    logit z ~ N(m, s²)."""

    def _argcheck(self, m, s):
        return np.isfinite(m) & (s > 0)

    def _logpdf(self, x, m, s):
        log_x, log_1mx = np.log(x), np.log1p(-x)
        return st.norm.logpdf((log_x - log_1mx - m) / s) - np.log(s) - log_x - log_1mx

    def _pdf(self, x, m, s):
        return np.exp(self._logpdf(x, m, s))

    def _cdf(self, x, m, s):
        return st.norm.cdf((np.log(x) - np.log1p(-x) - m) / s)

    def _ppf(self, q, m, s):
        return 1 / (1 + np.exp(-(m + s * st.norm.ppf(q))))


_logit_normal = _LogitNormalGen(a=0.0, b=1.0, name="logit_normal")

EXAMPLES = [
    # κ < 1 puts more mass left of μ, κ > 1 right; scipy's kappa is κ (left scale σκ).
    dict(
        name="AsymmetricLaplace",
        make=lambda loc, scale, asymmetry, **kw: reparam.AsymmetricLaplace(
            loc, scale, asymmetry, **kw
        ),
        params={"loc": [0.3, -1.0, 2.0], "scale": [0.5, 1.0, 2.0], "asymmetry": [0.4, 1.0, 2.5]},
        scipy=lambda loc, scale, asymmetry: st.laplace_asymmetric(asymmetry, loc, scale),
        bad=(
            *_positive("scale"),
            *_positive("asymmetry", shape_error="loc"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
        ),
    ),
    # scipy's hypsecant is exactly Pyro's SoftLaplace: pdf sech(x)/π.
    dict(
        name="SoftLaplace",
        make=lambda loc, scale, **kw: reparam.SoftLaplace(loc, scale, **kw),
        params={"loc": [0.3, -1.2, 2.0], "scale": [0.5, 1.0, 2.5]},
        scipy=lambda loc, scale: _hypsecant(loc, scale),
        bad=(*_positive("scale", shape_error="loc"), ({"loc": [NAN, 0.0, 0.0]}, r"'loc'")),
    ),
    # The folded normal; scipy's foldnorm has c = |μ|/σ. Parameters are the base's.
    dict(
        name="FoldedDistribution",
        make=lambda loc, scale, **kw: reparam.FoldedDistribution(
            reparam.Normal(loc, scale, **kw), **kw
        ),
        params={"loc": [0.3, -1.5, 2.0], "scale": [0.5, 1.0, 2.5]},
        scipy=lambda loc, scale: st.foldnorm(np.abs(loc) / scale, scale=scale),
        bad=(*_positive("scale", shape_error="loc"), ({"loc": [NAN, 0.0, 0.0]}, r"'loc'")),
    ),
    # scipy's johnsonsu(a, b) is TFP's (skewness, tailweight): n = a + b arsinh(y).
    dict(
        name="JohnsonSU",
        make=lambda skewness, tailweight, loc, scale, **kw: reparam.JohnsonSU(
            skewness, tailweight, loc, scale, **kw
        ),
        params={
            "skewness": [-1.0, 0.0, 2.0],
            "tailweight": [1.5, 3.0, 4.0],
            "loc": [0.3, -1.0, 2.0],
            "scale": [0.5, 1.0, 2.0],
        },
        scipy=lambda skewness, tailweight, loc, scale: st.johnsonsu(
            skewness, tailweight, loc, scale
        ),
        bad=(
            *_positive("tailweight"),
            *_positive("scale", shape_error="loc"),
            ({"skewness": [0.0, NAN, 0.0]}, r"'skewness'.*finite"),
        ),
    ),
    # No closed-form moments (as TFP); τ ≤ 1.3 keeps E[sin z]'s gradient of finite variance.
    dict(
        name="SinhArcsinh",
        make=lambda loc, scale, skewness, tailweight, **kw: reparam.SinhArcsinh(
            loc, scale, skewness, tailweight, **kw
        ),
        params={
            "loc": [0.3, -1.0, 2.0],
            "scale": [0.5, 1.0, 2.0],
            "skewness": [-0.5, 0.0, 1.0],
            "tailweight": [0.6, 1.0, 1.3],
        },
        scipy=lambda loc, scale, skewness, tailweight: _sinh_arcsinh(
            skewness, tailweight, loc, scale
        ),
        moments=False,
        bad=(
            *_positive("tailweight"),
            *_positive("scale", shape_error="loc"),
            ({"skewness": [0.0, NAN, 0.0]}, r"'skewness'.*finite"),
        ),
    ),
    dict(
        name="TwoPieceNormal",
        make=lambda loc, scale, skewness, **kw: reparam.TwoPieceNormal(loc, scale, skewness, **kw),
        params={"loc": [0.3, -1.0, 2.0], "scale": [0.5, 1.0, 2.0], "skewness": [0.5, 1.0, 3.0]},
        scipy=lambda loc, scale, skewness: _two_piece_normal(skewness, loc, scale),
        bad=(
            *_positive("scale"),
            *_positive("skewness", shape_error="loc"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
        ),
    ),
    # scipy's triang has c = (peak − low)/(high − low); interior peaks, since the central
    # difference of the quadrature steps across c = 0 and c = 1 (the test file has them).
    dict(
        name="Triangular",
        make=lambda low, high, peak, **kw: reparam.Triangular(low, high, peak, **kw),
        params={"low": [0.3, -1.0, -2.0], "high": [1.0, 2.0, 0.5], "peak": [0.5, 0.0, -1.0]},
        scipy=lambda low, high, peak: st.triang((peak - low) / (high - low), low, high - low),
        bad=(
            ({"high": [1.0, -1.0, 0.5]}, r"'high'.*> low"),
            ({"high": [0.2, 2.0, 0.5]}, r"'high'.*> low"),
            ({"peak": [0.3, 2.5, 0.5]}, r"'peak'.*\[low, high\]"),
            ({"peak": [0.2, 0.0, 0.5]}, r"'peak'"),
            ({"low": [NAN, -1.0, -2.0]}, r"'low'.*finite"),
            ({"peak": [0.5, INF, -1.0]}, r"'peak'.*finite"),
            ({"low": [0.3, -1.0]}, r"broadcast"),
        ),
    ),
    dict(
        name="Moyal",
        make=lambda loc, scale, **kw: reparam.Moyal(loc, scale, **kw),
        params={"loc": [0.3, -1.2, 2.0], "scale": [0.5, 1.0, 2.5]},
        scipy=lambda loc, scale: _moyal(loc, scale),
        bad=(*_positive("scale", shape_error="loc"), ({"loc": [NAN, 0.0, 0.0]}, r"'loc'")),
    ),
    # ξ < 0 (bounded above), the Gumbel limit ξ = 0, ξ > 0; ξ < ¼ keeps the gradients of
    # E[z²] of finite variance. scipy's genextreme has c = −ξ.
    dict(
        name="GeneralizedExtremeValue",
        make=lambda loc, scale, concentration, **kw: reparam.GeneralizedExtremeValue(
            loc, scale, concentration, **kw
        ),
        params={
            "loc": [0.3, -1.0, 2.0],
            "scale": [0.5, 1.0, 2.0],
            "concentration": [-0.3, 0.0, 0.1],
        },
        scipy=lambda loc, scale, concentration: _genextreme(-concentration, loc, scale),
        bad=(
            *_positive("scale"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
            ({"concentration": [0.0, INF, 0.0]}, r"'concentration'.*finite"),
            ({"concentration": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
    # No closed-form moments (TFP has only approximations).
    dict(
        name="LogitNormal",
        make=lambda loc, scale, **kw: reparam.LogitNormal(loc, scale, **kw),
        params={"loc": [0.3, -1.2, 2.0], "scale": [0.5, 1.0, 2.5]},
        scipy=lambda loc, scale: _logit_normal(loc, scale),
        moments=False,
        bad=(*_positive("scale", shape_error="loc"), ({"loc": [NAN, 0.0, 0.0]}, r"'loc'")),
    ),
]
