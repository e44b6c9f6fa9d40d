"""Registry entries for the univariate families with implicit or composite
reparameterizations of issue 15 (see registry.py for the fields): Chi (√ of implicit χ²
noise).
"""

import scipy.stats as st

import reparam

from .examples_implicit import _positive

EXAMPLES = [
    dict(
        name="Chi",
        make=lambda df, **kw: reparam.Chi(df, **kw),
        params={"df": [0.7, 3.0, 9.0]},
        scipy=lambda df: st.chi(df),
        bad=_positive("df"),
    ),
]
