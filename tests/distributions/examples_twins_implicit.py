"""Registry entries for the torch twins of issue 15 in the implicit branch: InverseGamma
and FisherSnedecor (on implicit Gamma noise) and LogisticNormal (see registry.py for the
fields). FisherSnedecor's ν₂ ≥ 10 keeps the pathwise gradient of E[z²] of finite variance.
InverseGamma's a ≥ 5 gives E[z²] a pathwise gradient of finite variance (it needs moments
of order 4 and a bit); LogisticNormal has no closed-form moments (as torch's).
"""

import scipy.stats as st

import reparam

from .examples_implicit import NAN, _positive

EXAMPLES = [
    dict(
        name="InverseGamma",
        make=lambda concentration, rate, **kw: reparam.InverseGamma(concentration, rate, **kw),
        params={"concentration": [5.0, 7.0, 12.0], "rate": [1.0, 3.0, 0.5]},
        scipy=lambda concentration, rate: st.invgamma(concentration, scale=rate),
        # no mean (α ≤ 1), an infinite variance (1 < α ≤ 2)
        param_sets=(("heavy", {"concentration": [0.5, 1.0, 2.0]}),),
        bad=(*_positive("concentration"), *_positive("rate", shape_error="concentration")),
    ),
    dict(
        name="LogisticNormal",
        make=lambda loc, scale, **kw: reparam.LogisticNormal(loc, scale, **kw),
        params={
            "loc": [[0.3, -0.5, 1.0], [0.0, 0.8, -1.2]],
            "scale": [[0.5, 1.0, 0.7], [1.2, 0.4, 0.9]],
        },
        moments=False,  # no closed form
        bad=(
            ({"scale": [[1.0, -1.0, 1.0]] * 2}, r"'scale'.*> 0"),
            ({"scale": [[1.0, 0.0, 1.0]] * 2}, r"'scale'.*> 0"),
            ({"loc": [[NAN, 0.0, 0.0]] * 2}, r"'loc'.*finite"),
            ({"loc": 0.3, "scale": 1.0}, r"at least one dimension"),
            ({"scale": [[1.0, 1.0]] * 2}, r"broadcast"),
        ),
    ),
    dict(
        name="FisherSnedecor",
        make=lambda df1, df2, **kw: reparam.FisherSnedecor(df1, df2, **kw),
        params={"df1": [1.5, 4.0, 9.0], "df2": [10.0, 12.0, 20.0]},
        scipy=lambda df1, df2: st.f(df1, df2),
        # no mean (ν₂ ≤ 2), an infinite variance (ν₂ ≤ 4), the mode at 0 (ν₁ ≤ 2)
        param_sets=(("heavy", {"df1": [1.0, 2.0, 3.0], "df2": [1.5, 3.0, 4.0]}),),
        bad=(*_positive("df1"), *_positive("df2", shape_error="df1")),
    ),
]
