"""Registry entries for the explicit univariate families of Pyro and TFP added for issue 15
(see registry.py for the fields)."""

import numpy as np
import scipy.stats as st

import reparam

from .examples_univariate import NAN, _positive


class _HypsecantGen(type(st.hypsecant)):
    """scipy's hypsecant, without its RuntimeWarning when cosh(x) overflows to inf far in
    the tails (the density there is exactly 0, which is what it returns)."""

    def _pdf(self, x):
        with np.errstate(over="ignore"):
            return super()._pdf(x)


_hypsecant = _HypsecantGen(name="hypsecant")

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
]
