"""Registry entries for the univariate families with implicit or composite
reparameterizations of issue 15 (see registry.py for the fields): Chi (√ of implicit χ²
noise), GeneralizedNormal (± scale·G^{1/p}, G implicit Gamma(1/p) noise).
"""

import scipy.stats as st

import reparam

from .examples_implicit import NAN, _positive

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
]
