"""Registry entries for VonMises and TruncatedNormal (see registry.py for the fields).

VonMises: scipy's ``vonmises`` is a circular distribution with a real-line CDF
(cdf(x + 2π) = cdf(x) + 1, values outside [0, 1]) and support centred on ``loc``, while
reparam's samples lie in [−π, π) whatever μ; ``_VonMisesCircle`` below is the law of
those samples, built on scipy's von Mises CDF and density: P(z ≤ x) = V(x − μ) −
V(−π − μ) with V scipy's CDF at μ = 0. Its mean and variance are the *circular* ones
(mean direction atan2(E sin z, E cos z) and circular variance 1 − |E e^{iz}|, by
quadrature), which is what VonMises.mean/variance are, as in torch. The generic E[z] and
E[z²] gradient tests do not apply (``moments=False``): z ↦ z is not continuous on the
circle, so the pathwise derivative of the wrapped sample (∂z/∂μ = 1) misses the jump
at ±π; the E[sin z] test (a function on the circle) does apply. scipy's CDF switches to
a normal approximation for κ ≥ 50, so κ stays below that here; larger κ (to 1e3 and
beyond) are tested against quadrature in test_von_mises_truncated_normal.py.

TruncatedNormal: ``scipy.stats.truncnorm(α, β, loc, scale)`` (its entropy mended for an
infinite bound, where scipy forms −inf·0). scipy's entropy is NaN and
its variance loses digits once Φ(α) rounds to 1 (α ≳ 8), so the far tails (α = 10, 30,
50, …) are tested in test_von_mises_truncated_normal.py against quadrature; here α ≤ 5.
The one-sided entry has infinite bounds, which cannot be perturbed by finite
differences, so only μ and σ are differentiated there.
"""

import numpy as np
import scipy.stats as st
from scipy import integrate, special

import reparam

NAN, INF = float("nan"), float("inf")
PI = np.pi


class _VonMisesCircleGen(st.rv_continuous):
    """The von Mises law of a sample wrapped into [−π, π], shapes ``mu`` and ``kappa``."""

    def _argcheck(self, mu, kappa):
        return np.isfinite(mu) & (kappa > 0)

    def _logpdf(self, x, mu, kappa):
        return -2 * kappa * np.sin(0.5 * (x - mu)) ** 2 - np.log(2 * PI * special.i0e(kappa))

    def _pdf(self, x, mu, kappa):
        return np.exp(self._logpdf(x, mu, kappa))

    def _cdf(self, x, mu, kappa):
        centred = st.vonmises(kappa)
        return centred.cdf(x - mu) - centred.cdf(-PI - mu)

    @staticmethod
    def _circular_moment(mu, kappa):
        """E[e^{iz}] by quadrature of the density over [−π, π]."""

        def expect(f):
            def integrand(x):
                return f(x) * np.exp(-2 * kappa * np.sin(0.5 * (x - mu)) ** 2)

            points = [float(np.clip(mu, -PI, PI))]
            value = integrate.quad(integrand, -PI, PI, points=points, epsabs=0, epsrel=1e-13)
            return value[0] / (2 * PI * special.i0e(kappa))

        return expect(np.cos), expect(np.sin)

    def _per_element(self, fn, mu, kappa):
        mu, kappa = np.broadcast_arrays(mu, kappa)
        pairs = zip(mu.ravel(), kappa.ravel(), strict=True)
        out = [fn(*self._circular_moment(m, k)) for m, k in pairs]
        return np.reshape(out, mu.shape)[()]

    def mean(self, mu, kappa):
        """The mean direction atan2(E sin z, E cos z)."""
        return self._per_element(lambda c, s: np.arctan2(s, c), mu, kappa)

    def var(self, mu, kappa):
        """The circular variance 1 − |E e^{iz}|."""
        return self._per_element(lambda c, s: 1 - np.hypot(c, s), mu, kappa)


_vonmises_circle = _VonMisesCircleGen(a=-PI, b=PI, name="vonmises_circle")


def vonmises_circle(loc, concentration):
    """The frozen reference for ``VonMises(loc, concentration)``."""
    return _vonmises_circle(np.asarray(loc, dtype=float), np.asarray(concentration, dtype=float))


class _TruncnormGen(type(st.truncnorm)):
    """scipy's truncnorm, with an entropy that takes an infinite bound (scipy forms
    a·φ(a) = −inf·0 there: a RuntimeWarning and NaN). Same formula otherwise."""

    def _entropy(self, a, b):
        def x_pdf(x):
            return np.where(np.isfinite(x), x * st.norm.pdf(np.where(np.isfinite(x), x, 0)), 0)

        mass = st.norm.cdf(b) - st.norm.cdf(a)
        return np.log(np.sqrt(2 * PI * np.e) * mass) + (x_pdf(a) - x_pdf(b)) / (2 * mass)


_truncnorm = _TruncnormGen(name="truncnorm", momtype=1)


def truncnorm(loc, scale, low, high):
    """The frozen scipy reference for ``TruncatedNormal(loc, scale, low, high)``."""
    return _truncnorm((low - loc) / scale, (high - loc) / scale, loc=loc, scale=scale)


def _truncated_normal_bad() -> tuple:
    return (
        ({"scale": [1.0, -1.0, 1.0]}, r"'scale'.*> 0"),
        ({"scale": [1.0, 0.0, 1.0]}, r"'scale'.*> 0"),
        ({"scale": [INF, 1.0, 1.0]}, r"'scale'.*finite"),
        ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
        ({"loc": [INF, 0.0, 0.0]}, r"'loc'.*finite"),
        ({"low": [NAN, 0.0, 0.0]}, r"'low'.*NaN"),
        ({"high": [3.0, NAN, 3.0]}, r"'high'.*NaN"),
        ({"low": [5.0, 0.0, 0.0], "high": [5.0, 3.0, 3.0]}, r"'low' and 'high'.*low < high"),
        ({"low": [0.0, 4.0, 0.0], "high": [1.0, 3.0, 3.0]}, r"'low' and 'high'"),
        ({"loc": [0.0, 1.0]}, r"broadcast"),
    )


EXAMPLES = [
    dict(
        name="VonMises",
        make=lambda loc, concentration, **kw: reparam.VonMises(loc, concentration, **kw),
        params={"loc": [0.3, -2.5, 3.0], "concentration": [0.5, 2.0, 30.0]},
        scipy=vonmises_circle,
        moments=False,
        # torch's log I0, I1 are Abramowitz & Stegun's polynomial fits (relative error
        # ~1e-7, and 1e-6 in its variance 1 − I1/I0 at κ = 30); reparam's agree with
        # scipy.special.ive to 1e-15
        extra={"reference_rtol": 1e-5},
        bad=(
            ({"concentration": [1.0, -1.0, 1.0]}, r"'concentration'.*> 0"),
            ({"concentration": [1.0, 0.0, 1.0]}, r"'concentration'.*> 0"),
            ({"concentration": [NAN, 1.0, 1.0]}, r"'concentration'.*finite"),
            ({"concentration": [INF, 1.0, 1.0]}, r"'concentration'.*finite"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
            ({"loc": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
    dict(
        name="TruncatedNormal",
        make=lambda loc, scale, low, high, **kw: reparam.TruncatedNormal(
            loc, scale, low, high, **kw
        ),
        # α = (low − μ)/σ = [−2.6, 0.5, 5], β = [1.4, 4, 6]: around 0, above it, in a tail.
        params={
            "loc": [0.3, -1.0, 2.0],
            "scale": [0.5, 1.0, 2.0],
            "low": [-1.0, -0.5, 12.0],
            "high": [1.0, 3.0, 14.0],
        },
        scipy=truncnorm,
        bad=_truncated_normal_bad(),
    ),
    dict(
        name="TruncatedNormal-one-sided",
        make=lambda loc, scale, low, high, **kw: reparam.TruncatedNormal(
            loc, scale, low, high, **kw
        ),
        # (−∞, 0.5], [α = 5, ∞) and [α = 0.5, ∞).
        params={
            "loc": [0.0, 1.0, -2.0],
            "scale": [1.0, 0.5, 2.0],
            "low": [-INF, 3.5, -1.0],
            "high": [0.5, INF, INF],
        },
        scipy=truncnorm,
        grad_params=("loc", "scale"),
        bad=_truncated_normal_bad()[:5],
    ),
]
