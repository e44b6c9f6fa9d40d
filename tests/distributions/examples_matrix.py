"""Registry entries for the matrix and multivariate families of issue 15 (fields: registry.py).

OneHotCategoricalStraightThrough: the forward value is a one-hot sample and the gradient
that of p, by design not the derivative of the forward value, so the generic gradcheck
is skipped (``extra["gradcheck"]`` says why) and ``moments`` is off (E[z²] = E[z] but the
straight-through gradient of z² is 2 z ∂p); test_matrix.py checks the gradient of E[z].
Symmetric matrix parameters are built as (a + aᵀ)/2 from a leaf ``a`` (as in
examples_multivariate.py).
"""

import torch

import reparam

from .examples_multivariate import LOC, NOT_PD, SPD, TRIL, _sym

NAN, INF = float("nan"), float("inf")


def _wishart_cov(df, a, precision=None, **kw):
    return reparam.Wishart(df, covariance_matrix=_sym(a), precision_matrix=precision, **kw)


_WISHART_BAD = (
    ({"df": [2.0, 5.0]}, r"'df'.*> 2"),
    ({"df": [NAN, 5.0]}, r"'df'.*finite"),
    ({"df": [1.0, 2.0, 3.0]}, r"broadcast"),
)

EXAMPLES = [
    dict(
        name="OneHotCategoricalStraightThrough",
        make=lambda logits=None, probs=None, **kw: reparam.OneHotCategoricalStraightThrough(
            probs=probs, logits=logits, **kw
        ),
        params={"logits": [[0.2, -1.0, 0.5], [1.5, 0.0, -0.7]]},
        moments=False,
        reference=lambda logits: torch.distributions.OneHotCategoricalStraightThrough(
            logits=logits
        ),
        extra={"gradcheck": "straight-through: the gradient is ∂p, not that of the one-hot"},
        bad=(
            ({"logits": [[NAN, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'logits'.*NaN"),
            ({"logits": [[INF, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'logits'.*\+inf"),
            ({"logits": [[-INF, -INF, -INF], [0.0, 0.0, 0.0]]}, r"'logits'.*all -inf"),
            ({"probs": [[0.2, 0.3, 0.5]] * 2}, r"exactly one of `probs` or `logits`; got both"),
            ({"logits": 0.5}, r"'logits'.*K >= 1"),
        ),
    ),
    dict(
        name="MultivariateStudentT",
        make=lambda df, loc, scale_tril, **kw: reparam.MultivariateStudentT(
            df, loc, scale_tril, **kw
        ),
        params={"df": [5.0, 9.0], "loc": LOC, "scale_tril": TRIL},
        bad=(
            ({"df": [5.0, 0.0]}, r"'df'.*> 0"),
            ({"df": [NAN, 5.0]}, r"'df'.*finite"),
            ({"loc": [[NAN, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'loc'"),
            (
                {"scale_tril": [[[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]] * 2},
                r"'scale_tril'",
            ),
            (
                {"scale_tril": [[[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]] * 2},
                r"'scale_tril'",
            ),
            ({"loc": [[0.0, 0.0], [0.0, 0.0]]}, r"scale_tril must have shape \(\*, 2, 2\)"),
            ({"df": [1.0, 2.0, 3.0]}, r"broadcast"),
        ),
    ),
    dict(
        name="ProjectedNormal-d3",
        make=lambda concentration, **kw: reparam.ProjectedNormal(concentration, **kw),
        params={"concentration": [[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]]},
        moments=False,
        bad=(
            ({"concentration": [[NAN, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'concentration'.*finite"),
            ({"concentration": 1.0}, r"'concentration'.*shape \(\*, d\)"),
        ),
    ),
    dict(
        name="ProjectedNormal-d5",
        make=lambda concentration, **kw: reparam.ProjectedNormal(concentration, **kw),
        params={"concentration": [[0.5, -1.0, 2.0, 0.0, 1.0], [3.0, 0.2, -0.3, 0.1, 0.4]]},
        moments=False,
    ),
    dict(
        name="Wishart-scale_tril",
        make=lambda df, scale_tril, **kw: reparam.Wishart(df, scale_tril=scale_tril, **kw),
        params={"df": [3.5, 7.0], "scale_tril": TRIL},
        reference=lambda df, scale_tril: torch.distributions.Wishart(df, scale_tril=scale_tril),
        bad=(
            *_WISHART_BAD,
            (
                {"scale_tril": [[[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]] * 2},
                r"'scale_tril'.*positive diagonal",
            ),
            (
                {"scale_tril": [[[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]] * 2},
                r"'scale_tril'.*lower-triangular",
            ),
        ),
    ),
    dict(
        name="Wishart-covariance",
        make=_wishart_cov,
        params={"df": [3.5, 7.0], "a": SPD},
        reference=lambda df, a: torch.distributions.Wishart(df, covariance_matrix=_sym(a)),
        bad=(
            *_WISHART_BAD,
            ({"a": NOT_PD}, r"'covariance_matrix'.*positive definite"),
            ({"precision": SPD}, r"exactly one of covariance_matrix, precision_matrix"),
        ),
    ),
    dict(
        name="Wishart-precision",
        make=lambda df, a, **kw: reparam.Wishart(df, precision_matrix=_sym(a), **kw),
        params={"df": [3.5, 7.0], "a": SPD},
        reference=lambda df, a: torch.distributions.Wishart(df, precision_matrix=_sym(a)),
        bad=(({"a": NOT_PD}, r"'precision_matrix'.*positive definite"),),
    ),
    dict(
        name="LKJCholesky",
        make=lambda concentration, **kw: reparam.LKJCholesky(3, concentration, **kw),
        params={"concentration": [0.5, 3.0]},
        moments=False,
        reference=lambda concentration: torch.distributions.LKJCholesky(3, concentration),
        bad=(
            ({"concentration": [0.5, 0.0]}, r"'concentration'.*> 0"),
            ({"concentration": [NAN, 1.0]}, r"'concentration'.*finite"),
        ),
    ),
]
