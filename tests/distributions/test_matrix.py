"""Family-specific tests of the matrix and multivariate families (issue 15).

Statistical checks use fixed seeds and tolerances of 5 standard errors of the estimate
(or KS / χ² p-values above 1e-4); the parameter grids of the stability tests are
stated in each test.
"""

from __future__ import annotations

import math

import pytest
import scipy.stats as st
import torch

import reparam

F64 = torch.float64


def _t(x, dtype=F64, grad=False):
    return torch.tensor(x, dtype=dtype).requires_grad_(grad)


def _assert_within_se(name, estimates, exact, sigmas=5.0):
    """``estimates``: (groups, *) independent estimates; ``exact``: the closed form."""
    mean = estimates.mean(0)
    se = estimates.std(0) / math.sqrt(estimates.shape[0])
    err = (mean - exact).abs()
    tol = sigmas * se + 1e-9 * (1 + exact.abs())
    assert bool((err <= tol).all()), f"{name}: mean {mean} exact {exact} se {se}"


def _grouped_grad(make, theta, f, groups=200, per_group=50):
    """``groups`` independent estimates of ∇θ E[f(z)] (means over ``per_group``)."""
    leaf = theta.detach().expand(groups, *theta.shape).clone().requires_grad_()
    z = make(leaf).rsample((per_group,))
    (g,) = torch.autograd.grad(f(z).mean(0).sum(), leaf)
    return g


# ------------------------------------------------------------ OneHotCategoricalStraightThrough
OHC = reparam.OneHotCategoricalStraightThrough


def test_one_hot_st_frequencies_match_probs_chi2():
    logits = _t([[0.2, -1.0, 0.5, 2.0], [3.0, 0.0, -0.7, -5.0]])
    q = OHC(logits=logits)
    z = q.sample((20000,))
    assert bool(((z == 0) | (z == 1)).all())
    assert bool((z.sum(-1) == 1).all())
    counts = z.sum(0).numpy()
    probs = torch.softmax(logits, -1).numpy()
    for j in range(2):
        keep = probs[j] * 20000 > 5
        expected = probs[j][keep] * 20000
        observed = counts[j][keep]
        expected = expected * observed.sum() / expected.sum()
        assert st.chisquare(observed, expected).pvalue > 1e-4


def test_one_hot_st_matches_torch():
    logits = _t([[0.2, -1.0, 0.5], [1.5, 0.0, -0.7]])
    ours = OHC(logits=logits)
    ref = torch.distributions.OneHotCategoricalStraightThrough(logits=logits)
    z = ref.sample((50,))
    torch.testing.assert_close(ours.log_prob(z), ref.log_prob(z))
    for name in ("mean", "mode", "variance"):
        torch.testing.assert_close(getattr(ours, name), getattr(ref, name))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    probs = _t([[0.2, 0.0, 0.8]])
    torch.testing.assert_close(
        OHC(probs=probs).entropy(),
        torch.distributions.OneHotCategoricalStraightThrough(probs=probs).entropy(),
    )
    torch.testing.assert_close(ours.enumerate_support(), ref.enumerate_support())


def test_one_hot_st_gradient_is_that_of_the_mean():
    """E[c·z] = c·p: the straight-through gradient is unbiased (exact per sample) for
    linear f; checked within 5 SE for two weight vectors."""
    logits = _t([0.3, -1.2, 2.0, 0.1])
    exact_leaf = logits.clone().requires_grad_()
    for c in (_t([1.0, -2.0, 0.5, 3.0]), _t([0.0, 1.0, 0.0, 0.0])):
        est = _grouped_grad(lambda t: OHC(logits=t), logits, lambda z, c=c: (z * c).sum(-1))
        (exact,) = torch.autograd.grad((torch.softmax(exact_leaf, -1) * c).sum(), exact_leaf)
        _assert_within_se("OHCST", est, exact)


@pytest.mark.parametrize("dtype", [torch.float32, F64], ids=str)
def test_one_hot_st_extreme_logits_finite(dtype):
    # grid: logits of magnitude up to 80, a −inf category, K = 2 and K = 50
    rows = [[80.0, -80.0], [0.0, -float("inf")], [-80.0, 80.0]]
    wide = torch.linspace(-40, 40, 50).tolist()
    for logits in (rows, [wide]):
        leaf = _t(logits, dtype, grad=True)
        q = OHC(logits=leaf)
        z, log_q = q.rsample_and_log_prob((64,))
        assert torch.isfinite(z).all()
        assert torch.isfinite(log_q).all()
        assert torch.isfinite(q.entropy()).all()
        (z * torch.arange(z.shape[-1], dtype=dtype)).sum().backward()
        assert torch.isfinite(leaf.grad).all()


def test_one_hot_st_wrap_gives_the_reparam_family():
    logits = _t([0.1, 0.5, -0.2], grad=True)
    q = reparam.wrap(torch.distributions.OneHotCategoricalStraightThrough(logits=logits))
    assert type(q) is OHC
    q.rsample().sum().backward()  # reaches the caller's tensor
    assert logits.grad is not None
