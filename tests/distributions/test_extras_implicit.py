"""Family-specific tests of Chi, GeneralizedNormal, PERT, Horseshoe and Stable: laws
against scipy (KS, closed forms), pathwise gradients of two expectations against closed
forms or quadrature within 5 standard errors, no NaN/inf on extreme parameter grids in
float32 and float64, and the peers' edge values (undefined moments)."""

import math

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st
import torch

import reparam

F64 = torch.float64
DTYPES = [torch.float32, torch.float64]


def _t(values, dtype=F64):
    return torch.tensor(values, dtype=dtype)


def _grad_within_5se(make, params, stats, n=4000, seed=0):
    """Pathwise gradients of E[f(z)] within 5 standard errors of the exact ones.

    ``params``: name → float (every sample gets its own leaf copy, shape (n,)).
    ``stats``: list of (f, {name: exact ∂E[f]/∂name}).
    """
    for k, (f, want) in enumerate(stats):
        torch.manual_seed(seed + k)
        leaves = {p: torch.full((n,), v, dtype=F64, requires_grad=True) for p, v in params.items()}
        z = make(**leaves).rsample()
        grads = torch.autograd.grad(f(z).sum(), [leaves[p] for p in want])
        for (name, expected), g in zip(want.items(), grads, strict=True):
            se = g.std().item() / math.sqrt(n)
            err = abs(g.mean().item() - expected)
            assert err <= 5 * se + 1e-10 * (1 + abs(expected)), (name, g.mean(), expected, se)


def _assert_finite_grads(q, leaves, n=2000, f=torch.sin):
    z, log_q = q.rsample_and_log_prob((n,)) if q.support is not None else (q.rsample((n,)), None)
    assert torch.isfinite(z).all(), z[~torch.isfinite(z)]
    if log_q is not None:
        assert torch.isfinite(log_q).all()
    grads = torch.autograd.grad(f(z).sum(), leaves)
    for g in grads:
        assert torch.isfinite(g).all(), g


# ---------------------------------------------------------------------------------- Chi
CHI_DF = [1e-3, 0.05, 0.7, 1.0, 3.0, 30.0, 1e3, 1e5]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_chi_finite_on_extreme_df(dtype):
    torch.manual_seed(0)
    df = _t(CHI_DF, dtype).requires_grad_()
    q = reparam.Chi(df)
    _assert_finite_grads(q, [df], f=lambda z: z.log())
    assert torch.isfinite(q.mean).all()
    assert torch.isfinite(q.variance).all()


def test_chi_is_the_root_of_chi2_of_the_same_noise():
    df = _t([0.3, 2.0, 7.0])
    q = reparam.Chi(df)
    for noise in ("mc", "antithetic", "qmc"):
        u = q.sample_noise((64,), noise=noise)
        x = reparam.Chi2(df).from_noise(u.clone())
        torch.testing.assert_close(q.from_noise(u) ** 2, x)


@pytest.mark.parametrize("df", [0.01, 0.05, 0.5, 200.0])
def test_chi_samples_match_scipy_at_extremes(df):
    torch.manual_seed(1)
    z = reparam.Chi(_t(df)).sample((4000,)).numpy()
    assert st.kstest(z, st.chi(df).cdf).pvalue > 1e-4


def test_chi_closed_forms_match_scipy_at_extremes():
    df = np.array([1e-3, 0.05, 0.5, 200.0, 1e4])
    q = reparam.Chi(_t(df))
    np.testing.assert_allclose(q.mean.numpy(), st.chi(df).mean(), rtol=1e-10)
    np.testing.assert_allclose(q.variance.numpy(), st.chi(df).var(), rtol=1e-7)
    np.testing.assert_allclose(q.entropy().numpy(), st.chi(df).entropy(), rtol=1e-8)
    u = _t([[1e-6], [0.3], [0.999]])
    want = st.chi(df).ppf(u.numpy())
    np.testing.assert_allclose(q.icdf(u).numpy(), want, rtol=1e-8, atol=1e-300)


@pytest.mark.parametrize("df", [0.02, 0.8, 5.0, 300.0])
def test_chi_pathwise_gradients(df):
    """E[log z] = ½(log 2 + ψ(ν/2)) and E[z] = √2 Γ((ν+1)/2)/Γ(ν/2): ∂/∂ν in closed form."""
    d_log = 0.25 * sp.polygamma(1, df / 2)
    mean = reparam.Chi(_t(df)).mean.item()
    d_mean = mean * 0.5 * (sp.digamma((df + 1) / 2) - sp.digamma(df / 2))
    _grad_within_5se(
        reparam.Chi, {"df": df}, [(torch.log, {"df": d_log}), (lambda z: z, {"df": d_mean})]
    )
