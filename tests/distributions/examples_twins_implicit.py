"""Registry entries for the torch twins built on implicit Gamma noise: InverseGamma (see
registry.py for the fields). InverseGamma's a ≥ 5 gives E[z²] a pathwise gradient of
finite variance (it needs moments of order 4 and a bit).
"""

import scipy.stats as st

import reparam

from .examples_implicit import _positive

EXAMPLES = [
    dict(
        name="InverseGamma",
        make=lambda concentration, rate, **kw: reparam.InverseGamma(concentration, rate, **kw),
        params={"concentration": [5.0, 7.0, 12.0], "rate": [1.0, 3.0, 0.5]},
        scipy=lambda concentration, rate: st.invgamma(concentration, scale=rate),
        bad=(*_positive("concentration"), *_positive("rate", shape_error="concentration")),
    ),
]
