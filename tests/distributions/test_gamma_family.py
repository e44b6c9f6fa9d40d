"""Gamma, Chi2, Beta, Dirichlet and StudentT: the quantile, the implicit derivative ∂x/∂a,
pathwise gradients over parameter grids with extremes, stability, KS and bad input.

References are independent of the code under test: scipy (gammaincinv, quadrature,
scipy.stats) and mpmath, all in float64 or better. Statistical tolerances are 5 standard
errors estimated from the spread of G independent group means (conftest seeds each test).
"""

from __future__ import annotations

import math
import re

import mpmath
import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st
import torch
from scipy.integrate import quad

import reparam
from reparam.distributions._gamma_math import (
    standard_gamma_dlogx_da,
    standard_gamma_dx_da,
    standard_gamma_log_quantile,
    standard_gamma_log_quantile_and_grad,
    standard_gamma_quantile,
)
from reparam.noise import draw_noise

F64 = torch.float64
GRID_A = [1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1000.0]
GRID_U = [1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999, 1 - 1e-6]

# Measured on GRID_A × GRID_U (see _gamma_math's docstring): ours vs the mpmath reference
# ≤ 4.3e-14 (∂ log x/∂a) and ≤ 2.3e-14 (x); vs Richardson-extrapolated central
# differences of scipy's gammaincinv: max 7.3e-12, median 3.6e-13 (that reference itself
# is accurate to ~2e-11); torch's _standard_gamma_grad there: max 1.9e-2, median 2e-6.
FD_RTOL = 1e-9
MPMATH_RTOL = 1e-12


# --------------------------------------------------------------------------- references
def _scipy_log_quantile(a: float, u: float) -> float:
    """log x with P(a, x) = u from scipy (the upper inverse for u > ½, for its precision)."""
    x = sc.gammaincinv(a, u) if u <= 0.5 else sc.gammainccinv(a, 1 - u)
    return math.log(x) if x > 0 else -math.inf


def _fd_dlogx_da(a: float, u: float) -> float:
    """∂ log x/∂a by central differences of scipy's quantile, Richardson-extrapolated
    (steps a·1e-3 and a·5e-4; ~1e-11 relative against mpmath on the grid)."""
    h = 1e-3 * a

    def central(step: float) -> float:
        return (_scipy_log_quantile(a + step, u) - _scipy_log_quantile(a - step, u)) / (2 * step)

    return (4 * central(h / 2) - central(h)) / 3


def _mpmath_reference(a: float, u: float) -> tuple[float, float]:
    """(log x, ∂ log x/∂a) at 40 digits: the root in log space, then −(∂P/∂a)/(x p)."""
    with mpmath.workdps(40):
        am, um = mpmath.mpf(a), mpmath.mpf(u)
        upper = u > 0.5
        target = mpmath.log(1 - um) if upper else mpmath.log(um)

        def cdf(s, t):
            x = mpmath.exp(t)
            if upper:
                return mpmath.gammainc(s, x, mpmath.inf, regularized=True)
            return mpmath.gammainc(s, 0, x, regularized=True)

        t0 = (mpmath.log(um) + mpmath.loggamma(am + 1)) / am  # series' first term
        if t0 > -600:
            t0 = mpmath.mpf(_scipy_log_quantile(a, u))
        t = mpmath.findroot(lambda t: mpmath.log(cdf(am, t)) - target, t0)
        d_p = mpmath.diff(lambda s: cdf(s, t), am) * (-1 if upper else 1)
        log_xp = am * t - mpmath.exp(t) - mpmath.loggamma(am)
        return float(t), float(-d_p / mpmath.exp(log_xp))


def _quad_sum(g, points, **kw) -> float:
    """Σ quad(g) over consecutive breakpoints."""
    total = 0.0
    for lo, hi in zip(points[:-1], points[1:], strict=True):
        total += quad(g, lo, hi, epsabs=kw.get("epsabs", 1e-15), epsrel=1e-12, limit=200)[0]
    return total


def _gamma_expect(f, a: float, rate: float) -> float:
    """E f(z), z ~ Gamma(a, rate), integrated in s = log(rate·z), where the density
    exp(a s − eˢ − log Γ(a)) is smooth for every a (no singularity at z = 0)."""
    lg = math.lgamma(a)
    lo = (math.log(1e-18) + math.lgamma(a + 1)) / a  # P(a, x) ≤ x^a/Γ(a + 1)
    big = 41.5  # Chernoff: Q(a, x) ≤ e^{−41.5} beyond x = a + 2L + √(2aL) + 1
    hi = math.log(a + 2 * big + math.sqrt(2 * a * big) + 1)
    inner = []
    for p in (1e-12, 1e-8, 1e-4, 0.01, 0.1, 0.5, 0.9, 0.99, 1 - 1e-4, 1 - 1e-8):
        x = sc.gammaincinv(a, p)
        s = math.log(x) if x > 1e-300 else (math.log(p) + math.lgamma(a + 1)) / a
        inner.append(min(max(s, lo), hi))
    points = sorted({lo, hi, *inner})

    def g(s):
        return f(math.exp(s) / rate) * math.exp(a * s - math.exp(s) - lg)

    return _quad_sum(g, points)


def _beta_expect(f, a: float, b: float) -> float:
    """E f(z), z ~ Beta(a, b), integrated in s = logit z (density ∝ σ(s)^a σ(−s)^b)."""
    lb = sc.betaln(a, b)
    lo = (math.log(1e-18) + math.log(a) + lb) / a - 1
    hi = -(math.log(1e-18) + math.log(b) + lb) / b + 1
    inner = []
    for p in (1e-9, 1e-4, 0.01, 0.1, 0.5, 0.9, 0.99, 1 - 1e-4, 1 - 1e-9):
        z = st.beta.ppf(p, a, b)
        if 0 < z < 1:
            inner.append(min(max(sc.logit(z), lo), hi))
    points = sorted({lo, hi, *inner})

    def g(s):
        log_z, log_1mz = -np.logaddexp(0, -s), -np.logaddexp(0, s)
        return f(sc.expit(s)) * math.exp(a * log_z + b * log_1mz - lb)

    return _quad_sum(g, points)


def _student_t_expect(f, df: float, loc: float, scale: float) -> float:
    """E f(z), z ~ t_ν(loc, scale), integrated in w = asinh((z − loc)/scale), where the
    density decays like e^{−ν|w|} (exponentially, for any ν)."""
    half = 45.0 / df + 10.0
    points = sorted({-half, half, *(s * w for s in (-1, 1) for w in (0.0, 1.0, 3.0, 10.0, 30.0))})
    points = [p for p in points if -half <= p <= half]

    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def g(w):
        y = math.sinh(w)
        log_pdf = log_norm - (df + 1) / 2 * math.log1p(y * y / df)
        return f(loc + scale * y) * math.exp(log_pdf) * math.cosh(w)

    return _quad_sum(g, points)


def _fd(expect, params: dict[str, float], name: str) -> float:
    """Central difference of ``expect(**params)`` in ``name`` (step 1e-4·value)."""
    h = 1e-4 * max(abs(params[name]), 1e-300)
    up, down = dict(params), dict(params)
    up[name] += h
    down[name] -= h
    return (expect(**up) - expect(**down)) / (2 * h)


# --------------------------------------------------------------------------- ∂x/∂a, quantile
def test_dx_da_matches_finite_differences_of_scipy_gammaincinv():
    """Relative error of ∂ log x/∂a (and ∂x/∂a) against Richardson central differences of
    scipy's gammaincinv on the grid, where x is a normal float64 (scipy underflows below)."""
    worst_ours = worst_torch = 0.0
    for a in GRID_A:
        for u in GRID_U:
            t_ref = _scipy_log_quantile(a, u)
            if t_ref < -690:
                continue
            ref = _fd_dlogx_da(a, u)
            at, ut = torch.tensor(a, dtype=F64), torch.tensor(u, dtype=F64)
            log_x, dlogx = standard_gamma_log_quantile_and_grad(ut, at)
            separate = standard_gamma_dlogx_da(log_x, at)
            x = torch.exp(log_x)
            dx = standard_gamma_dx_da(x, at)
            for got in (dlogx.item(), separate.item(), (dx / x).item()):
                worst_ours = max(worst_ours, abs(got / ref - 1))
            worst_torch = max(
                worst_torch, abs(torch._standard_gamma_grad(at, x).item() / x.item() / ref - 1)
            )
    assert worst_ours <= FD_RTOL, worst_ours
    assert worst_torch > 1e-3  # torch's approximation, for scale (measured ~9e-2)


@pytest.mark.parametrize("a", [1e-3, 1e-2, 0.5, 10.0, 1000.0])
def test_quantile_and_derivative_match_mpmath_including_underflow(a):
    """Also where x underflows float64 (a ≤ 1e-2): log x and ∂ log x/∂a stay exact."""
    us = [1e-6, 0.5, 0.9, 1 - 1e-6]
    log_x, dlogx = standard_gamma_log_quantile_and_grad(
        torch.tensor(us, dtype=F64), torch.tensor(a, dtype=F64)
    )
    for j, u in enumerate(us):
        t_ref, d_ref = _mpmath_reference(a, u)
        assert abs(log_x[j].item() - t_ref) <= 1e-13 * max(1.0, abs(t_ref)), (u, t_ref)
        assert abs(dlogx[j].item() / d_ref - 1) <= MPMATH_RTOL, (u, d_ref)


def test_quantile_matches_scipy_on_a_random_grid():
    a = torch.exp(torch.empty(20000, dtype=F64).uniform_(math.log(1e-3), math.log(1e3)))
    u = torch.rand(20000, dtype=F64)
    u[:500] = torch.exp(torch.empty(500, dtype=F64).uniform_(-700.0, 0.0))
    u[500:1000] = -torch.expm1(-torch.exp(torch.empty(500, dtype=F64).uniform_(-36.0, 0.0)))
    log_x = standard_gamma_log_quantile(u, a)
    assert torch.isfinite(log_x).all()
    an, un = a.numpy(), u.numpy()
    ref = np.where(un <= 0.5, sc.gammaincinv(an, un), sc.gammainccinv(an, 1 - un))
    ok = ref > 1e-300
    rel = np.abs(np.exp(log_x.numpy()[ok]) / ref[ok] - 1)
    assert rel.max() < 1e-11, rel.max()  # scipy's own accuracy is ~1e-12 here
    dlogx = standard_gamma_dlogx_da(log_x, a)
    assert torch.isfinite(dlogx).all()


@pytest.mark.parametrize("a", [1e-3, 1e-2, 0.1, 1.0, 10.0, 1e3])
def test_dx_da_integrates_to_the_derivative_of_the_mean(a):
    """E[∂x/∂a] = ∂E[x]/∂a = 1 exactly: the derivative has no bias anywhere in u.

    Integrated in s = log x (density exp(a s − eˢ − log Γ(a))) with 64-point
    Gauss–Legendre rules between quantile breakpoints — a deterministic check of the
    whole range of u, tails included, that sampling (skewed for small a) cannot give.
    """
    lo = (math.log(1e-18) + math.lgamma(a + 1)) / a
    hi = math.log(a + 83 + math.sqrt(83 * a) + 1)
    inner = [_scipy_log_quantile(a, p) for p in (1e-12, 1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999)]
    points = sorted({lo, hi, *(p for p in inner if lo < p < hi)})
    nodes, weights = np.polynomial.legendre.leggauss(64)
    s_all, w_all = [], []
    for p, q in zip(points[:-1], points[1:], strict=True):
        s_all.append(0.5 * (q - p) * nodes + 0.5 * (q + p))
        w_all.append(0.5 * (q - p) * weights)
    s = torch.tensor(np.concatenate(s_all))
    w = torch.tensor(np.concatenate(w_all))
    dlogx = standard_gamma_dlogx_da(s, torch.tensor(a, dtype=F64))
    density = torch.exp(a * s - torch.exp(s) - math.lgamma(a))
    mean_dx = (w * torch.exp(s) * dlogx * density).sum().item()
    total = (w * density).sum().item()
    assert abs(total - 1) < 1e-12  # the rule integrates the density itself exactly
    assert abs(mean_dx - 1) < 1e-10


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantile_float32_float64_clamps_underflow_to_tiny(dtype):
    a = torch.tensor([1e-3, 1e-2, 1.0, 1e3], dtype=dtype)
    u = torch.tensor([[1e-6], [0.5], [1 - 1e-6]], dtype=dtype).clamp(max=1 - 2**-24)
    x = standard_gamma_quantile(u, a)
    assert x.dtype == dtype
    assert x.shape == (3, 4)
    assert (x >= torch.finfo(dtype).tiny).all()
    assert torch.isfinite(x).all()
    g = standard_gamma_dx_da(x, a)
    assert g.dtype == dtype
    assert torch.isfinite(g).all()
    x64 = standard_gamma_quantile(u.double(), a.double())
    torch.testing.assert_close(x, x64.to(dtype).clamp(min=torch.finfo(dtype).tiny))


# --------------------------------------------------------------------------- pathwise gradients
def test_quadrature_references_are_accurate():
    """The references of the pathwise tests against closed forms, at the extremes too."""
    for a in (1e-3, 1e-2, 1.0, 10.0, 1e3):
        for rate in (1.0, 3.0):
            got = _gamma_expect(lambda z: z, a, rate)
            assert abs(got / (a / rate) - 1) < 1e-10
            if a <= 10:  # for a = 1e3 it is ~1e-125 … 1e-301, far below quad's epsabs
                got = _gamma_expect(lambda z: math.exp(-z), a, rate)
                assert abs(got / (rate / (rate + 1)) ** a - 1) < 1e-10
            d_a = _fd(
                lambda concentration, rate: _gamma_expect(lambda z: z, concentration, rate),
                {"concentration": a, "rate": rate},
                "concentration",
            )
            assert abs(d_a * rate - 1) < 1e-7
    for a, b in [(0.01, 0.01), (0.01, 3.0), (0.5, 0.5), (2.0, 5.0), (200.0, 50.0), (30.0, 85.0)]:
        assert abs(_beta_expect(lambda z: z, a, b) / (a / (a + b)) - 1) < 1e-10
        second = a * (a + 1) / ((a + b) * (a + b + 1))
        assert abs(_beta_expect(lambda z: z * z, a, b) / second - 1) < 1e-10
    for df, loc, scale in [(4.0, 0.3, 1.5), (30.0, -1.0, 0.5)]:
        assert abs(_student_t_expect(lambda z: z, df, loc, scale) - loc) < 1e-10
        var = scale**2 * df / (df - 2)
        second = _student_t_expect(lambda z, loc=loc: (z - loc) ** 2, df, loc, scale)
        assert abs(second / var - 1) < 1e-9
    assert abs(_student_t_expect(lambda z: 1.0, 0.5, 0.3, 1.5) - 1) < 1e-10


def _grouped_gradients(make, params, fs, n: int, groups: int):
    """For each f: ``groups`` independent estimates of ∇ E f(z) (mean over n samples each).

    ``params`` maps name → list of C cases; the leaves have shape (groups, C[, K]).
    """
    leaves = {
        k: torch.tensor(v, dtype=F64).expand(groups, *np.shape(v)).clone().requires_grad_()
        for k, v in params.items()
    }
    z = make(**leaves).rsample((n,))
    assert torch.isfinite(z).all()
    out = {}
    for fname, f in fs.items():
        value = f(z).mean(0).sum()
        grads = torch.autograd.grad(value, list(leaves.values()), retain_graph=True)
        out[fname] = dict(zip(leaves, grads, strict=True))
    return out


def _assert_within_5se(label: str, estimates: torch.Tensor, exact: float) -> None:
    g = estimates.shape[0]
    mean = estimates.mean().item()
    se = estimates.std().item() / math.sqrt(g)
    assert math.isfinite(mean)
    assert math.isfinite(se)
    assert abs(mean - exact) <= 5 * se + 1e-9 * (1 + abs(exact)), (
        f"{label}: mean {mean:.6g} exact {exact:.6g} se {se:.3g}"
    )


def test_gamma_pathwise_gradient_matches_quadrature():
    """∇ E f(z) for f ∈ {z, 1/(1 + z), log(1 + z)} (informative at every scale) over
    concentration 1e-3 … 1e3 and rate 1 and 3; n·G = 1e5 samples per case."""
    cases = [(a, r) for a in (1e-3, 1e-2, 1.0, 10.0, 1e3) for r in (1.0, 3.0)]
    fs = {
        "z": (lambda z: z, lambda z: z),
        "1/(1+z)": (lambda z: 1 / (1 + z), lambda z: 1 / (1 + z)),
        "log1p(z)": (torch.log1p, math.log1p),
    }
    est = _grouped_gradients(
        reparam.Gamma,
        {"concentration": [c[0] for c in cases], "rate": [c[1] for c in cases]},
        {k: v[0] for k, v in fs.items()},
        n=500,
        groups=200,
    )
    for j, (a, r) in enumerate(cases):
        for fname, (_, f_np) in fs.items():

            def expect(concentration, rate, f_np=f_np):
                return _gamma_expect(f_np, concentration, rate)

            for name in ("concentration", "rate"):
                exact = _fd(expect, {"concentration": a, "rate": r}, name)
                _assert_within_5se(
                    f"Gamma({a}, {r}) {fname} d/d{name}", est[fname][name][:, j], exact
                )


def test_beta_pathwise_gradient_matches_quadrature():
    cases = [(0.01, 0.01), (0.01, 3.0), (0.5, 0.5), (2.0, 5.0), (200.0, 50.0)]
    fs = {
        "z": (lambda z: z, lambda z: z),
        "sin(3z)": (lambda z: torch.sin(3 * z), lambda z: math.sin(3 * z)),
    }
    est = _grouped_gradients(
        reparam.Beta,
        {"concentration1": [c[0] for c in cases], "concentration0": [c[1] for c in cases]},
        {k: v[0] for k, v in fs.items()},
        n=500,
        groups=200,
    )
    for j, (a, b) in enumerate(cases):
        for fname, (_, f_np) in fs.items():

            def expect(concentration1, concentration0, f_np=f_np):
                return _beta_expect(f_np, concentration1, concentration0)

            params = {"concentration1": a, "concentration0": b}
            for name in params:
                exact = _fd(expect, params, name)
                _assert_within_5se(
                    f"Beta({a}, {b}) {fname} d/d{name}", est[fname][name][:, j], exact
                )


def test_student_t_pathwise_gradient_matches_quadrature():
    """f = tanh and a Gaussian bump for every ν (their derivatives decay, so the gradient
    has finite variance even for ν = 0.5); f = z where ν > 2."""
    cases = [(0.5, 0.3, 1.5), (4.0, 0.3, 1.5), (30.0, -1.0, 0.5)]
    fs = {
        "tanh": (torch.tanh, math.tanh),
        "bump": (lambda z: torch.exp(-0.5 * z * z), lambda z: math.exp(-0.5 * z * z)),
        "z": (lambda z: z, lambda z: z),
    }
    est = _grouped_gradients(
        reparam.StudentT,
        {
            "df": [c[0] for c in cases],
            "loc": [c[1] for c in cases],
            "scale": [c[2] for c in cases],
        },
        {k: v[0] for k, v in fs.items()},
        n=250,
        groups=200,
    )
    for j, (df, loc, scale) in enumerate(cases):
        for fname, (_, f_np) in fs.items():
            if fname == "z" and df <= 2:
                continue

            def expect(df, loc, scale, f_np=f_np):
                return _student_t_expect(f_np, df, loc, scale)

            params = {"df": df, "loc": loc, "scale": scale}
            for name in params:
                exact = _fd(expect, params, name)
                _assert_within_5se(
                    f"StudentT{(df, loc, scale)} {fname} d/d{name}", est[fname][name][:, j], exact
                )


def test_dirichlet_pathwise_gradient_matches_quadrature_of_beta_marginals():
    """f(z) = z₁ (z₁ ~ Beta(α₁, α₂ + α₃)) and f(z) = e^{−2(z₁ + z₂)} (z₁ + z₂ ~
    Beta(α₁ + α₂, α₃)): 1-D quadratures, differentiated in each α_k."""
    cases = [(0.01, 0.5, 2.0), (1.0, 1.0, 1.0), (30.0, 5.0, 80.0)]
    fs = {
        "z1": (lambda z: z[..., 0], lambda a: _beta_expect(lambda s: s, a[0], a[1] + a[2])),
        "exp(-2(z1+z2))": (
            lambda z: torch.exp(-2 * (z[..., 0] + z[..., 1])),
            lambda a: _beta_expect(lambda s: math.exp(-2 * s), a[0] + a[1], a[2]),
        ),
    }
    est = _grouped_gradients(
        reparam.Dirichlet,
        {"concentration": [list(c) for c in cases]},
        {k: v[0] for k, v in fs.items()},
        n=300,
        groups=100,
    )
    for j, alpha in enumerate(cases):
        for fname, (_, expect_of) in fs.items():
            params = {f"a{k}": v for k, v in enumerate(alpha)}

            def expect(a0, a1, a2, expect_of=expect_of):
                return expect_of((a0, a1, a2))

            for k, name in enumerate(params):
                exact = _fd(expect, params, name)
                got = est[fname]["concentration"][:, j, k]
                _assert_within_5se(f"Dirichlet{alpha} {fname} d/dα{k}", got, exact)


# --------------------------------------------------------------------------- stability
def _families(dtype):
    t = lambda v: torch.tensor(v, dtype=dtype)  # noqa: E731
    return {
        "Gamma": lambda: reparam.Gamma(
            t([1e-3, 1e-2, 1.0, 10.0, 1e3] * 2).requires_grad_(),
            t([1.0] * 5 + [3.0] * 5).requires_grad_(),
        ),
        "Chi2": lambda: reparam.Chi2(t([2e-3, 0.1, 1.0, 30.0, 2e3]).requires_grad_()),
        "Beta": lambda: reparam.Beta(
            t([1e-3, 0.01, 0.5, 2.0, 200.0, 1e3]).requires_grad_(),
            t([1e-3, 3.0, 0.5, 5.0, 50.0, 1e-3]).requires_grad_(),
        ),
        "Dirichlet": lambda: reparam.Dirichlet(
            t(
                [[1e-3, 1e-3, 1e-3], [0.01, 0.5, 2.0], [1.0, 1.0, 1.0], [30.0, 5.0, 1e3]]
            ).requires_grad_()
        ),
        "StudentT": lambda: reparam.StudentT(
            t([0.5, 4.0, 30.0, 1e3]).requires_grad_(),
            t([0.3, 0.3, -1.0, 0.0]).requires_grad_(),
            t([1.5, 1.5, 0.5, 2.0]).requires_grad_(),
        ),
    }


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("family", ["Gamma", "Chi2", "Beta", "Dirichlet", "StudentT"])
def test_no_nan_or_inf_in_samples_log_probs_or_gradients(family, dtype):
    q = _families(dtype)[family]()
    eps = q.sample_noise((2000,))
    # The extremes of the noise (clamped as the sampler clamps them) in the first rows.
    extremes = torch.tensor([0.0, 1e-6, 0.5, 1 - 1e-6, 1.0], dtype=dtype)
    shape = (5,) + (1,) * (eps.dim() - 1)
    eps[:5] = reparam.StandardUniform.clamp(extremes.reshape(shape).expand_as(eps[:5]))
    z, log_q = q.from_noise_and_log_prob(eps)
    assert z.dtype == log_q.dtype == dtype
    assert torch.isfinite(z).all()
    assert torch.isfinite(log_q).all()
    assert bool(q.support.check(z).all())
    params = [p for p in q._param_items().values() if p.requires_grad]
    for loss in (z.sum(), log_q.sum()):
        grads = torch.autograd.grad(loss, params, retain_graph=True)
        for g in grads:
            assert torch.isfinite(g).all()


def test_log_prob_from_noise_is_exact_in_log_space_where_samples_round():
    """z rounds to 0 (Gamma, a = 1e-3) or to 0/1 (Beta(1e-3, 1e-3)): the density from the
    noise is that of the exact sample, also in float32, and equals the float64 one."""
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(1)
        q = reparam.Gamma(torch.tensor(1e-3, dtype=dtype), torch.tensor(2.0, dtype=dtype))
        u = torch.tensor([1e-6, 0.5, 0.99], dtype=dtype)
        z, log_q = q.from_noise_and_log_prob(u)
        log_x = standard_gamma_log_quantile(u, torch.tensor(1e-3, dtype=F64))
        s = log_x - math.log(2.0)  # log z
        want = 1e-3 * math.log(2.0) + (1e-3 - 1) * s - torch.exp(s) * 2.0 - math.lgamma(1e-3)
        torch.testing.assert_close(
            log_q.double(), want, rtol=1e-6 if dtype == torch.float32 else 1e-12, atol=0
        )
        assert z[0].item() == torch.finfo(dtype).tiny
    b = reparam.Beta(torch.tensor(1e-3), torch.tensor(1e-3))
    z, log_q = b.from_noise_and_log_prob(torch.tensor([[0.3, 0.6], [0.9, 0.2]]))
    assert torch.isfinite(log_q).all()
    assert ((z > 0) & (z < 1)).all()
    assert (log_q > 0).all()  # the density of Beta(1e-3, 1e-3) near 0 and 1 is huge


def test_chi2_is_gamma_half_df_rate_half_with_the_same_noise():
    df = torch.tensor([0.5, 3.0, 40.0], dtype=F64, requires_grad=True)
    eps = reparam.Chi2(df).sample_noise((50,))
    z = reparam.Chi2(df).from_noise(eps)
    w = reparam.Gamma(df / 2, torch.tensor(0.5, dtype=F64)).from_noise(eps)
    torch.testing.assert_close(z, w)
    (g1,) = torch.autograd.grad(z.sum(), df)
    (g2,) = torch.autograd.grad(w.sum(), df)
    torch.testing.assert_close(g1, g2)


def test_gamma_cdf_gradient_in_concentration_matches_scipy():
    a = torch.tensor([1e-2, 0.5, 3.0, 200.0], dtype=F64, requires_grad=True)
    rate = torch.tensor(1.5, dtype=F64)
    z = torch.tensor([1e-3, 0.4, 2.0, 140.0], dtype=F64)
    p = reparam.Gamma(a, rate).cdf(z)
    np.testing.assert_allclose(
        p.detach().numpy(), sc.gammainc(a.detach().numpy(), 1.5 * z.numpy()), rtol=1e-12
    )
    (g,) = torch.autograd.grad(p.sum(), a)
    an, xn = a.detach().numpy(), 1.5 * z.numpy()
    h = 1e-5 * an
    fd = (sc.gammainc(an + h, xn) - sc.gammainc(an - h, xn)) / (2 * h)
    np.testing.assert_allclose(g.numpy(), fd, rtol=1e-6)


def test_student_t_moments_follow_torch_where_undefined():
    df = torch.tensor([0.5, 1.0, 1.5, 2.0, 3.0], dtype=F64)
    ours = reparam.StudentT(df, 0.3, 2.0)
    ref = torch.distributions.StudentT(df, 0.3, 2.0)
    torch.testing.assert_close(ours.mean, ref.mean, equal_nan=True)
    torch.testing.assert_close(ours.variance, ref.variance, equal_nan=True)
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    with pytest.raises(NotImplementedError):
        ours.cdf(torch.zeros(5, dtype=F64))


def test_dirichlet_closed_forms_match_scipy():
    alpha = np.array([0.3, 2.0, 7.5])
    q = reparam.Dirichlet(torch.tensor(alpha))
    ref = st.dirichlet(alpha)
    np.testing.assert_allclose(q.mean.numpy(), ref.mean(), rtol=1e-12)
    np.testing.assert_allclose(q.variance.numpy(), ref.var(), rtol=1e-12)
    np.testing.assert_allclose(q.entropy().item(), ref.entropy(), rtol=1e-12)
    z = q.sample((5,))
    np.testing.assert_allclose(
        q.log_prob(z).numpy(), [ref.logpdf(v) for v in z.numpy()], rtol=1e-10
    )


# --------------------------------------------------------------------------- KS
def _ks(samples: np.ndarray, cdf) -> float:
    return st.kstest(samples, cdf).pvalue


@pytest.mark.parametrize("a", [1e-3, 1e-2, 1.0, 1e3])
def test_gamma_log_samples_ks_at_extremes(a):
    """KS on log z (invariant under the monotone map; z itself is clamped at tiny for
    small a). Reference P(a, eˢ): scipy, or its exact leading term x^a/Γ(a + 1) where
    eˢ underflows."""
    q = reparam.Gamma(torch.tensor(a, dtype=F64), torch.tensor(1.0, dtype=F64))
    log_z = q._log_z(q.sample_noise((4000,))).numpy()

    def cdf(s):
        s = np.asarray(s)
        lead = np.exp(np.minimum(a * s - math.lgamma(a + 1), 0.0))
        return np.where(s < -690, lead, sc.gammainc(a, np.exp(np.maximum(s, -690))))

    assert _ks(log_z, cdf) > 1e-4


@pytest.mark.parametrize(("a", "b"), [(1e-2, 1e-2), (0.01, 3.0), (200.0, 50.0)])
def test_beta_logit_samples_ks_at_extremes(a, b):
    """KS on logit z = log X − log Y (z itself rounds to 1 for ~35% of Beta(0.01, 0.01))."""
    q = reparam.Beta(torch.tensor(a, dtype=F64), torch.tensor(b, dtype=F64))
    log_z, log_1mz = q._log_parts(q.sample_noise((4000,)))
    s = (log_z - log_1mz).numpy()

    def cdf(s):  # I_σ(s)(a, b), as 1 − I_σ(−s)(b, a) for s ≥ 0 (σ(s) rounds to 1 there)
        s = np.asarray(s)
        return np.where(s < 0, st.beta.cdf(sc.expit(s), a, b), 1 - st.beta.cdf(sc.expit(-s), b, a))

    assert _ks(s, cdf) > 1e-4


@pytest.mark.parametrize("df", [0.5, 4.0, 1e3])
def test_student_t_ks(df):
    q = reparam.StudentT(torch.tensor(df, dtype=F64), 0.3, 1.5)
    z = q.sample((4000,)).numpy()
    assert _ks(z, st.t(df, 0.3, 1.5).cdf) > 1e-4


def test_dirichlet_marginals_ks():
    alpha = [0.01, 0.5, 2.0]
    z = reparam.Dirichlet(torch.tensor(alpha, dtype=F64)).sample((4000,)).numpy()
    total = sum(alpha)
    for k in (1, 2):  # z₀ ~ Beta(0.01, ·) is clamped at tiny often: checked via Beta above
        assert _ks(z[:, k], st.beta(alpha[k], total - alpha[k]).cdf) > 1e-4


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda v: reparam.Gamma(v, 1.0), "concentration"),
        (lambda v: reparam.Gamma(1.0, v), "rate"),
        (lambda v: reparam.Chi2(v), "df"),
        (lambda v: reparam.Beta(v, 1.0), "concentration1"),
        (lambda v: reparam.Beta(1.0, v), "concentration0"),
        (lambda v: reparam.Dirichlet(torch.tensor([1.0, v])), "concentration"),
        (lambda v: reparam.StudentT(v), "df"),
        (lambda v: reparam.StudentT(3.0, 0.0, v), "scale"),
    ],
)
@pytest.mark.parametrize("value", [0.0, -2.5])
def test_non_positive_parameters_raise_naming_the_parameter(make, name, value):
    shown = re.escape(f"{value:g}")  # torch prints 0.0 as "0." and -2.5 as "-2.5"
    with pytest.raises(ValueError, match=rf"'{name}'.*> 0.*{shown}"):
        make(value)


def test_dirichlet_needs_an_event_dimension():
    with pytest.raises(ValueError, match="'concentration'.*at least one dimension"):
        reparam.Dirichlet(torch.tensor(2.0))


# --------------------------------------------------------------------------- native MC path
# Plain Monte Carlo draws X with torch's exact sampler and u = P(a, X) (gamma.py's
# NativeGammaNoise); the inverse is used for every other noise and for a < 0.05.


def _native_mask(q) -> torch.Tensor:
    assert q._drawn is not None
    return q._drawn[3][1]


@pytest.mark.parametrize("a", [0.05, 0.5, 3.0, 300.0])
def test_native_gamma_samples_ks(a):
    q = reparam.Gamma(torch.tensor([a], dtype=F64), torch.tensor([2.0], dtype=F64))
    z = q.rsample((4000,))
    assert bool(_native_mask(q).all())
    assert _ks(z[:, 0].numpy(), st.gamma(a, scale=0.5).cdf) > 1e-4


def test_native_mixed_batch_ks_and_fallback_for_tiny_concentrations():
    """a < 0.05 is inverted (u ~ U(0, 1) drawn afresh), the rest sampled natively, in one
    batch; each column's log z follows its Gamma."""
    conc = [1e-3, 0.04, 0.3, 7.0]
    q = reparam.Gamma(torch.tensor(conc, dtype=F64), torch.tensor(1.0, dtype=F64))
    log_z = q._log_z(q.sample_noise((4000,)))
    native = _native_mask(q)
    assert not native[:, :2].any()
    assert bool(native[:, 2:].all())
    for j, a in enumerate(conc):

        def cdf(s, a=a):
            s = np.asarray(s)
            lead = np.exp(np.minimum(a * s - math.lgamma(a + 1), 0.0))
            return np.where(s < -690, lead, sc.gammainc(a, np.exp(np.maximum(s, -690))))

        assert _ks(log_z[:, j].numpy(), cdf) > 1e-4


def test_native_draws_below_the_floor_are_redrawn_exactly(monkeypatch):
    """Draws below the floor get u ~ U(0, P(a, floor)) and the inverse: X given X < floor.
    With the floor raised to the median the whole lower half takes that route."""
    import reparam.distributions._gamma_noise as gamma_module

    a = 0.7
    floor = sc.gammaincinv(a, 0.5)
    monkeypatch.setattr(gamma_module, "_LOG_NATIVE_MIN_X", math.log(floor))
    q = reparam.Gamma(torch.tensor([a], dtype=F64), torch.tensor([1.0], dtype=F64))
    z = q.rsample((4000,))[:, 0]
    native = _native_mask(q)[:, 0]
    assert 0.4 < native.double().mean().item() < 0.6
    assert bool((z[native] >= floor).all())
    assert bool((z[~native] < floor).all())
    assert _ks(z.numpy(), st.gamma(a).cdf) > 1e-4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_native_noise_is_consistent_with_the_inverse(dtype):
    """from_noise of a copy of u (the inverse) gives the native z: to ~1e-13 where u comes
    from the accurate series (grad on), ~1e-9 from torch's gammainc (no grad); float32 u
    is u rounded, so only the float32 sample's precision is asked there. (In float32 the
    ~1.4 % of draws of a = 0.05 below 1e-37 are redrawn by the inverse: not native.)"""
    conc = torch.tensor([0.05, 0.5, 3.0, 300.0], dtype=dtype, requires_grad=True)
    for grad, rtol in ((True, 1e-12), (False, 1e-8)):
        q = reparam.Gamma(conc, torch.tensor(2.0, dtype=dtype))
        with torch.set_grad_enabled(grad):
            u = q.sample_noise((500,))
            log_native = q._log_z(u).detach()
            log_inverse = q._log_z(u.clone()).detach()
        native = _native_mask(q)
        assert bool(native.all()) if dtype == torch.float64 else bool(native[:, 1:].all())
        assert native[:, 0].double().mean().item() > 0.9
        if dtype == torch.float64:
            err = ((log_native - log_inverse) / log_native.abs().clamp(min=1)).abs().max()
            assert err.item() < rtol
        else:
            z, w = torch.exp(log_native.double()), torch.exp(log_inverse.double())
            keep = (u > 1e-6) & (u < 1 - 1e-6)  # away from float32 u's coarse ends
            torch.testing.assert_close(z[keep], w[keep], rtol=1e-4, atol=0)


def test_native_noise_modified_in_place_or_copied_is_inverted():
    q = reparam.Gamma(torch.tensor([0.5, 4.0], dtype=F64), torch.tensor(1.0, dtype=F64))
    u = q.sample_noise((6,))
    assert q._recall_draw(u) is not None
    assert q._recall_draw(u.clone()) is None
    u[0] = 0.5
    assert q._recall_draw(u) is None
    z = q.from_noise(u)
    torch.testing.assert_close(z, q.from_noise(u.clone()), rtol=0, atol=0)
    assert q.expand((3, 2))._drawn is None
    u = q.sample_noise((6,))
    with torch.no_grad():
        q.concentration.add_(1.0)  # a parameter moved in place (an optimizer step)
    assert q._recall_draw(u) is None
    # edits that bump no version counter: through .data, and a fused optimizer's step
    u = q.sample_noise((6,))
    u.data[0] = 0.5
    assert q._recall_draw(u) is None
    u = q.sample_noise((6,))
    q.concentration.data.mul_(2.0)
    assert q._recall_draw(u) is None


@pytest.mark.parametrize("family", ["Gamma", "Beta", "Dirichlet", "StudentT"])
def test_native_draw_is_not_reused_after_a_fused_adam_step(family):
    """sample_noise, then a fused Adam step on the parameters (no _version bump), then
    from_noise: z must be the inverse at the new parameters, not the remembered draw."""
    q = _families(F64)[family]()
    params = [p.requires_grad_() for p in q._param_items().values()]
    u = q.sample_noise((5,))
    opt = torch.optim.Adam(params, lr=0.1, fused=True)
    for p in params:
        p.grad = -torch.ones_like(p)  # every parameter grows: all stay valid
    versions = [p._version for p in params]
    opt.step()
    assert [p._version for p in params] == versions  # the reason values are compared
    z = q.from_noise(u)
    fresh = type(q)(**{k: v.detach().requires_grad_() for k, v in q._param_items().items()})
    torch.testing.assert_close(z.detach(), fresh.from_noise(u.clone()), rtol=0, atol=0)


@pytest.mark.parametrize("noise", ["antithetic", "qmc"])
@pytest.mark.parametrize("family", ["Gamma", "Beta", "Dirichlet", "StudentT"])
def test_antithetic_and_qmc_noise_use_the_inverse(family, noise):
    q = _families(F64)[family]()
    torch.manual_seed(3)
    z, log_q = q.rsample_and_log_prob((8,), noise=noise)
    torch.manual_seed(3)
    eps = draw_noise(q, (8,), noise)
    assert q._recall_draw(eps) is None
    fresh = _families(F64)[family]()
    torch.testing.assert_close(z, fresh.from_noise(eps.clone()), rtol=0, atol=0)
    torch.testing.assert_close(log_q, fresh.log_prob_from_noise(eps, fresh.from_noise(eps)))


@pytest.mark.parametrize("family", ["Gamma", "Chi2", "Beta", "Dirichlet", "StudentT"])
def test_rsample_is_from_noise_of_sample_noise_with_the_native_path(family):
    q = _families(F64)[family]()
    torch.manual_seed(5)
    z = q.rsample((7,))
    torch.manual_seed(5)
    eps = q.sample_noise((7,))
    assert q._recall_draw(eps) is not None
    torch.testing.assert_close(z, q.from_noise(eps), rtol=0, atol=0)
    q.native_sampler = False
    assert q._recall_draw(q.sample_noise((7,))) is None


def test_native_gamma_gradients_are_unbiased():
    """∇ E z = (1/rate, −a/rate²) and ∇ E e^{−z} with E e^{−z} = (rate/(rate + 1))^a, over
    a ∈ {0.05, 0.3, 2, 40}, with the native path on (n·G = 1e5 per case)."""
    conc, rate = [0.05, 0.3, 2.0, 40.0], 1.5
    est = _grouped_gradients(
        reparam.Gamma,
        {"concentration": conc, "rate": [rate] * len(conc)},
        {"z": lambda z: z, "exp(-z)": lambda z: torch.exp(-z)},
        n=500,
        groups=200,
    )
    s = rate / (rate + 1)
    for j, a in enumerate(conc):
        exact = {
            "z": {"concentration": 1 / rate, "rate": -a / rate**2},
            "exp(-z)": {
                "concentration": math.log(s) * s**a,
                "rate": a * s ** (a - 1) / (rate + 1) ** 2,
            },
        }
        for fname, by_param in exact.items():
            for name, value in by_param.items():
                _assert_within_5se(
                    f"native Gamma({a}) {fname} d/d{name}", est[fname][name][:, j], value
                )


def test_native_beta_dirichlet_student_t_gradients_are_unbiased():
    """∇ E z of Beta(α, β) (mean α/(α + β)), Dirichlet (α_k/α₀) and Student t (E z = μ:
    ∂/∂ν = ∂/∂σ = 0), within 5 SE with the native path on."""
    ab = [(0.3, 2.0), (5.0, 0.8), (40.0, 60.0)]
    est = _grouped_gradients(
        reparam.Beta,
        {"concentration1": [a for a, _ in ab], "concentration0": [b for _, b in ab]},
        {"z": lambda z: z},
        n=500,
        groups=200,
    )["z"]
    for j, (a, b) in enumerate(ab):
        _assert_within_5se(f"Beta{a, b} d/dα", est["concentration1"][:, j], b / (a + b) ** 2)
        _assert_within_5se(f"Beta{a, b} d/dβ", est["concentration0"][:, j], -a / (a + b) ** 2)
    alpha = [0.4, 2.0, 7.0]
    est = _grouped_gradients(
        reparam.Dirichlet, {"concentration": [alpha]}, {"z0": lambda z: z[..., 0]}, 500, 200
    )["z0"]["concentration"]
    a0 = sum(alpha)
    for k in range(3):
        exact = (a0 - alpha[0]) / a0**2 if k == 0 else -alpha[0] / a0**2
        _assert_within_5se(f"Dirichlet d E z0/dα{k}", est[:, 0, k], exact)
    est = _grouped_gradients(
        reparam.StudentT,
        {"df": [8.0], "loc": [0.3], "scale": [1.5]},
        {"z": lambda z: z},
        n=500,
        groups=200,
    )["z"]
    _assert_within_5se("StudentT d E z/dν", est["df"][:, 0], 0.0)
    _assert_within_5se("StudentT d E z/dσ", est["scale"][:, 0], 0.0)
