"""Registry entries for the explicit twins of torch families added for issue 15
(see registry.py for the fields)."""

import numpy as np
import scipy.stats as st
from scipy.integrate import quad

import reparam

NAN, INF = float("nan"), float("inf")


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


class _HalfCauchyGen(type(st.halfcauchy)):
    """scipy's halfcauchy, with an ``expect`` of sin/cos that converges: the body
    [0, 50γ] by ``quad`` and the tail by QUADPACK's Fourier-integral rule (QAWF), as
    examples_univariate's Cauchy (plain ``quad`` hits its subdivision limit there)."""

    def expect(
        self, func=None, args=(), loc=0, scale=1, lb=None, ub=None, conditional=False, **kwds
    ):
        if func not in (np.sin, np.cos) or lb is not None or ub is not None or conditional:
            return super().expect(func, args, loc, scale, lb, ub, conditional, **kwds)
        weight = "sin" if func is np.sin else "cos"
        hi = loc + 50.0 * scale
        epsabs = kwds.get("epsabs", 1.49e-8)
        epsrel = kwds.get("epsrel", 1.49e-8)

        def pdf(x):
            return self.pdf(x, loc=loc, scale=scale)

        body = quad(lambda x: func(x) * pdf(x), loc, hi, epsabs=epsabs, epsrel=epsrel, limit=200)
        tail = quad(pdf, hi, np.inf, weight=weight, wvar=1.0, epsabs=epsabs)
        return np.array(body[0] + tail[0])[()]


_halfcauchy = _HalfCauchyGen(a=0.0, name="halfcauchy")


EXAMPLES = [
    # No mean or variance (torch: both +inf).
    dict(
        name="HalfCauchy",
        make=lambda scale, **kw: reparam.HalfCauchy(scale, **kw),
        params={"scale": [0.5, 1.0, 2.5]},
        scipy=lambda scale: _halfcauchy(scale=scale),
        moments=False,
        bad=_positive("scale"),
    ),
    # α > 4 keeps the gradients in α of E[z²] of finite variance.
    dict(
        name="Pareto",
        make=lambda scale, alpha, **kw: reparam.Pareto(scale, alpha, **kw),
        params={"scale": [0.5, 1.0, 2.0], "alpha": [5.0, 6.0, 8.0]},
        scipy=lambda scale, alpha: st.pareto(alpha, scale=scale),
        bad=(*_positive("scale"), *_positive("alpha", shape_error="scale")),
    ),
    # ξ = 0 (the exponential limit) and ξ < 0 (bounded support); ξ < ¼ keeps the gradients
    # of E[z²] of finite variance.
    dict(
        name="GeneralizedPareto",
        make=lambda loc, scale, concentration, **kw: reparam.GeneralizedPareto(
            loc, scale, concentration, **kw
        ),
        params={
            "loc": [0.3, -1.0, 2.0],
            "scale": [0.5, 1.0, 2.0],
            "concentration": [-0.3, 0.0, 0.15],
        },
        scipy=lambda loc, scale, concentration: st.genpareto(concentration, loc, scale),
        bad=(
            *_positive("scale"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
            ({"concentration": [0.0, INF, 0.0]}, r"'concentration'.*finite"),
            ({"concentration": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
]
