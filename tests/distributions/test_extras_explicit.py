"""The explicit Pyro/TFP families of examples_extras_explicit.py: finite samples, log q and
gradients on extreme parameter grids, log_prob against scipy in the tails, the peers'
edge behaviour (undefined moments), and pathwise gradients at extreme parameters."""

import itertools
import math

import numpy as np
import pytest
import scipy.stats as st
import torch

import reparam
from reparam.distributions import StandardNormal, StandardUniform

from .examples_extras_explicit import EXAMPLES, _logit_normal, _sinh_arcsinh, _two_piece_normal

F64 = torch.float64
BY_NAME = {e["name"]: e for e in EXAMPLES}
EXTREME = [1e-6, 1e-2, 1.0, 1e2, 1e6]  # a positive scale-like parameter's grid
LOCS = [-1e3, 0.0, 2.5]

# name → the grid: parameter name → values; the grid is their cartesian product.
GRIDS = {
    "AsymmetricLaplace": {"loc": LOCS, "scale": EXTREME, "asymmetry": EXTREME},
    "SoftLaplace": {"loc": LOCS, "scale": EXTREME},
    "FoldedDistribution": {"loc": [-1e3, -1.0, 0.0, 1e-3, 1e3], "scale": EXTREME},
    # |n − γ|/δ ≤ 55 for |n| ≤ 6: sinh stays inside float32 (the law itself overflows
    # float32 for smaller δ)
    "JohnsonSU": {
        "skewness": [-5.0, 0.0, 5.0],
        "tailweight": [0.2, 1.0, 1e3, 1e6],
        "loc": [-1e3, 2.5],
        "scale": EXTREME,
    },
    # τ up to 10 with |s| ≤ 5 (z up to ~1e32 at σ = 1e6), down to 1e-6 (near-linear)
    "SinhArcsinh": {
        "loc": [-1e3, 2.5],
        "scale": EXTREME,
        "skewness": [-5.0, 0.0, 5.0],
        "tailweight": [1e-6, 0.1, 1.0, 10.0],
    },
    "TwoPieceNormal": {"loc": LOCS, "scale": EXTREME, "skewness": EXTREME},
    # built from (low, width, frac): high = low + width, peak = low + frac · width
    "Triangular": {
        "low": [-10.0, 0.0, 2.5],
        "width": [1e-4, 1.0, 1e6],
        "frac": [0.0, 1e-6, 0.5, 1.0],
    },
    "Moyal": {"loc": LOCS, "scale": EXTREME},
    # ξ → 0 from both sides and both signs; z up to σ t^{−ξ}/ξ ≈ 1e6 · (6e-8)^{−2} < 1e21
    "GeneralizedExtremeValue": {
        "loc": LOCS,
        "scale": EXTREME,
        "concentration": [-5.0, -0.5, -1e-8, 0.0, 1e-8, 0.5, 2.0],
    },
    # σ up to 1e6: z rounds to 0 or 1, log q from ε stays finite
    "LogitNormal": {"loc": [-30.0, 0.0, 2.5], "scale": EXTREME},
}
DERIVED = {
    "Triangular": lambda low, width, frac: {
        "low": low,
        "high": low + width,
        "peak": torch.minimum(low + frac * width, low + width),
    }
}


def grid(name, dtype, requires_grad=False):
    spec = GRIDS[name]
    rows = list(itertools.product(*spec.values()))
    cols = zip(*rows, strict=True)
    return {
        k: torch.tensor(c, dtype=dtype).requires_grad_(requires_grad)
        for k, c in zip(spec, cols, strict=True)
    }


def edge_noise(q, dtype):
    """Noise at and near the extremes, shaped (n, *batch_shape): uniform noise at both
    clamp edges; normal noise out to ±6 (probability 2e-9 beyond)."""
    if isinstance(q.noise, StandardUniform):
        finfo = torch.finfo(dtype)
        u = [0.0, finfo.tiny, 1e-30, 1e-12, 1e-6, 0.3, 0.5, 0.7, 1 - 1e-6, 1 - finfo.eps, 1.0]
        eps = StandardUniform.clamp(torch.tensor(u, dtype=dtype))
    else:
        assert isinstance(q.noise, StandardNormal)
        eps = torch.tensor([-6.0, -3.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 3.0, 6.0], dtype=dtype)
    return eps.reshape(-1, *([1] * len(q.batch_shape))).expand(-1, *q.batch_shape)


@pytest.mark.parametrize("name", sorted(GRIDS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_extreme_grid_is_finite(name, dtype):
    """z, log q (from ε) and their gradients in every parameter are finite on the grid
    (GRIDS) for the edge noise, and z lies in the support."""
    ps = grid(name, dtype, requires_grad=True)
    derive = DERIVED.get(name, lambda **kw: kw)
    q = BY_NAME[name]["make"](**derive(**ps), validate_args=True)
    eps = edge_noise(q, dtype)
    z, log_q = q.from_noise_and_log_prob(eps)
    assert torch.isfinite(z).all(), z
    assert torch.isfinite(log_q).all(), log_q
    assert q.support.check(z).all()
    # each element's gradient, scaled to O(1) so that the sums cannot overflow
    for out in (z, log_q):
        weight = 1 / (1 + out.detach().abs())
        grads = torch.autograd.grad(
            (out * weight).sum(), list(ps.values()), allow_unused=True, retain_graph=True
        )
        for k, g in zip(ps, grads, strict=True):
            assert g is None or torch.isfinite(g).all(), (k, g)


# ----------------------------------------------------------------------------- tails
def _t(values):
    return torch.tensor(values, dtype=F64)


def _assert_tail_log_prob(q, ref, x, rtol=1e-9):
    got = q.log_prob(torch.tensor(x, dtype=F64)).numpy()
    want = ref.logpdf(np.asarray(x))
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)


def test_asymmetric_laplace_tails_match_scipy():
    for kappa in (1e-3, 0.5, 3.0, 1e3):
        q = reparam.AsymmetricLaplace(_t(0.5), _t(2.0), _t(kappa))
        ref = st.laplace_asymmetric(kappa, 0.5, 2.0)
        # out to 300 left and right scales (the left scale is 2κ, the right one 2/κ)
        x = 0.5 + np.array([-600 * kappa, -2 * kappa, -1e-9, 0.0, 1e-9, 2 / kappa, 600 / kappa])
        _assert_tail_log_prob(q, ref, x)
        u = torch.tensor([1e-300, 1e-12, 0.3, 0.9, 1 - 1e-12], dtype=F64)
        np.testing.assert_allclose(q.icdf(u).numpy(), ref.ppf(u.numpy()), rtol=1e-9)


def test_soft_laplace_tails_match_scipy():
    q, ref = reparam.SoftLaplace(_t(-1.0), _t(3.0)), st.hypsecant(-1.0, 3.0)
    _assert_tail_log_prob(q, ref, [-2000.0, -30.0, -1.0, 0.0, 40.0, 2000.0])
    u = torch.tensor([1e-300, 1e-12, 0.5], dtype=F64)
    np.testing.assert_allclose(q.icdf(u).numpy(), ref.ppf(u.numpy()), rtol=1e-9)
    # near u = 1 scipy's log tan(πu/2) loses digits; the symmetry z(1 − δ) = 2μ − z(δ) holds
    delta = 1 - torch.tensor([0.9, 1 - 1e-12, 1 - 1e-15], dtype=F64)  # 1 − u, exact
    torch.testing.assert_close(q.icdf(1 - delta), -2.0 - q.icdf(delta), rtol=1e-12, atol=0)


def test_folded_normal_tails_match_scipy():
    loc, scale = _t([-3.0, 0.0, 0.5]), _t([0.5, 1.0, 2.0])
    q = reparam.FoldedDistribution(reparam.Normal(loc, scale))
    ref = st.foldnorm(np.abs(loc.numpy()) / scale.numpy(), scale=scale.numpy())
    x = np.array([0.0, 1e-8, 1.0, 10.0, 20.0])[:, None]
    _assert_tail_log_prob(q, ref, x)
    np.testing.assert_allclose(q.mean.numpy(), ref.mean(), rtol=1e-12)
    np.testing.assert_allclose(q.variance.numpy(), ref.var(), rtol=1e-10)


def test_johnson_su_tails_match_scipy():
    for skew, tail in ((-2.0, 0.5), (0.0, 1.0), (3.0, 5.0)):
        q = reparam.JohnsonSU(_t(skew), _t(tail), _t(1.0), _t(2.0))
        ref = st.johnsonsu(skew, tail, 1.0, 2.0)
        _assert_tail_log_prob(q, ref, [-1e3, -30.0, -5.0, 0.0, 1.0, 7.0, 30.0, 1e3])
        u = torch.tensor([1e-10, 0.2, 0.5, 0.9, 1 - 1e-10], dtype=F64)
        np.testing.assert_allclose(q.icdf(u).numpy(), ref.ppf(u.numpy()), rtol=1e-9)


def test_sinh_arcsinh_tails_and_its_special_cases():
    for skew, tail in ((-2.0, 0.5), (0.7, 1.0), (1.0, 3.0)):
        q = reparam.SinhArcsinh(_t(1.0), _t(2.0), _t(skew), _t(tail))
        ref = _sinh_arcsinh(skew, tail, 1.0, 2.0)
        x = [-1e3, -50.0, -5.0, 0.0, 1.0, 7.0, 50.0, 1e3]
        _assert_tail_log_prob(q, ref, x, rtol=1e-8)
    # s = 0, τ = 1 is N(μ, σ²); at s = 0, P[z − μ ≤ 2σ] = Φ(2) for every τ (TFP's c)
    loc, scale = _t([0.3, -2.0]), _t([1.5, 0.2])
    q = reparam.SinhArcsinh(loc, scale)
    n = torch.randn(50, 2, dtype=F64)
    torch.testing.assert_close(q.from_noise(n), loc + scale * n)
    normal = torch.distributions.Normal(loc, scale)
    torch.testing.assert_close(q.log_prob(q.from_noise(n)), normal.log_prob(loc + scale * n))
    for tail in (1e-6, 0.3, 1.0, 4.0, 60.0):
        q = reparam.SinhArcsinh(loc, scale, 0.0, _t(tail))
        torch.testing.assert_close(q.cdf(loc + 2 * scale), torch.special.ndtr(_t([2.0, 2.0])))
    for name in ("mean", "variance"):  # no closed form, as TFP
        with pytest.raises(NotImplementedError):
            getattr(q, name)


def test_johnson_su_moments_overflow_to_inf_for_small_tailweight():
    """TFP's formulas: e^{1/2δ²} overflows for δ ≲ 0.04 (float64), so mean and variance
    are ±inf there, finite (and scipy's) elsewhere."""
    q = reparam.JohnsonSU(_t([1.0, -1.0, 0.5]), _t([0.02, 0.02, 2.0]), _t(0.0), _t(1.0))
    assert torch.isneginf(q.mean[0])
    assert torch.isposinf(q.mean[1])
    assert torch.isposinf(q.variance[:2]).all()
    ref = st.johnsonsu(0.5, 2.0)
    np.testing.assert_allclose([q.mean[2].item(), q.variance[2].item()], ref.stats("mv"))


def test_two_piece_normal_tails_and_tfp_moments():
    for g in (1e-3, 0.4, 1.0, 3.0, 1e3):
        q = reparam.TwoPieceNormal(_t(0.5), _t(2.0), _t(g))
        ref = _two_piece_normal(g, 0.5, 2.0)
        x = 0.5 + np.array([-30 / g, -3.0, -1e-9, 0.0, 1e-9, 3.0, 30 * g])
        _assert_tail_log_prob(q, ref, x)
        u = torch.tensor([1e-300, 1e-12, 0.3, 0.9, 1 - 1e-12], dtype=F64)
        np.testing.assert_allclose(q.icdf(u).numpy(), ref.ppf(u.numpy()), rtol=1e-9)
        np.testing.assert_allclose(q.cdf(q.icdf(u)).numpy(), u.numpy(), rtol=1e-9)
        m = math.sqrt(2 / math.pi) * (g - 1 / g)
        torch.testing.assert_close(q.mean, _t(0.5 + 2.0 * m))
        torch.testing.assert_close(q.variance, _t(4.0 * (g * g + 1 / (g * g) - 1 - m * m)))
    # γ = 1 is the normal
    q = reparam.TwoPieceNormal(_t([0.3]), _t([1.7]), _t([1.0]))
    x = torch.linspace(-8, 8, 33, dtype=F64).unsqueeze(-1)
    normal = torch.distributions.Normal(_t([0.3]), _t([1.7]))
    torch.testing.assert_close(q.log_prob(x), normal.log_prob(x))
    torch.testing.assert_close(q.entropy(), normal.entropy())


def test_triangular_with_the_peak_at_either_end():
    """peak = low and peak = high: scipy's triang with c = 0 and 1; log q from ε equals
    log_prob(z) even at the edge noise; the density at the peak is 2/(high − low)."""
    low, high = _t([0.0, 0.0, -1.0]), _t([1.0, 1.0, 3.0])
    peak = _t([0.0, 1.0, 0.5])
    q = reparam.Triangular(low, high, peak)
    u = edge_noise(q, F64)
    z, log_q = q.from_noise_and_log_prob(u)
    assert torch.isfinite(log_q).all()
    # near an end z − low (or high − z) keeps few digits, so log_prob(z) does too (−inf
    # where z rounds onto the end): compare for u ∈ [1e-6, 1 − 1e-6]
    torch.testing.assert_close(log_q[4:9], q.log_prob(z)[4:9])
    x = torch.tensor([0.0, 1e-9, 0.25, 0.5, 1 - 1e-9, 1.0], dtype=F64).unsqueeze(-1)
    for j, c in enumerate((0.0, 1.0)):
        ref = st.triang(c)
        np.testing.assert_allclose(q.log_prob(x)[1:-1, j].numpy(), ref.logpdf(x[1:-1, 0].numpy()))
        np.testing.assert_allclose(q.cdf(x)[:, j].numpy(), ref.cdf(x[:, 0].numpy()), atol=1e-15)
        uu = torch.linspace(0.01, 0.99, 9, dtype=F64)
        got = q.icdf(uu.unsqueeze(-1).expand(9, 3))[:, j]
        np.testing.assert_allclose(got.numpy(), ref.ppf(uu.numpy()), rtol=1e-12)
    peak_density = q.log_prob(peak.unsqueeze(0)).squeeze(0)
    torch.testing.assert_close(peak_density, (2 / (high - low)).log())
    with pytest.raises(ValueError, match="support"):
        q.log_prob(_t([[-0.5, 1.5, 3.5]]))
    unchecked = reparam.Triangular(low, high, peak, validate_args=False)
    assert unchecked.log_prob(_t([[-0.5, 1.5, 3.5]])).isneginf().all()


def test_moyal_tails_match_scipy():
    q, ref = reparam.Moyal(_t(-1.0), _t(3.0)), st.moyal(-1.0, 3.0)
    _assert_tail_log_prob(q, ref, [-15.0, -5.0, -1.0, 0.0, 40.0, 300.0, 2000.0])
    u = torch.tensor([1e-300, 1e-12, 0.3, 0.5, 0.9, 1 - 1e-12], dtype=F64)
    np.testing.assert_allclose(q.icdf(u).numpy(), ref.ppf(u.numpy()), rtol=1e-9)
    np.testing.assert_allclose(q.cdf(q.icdf(u)).numpy(), u.numpy(), rtol=1e-9)


def test_gev_tails_the_gumbel_limit_and_tfp_moments():
    """log_prob and icdf against scipy (c = −ξ) in the tails; ξ → 0 is smooth (values and
    ∂/∂ξ of z, log_prob, mean, variance); mean inf for ξ ≥ 1, variance inf for ξ ≥ ½ and
    mode NaN for ξ < −1, as TFP returns them."""
    for xi in (-2.0, -0.3, 0.0, 0.4, 1.5):
        q = reparam.GeneralizedExtremeValue(_t(0.5), _t(2.0), _t(xi))
        ref = st.genextreme(-xi, 0.5, 2.0)
        u = torch.tensor([1e-300, 1e-12, 0.3, 0.9, 1 - 1e-12], dtype=F64)
        z = q.icdf(u)
        np.testing.assert_allclose(z.numpy(), ref.ppf(u.numpy()), rtol=1e-8)
        _assert_tail_log_prob(q, ref, z[1:-1].numpy(), rtol=1e-8)
    u = torch.tensor([1e-10, 0.5, 1 - 1e-10], dtype=F64)
    gumbel = torch.distributions.Gumbel(_t(0.5), _t(2.0))
    for xi in (-1e-9, 0.0, 1e-9):
        leaf = _t(xi).requires_grad_()
        q = reparam.GeneralizedExtremeValue(_t(0.5), _t(2.0), leaf)
        z = q.icdf(u)
        torch.testing.assert_close(z, gumbel.icdf(u), rtol=1e-6, atol=0)  # z − z₀ ≈ ξσs²/2
        torch.testing.assert_close(q.log_prob(z), gumbel.log_prob(z))
        torch.testing.assert_close(q.mean, gumbel.mean)
        torch.testing.assert_close(q.variance, gumbel.variance)
        grads = [torch.autograd.grad(v.sum(), leaf)[0] for v in (q.icdf(u), q.mean, q.variance)]
        # ∂z/∂ξ at 0 = σ s²/2 (s = log t); ∂mean/∂ξ = σ(γ²/2 + π²/12)
        s = torch.log(-torch.log(u))
        torch.testing.assert_close(grads[0], (2.0 * s * s / 2).sum(), rtol=1e-6, atol=1e-6)
        eg = 0.5772156649015329
        torch.testing.assert_close(
            grads[1], _t(2.0 * (eg**2 / 2 + math.pi**2 / 12)), rtol=1e-6, atol=0
        )
        h = 1e-4  # the variance's slope at 0 by a central difference of its closed form
        var = [reparam.GeneralizedExtremeValue(_t(0.5), _t(2.0), _t(x)).variance for x in (h, -h)]
        torch.testing.assert_close(grads[2], (var[0] - var[1]) / (2 * h), rtol=1e-6, atol=0)
    q = reparam.GeneralizedExtremeValue(_t(0.0), _t(1.0), _t([-1.5, 0.4, 0.6, 1.0, 3.0]))
    assert torch.isposinf(q.mean[3:]).all()
    assert torch.isfinite(q.mean[:3]).all()
    assert torch.isposinf(q.variance[2:]).all()
    assert torch.isfinite(q.variance[:2]).all()
    assert torch.isnan(q.mode[0])
    ref = st.genextreme(-0.4)
    np.testing.assert_allclose([q.mean[1].item(), q.variance[1].item()], ref.stats("mv"))


def test_logit_normal_tails_and_rounded_ends():
    q, ref = reparam.LogitNormal(_t(0.5), _t(2.0)), _logit_normal(0.5, 2.0)
    _assert_tail_log_prob(q, ref, [1e-200, 1e-10, 0.3, 0.5, 0.9, 1 - 1e-12])
    u = torch.tensor([1e-100, 1e-12, 0.3, 0.9, 1 - 1e-12], dtype=F64)
    np.testing.assert_allclose(q.icdf(u).numpy(), ref.ppf(u.numpy()), rtol=1e-9)
    # z rounds to 1 at x = 40 (float64): log q from ε finite, log_prob(1.0) is −inf
    q = reparam.LogitNormal(_t([40.0]), _t([1.0]))
    z, log_q = q.from_noise_and_log_prob(_t([[0.0]]))
    assert z.item() == 1.0
    assert torch.isfinite(log_q).all()
    assert torch.isneginf(q.log_prob(z)).all()
    for name in ("mean", "variance"):  # no closed form, as TFP (which has approximations)
        with pytest.raises(NotImplementedError):
            getattr(q, name)


# ----------------------------------------------------------------------------- peers
def test_asymmetric_laplace_matches_pyro():
    pyro_dist = pytest.importorskip("pyro.distributions")
    loc, scale = _t([0.0, 1.0, -2.0]), _t([1.0, 0.3, 5.0])
    kappa = _t([1.0, 0.2, 7.0])
    ours, ref = (
        reparam.AsymmetricLaplace(loc, scale, kappa),
        pyro_dist.AsymmetricLaplace(loc, scale, kappa),
    )
    x = torch.linspace(-20, 20, 41, dtype=F64).unsqueeze(-1)
    torch.testing.assert_close(ours.log_prob(x), ref.log_prob(x))
    torch.testing.assert_close(ours.mean, ref.mean)
    torch.testing.assert_close(ours.variance, ref.variance)
    torch.testing.assert_close(ours.left_scale, ref.left_scale)
    torch.testing.assert_close(ours.right_scale, ref.right_scale)


def test_soft_laplace_matches_pyro():
    pyro_dist = pytest.importorskip("pyro.distributions")
    loc, scale = _t([0.0, 1.0, -2.0]), _t([1.0, 0.3, 5.0])
    ours, ref = reparam.SoftLaplace(loc, scale), pyro_dist.SoftLaplace(loc, scale)
    x = torch.linspace(-20, 20, 41, dtype=F64).unsqueeze(-1)
    torch.testing.assert_close(ours.log_prob(x), ref.log_prob(x))
    torch.testing.assert_close(ours.cdf(x), ref.cdf(x))
    u = torch.linspace(0.01, 0.99, 21, dtype=F64).unsqueeze(-1)
    torch.testing.assert_close(ours.icdf(u), ref.icdf(u))
    torch.testing.assert_close(ours.mean, ref.mean)
    torch.testing.assert_close(ours.variance, ref.variance)


def test_folded_matches_pyro_for_normal_laplace_and_uniform_bases():
    """Pyro's log_prob (logsumexp over ±z); a base with bounded support (Uniform(−1, 2)):
    the −z outside it contributes nothing (Pyro's base raises there, so it runs unvalidated)."""
    pyro_dist = pytest.importorskip("pyro.distributions")
    td = torch.distributions
    loc, scale = _t([-1.0, 0.5]), _t([0.7, 2.0])
    x = torch.linspace(0.1, 6, 25, dtype=F64).unsqueeze(-1)  # Pyro's support excludes 0
    for base in (td.Normal(loc, scale), td.Laplace(loc, scale)):
        ours = reparam.FoldedDistribution(base)
        ref = pyro_dist.FoldedDistribution(base)
        torch.testing.assert_close(ours.log_prob(x), ref.log_prob(x))
    low, high = _t([-1.0, -2.0]), _t([2.0, 0.5])
    ours = reparam.FoldedDistribution(td.Uniform(low, high))
    ref = pyro_dist.FoldedDistribution(td.Uniform(low, high, validate_args=False))
    x = torch.tensor([[0.25], [0.75], [1.5]], dtype=F64)
    want = _t(
        [
            [math.log(2 / 3), math.log(0.8)],
            [math.log(2 / 3), -math.log(2.5)],
            [-math.log(3), -math.log(2.5)],
        ]
    )
    torch.testing.assert_close(ours.log_prob(x), want)
    torch.testing.assert_close(ours.log_prob(x), ref.log_prob(x))
    torch.testing.assert_close(ours.cdf(x), _t([[0.5 / 3, 0.2], [0.5, 0.5], [2.5 / 3, 0.8]]))
    with pytest.raises(NotImplementedError, match="Normal base"):
        _ = ours.mean


def test_folded_noise_is_the_bases():
    base = reparam.Laplace(_t([0.3, -2.0]), _t([1.0, 0.5]))
    q = reparam.FoldedDistribution(base)
    assert q.noise is base.noise
    for noise in ("mc", "antithetic", "qmc"):
        eps = q.sample_noise((8,), noise=noise)
        torch.testing.assert_close(q.from_noise(eps), base.from_noise(eps).abs())
    big = q.expand((4, 2))
    assert big.batch_shape == (4, 2)
    assert big.base_dist.batch_shape == (4, 2)
    with pytest.raises(ValueError, match="univariate"):
        reparam.FoldedDistribution(reparam.MultivariateNormal(torch.zeros(2), torch.eye(2)))
    with pytest.raises(TypeError, match="rsample"):
        reparam.FoldedDistribution(torch.distributions.Poisson(_t([1.0])))


# ----------------------------------------------------------------------------- gradients
# name → (parameters at an extreme of the family, the scipy reference, f): the pathwise
# gradient of E[f(z)] against the central difference of scipy's quadrature.
EXTREME_GRADIENTS = {
    "AsymmetricLaplace": ({"loc": 0.5, "scale": 2.0, "asymmetry": 8.0}, np.tanh),
    "SoftLaplace": ({"loc": -3.0, "scale": 0.05}, np.tanh),
    "FoldedDistribution": ({"loc": -0.05, "scale": 3.0}, np.tanh),
    "JohnsonSU": ({"skewness": 4.0, "tailweight": 6.0, "loc": 0.5, "scale": 0.3}, np.tanh),
    "SinhArcsinh": ({"loc": -0.5, "scale": 0.4, "skewness": 2.0, "tailweight": 0.3}, np.tanh),
    "TwoPieceNormal": ({"loc": 0.2, "scale": 0.5, "skewness": 6.0}, np.tanh),
    "Triangular": ({"low": -1.0, "high": 2.0, "peak": -0.97}, np.tanh),
    "Moyal": ({"loc": 1.0, "scale": 0.1}, np.tanh),
    "GeneralizedExtremeValue": ({"loc": 0.0, "scale": 0.5, "concentration": -0.9}, np.tanh),
    "LogitNormal": ({"loc": -2.0, "scale": 4.0}, np.tanh),
}


def _quadrature_gradient(ref_of, params, name, f, h=1e-5):
    def expect(delta):
        kw = {**params, name: params[name] + delta}
        return ref_of(**kw).expect(f, epsabs=1e-12, epsrel=1e-12, limit=200)

    step = h * max(1.0, abs(params[name]))
    return (expect(step) - expect(-step)) / (2 * step)


@pytest.mark.parametrize("name", sorted(EXTREME_GRADIENTS))
def test_pathwise_gradient_at_extreme_parameters(name):
    """∂/∂θ E[f(z)] by the pathwise estimate (4000 draws, each with its own copy of the
    parameters) within 5 standard errors of the quadrature, for f = tanh and f = z·e^{−z²}."""
    ex = BY_NAME[name]
    params = EXTREME_GRADIENTS[name][0]
    fs = [(np.tanh, torch.tanh), (lambda z: z * np.exp(-z * z), lambda z: z * torch.exp(-z * z))]
    n = 4000
    for f_np, f_torch in fs:
        leaves = {k: torch.full((n,), v, dtype=F64, requires_grad=True) for k, v in params.items()}
        z = ex["make"](**leaves, validate_args=True).rsample()
        grads = torch.autograd.grad(f_torch(z).sum(), list(leaves.values()))
        for k, g in zip(leaves, grads, strict=True):
            want = _quadrature_gradient(ex["scipy"], params, k, f_np)
            se = g.std().item() / math.sqrt(n)
            assert abs(g.mean().item() - want) <= 5 * se + 1e-9, (k, g.mean().item(), want, se)
