"""Registry entries for Gamma, Chi2, Beta, Dirichlet and StudentT (see registry.py for the
fields); the user-facing ImplicitReparameterized has its entries in examples_wrappers.py.

Concentrations below 1 are included (the density is singular at 0 there); the extremes
(1e-3 … 1e3) are tested in test_gamma_family.py. StudentT's ν ≥ 6 keeps the pathwise
gradient of E[z²] of finite variance (it needs moments of order 4 and a bit).
"""

import scipy.stats as st

import reparam

NAN, INF = float("nan"), float("inf")


def _positive(name: str, shape_error: str | None = None) -> tuple:
    """Bad cases for a positive parameter ``name`` of a 3-element batch."""
    cases = [
        ({name: [1.0, -1.0, 1.0]}, rf"'{name}'.*> 0"),
        ({name: [1.0, 0.0, 1.0]}, rf"'{name}'.*> 0"),
        ({name: [NAN, 1.0, 1.0]}, rf"'{name}'.*finite"),
        ({name: [INF, 1.0, 1.0]}, rf"'{name}'.*finite"),
    ]
    if shape_error is not None:
        cases.append(({shape_error: [0.5, 1.0]}, r"broadcast"))
    return tuple(cases)


EXAMPLES = [
    dict(
        name="Gamma",
        make=lambda concentration, rate, **kw: reparam.Gamma(concentration, rate, **kw),
        params={"concentration": [0.7, 2.0, 5.0], "rate": [1.0, 3.0, 0.5]},
        scipy=lambda concentration, rate: st.gamma(concentration, scale=1 / rate),
        param_sets=(("mode-at-0", {"concentration": [0.5, 1.0, 1.0 + 1e-9]}),),
        bad=(*_positive("concentration"), *_positive("rate", shape_error="concentration")),
    ),
    dict(
        name="Chi2",
        make=lambda df, **kw: reparam.Chi2(df, **kw),
        params={"df": [1.5, 4.0, 9.0]},
        scipy=lambda df: st.chi2(df),
        param_sets=(("mode-at-0", {"df": [0.5, 2.0, 2.5]}),),
        bad=_positive("df"),
    ),
    dict(
        name="Beta",
        make=lambda concentration1, concentration0, **kw: reparam.Beta(
            concentration1, concentration0, **kw
        ),
        params={"concentration1": [0.7, 2.0, 5.0], "concentration0": [1.5, 0.8, 3.0]},
        scipy=lambda concentration1, concentration0: st.beta(concentration1, concentration0),
        # modes on the boundary (0 and 1) and undefined (both < 1, both = 1)
        param_sets=(
            (
                "boundary-modes",
                {"concentration1": [2.0, 1.0, 0.5], "concentration0": [1.0, 2.0, 0.5]},
            ),
            ("flat", {"concentration1": [1.0, 0.5, 1.0], "concentration0": [1.0, 1.0, 0.5]}),
        ),
        bad=(
            *_positive("concentration1"),
            *_positive("concentration0", shape_error="concentration1"),
        ),
    ),
    dict(
        name="Dirichlet",
        make=lambda concentration, **kw: reparam.Dirichlet(concentration, **kw),
        params={"concentration": [[0.7, 2.0, 5.0], [1.5, 0.8, 3.0]]},
        param_sets=(("mode-on-a-face", {"concentration": [[1.0, 2.0, 5.0], [0.5, 0.5, 0.5]]}),),
        bad=(
            ({"concentration": [[1.0, -1.0, 1.0]] * 2}, r"'concentration'.*> 0"),
            ({"concentration": [[1.0, 0.0, 1.0]] * 2}, r"'concentration'.*> 0"),
            ({"concentration": [[NAN, 1.0, 1.0]] * 2}, r"'concentration'.*finite"),
            ({"concentration": 2.0}, r"'concentration'.*at least one dimension"),
        ),
    ),
    dict(
        name="StudentT",
        make=lambda df, loc, scale, **kw: reparam.StudentT(df, loc, scale, **kw),
        params={"df": [6.0, 10.0, 20.0], "loc": [0.3, -1.2, 2.0], "scale": [0.5, 1.0, 2.5]},
        scipy=lambda df, loc, scale: st.t(df, loc, scale),
        # no mean (ν ≤ 1), an infinite variance (1 < ν ≤ 2)
        param_sets=(("heavy", {"df": [0.8, 1.5, 2.0]}),),
        bad=(
            *_positive("df"),
            *_positive("scale", shape_error="df"),
            ({"loc": [NAN, 0.0, 0.0]}, r"'loc'.*finite"),
        ),
    ),
]
