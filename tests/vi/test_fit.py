"""reparam.vi.fit on a conjugate linear-Gaussian model whose posterior is known exactly."""

import math

import pytest
import torch
from torch import nn

from reparam import DiagonalNormal
from reparam.estimators import detach_params
from reparam.vi import FlowGuide, FullRankGuide, MeanFieldGuide
from reparam.vi.fit import VIResult, elbo_converged, elbo_estimate, entropy_mode, fit

N, D, NOISE, PRIOR = 20, 3, 0.5, 1.0


def _model():
    """y = X w + N(0, σ²), w ~ N(0, s² I): posterior N(m, P⁻¹), P = I/s² + XᵀX/σ².

    Returns (log_joint (S, D) → (S,) in float32, m, P⁻¹, P in float64).
    """
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g, dtype=torch.float64)
    x[:, 1] = 0.8 * x[:, 0] + 0.6 * x[:, 1]  # correlated design: a correlated posterior
    y = x @ torch.randn(D, generator=g, dtype=torch.float64)
    y = y + NOISE * torch.randn(N, generator=g, dtype=torch.float64)
    precision = torch.eye(D, dtype=torch.float64) / PRIOR**2 + x.T @ x / NOISE**2
    cov = torch.linalg.inv(precision)
    mean = cov @ x.T @ y / NOISE**2
    xf, yf = x.float(), y.float()

    def log_joint(z):
        resid = yf - z @ xf.T
        return -0.5 * resid.pow(2).sum(-1) / NOISE**2 - 0.5 * z.pow(2).sum(-1) / PRIOR**2

    return log_joint, mean, cov, precision


def test_fullrank_stl_recovers_exact_posterior():
    # With sticking the landing and q in the family of the posterior, every sample's
    # gradient vanishes at q = p (Roeder et al. 2017): the Monte Carlo error of the fit
    # goes to zero, so only float32 round-off remains (tolerance 1e-4 of the posterior sd).
    log_joint, mean, cov, _ = _model()
    guide = FullRankGuide(D)
    res = fit(log_joint, guide, stl=True, num_particles=4, steps=1200, lr=2e-2, tol=0,
              progress=False, seed=1)  # fmt: skip
    sd = cov.diagonal().sqrt()
    loc = guide.loc.detach().double()
    scale_tril = guide.scale_tril.detach().double()
    assert torch.all((loc - mean).abs() < 1e-4 * sd)
    rel = (scale_tril @ scale_tril.T - cov) / (sd[:, None] * sd[None, :])
    assert rel.abs().max() < 1e-4
    assert res.steps == 1200
    assert not res.converged
    assert len(res.elbo) == 1200
    # The ELBO then equals log p(x) up to the dropped constants, with no variance.
    assert torch.tensor(res.elbo[-50:]).std() < 1e-3


def test_meanfield_recovers_means_and_meanfield_variances():
    # The optimal mean-field Gaussian of N(m, P⁻¹) is N(m, diag(1/P_ii)) (Bishop 2006, 10.1.2).
    # Means: with antithetic pairs the μ-gradient of a quadratic log joint is exactly
    # ∇ log p(μ), so μ converges deterministically (float32 tolerance). Variances: the
    # σ-gradient stays noisy; we average the iterates of a final low-lr phase and compare
    # to the exact value within 5 batch-means standard errors (+ 0.5 % for the O(lr) bias).
    log_joint, mean, _, precision = _model()
    guide = MeanFieldGuide(D)
    opt = torch.optim.Adam(guide.parameters(), lr=2e-2)
    kw = dict(noise="antithetic", num_particles=8, tol=0, progress=False, optimizer=opt)
    fit(log_joint, guide, steps=1500, seed=2, **kw)
    for group in opt.param_groups:
        group["lr"] = 2e-3
    draws = []
    for chunk in range(40):
        fit(log_joint, guide, steps=25, seed=100 + chunk, **kw)
        draws.append(guide().variance.detach().double())
    var = torch.stack(draws)  # (40, D)
    batch_means = var.reshape(8, 5, D).mean(1)
    se = batch_means.std(0) / math.sqrt(8)
    exact_var = 1.0 / precision.diagonal()
    q = guide()
    sd = exact_var.sqrt()
    assert torch.all((q.loc.detach().double() - mean).abs() < 1e-4 * sd)
    err = (var.mean(0) - exact_var).abs()
    assert torch.all(err < 5 * se + 5e-3 * exact_var), (err / exact_var, se / exact_var)
    # and differ from the exact marginal variances where the posterior is correlated
    cov_diag = torch.linalg.inv(precision).diagonal()
    assert torch.all((cov_diag - exact_var)[:2] > 10 * (5 * se + 5e-3 * exact_var)[:2])


def _grad_draws(noise, repeats=300, particles=8):
    log_joint, _, _, _ = _model()
    guide = MeanFieldGuide(D, init_loc=torch.full((D,), 0.3), init_scale=0.2)
    params = list(guide.parameters())
    out = []
    for _ in range(repeats):
        surrogate = elbo_estimate(log_joint, guide(), particles, noise=noise)
        grads = torch.autograd.grad(-surrogate, params)
        out.append(torch.cat([g.flatten() for g in grads]).double())
    return torch.stack(out)


def _total_variance(g):
    """Σ_j Var(g_j) and its standard error, from the per-draw squared deviations."""
    t = (g - g.mean(0)).pow(2).sum(1) * g.shape[0] / (g.shape[0] - 1)
    return t.mean().item(), (t.std() / math.sqrt(len(t))).item()


@pytest.mark.parametrize("noise", ["antithetic", "qmc"])
def test_structured_noise_lowers_gradient_variance(noise):
    v_mc, se_mc = _total_variance(_grad_draws("mc"))
    v_x, se_x = _total_variance(_grad_draws(noise))
    assert v_mc - v_x > 5 * math.hypot(se_mc, se_x), (v_mc, se_mc, v_x, se_x)
    # unbiased: same mean gradient within 5 standard errors
    gm, gx = _grad_draws("mc"), _grad_draws(noise)
    se = (gm.var(0) / len(gm) + gx.var(0) / len(gx)).sqrt()
    assert torch.all((gm.mean(0) - gx.mean(0)).abs() < 5 * se)


def test_convergence_flag_and_rule():
    log_joint, _, _, _ = _model()
    res = fit(log_joint, MeanFieldGuide(D), num_particles=8, noise="antithetic", steps=5000,
              lr=2e-2, tol=1e-3, window=50, progress=False, seed=0)  # fmt: skip
    assert isinstance(res, VIResult)
    assert res.converged
    assert res.steps < 5000
    assert res.steps % 50 == 0
    assert len(res.elbo) == res.steps
    assert res.seconds > 0
    assert elbo_converged(res.elbo, 50, 1e-3)
    # tol = 0 disables the check: the full budget runs
    res = fit(log_joint, MeanFieldGuide(D), steps=120, window=10, tol=0, progress=False)
    assert not res.converged
    assert res.steps == 120


def test_elbo_converged_rule():
    assert not elbo_converged([-1.0] * 19, 10, 1e-3)  # fewer than two windows
    assert elbo_converged([-1.0] * 20, 10, 1e-3)
    trend = [-100.0 + i for i in range(20)]  # means -95.5 and -85.5: 10 % change
    assert not elbo_converged(trend, 10, 0.1)
    assert elbo_converged(trend, 10, 0.11)
    assert elbo_converged([0.0] * 4, 2, 1e-3)
    with pytest.raises(ValueError, match="window"):
        elbo_converged([1.0], 0, 1e-3)


def test_seed_makes_fit_reproducible_and_leaves_global_rng():
    log_joint, _, _, _ = _model()
    state = torch.get_rng_state()
    a = fit(log_joint, MeanFieldGuide(D), steps=30, progress=False, seed=5).elbo
    assert torch.equal(torch.get_rng_state(), state)
    b = fit(log_joint, MeanFieldGuide(D), steps=30, progress=False, seed=5).elbo
    c = fit(log_joint, MeanFieldGuide(D), steps=30, progress=False, seed=6).elbo
    assert a == b
    assert a != c


def test_entropy_mode_per_guide():
    assert entropy_mode(MeanFieldGuide(2)()) == "analytic"
    assert entropy_mode(FullRankGuide(2)()) == "analytic"
    assert entropy_mode(FlowGuide(2, transforms=1, hidden_features=(8,))()) == "mc"
    assert entropy_mode(MeanFieldGuide(2)(), stl=True) == "stl"


def test_flow_guide_and_options_run():
    log_joint, _, _, _ = _model()
    flow = FlowGuide(D, transforms=2, hidden_features=(8,))
    res = fit(log_joint, flow, steps=40, num_particles=4, noise="qmc", progress=False, seed=0)
    assert all(math.isfinite(v) for v in res.elbo)
    res = fit(log_joint, MeanFieldGuide(D), steps=20, num_particles=2, control_variate="linear",
              stl=True, optimizer=torch.optim.SGD, lr=1e-3, progress=False, seed=0)  # fmt: skip
    assert all(math.isfinite(v) for v in res.elbo)


def test_progress_bar_runs(capsys):
    log_joint, _, _, _ = _model()
    fit(log_joint, MeanFieldGuide(D), steps=15, progress=True)
    assert "elbo" in capsys.readouterr().err


def test_elbo_value_is_the_elbo():
    # The surrogate's value is E_q[log p] + H[q], matching a direct Monte Carlo estimate.
    log_joint, _, _, _ = _model()
    q = MeanFieldGuide(D, init_scale=0.3)()
    est = torch.stack([elbo_estimate(log_joint, q, 64).detach() for _ in range(50)])
    z, lq = detach_params(q).rsample_and_log_prob((20000,))
    direct = (log_joint(z) - lq).detach()
    se = math.hypot(est.std().item() / math.sqrt(50), direct.std().item() / math.sqrt(20000))
    assert abs(est.mean().item() - direct.mean().item()) < 5 * se


class _Nan(nn.Module):
    def __init__(self):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(2))

    def forward(self):
        return DiagonalNormal(self.loc, torch.ones(2))


def test_nan_log_joint_names_the_step():
    calls = {"n": 0}

    def log_joint(z):
        calls["n"] += 1
        out = -z.pow(2).sum(-1)
        return out * float("nan") if calls["n"] > 3 else out

    with pytest.raises(ValueError, match=r"log_joint returned nan .* at step 3"):
        fit(log_joint, _Nan(), steps=10, progress=False)
    with pytest.raises(ValueError, match=r"inf .* at step 0"):
        fit(lambda z: z.sum(-1) + float("inf"), _Nan(), steps=10, progress=False)


def test_wrong_shape_errors():
    guide = _Nan()
    with pytest.raises(ValueError, match=r"shape \(S,\) = \(4,\)"):
        fit(lambda z: -z.pow(2), guide, num_particles=4, progress=False)
    with pytest.raises(ValueError, match=r"shape \(S,\) = \(1,\)"):
        fit(lambda z: -z.pow(2).sum(), guide, progress=False)
    with pytest.raises(ValueError, match="floating tensor"):
        fit(lambda z: 1.0, guide, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_particles": 0}, "num_particles"),
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"tol": -1.0}, "tol"),
        ({"window": 0}, "window"),
        ({"noise": "sobol"}, "noise"),
        ({"noise": "antithetic", "num_particles": 3}, "even"),
        ({"stl": 1}, "stl"),
        ({"seed": 1.5}, "seed"),
        ({"optimizer": 3}, "optimizer"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit(lambda z: -z.pow(2).sum(-1), _Nan(), progress=False, **kwargs)


def test_bad_guides():
    lj = lambda z: -z.pow(2).sum(-1)  # noqa: E731
    with pytest.raises(ValueError, match="callable"):
        fit(lj, 3, progress=False)
    with pytest.raises(ValueError, match="Distribution"):
        fit(lj, lambda: torch.zeros(2), progress=False)
    with pytest.raises(ValueError, match="event shape"):
        fit(lj, lambda: DiagonalNormal(torch.zeros(2, 2), torch.ones(2, 2)), progress=False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(lj, lambda: DiagonalNormal(torch.zeros(2), torch.ones(2)), progress=False)
    with pytest.raises(ValueError, match="log_joint must be callable"):
        fit(None, _Nan(), progress=False)
