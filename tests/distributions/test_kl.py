"""KL divergences of kl.py: every pair torch registers (reparam's families, and mixed with
torch's, both orders) against torch's values and gradients and against Monte Carlo; the
closed forms torch lacks (VonMises, TruncatedNormal, Kumaraswamy–Beta) against Monte Carlo
and quadrature.

Monte Carlo comparisons use a fixed seed (conftest) and a 5-standard-error band of the
mean of log p − log q from the same samples (a false failure has probability ~6e-7 per
comparison).
"""

import math

import mpmath as mp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.stats as st
import torch
import torch.distributions as td
from scipy.special import betaln
from torch.distributions import kl_divergence

import reparam
from reparam.distributions.kl import _kumaraswamy_mean_log1m, to_torch

DTYPES = [torch.float32, torch.float64]
F64 = torch.float64
N_MC = 20000

_TRIL = [[[1.0, 0.0], [0.4, 0.8]], [[0.7, 0.0], [-0.3, 1.2]]]

# family → (p's parameters, q's parameters); batch shape (2,) for every family.
_LOC_SCALE = ({"loc": [0.3, -1.0], "scale": [0.8, 1.5]}, {"loc": [0.0, 0.5], "scale": [1.2, 1.0]})
PARAMS = {
    **{name: _LOC_SCALE for name in ("Normal", "LogNormal", "Laplace", "Cauchy", "Gumbel")},
    "HalfNormal": ({"scale": [0.8, 1.5]}, {"scale": [1.2, 1.0]}),
    "Exponential": ({"rate": [0.8, 1.5]}, {"rate": [1.2, 0.6]}),
    "Gamma": (
        {"concentration": [2.0, 3.5], "rate": [1.0, 2.0]},
        {"concentration": [1.5, 2.0], "rate": [0.7, 1.5]},
    ),
    "Chi2": ({"df": [3.0, 5.0]}, {"df": [2.5, 6.0]}),
    "Beta": (
        {"concentration1": [2.0, 3.0], "concentration0": [1.5, 4.0]},
        {"concentration1": [1.2, 2.0], "concentration0": [2.0, 3.0]},
    ),
    "Kumaraswamy": (
        {"concentration1": [2.0, 1.5], "concentration0": [3.0, 2.5]},
        {"concentration1": [1.5, 2.0], "concentration0": [2.0, 3.0]},
    ),
    "Weibull": (
        {"scale": [1.0, 2.0], "concentration": [1.5, 2.5]},
        {"scale": [1.5, 1.0], "concentration": [2.0, 1.5]},
    ),
    "Uniform": (
        {"low": [0.1, 0.2], "high": [0.8, 0.9]},
        {"low": [-0.5, -0.5], "high": [1.5, 1.5]},
    ),
    "Dirichlet": (
        {"concentration": [[2.0, 3.0, 4.0], [1.5, 1.0, 2.0]]},
        {"concentration": [[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]]},
    ),
    "VonMises": (
        {"loc": [0.3, -1.0], "concentration": [2.0, 0.5]},
        {"loc": [0.0, 2.0], "concentration": [1.0, 3.0]},
    ),
    "StudentT": (
        {"df": [3.0, 5.0], "loc": [0.3, -1.0], "scale": [0.8, 1.5]},
        {"df": [4.0, 2.5], "loc": [0.0, 0.5], "scale": [1.2, 1.0]},
    ),
    "RelaxedBernoulli": (
        {"temperature": [0.5, 1.0], "logits": [0.3, -0.5]},
        {"temperature": [0.7, 2.0], "logits": [-0.2, 1.0]},
    ),
    "RelaxedOneHotCategorical": (
        {"temperature": [0.5, 1.0], "logits": [[0.1, 0.2, -0.3], [1.0, 0.0, -1.0]]},
        {"temperature": [0.7, 2.0], "logits": [[0.5, -0.2, 0.0], [0.0, 0.3, 0.1]]},
    ),
    "MultivariateNormal": (
        {"loc": [[0.3, -1.0], [0.0, 0.5]], "scale_tril": _TRIL},
        {"loc": [[0.0, 0.5], [1.0, -0.5]], "scale_tril": [[[1.2, 0.0], [0.1, 0.9]]] * 2},
    ),
    "LowRankMultivariateNormal": (
        {
            "loc": [[0.3, -1.0], [0.0, 0.5]],
            "cov_factor": [[[0.5], [0.2]]] * 2,
            "cov_diag": [[1.0, 0.5]] * 2,
        },
        {
            "loc": [[0.0, 0.5], [1.0, -0.5]],
            "cov_factor": [[[0.1], [0.7]]] * 2,
            "cov_diag": [[0.8, 1.2]] * 2,
        },
    ),
    "Independent": (
        {"loc": [[0.3, -1.0, 0.2]] * 2, "scale": [[0.8, 1.5, 1.0]] * 2},
        {"loc": [[0.0, 0.5, 0.1]] * 2, "scale": [[1.2, 1.0, 0.9]] * 2},
    ),
    # torch families with no reparam counterpart: the other side of mixed pairs
    "Pareto": (
        {"scale": [0.05, 0.1], "alpha": [2.5, 3.0]},
        {"scale": [0.05, 0.1], "alpha": [2.0, 1.5]},
    ),
    "ContinuousBernoulli": ({"probs": [0.3, 0.7]}, {"probs": [0.6, 0.2]}),
}
TORCH_ONLY = {"Pareto", "ContinuousBernoulli"}
FAMILIES = sorted(PARAMS)
# The pairs reparam adds (torch has no KL for them).
EXTRA = {("VonMises", "VonMises"), ("Kumaraswamy", "Beta")}


def _leaves(name, side, dtype):
    values = PARAMS[name][side]
    return {k: torch.tensor(v, dtype=dtype).requires_grad_() for k, v in values.items()}


def _make(name, params, lib):
    """``lib`` is ``reparam`` or ``td``; Independent wraps a Normal of that library."""
    if name == "Independent":
        return lib.Independent(lib.Normal(params["loc"], params["scale"]), 1)
    cls = getattr(lib, name)
    if name == "MultivariateNormal":
        return cls(params["loc"], scale_tril=params["scale_tril"])
    if name.startswith("Relaxed"):
        return cls(params["temperature"], logits=params["logits"])
    return cls(**params)


def _pair(p_name, q_name, dtype):
    """((ours_p, ours_q), (torch_p, torch_q), leaves): ours is reparam's family where one
    exists (torch's otherwise); both built from the same leaf tensors."""
    leaves = [_leaves(p_name, 0, dtype), _leaves(q_name, 1, dtype)]
    ours = tuple(
        _make(n, ps, td if n in TORCH_ONLY else reparam)
        for n, ps in zip((p_name, q_name), leaves, strict=True)
    )
    theirs = tuple(_make(n, ps, td) for n, ps in zip((p_name, q_name), leaves, strict=True))
    return ours, theirs, [t for ps in leaves for t in ps.values()]


def _torch_has(p_name, q_name):
    _, (p, q), _ = _pair(p_name, q_name, F64)
    try:
        kl_divergence(p, q)
    except NotImplementedError:
        return False
    return True


PAIRS = [
    (p, q)
    for p in FAMILIES
    for q in FAMILIES
    if not (p in TORCH_ONLY and q in TORCH_ONLY) and _torch_has(p, q)
]
REFUSED = [
    (p, q)
    for p in FAMILIES
    for q in FAMILIES
    if not (p in TORCH_ONLY and q in TORCH_ONLY) and (p, q) not in EXTRA and (p, q) not in PAIRS
]


def _ids(pairs):
    return [pytest.param(p, q, id=f"{p}-{q}") for p, q in pairs]


def _variants(ours, theirs):
    """(p, q) as reparam–reparam, reparam–torch and torch–reparam (where they differ)."""
    (op, oq), (tp, tq) = ours, theirs
    return [(op, oq), (op, tq), (tp, oq)]


def test_the_pairs_cover_every_torch_key_with_a_reparam_counterpart():
    assert len(PAIRS) >= 90
    for name in ("Gamma", "Beta", "Laplace", "Exponential"):
        assert (name, name) in PAIRS
    assert ("Beta", "Uniform") in PAIRS


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("p_name", "q_name"), _ids(PAIRS))
def test_matches_torch_in_value_and_gradient(p_name, q_name, dtype):
    ours, theirs, leaves = _pair(p_name, q_name, dtype)
    want = kl_divergence(*theirs)
    finite = bool(torch.isfinite(want).all())
    grads = (
        torch.autograd.grad(want.sum(), leaves, allow_unused=True, retain_graph=True)
        if finite
        else None
    )
    for p, q in _variants(ours, theirs):
        got = kl_divergence(p, q)
        assert got.dtype == dtype
        assert got.shape == want.shape
        torch.testing.assert_close(got, want, equal_nan=True)
        if finite:
            got_grads = torch.autograd.grad(
                got.sum(), leaves, allow_unused=True, retain_graph=True
            )
            for g, w in zip(got_grads, grads, strict=True):
                assert (g is None) == (w is None)
                if w is not None:
                    torch.testing.assert_close(g, w)


def _mc(p, q, n=N_MC):
    """(mean, standard error) of log p(z) − log q(z), z ~ p."""
    with torch.no_grad():
        z = p.sample((n,))
        diff = p.log_prob(z) - q.log_prob(z)
    return diff.mean(0), diff.std(0) / math.sqrt(n)


def _assert_monte_carlo(kl, p, q, n=N_MC):
    """|KL − MC mean| ≤ 5 standard errors, plus the rounding of an n-term mean in the
    dtype (which alone remains where log p − log q is constant, e.g. two uniforms)."""
    est, se = _mc(p, q, n)
    assert torch.isfinite(est).all(), est
    rounding = torch.finfo(est.dtype).eps * math.log2(n) * (1 + est.abs())
    assert ((kl.detach() - est).abs() <= 5 * se + rounding).all(), (kl, est, se)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("p_name", "q_name"), _ids(PAIRS))
def test_agrees_with_monte_carlo(p_name, q_name, dtype):
    (p, q), _, _ = _pair(p_name, q_name, dtype)
    kl = kl_divergence(p, q)
    if not torch.isfinite(kl).all():
        pytest.skip("infinite KL: p has mass where q has none (checked against torch)")
    _assert_monte_carlo(kl, p, q)


@pytest.mark.parametrize(("p_name", "q_name"), _ids(REFUSED))
def test_refuses_what_torch_refuses(p_name, q_name):
    ours, theirs, _ = _pair(p_name, q_name, F64)
    for p, q in _variants(ours, theirs):
        with pytest.raises(NotImplementedError):
            kl_divergence(p, q)


def test_to_torch_shares_the_parameter_tensors():
    loc, scale = torch.tensor([0.3]), torch.tensor([2.0])
    t = to_torch(reparam.Laplace(loc, scale))
    assert type(t) is td.Laplace
    assert t.loc is loc
    assert t.scale is scale
    chi2 = to_torch(reparam.Chi2(torch.tensor([3.0])))
    assert type(chi2) is td.Chi2
    base = reparam.Gamma(torch.ones(3), 1.0)
    ind = to_torch(reparam.Independent(base, 1))
    assert type(ind) is td.Independent
    assert ind.base_dist is base
    other = td.Normal(0.0, 1.0)
    assert to_torch(other) is other


# --------------------------------------------------------------------------- VonMises
def _quad_kl(dp, dq, lo, hi):
    """∫ p log(p/q) over [lo, hi] for frozen scipy distributions."""
    return si.quad(lambda x: dp.pdf(x) * (dp.logpdf(x) - dq.logpdf(x)), lo, hi, limit=200)[0]


def _von_mises_quadrature(p, q):
    """KL by quadrature of p log(p/q) over [−π, π) (scipy's densities)."""
    out = []
    params = (p.loc, p.concentration, q.loc, q.concentration)
    for mp_, kp, mq, kq in zip(*(x.tolist() for x in params), strict=True):
        dp, dq = st.vonmises(kp, loc=mp_), st.vonmises(kq, loc=mq)
        out.append(_quad_kl(dp, dq, -math.pi, math.pi))
    return torch.tensor(out, dtype=F64)


def test_von_mises_kl_is_exact_for_large_concentrations_and_zero_for_equal_laws():
    kappa = torch.tensor([1e-3, 1.0, 1e3, 1e6], dtype=F64)
    p = reparam.VonMises(torch.zeros(4, dtype=F64), kappa)
    torch.testing.assert_close(kl_divergence(p, p), torch.zeros(4, dtype=F64), atol=1e-12, rtol=0)
    # For large κ the von Mises is N(μ, 1/κ) to O(1/κ): KL → that of the normals.
    q = reparam.VonMises(torch.full((4,), 1e-3, dtype=F64), 2 * kappa)
    normal = kl_divergence(
        reparam.Normal(torch.zeros(4, dtype=F64), kappa.rsqrt()),
        reparam.Normal(torch.full((4,), 1e-3, dtype=F64), (2 * kappa).rsqrt()),
    )
    torch.testing.assert_close(kl_divergence(p, q)[-1], normal[-1], rtol=1e-5, atol=0)


def test_von_mises_kl_gradient_matches_finite_differences():
    loc = torch.tensor([0.3, -1.0], dtype=F64, requires_grad=True)
    kp = torch.tensor([2.0, 50.0], dtype=F64, requires_grad=True)
    kq = torch.tensor([1.0, 3.0], dtype=F64, requires_grad=True)

    def f(loc, kp, kq):
        return kl_divergence(reparam.VonMises(loc, kp), td.VonMises(torch.zeros(2, dtype=F64), kq))

    assert torch.autograd.gradcheck(f, (loc, kp, kq))


# --------------------------------------------------------------------------- TruncatedNormal
def _tn(loc, scale, low, high, dtype=F64):
    ps = [torch.tensor(x, dtype=dtype).requires_grad_() for x in (loc, scale, low, high)]
    return reparam.TruncatedNormal(*ps), ps


def _tn_quadrature(p, q):
    """KL by quadrature of p log(p/q) with scipy's truncnorm densities."""

    def scipy_law(d, i):
        mu, s, lo, hi = (x.detach()[i].item() for x in (d.loc, d.scale, d.low, d.high))
        return st.truncnorm((lo - mu) / s, (hi - mu) / s, loc=mu, scale=s), mu, s, lo, hi

    out = []
    for i in range(p.batch_shape[0]):
        dp, mu, s, lo, hi = scipy_law(p, i)
        dq = scipy_law(q, i)[0]
        lo, hi = max(lo, mu - 40 * s), min(hi, mu + 40 * s)
        out.append(_quad_kl(dp, dq, lo, hi))
    return torch.tensor(out, dtype=F64)


TN_CASES = {
    "same truncation": ((0.3, -0.5), (1.0, 2.0), (-1.0, -3.0), (2.0, 1.0), (0.0, 0.5), (1.5, 1.0)),
    "p inside q": ((0.3, 1.0), (1.0, 0.5), (-1.0, 0.0), (1.0, 2.0), (0.0, 0.5), (1.5, 1.0)),
    "one-sided tails": (
        (0.0, 0.0),
        (1.0, 1.0),
        (3.0, -math.inf),
        (math.inf, -4.0),
        (0.5, 0.3),
        (2.0, 1.5),
    ),
}


def _tn_pair(case, dtype=F64):
    loc, scale, low, high, q_loc, q_scale = TN_CASES[case]
    p, ps = _tn(loc, scale, low, high, dtype)
    if case == "p inside q":
        q_low, q_high = (-2.0, -math.inf), (3.0, math.inf)
    else:
        q_low, q_high = low, high
    q, qs = _tn(q_loc, q_scale, q_low, q_high, dtype)
    return p, q, ps + qs


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", list(TN_CASES))
def test_truncated_normal_kl_against_quadrature_and_monte_carlo(case, dtype):
    p, q, leaves = _tn_pair(case, dtype)
    kl = kl_divergence(p, q)
    assert kl.dtype == dtype
    p64, q64, _ = _tn_pair(case)
    torch.testing.assert_close(kl.to(F64), _tn_quadrature(p64, q64), rtol=1e-5, atol=1e-7)
    _assert_monte_carlo(kl, p, q)
    kl.sum().backward()
    for x in leaves:
        assert x.grad is None or torch.isfinite(x.grad).all()


def test_truncated_normal_kl_is_inf_where_p_leaves_q_and_reduces_to_normal_untruncated():
    inf = math.inf
    p, _ = _tn([0.0, 0.0], [1.0, 1.0], [-2.0, -1.0], [2.0, 3.0])
    q, _ = _tn([0.5, 0.5], [1.0, 1.0], [-1.0, -1.0], [1.0, 3.0])
    kl = kl_divergence(p, q)
    assert torch.isposinf(kl[0])
    assert torch.isfinite(kl[1])
    p, _ = _tn([0.3], [0.8], [-inf], [inf])
    q, _ = _tn([-1.0], [1.5], [-inf], [inf])
    want = kl_divergence(td.Normal(0.3, 0.8), td.Normal(-1.0, 1.5)).to(F64)
    torch.testing.assert_close(kl_divergence(p, q)[0], want)


def test_truncated_normal_kl_far_in_a_tail_and_its_gradient():
    """30σ into the upper tail the KL is O(1) from terms of size ~450: float64 keeps it."""
    p, q, _ = _tn_pair("same truncation")
    p_far, _ = _tn([0.0], [1.0], [30.0], [math.inf])
    q_far, _ = _tn([0.5], [1.2], [30.0], [math.inf])
    kl = kl_divergence(p_far, q_far)
    torch.testing.assert_close(kl, _tn_quadrature(p_far, q_far), rtol=1e-6, atol=1e-9)

    def f(loc, scale, q_loc, q_scale):
        low, high = p.low.detach(), p.high.detach()
        return kl_divergence(
            reparam.TruncatedNormal(loc, scale, low, high),
            reparam.TruncatedNormal(q_loc, q_scale, low, high),
        )

    args = (p.loc, p.scale, q.loc, q.scale)
    assert torch.autograd.gradcheck(f, args)


# --------------------------------------------------------------------------- Kumaraswamy–Beta
def _kumaraswamy_beta_quadrature(a, b, alpha, beta):
    def integrand(x):
        log_k = math.log(a * b) + (a - 1) * math.log(x) + (b - 1) * math.log1p(-(x**a))
        log_b = st.beta(alpha, beta).logpdf(x)
        return math.exp(log_k) * (log_k - log_b)

    return si.quad(integrand, 0, 1, limit=200, points=[0.5])[0]


def _kumaraswamy_beta_reference(p, q):
    params = (p.concentration1, p.concentration0, q.concentration1, q.concentration0)
    values = [
        _kumaraswamy_beta_quadrature(*args)
        for args in zip(*(x.tolist() for x in params), strict=True)
    ]
    return torch.tensor(values, dtype=F64)


EXTRA_REFERENCES = {
    ("VonMises", "VonMises"): _von_mises_quadrature,
    ("Kumaraswamy", "Beta"): _kumaraswamy_beta_reference,
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("p_name", "q_name"), _ids(sorted(EXTRA)))
def test_pairs_torch_lacks_against_quadrature_monte_carlo_and_torch_mixed(p_name, q_name, dtype):
    ours, theirs, leaves = _pair(p_name, q_name, dtype)
    kl = kl_divergence(*ours)
    assert kl.dtype == dtype
    want = EXTRA_REFERENCES[p_name, q_name](*ours)
    rtol = 1e-5 if dtype == torch.float32 else 1e-8
    torch.testing.assert_close(kl.to(F64), want, rtol=rtol, atol=rtol)
    _assert_monte_carlo(kl, *ours)
    for p, q in _variants(ours, theirs)[1:]:
        torch.testing.assert_close(kl_divergence(p, q), kl)
    kl.sum().backward()
    assert all(torch.isfinite(x.grad).all() for x in leaves)


def test_kumaraswamy_mean_log1m_matches_mpmath_and_closed_forms():
    """E[log(1 − x)] against mpmath (30 digits) over a, b ∈ [0.05, 50], and the closed
    forms −1/b for a = 1 (Beta(1, b)) and −(ψ(1 + a) + γ) for b = 1 (Beta(a, 1))."""
    mp.mp.dps = 30
    grid = [0.05, 0.7, 3.0, 50.0]
    for a in grid:
        for b in grid:
            A, B = mp.mpf(a), mp.mpf(b)

            def h(y, A=A, B=B):  # u = 1 − e^{−y}
                return mp.log(-mp.expm1(mp.log1p(-mp.exp(-y / B)) / A)) * mp.exp(-y)

            ref = float(mp.quad(h, [0] + [mp.mpf(10) ** k for k in range(-30, 3)] + [mp.inf]))
            got = _kumaraswamy_mean_log1m(torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64))
            assert abs(got.item() - ref) <= 1e-13 * abs(ref), (a, b, got.item(), ref)
    b = torch.tensor([0.05, 0.5, 3.0, 50.0], dtype=F64)
    torch.testing.assert_close(_kumaraswamy_mean_log1m(torch.ones_like(b), b), -1 / b)
    a = b
    want = -(torch.digamma(1 + a) + 0.57721566490153286061)
    torch.testing.assert_close(_kumaraswamy_mean_log1m(a, torch.ones_like(a)), want)


def test_kumaraswamy_beta_kl_agrees_with_nalisnick_smyth_series_and_is_zero_at_beta():
    """Their series −b Σ B(m/a, b)/(m + ab) (converging like m^{−1−b}) with 10⁵ terms for
    b = 3; Kumaraswamy(1, b) is Beta(1, b), so the KL to it is 0."""
    a, b = 2.0, 3.0
    m = np.arange(1, 100001, dtype=np.float64)
    series = -b * np.sum(np.exp(betaln(m / a, b)) / (m + a * b))
    got = _kumaraswamy_mean_log1m(torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64))
    assert abs(got.item() - series) <= 1e-9
    one = torch.ones(3, dtype=F64)
    bs = torch.tensor([0.3, 1.0, 4.0], dtype=F64)
    kl = kl_divergence(reparam.Kumaraswamy(one, bs), reparam.Beta(one, bs))
    torch.testing.assert_close(kl, torch.zeros(3, dtype=F64), atol=1e-12, rtol=0)
