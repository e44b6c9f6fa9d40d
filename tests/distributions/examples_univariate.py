"""Registry entries for the univariate explicit families (see registry.py for the fields)."""

import scipy.stats as st

import reparam

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
]
