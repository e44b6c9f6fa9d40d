"""Registry entries for the multivariate families (see registry.py for the fields).

Matrix parameters that must be symmetric are built inside ``make`` as (a + aᵀ)/2 from an
unconstrained leaf ``a``, so that gradient checks perturbing single entries of ``a`` stay
on symmetric matrices.
"""

import reparam

NAN = float("nan")
LOC = [[0.3, -1.2, 2.0], [-0.5, 0.7, 0.1]]
SCALE = [[0.5, 1.0, 2.5], [1.3, 0.4, 0.9]]
TRIL = [
    [[1.2, 0.0, 0.0], [0.3, 0.8, 0.0], [-0.4, 0.2, 0.6]],
    [[0.7, 0.0, 0.0], [-0.2, 1.5, 0.0], [0.1, 0.3, 0.9]],
]
SPD = [
    [[2.0, 0.3, -0.2], [0.3, 1.0, 0.1], [-0.2, 0.1, 0.5]],
    [[1.0, -0.4, 0.2], [-0.4, 1.5, 0.3], [0.2, 0.3, 0.8]],
]
NOT_PD = [[[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]] * 2
COV_FACTOR = [[[0.5, -0.3], [1.0, 0.2], [-0.7, 0.4]], [[0.1, 0.8], [-0.6, 0.3], [0.4, -0.2]]]
COV_DIAG = [[0.4, 0.9, 0.3], [1.1, 0.5, 0.7]]


def _sym(a):
    return (a + a.mT) / 2


def _mvn_cov(loc, a, precision=None, **kw):
    return reparam.MultivariateNormal(
        loc, covariance_matrix=_sym(a), precision_matrix=precision, **kw
    )


def _mvn_prec(loc, a, **kw):
    return reparam.MultivariateNormal(loc, precision_matrix=_sym(a), **kw)


_MVN_BAD = (
    ({"loc": [[NAN, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'loc'.*finite"),
    ({"loc": [[0.0, 0.0], [0.0, 0.0]]}, r"must have shape \(\*, 2, 2\) to match loc"),
    ({"loc": [[0.0, 0.0, 0.0]] * 3}, r"broadcast"),
)

EXAMPLES = [
    dict(
        name="MultivariateNormal-scale_tril",
        make=lambda loc, scale_tril, **kw: reparam.MultivariateNormal(
            loc, scale_tril=scale_tril, **kw
        ),
        params={"loc": LOC, "scale_tril": TRIL},
        bad=(
            *_MVN_BAD,
            (
                {"scale_tril": [[[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]] * 2},
                r"'scale_tril'.*positive diagonal",
            ),
            (
                {"scale_tril": [[[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]] * 2},
                r"'scale_tril'.*lower-triangular",
            ),
            (
                {"scale_tril": [[[1.0, 0.0, 0.0], [NAN, 1.0, 0.0], [0.0, 0.0, 1.0]]] * 2},
                r"'scale_tril'.*finite",
            ),
        ),
    ),
    dict(
        name="MultivariateNormal-covariance",
        make=_mvn_cov,
        params={"loc": LOC, "a": SPD},
        bad=(
            *_MVN_BAD,
            ({"a": NOT_PD}, r"'covariance_matrix'.*positive definite"),
            ({"precision": SPD}, r"exactly one of covariance_matrix, precision_matrix"),
        ),
    ),
    dict(
        name="MultivariateNormal-precision",
        make=_mvn_prec,
        params={"loc": LOC, "a": SPD},
        bad=(*_MVN_BAD, ({"a": NOT_PD}, r"'precision_matrix'.*positive definite")),
    ),
    dict(
        name="LowRankMultivariateNormal",
        make=lambda loc, cov_factor, cov_diag, **kw: reparam.LowRankMultivariateNormal(
            loc, cov_factor, cov_diag, **kw
        ),
        params={"loc": LOC, "cov_factor": COV_FACTOR, "cov_diag": COV_DIAG},
        bad=(
            ({"cov_diag": [[0.4, -0.9, 0.3], [1.1, 0.5, 0.7]]}, r"'cov_diag'.*> 0"),
            ({"loc": [[NAN, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'loc'.*finite"),
            ({"cov_factor": [[[NAN, 0.0]] * 3] * 2}, r"'cov_factor'.*finite"),
            ({"cov_factor": [[[1.0, 0.0]] * 2] * 2}, r"cov_factor must have shape"),
            ({"cov_diag": [[1.0, 1.0]] * 2}, r"cov_diag must have shape"),
            ({"loc": [[0.0, 0.0, 0.0]] * 3}, r"broadcast"),
        ),
    ),
    dict(
        name="DiagonalNormal",
        make=lambda loc, scale, **kw: reparam.DiagonalNormal(loc, scale, **kw),
        params={"loc": LOC, "scale": SCALE},
        bad=(
            ({"scale": [[0.5, -1.0, 2.5], [1.3, 0.4, 0.9]]}, r"'scale'.*> 0"),
            ({"loc": [[NAN, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'loc'.*finite"),
            ({"scale": [[float("inf"), 1.0, 1.0], [1.0, 1.0, 1.0]]}, r"'scale'.*finite"),
            ({"loc": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
    dict(
        name="Independent-Normal",
        make=lambda loc, scale, **kw: reparam.Independent(
            reparam.Normal(loc, scale, **kw), 1, **kw
        ),
        params={"loc": LOC, "scale": SCALE},
        bad=(
            ({"scale": [[0.5, -1.0, 2.5], [1.3, 0.4, 0.9]]}, r"'scale'.*> 0"),
            ({"loc": [[NAN, 0.0, 0.0], [0.0, 0.0, 0.0]]}, r"'loc'.*finite"),
            ({"loc": [0.0, 1.0]}, r"broadcast"),
        ),
    ),
]
