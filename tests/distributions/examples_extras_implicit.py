"""Registry entries for the univariate families with implicit or composite
reparameterizations of issue 15 (see registry.py for the fields): Chi (√ of implicit χ²
noise), GeneralizedNormal (± scale·G^{1/p}, G implicit Gamma(1/p) noise),
PERT (an affine implicit Beta).
"""

import scipy.stats as st

import reparam

from .examples_implicit import INF, NAN, _positive

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
]
