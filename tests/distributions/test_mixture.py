"""MixtureSameFamily: rsample through the mixture CDF (implicit gradients, Graves 2016).

References are independent of the implementation: scipy's normal CDF/quantile with
Brent's method for the mixture quantile (and for the sequence of conditional quantiles
of a diagonal mixture), and scipy quadrature for expectations, all in float64.
Statistical comparisons use grouped estimates and 5 standard errors (see
test_generic.py); fixed seeds come from tests/conftest.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import torch
import torch.distributions as td
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax

import reparam
from reparam.distributions.mixture import implicit_surrogate

from .examples_mixture import NormalMixtureRef

F64 = torch.float64

# (logits, loc, scale) of univariate mixtures: far apart and overlapping
SEPARATED = ([0.3, -0.2], [-10.0, 10.0], [0.5, 2.0])
OVERLAPPING = ([0.2, -0.3, 0.4], [-0.5, 0.8, 0.2], [1.0, 1.5, 0.6])
UNIVARIATE = {"separated": SEPARATED, "overlapping": OVERLAPPING}

# (logits (K,), loc (K, D), scale (K, D)) of diagonal mixtures
DIAG_OVERLAPPING = (
    [0.2, -0.4],
    [[-1.0, 0.5, 2.0], [1.5, -0.5, 0.0]],
    [[0.5, 1.0, 0.8], [1.2, 0.6, 1.0]],
)
DIAG_SEPARATED = ([0.4, -0.1], [[-10.0, 6.0], [10.0, -6.0]], [[0.5, 1.5], [2.0, 0.7]])
DIAGONAL = {"overlapping": DIAG_OVERLAPPING, "separated": DIAG_SEPARATED}


def _leaves(spec, dtype=F64):
    return tuple(torch.tensor(v, dtype=dtype, requires_grad=True) for v in spec)


def _univariate(logits, loc, scale, validate_args=None):
    return reparam.MixtureSameFamily(
        td.Categorical(logits=logits), reparam.Normal(loc, scale), validate_args=validate_args
    )


def _diagonal(logits, loc, scale, validate_args=None):
    comp = reparam.Independent(reparam.Normal(loc, scale), 1)
    return reparam.MixtureSameFamily(
        td.Categorical(logits=logits), comp, validate_args=validate_args
    )


# --------------------------------------------------------------------------- references
def _ref_quantile(u, logits, loc, scale):
    """F⁻¹(u) of Σ w_k N(loc_k, scale_k²), float64, Brent's method (elementwise in u)."""
    return NormalMixtureRef(np.asarray(logits), np.asarray(loc), np.asarray(scale)).ppf(u)


def _ref_graves(u, logits, loc, scale):
    """The sequence of conditional quantiles z_d = F_d⁻¹(u_d | z_<d), float64 (one u (D,))."""
    logits, loc, scale = (np.asarray(a, dtype=np.float64) for a in (logits, loc, scale))
    log_w = logits - logsumexp(logits)
    z = np.empty(loc.shape[-1])
    for d in range(loc.shape[-1]):
        w = softmax(log_w)
        q = st.norm.ppf(u[d], loc[:, d], scale[:, d])

        def g(x, w=w, d=d, target=u[d]):
            return (w * st.norm.cdf(x, loc[:, d], scale[:, d])).sum() - target

        lo, hi = q.min(), q.max()
        lo, hi = lo - 1e-9 * (1 + abs(lo)), hi + 1e-9 * (1 + abs(hi))  # rounding slack
        z[d] = brentq(g, lo, hi, xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=500)
        log_w = log_w + st.norm.logpdf(z[d], loc[:, d], scale[:, d])
    return z


def _fd(fn, params, h_rel=1e-6):
    """Central differences of fn(params) (an array) in every element of every parameter."""
    out = []
    for i, p in enumerate(params):
        p = np.asarray(p, dtype=np.float64)
        grads = np.empty(p.shape + np.shape(fn(params)))
        for idx in np.ndindex(*p.shape):
            h = h_rel * max(1.0, abs(p[idx]))
            plus, minus = p.copy(), p.copy()
            plus[idx] += h
            minus[idx] -= h
            up = [plus if j == i else q for j, q in enumerate(params)]
            down = [minus if j == i else q for j, q in enumerate(params)]
            grads[idx] = (np.asarray(fn(up)) - np.asarray(fn(down))) / (2 * h)
        out.append(grads)
    return out


# --------------------------------------------------------------------------- samples
@pytest.mark.parametrize("case", UNIVARIATE, ids=str)
def test_rsample_is_the_mixture_quantile(case):
    """z = F_mix⁻¹(u), compared with a float64 Brent inverse of scipy's mixture CDF."""
    spec = UNIVARIATE[case]
    q = _univariate(*_leaves(spec))
    u = q.sample_noise((300,))
    z = q.from_noise(u).detach().numpy()
    ref = _ref_quantile(u.numpy(), *spec)
    err = np.abs(z - ref) / (1 + np.abs(ref))
    assert err.max() < 1e-12, f"max relative error {err.max():.2e}"


@pytest.mark.parametrize("case", DIAGONAL, ids=str)
def test_rsample_is_the_sequence_of_conditional_quantiles(case):
    spec = DIAGONAL[case]
    q = _diagonal(*_leaves(spec))
    u = q.sample_noise((40,))
    z = q.from_noise(u).detach().numpy()
    ref = np.stack([_ref_graves(row, *spec) for row in u.numpy()])
    err = np.abs(z - ref) / (1 + np.abs(ref))
    assert err.max() < 1e-12, f"max relative error {err.max():.2e}"


# --------------------------------------------------------------------------- dz/dθ
def _jacobians(make, spec, u):
    """Autograd ∂z/∂θ for each parameter: shape ``z.shape + θ.shape``."""
    leaves = _leaves(spec)

    def fn(*params):
        return make(*params).from_noise(u)

    jac = torch.autograd.functional.jacobian(fn, leaves)
    return [j.numpy() for j in jac]


@pytest.mark.parametrize("case", UNIVARIATE, ids=str)
def test_dz_dtheta_matches_finite_differences_of_the_quantile(case):
    """Per sample, ∂z/∂θ = −(∂F/∂θ)/q agrees with FD of the float64 quantile to 1e-6."""
    spec = UNIVARIATE[case]
    u = torch.tensor([0.003, 0.2, 0.4, 0.5, 0.6, 0.8, 0.999], dtype=F64)
    got = _jacobians(_univariate, spec, u)
    want = _fd(lambda p: _ref_quantile(u.numpy(), *p), spec)
    for name, g, w in zip(("logits", "loc", "scale"), got, want, strict=True):
        w = np.moveaxis(w, -1, 0)  # FD is θ.shape + z.shape
        err = np.abs(g - w).max() / np.abs(w).max()
        assert err < 1e-6, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("case", DIAGONAL, ids=str)
def test_dz_dtheta_matches_finite_differences_coordinatewise(case):
    """Each coordinate's ∂z_d/∂θ (through the conditional weights) agrees with FD."""
    spec = DIAGONAL[case]
    torch.manual_seed(1)
    u = torch.rand(4, len(spec[1][0]), dtype=F64)
    got = _jacobians(_diagonal, spec, u)
    want = _fd(lambda p: np.stack([_ref_graves(row, *p) for row in u.numpy()]), spec)
    for name, g, w in zip(("logits", "loc", "scale"), got, want, strict=True):
        w = np.moveaxis(w, (-2, -1), (0, 1))  # → (n, D, *θ.shape)
        assert g.shape == w.shape
        for d in range(w.shape[1]):
            scale_ = np.abs(w[:, d]).max()
            err = np.abs(g[:, d] - w[:, d]).max() / max(scale_, 1e-12)
            assert err < 1e-6, f"{name}, coordinate {d}: relative error {err:.2e}"


# --------------------------------------------------------------------------- ∇E[f]
def _grouped(make, spec, f, groups=200, per_group=50):
    """``groups`` independent estimates of ∇θ E[f(z)], each a mean over ``per_group``."""
    leaves = [
        torch.tensor(v, dtype=F64).expand(groups, *np.shape(v)).clone().requires_grad_()
        for v in spec
    ]
    z = make(*leaves).rsample((per_group,))
    grads = torch.autograd.grad(f(z).mean(0).sum(), leaves)
    return [g.numpy() for g in grads]


def _assert_within_5se(name, estimates, exact):
    mean = estimates.mean(0)
    se = estimates.std(0, ddof=1) / math.sqrt(estimates.shape[0])
    err = np.abs(mean - exact)
    assert (err <= 5 * se + 1e-9 * (1 + np.abs(exact))).all(), (
        f"{name}: mean {mean} exact {exact} se {se}"
    )


def _norm_expect(func, m, s):
    return st.norm(m, s).expect(func, epsabs=1e-12, epsrel=1e-12, limit=200)


UNI_F = {"sin": (torch.sin, np.sin), "square": (torch.square, np.square)}


@pytest.mark.parametrize("fname", UNI_F, ids=str)
@pytest.mark.parametrize("case", UNIVARIATE, ids=str)
def test_gradient_of_expectation_matches_quadrature(case, fname):
    """Mean of pathwise gradients of E[f(z)] = FD of Σ_k w_k ∫ f q_k (scipy) within 5 SE."""
    spec = UNIVARIATE[case]
    f_torch, f_np = UNI_F[fname]

    def exact(p):
        w = softmax(np.asarray(p[0]))
        parts = [_norm_expect(f_np, m, s) for m, s in zip(p[1], p[2], strict=True)]
        return np.dot(w, parts)

    want = _fd(exact, spec, h_rel=1e-5)
    got = _grouped(_univariate, spec, f_torch)
    for name, g, w in zip(("logits", "loc", "scale"), got, want, strict=True):
        _assert_within_5se(f"{case}.{fname}.{name}", g, w)


DIAG_F = {
    "sum_sin": (lambda z: z.sin().sum(-1), "sum", np.sin),
    "prod_cos": (lambda z: z.cos().prod(-1), "prod", np.cos),
}


@pytest.mark.parametrize("fname", DIAG_F, ids=str)
@pytest.mark.parametrize("case", DIAGONAL, ids=str)
def test_diagonal_gradient_of_expectation_matches_quadrature(case, fname):
    """E[Σ_d sin z_d] and E[Π_d cos z_d] = Σ_k w_k (Σ or Π of 1-D quadratures)."""
    spec = DIAGONAL[case]
    f_torch, reduce, f_np = DIAG_F[fname]

    def exact(p):
        w = softmax(np.asarray(p[0]))
        loc, scale = np.asarray(p[1]), np.asarray(p[2])
        per = np.array(
            [
                [_norm_expect(f_np, loc[k, d], scale[k, d]) for d in range(loc.shape[1])]
                for k in range(loc.shape[0])
            ]
        )
        combined = per.sum(-1) if reduce == "sum" else per.prod(-1)
        return np.dot(w, combined)

    want = _fd(exact, spec, h_rel=1e-5)
    got = _grouped(_diagonal, spec, f_torch)
    for name, g, w in zip(("logits", "loc", "scale"), got, want, strict=True):
        _assert_within_5se(f"{case}.{fname}.{name}", g, w)


# --------------------------------------------------------------------------- stability
EXTREME = {
    "far_apart": ([0.0, 0.0], [-50.0, 50.0], [0.1, 0.1]),
    "weight_near_zero": ([0.0, -30.0, 0.5], [-1.0, 3.0, 2.0], [1.0, 0.5, 0.3]),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("case", EXTREME, ids=str)
@pytest.mark.parametrize("kind", ["univariate", "diagonal"])
def test_no_nan_or_inf_in_samples_and_gradients(kind, case, dtype):
    logits, loc, scale = EXTREME[case]
    if kind == "diagonal":  # D = 2: the second coordinate mirrors the first
        loc = [[m, -m] for m in loc]
        scale = [[s, 2 * s] for s in scale]
    leaves = _leaves((logits, loc, scale), dtype)
    q = (_univariate if kind == "univariate" else _diagonal)(*leaves)
    z, log_q = q.rsample_and_log_prob((20000,))
    assert torch.isfinite(z).all()
    assert torch.isfinite(log_q).all()
    loss = (z.sin() + 1e-3 * z.square()).sum() + log_q.sum()
    grads = torch.autograd.grad(loss, leaves)
    for name, g in zip(("logits", "loc", "scale"), grads, strict=True):
        assert torch.isfinite(g).all(), f"{name}: {g}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_noise_exactly_at_a_gap_between_components_gives_finite_gradients(dtype):
    """u = w₁ with far-apart components: F is flat there (q underflows), the derivative
    is infinite in exact arithmetic; the surrogate caps 1/q so nothing is NaN/inf."""
    leaves = _leaves(EXTREME["far_apart"], dtype)
    q = _univariate(*leaves)
    w1 = q.mixture_distribution.probs[0].detach()
    tiny = torch.tensor(torch.finfo(dtype).tiny, dtype=dtype)  # the smallest noise drawn
    u = torch.stack([w1, torch.tensor(0.5, dtype=dtype), tiny])
    z = q.from_noise(u)
    assert torch.isfinite(z).all()
    grads = torch.autograd.grad(z.sum(), leaves)
    assert all(torch.isfinite(g).all() for g in grads)


def test_implicit_surrogate_has_the_value_of_z_and_the_implicit_gradient():
    loc = torch.tensor(1.5, dtype=F64, requires_grad=True)
    scale = torch.tensor(2.0, dtype=F64, requires_grad=True)
    z = torch.tensor([0.3, -1.0, 4.0], dtype=F64)
    n = td.Normal(loc, scale)
    zt = implicit_surrogate(z, n.cdf(z), n.log_prob(z))
    assert torch.equal(zt, z)
    g_loc, g_scale = torch.autograd.grad(zt.sum(), (loc, scale))
    # z = loc + scale ε: ∂z/∂loc = 1, ∂z/∂scale = (z − loc)/scale
    torch.testing.assert_close(g_loc, torch.tensor(3.0, dtype=F64))
    torch.testing.assert_close(g_scale, ((z - 1.5) / 2.0).sum())
    assert not implicit_surrogate(z, torch.zeros(3), torch.zeros(3)).requires_grad


# --------------------------------------------------------------------------- laws
@pytest.mark.parametrize("case", UNIVARIATE, ids=str)
def test_samples_match_the_mixture_cdf_ks(case):
    spec = UNIVARIATE[case]
    q = _univariate(*(torch.tensor(v, dtype=F64) for v in spec))
    z = q.sample((4000,)).numpy()
    p = st.kstest(z, NormalMixtureRef(*spec).cdf).pvalue
    assert p > 1e-4, f"KS p-value {p:.2e}"


@pytest.mark.parametrize("case", DIAGONAL, ids=str)
def test_diagonal_samples_match_marginals_and_the_sum_ks(case):
    """Each coordinate's marginal, and Σ_d z_d (a normal mixture too), pass KS."""
    logits, loc, scale = (np.asarray(a) for a in DIAGONAL[case])
    q = _diagonal(*(torch.tensor(v, dtype=F64) for v in DIAGONAL[case]))
    z = q.sample((4000,)).numpy()
    for d in range(loc.shape[1]):
        p = st.kstest(z[:, d], NormalMixtureRef(logits, loc[:, d], scale[:, d]).cdf).pvalue
        assert p > 1e-4, f"coordinate {d}: KS p-value {p:.2e}"
    ref_sum = NormalMixtureRef(logits, loc.sum(1), np.sqrt((scale**2).sum(1)))
    p = st.kstest(z.sum(1), ref_sum.cdf).pvalue
    assert p > 1e-4, f"sum of coordinates: KS p-value {p:.2e}"


def _torch_pairs():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 3, generator=g, dtype=F64)
    loc = torch.randn(4, 3, 5, generator=g, dtype=F64)
    scale = torch.rand(4, 3, 5, generator=g, dtype=F64) + 0.3
    cat = td.Categorical(logits=logits)
    return {
        "normal": (
            reparam.MixtureSameFamily(cat, reparam.Normal(loc[..., 0], scale[..., 0])),
            td.MixtureSameFamily(cat, td.Normal(loc[..., 0], scale[..., 0])),
        ),
        "torch-laplace": (
            reparam.MixtureSameFamily(cat, td.Laplace(loc[..., 0], scale[..., 0])),
            td.MixtureSameFamily(cat, td.Laplace(loc[..., 0], scale[..., 0])),
        ),
        "independent": (
            reparam.MixtureSameFamily(cat, reparam.Independent(reparam.Normal(loc, scale), 1)),
            td.MixtureSameFamily(cat, td.Independent(td.Normal(loc, scale), 1)),
        ),
        "diagonal-normal": (
            reparam.MixtureSameFamily(cat, reparam.DiagonalNormal(loc, scale)),
            td.MixtureSameFamily(cat, td.Independent(td.Normal(loc, scale), 1)),
        ),
        "shared-weights": (
            reparam.MixtureSameFamily(
                td.Categorical(logits=logits[0]), td.Normal(loc[..., 0], scale[..., 0])
            ),
            td.MixtureSameFamily(
                td.Categorical(logits=logits[0]), td.Normal(loc[..., 0], scale[..., 0])
            ),
        ),
    }


@pytest.mark.parametrize("pair", list(_torch_pairs()), ids=str)
def test_log_prob_mean_variance_equal_torch(pair):
    ours, theirs = _torch_pairs()[pair]
    assert ours.batch_shape == theirs.batch_shape
    assert ours.event_shape == theirs.event_shape
    z = ours.sample((7,))
    torch.testing.assert_close(ours.log_prob(z), theirs.log_prob(z), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.mean, theirs.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours.variance, theirs.variance, rtol=1e-12, atol=1e-12)
    if not ours.event_shape:
        torch.testing.assert_close(ours.cdf(z), theirs.cdf(z), rtol=1e-12, atol=1e-12)
        # the quantile inverts the CDF
        u = torch.rand(7, *ours.batch_shape, dtype=F64)
        torch.testing.assert_close(ours.cdf(ours.icdf(u)), u, rtol=1e-10, atol=1e-12)


def test_log_prob_from_noise_is_the_sum_of_conditional_log_densities():
    spec = DIAG_OVERLAPPING
    q = _diagonal(*(torch.tensor(v, dtype=F64) for v in spec))
    u = q.sample_noise((5,))
    z, log_q = q.from_noise_and_log_prob(u)
    logits, loc, scale = (np.asarray(a) for a in spec)
    want = []
    for row in z.numpy():
        log_w, total = logits - logsumexp(logits), 0.0
        for d in range(row.size):
            lp = st.norm.logpdf(row[d], loc[:, d], scale[:, d])
            total += logsumexp(log_w - logsumexp(log_w) + lp)
            log_w = log_w + lp
        want.append(total)
    np.testing.assert_allclose(log_q.numpy(), want, rtol=1e-12)


# --------------------------------------------------------------------------- other inputs
class _NoIcdfNormal(td.Normal):
    def icdf(self, value):
        raise NotImplementedError


class _NoIcdfExponential(td.Exponential):
    def icdf(self, value):
        raise NotImplementedError


class _PackedNormal(td.Normal):
    """A Normal whose constructor takes (loc, scale) packed: coordinates cannot be sliced."""

    def __init__(self, packed, validate_args=None):
        super().__init__(packed[..., 0], packed[..., 1], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return _PackedNormal(
            torch.stack([self.loc.expand(batch_shape), self.scale.expand(batch_shape)], -1)
        )


def test_components_without_icdf_use_an_expanding_bracket():
    logits, loc, scale = (torch.tensor(v, dtype=F64) for v in OVERLAPPING)
    cat = td.Categorical(logits=logits)
    u = torch.rand(200, dtype=F64)
    a = reparam.MixtureSameFamily(cat, td.Normal(loc, scale)).from_noise(u)
    b = reparam.MixtureSameFamily(cat, _NoIcdfNormal(loc, scale)).from_noise(u)
    torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-13)


def test_half_line_components_without_icdf():
    """Exponential components (support z > 0, no icdf): KS, and ∇E[z] within 5 SE."""
    rates, logits = [0.5, 3.0], torch.tensor([0.2, -0.1], dtype=F64)
    rate = torch.tensor(rates, dtype=F64).expand(200, 2).clone().requires_grad_()
    q = reparam.MixtureSameFamily(td.Categorical(logits=logits), _NoIcdfExponential(rate))
    z = q.rsample((50,))  # (50, 200): 200 groups of 50
    assert (z > 0).all()
    w = softmax(logits.numpy())
    cdf = lambda x: (w * -np.expm1(-np.multiply.outer(x, rates))).sum(-1)  # noqa: E731
    assert st.kstest(z.detach().numpy().ravel(), cdf).pvalue > 1e-4
    # E[z] = Σ_k w_k / rate_k, so ∂E[z]/∂rate_k = −w_k / rate_k²
    (grad,) = torch.autograd.grad(z.mean(0).sum(), rate)
    _assert_within_5se("rate", grad.numpy(), -w / np.square(rates))


def test_coordinates_that_cannot_be_sliced_are_selected_from_the_full_batch():
    spec = DIAG_OVERLAPPING
    logits, loc, scale = (torch.tensor(v, dtype=F64) for v in spec)
    cat = td.Categorical(logits=logits)
    q_slow = reparam.MixtureSameFamily(
        cat, td.Independent(_PackedNormal(torch.stack([loc, scale], -1)), 1)
    )
    q_fast = reparam.MixtureSameFamily(cat, td.Independent(td.Normal(loc, scale), 1))
    u = torch.rand(50, 3, dtype=F64)
    torch.testing.assert_close(q_slow.from_noise(u), q_fast.from_noise(u), rtol=1e-13, atol=1e-13)
    assert q_slow._slice_ok is False
    assert q_fast._slice_ok is True


OTHER_FAMILIES = {
    "Laplace": (reparam.Laplace, st.laplace, ([-2.0, 1.5], [0.5, 1.0])),
    "Gumbel": (reparam.Gumbel, st.gumbel_r, ([-1.0, 2.0], [0.7, 0.4])),
    "Logistic": (reparam.Logistic, st.logistic, ([0.0, 3.0], [1.0, 0.3])),
}


@pytest.mark.parametrize("family", OTHER_FAMILIES, ids=str)
def test_other_component_families_pass_ks(family):
    cls, ref, (loc, scale) = OTHER_FAMILIES[family]
    logits = torch.tensor([0.1, -0.3], dtype=F64)
    w = softmax(logits.numpy())
    q = reparam.MixtureSameFamily(
        td.Categorical(logits=logits),
        cls(torch.tensor(loc, dtype=F64), torch.tensor(scale, dtype=F64)),
    )
    z = q.sample((3000,)).numpy()
    p = st.kstest(z, lambda x: (w * ref.cdf(x[..., None], loc, scale)).sum(-1)).pvalue
    assert p > 1e-4, f"{family}: KS p-value {p:.2e}"


def test_categorical_from_probs_and_reparam_categorical_are_accepted():
    loc, scale = torch.tensor([-1.0, 2.0]), torch.tensor([1.0, 0.5])
    probs = torch.tensor([0.3, 0.7])
    q = reparam.MixtureSameFamily(td.Categorical(probs=probs), reparam.Normal(loc, scale))
    assert q.rsample((4,)).shape == (4,)
    if hasattr(reparam, "Categorical"):
        q2 = reparam.MixtureSameFamily(
            reparam.Categorical(probs=probs), reparam.Normal(loc, scale)
        )
        torch.testing.assert_close(q2.log_prob(torch.zeros(3)), q.log_prob(torch.zeros(3)))


def test_expand_and_batch_broadcast_of_the_weights():
    logits = torch.tensor([0.0, 1.0])  # shared by the batch of 3
    q = reparam.MixtureSameFamily(
        td.Categorical(logits=logits), reparam.Normal(torch.randn(3, 2), torch.ones(3, 2))
    )
    assert q.batch_shape == (3,)
    big = q.expand((4, 3))
    z = big.rsample((2,))
    assert z.shape == (2, 4, 3)
    torch.testing.assert_close(big.log_prob(z), q.log_prob(z))


# --------------------------------------------------------------------------- bad input
def _bad_cases():
    normal2 = reparam.Normal(torch.zeros(2), torch.ones(2))
    cat3 = td.Categorical(logits=torch.zeros(3))
    return {
        "K mismatch": (cat3, normal2, r"3 components.*has 2"),
        "batch mismatch": (
            td.Categorical(logits=torch.zeros(4, 2)),
            reparam.Normal(torch.zeros(3, 2), torch.ones(3, 2)),
            r"batch_shape \(4,\) does not broadcast.*\(3,\)",
        ),
        "not categorical": (
            td.Normal(torch.zeros(2), torch.ones(2)),
            normal2,
            r"mixture_distribution must be .*Categorical.*Normal",
        ),
        "one-hot is not categorical": (
            td.OneHotCategorical(logits=torch.zeros(2)),
            normal2,
            r"Categorical.*OneHotCategorical",
        ),
        "component not a distribution": (cat3, torch.zeros(3), r"component_distribution must be"),
        "no component dimension": (
            td.Categorical(logits=torch.zeros(1)),
            reparam.Normal(0.0, 1.0),
            r"batch shape \(\*B, K\)",
        ),
    }


@pytest.mark.parametrize("case", list(_bad_cases()), ids=str)
def test_bad_input_raises_value_error_naming_the_problem(case):
    mix, comp, pattern = _bad_cases()[case]
    with pytest.raises(ValueError, match=pattern):
        reparam.MixtureSameFamily(mix, comp)


def _no_rsample_cases():
    tril = torch.tensor([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [-0.3, 0.2, 0.7]], dtype=F64)
    return {
        "full covariance": (
            td.Categorical(logits=torch.tensor([[0.0, 1.0], [0.5, -0.5]], dtype=F64)),
            reparam.MultivariateNormal(
                torch.randn(2, 2, 3, dtype=F64), scale_tril=tril.expand(2, 2, 3, 3)
            ),
            r"MultivariateNormal.*no diagonal structure",
        ),
        "two event dims": (
            td.Categorical(logits=torch.tensor([0.0, 1.0], dtype=F64)),
            reparam.Independent(
                reparam.Normal(torch.randn(2, 3, 4, dtype=F64), torch.ones(2, 3, 4, dtype=F64)),
                2,
            ),
            r"event_shape must be \(\) or \(D,\).*got \(3, 4\)",
        ),
        "no cdf": (
            td.Categorical(logits=torch.tensor([0.0, 1.0], dtype=F64)),
            td.StudentT(3.0, torch.tensor([-1.0, 2.0], dtype=F64), torch.ones(2, dtype=F64)),
            r"StudentT has no cdf",
        ),
        "coordinates without cdf": (
            td.Categorical(logits=torch.tensor([0.0, 1.0], dtype=F64)),
            td.Independent(td.StudentT(3.0, torch.zeros(2, 3, dtype=F64), 1.0), 1),
            r"coordinates .*StudentT.* have no cdf",
        ),
    }


@pytest.mark.parametrize("case", list(_no_rsample_cases()), ids=str)
def test_components_without_rsample_work_as_torch_and_refuse_only_rsample(case):
    mix, comp, pattern = _no_rsample_cases()[case]
    q = reparam.MixtureSameFamily(mix, comp)
    ref = td.MixtureSameFamily(mix, comp)
    assert not q.has_rsample
    assert (q.batch_shape, q.event_shape) == (ref.batch_shape, ref.event_shape)
    x = q.sample((7,))
    assert x.shape == (7, *ref.batch_shape, *ref.event_shape)
    torch.testing.assert_close(q.log_prob(x), ref.log_prob(x))
    torch.testing.assert_close(q.mean, ref.mean)
    if case != "no cdf":  # torch's variance of a StudentT(3) is finite, like ours
        torch.testing.assert_close(q.variance, ref.variance)
    for call in (q.rsample, q.sample_noise, lambda: q.rsample_and_log_prob((2,))):
        with pytest.raises(NotImplementedError, match=r"no rsample or noise.*" + pattern):
            call()
    with pytest.raises(NotImplementedError, match=pattern):
        q.from_noise(torch.rand(q.batch_shape + q.event_shape, dtype=F64))


def test_ancestral_sample_of_a_full_covariance_mixture_has_the_mixture_moments():
    """Sample mean and variance within 5 standard errors of the closed forms (fixed seed)."""
    mix, comp, _ = _no_rsample_cases()["full covariance"]
    q = reparam.MixtureSameFamily(mix, comp)
    n = 20000
    x = q.sample((n,))
    se = x.std(0) / math.sqrt(n)
    assert ((x.mean(0) - q.mean).abs() <= 5 * se).all()
    squares = (x - q.mean) ** 2
    se = squares.std(0) / math.sqrt(n)
    assert ((squares.mean(0) - q.variance).abs() <= 5 * se).all()
