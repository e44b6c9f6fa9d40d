"""Bayesian layers: shapes, KL against closed forms / quadrature, the three estimators'
expected gradients and variances, conversion, predictive, bad input."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, stats
from torch import nn

import reparam.nn as rnn
from reparam.nn import (
    ESTIMATORS,
    BayesConv1d,
    BayesConv2d,
    BayesLinear,
    GaussianPrior,
    ScaleMixturePrior,
    bayesianize,
    deterministic,
    kl_divergence,
    predictive,
)
from reparam.nn.layers import _GaussianKL, _ScaledNoise, _signs, _SquaredSoftplus

LAYERS = {
    "linear": (lambda est: BayesLinear(5, 3, estimator=est), (4, 5), (4, 3)),
    "linear-3d": (lambda est: BayesLinear(5, 3, estimator=est), (2, 4, 5), (2, 4, 3)),
    "conv1d": (
        lambda est: BayesConv1d(2, 4, 3, padding=1, groups=2, estimator=est),
        (4, 2, 7),
        (4, 4, 7),
    ),
    "conv2d": (
        lambda est: BayesConv2d(3, 2, 3, stride=2, padding=1, estimator=est),
        (4, 3, 8, 8),
        (4, 2, 4, 4),
    ),
    "conv2d-reflect": (
        lambda est: BayesConv2d(1, 2, 3, padding=1, padding_mode="reflect", estimator=est),
        (2, 1, 5, 5),
        (2, 2, 5, 5),
    ),
    "conv2d-nobias": (
        lambda est: BayesConv2d(2, 2, (2, 3), bias=False, estimator=est),
        (3, 2, 5, 5),
        (3, 2, 4, 3),
    ),
}


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_shapes_and_gradients(kind, estimator):
    make, in_shape, out_shape = LAYERS[kind]
    layer = make(estimator)
    out = layer(torch.randn(in_shape))
    assert out.shape == out_shape
    (out.square().sum() + layer.kl()).backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    # two forwards differ (sampling), deterministic mode gives the means' output
    x = torch.randn(in_shape)
    assert not torch.equal(layer(x), layer(x))
    with deterministic(layer):
        assert torch.equal(layer(x), layer(x))
    assert layer.deterministic is False


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_float64_and_unbatched_conv(estimator):
    layer = BayesConv1d(2, 3, 3, estimator=estimator, dtype=torch.float64)
    assert layer(torch.randn(2, 6, dtype=torch.float64)).shape == (3, 4)


def test_custom_autograd_functions_gradcheck():
    mu = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    rho = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)

    def sig(r):  # (σ, sigmoid ρ) as constants, as the layer passes them
        return F.softplus(r.detach()), torch.sigmoid(r.detach())

    assert torch.autograd.gradcheck(lambda r: _SquaredSoftplus.apply(r, *sig(r)), (rho,))
    assert torch.autograd.gradcheck(lambda m, r: _GaussianKL.apply(m, r, *sig(r), 1.7), (mu, rho))

    def noisy(m, r):
        torch.manual_seed(1)
        return _ScaledNoise.apply(m, r, *sig(r))

    assert torch.autograd.gradcheck(noisy, (mu, rho))


def test_init_scale_sets_sigma():
    layer = BayesLinear(7, 5, init_scale=0.05)
    assert torch.allclose(layer.weight_sigma, torch.full((5, 7), 0.05))
    assert torch.allclose(layer.bias_sigma, torch.full((5,), 0.05))
    assert layer.weight_mu.abs().max() <= 1 / math.sqrt(7)


# --- KL ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gaussian_kl_closed_form(scale):
    layer = BayesConv2d(2, 3, 3, prior=GaussianPrior(scale))
    with torch.no_grad():
        layer.weight_rho.normal_(-2, 1)
        layer.bias_rho.normal_(-1, 0.5)
    expected = 0.0
    for mu, rho in [(layer.weight_mu, layer.weight_rho), (layer.bias_mu, layer.bias_rho)]:
        m = mu.detach().double().numpy()
        s = np.log1p(np.exp(rho.detach().double().numpy()))
        expected += np.sum(np.log(scale / s) + (s**2 + m**2) / (2 * scale**2) - 0.5)
    assert layer.kl().item() == pytest.approx(expected, rel=1e-5)
    # and the gradient matches autograd of the same formula
    layer.kl().backward()
    mu, rho = layer.weight_mu.detach().requires_grad_(), layer.weight_rho.detach().requires_grad_()
    s = F.softplus(rho)
    (torch.log(scale / s) + (s**2 + mu**2) / (2 * scale**2) - 0.5).sum().backward()
    assert torch.allclose(layer.weight_mu.grad, mu.grad, atol=1e-6)
    assert torch.allclose(layer.weight_rho.grad, rho.grad, rtol=1e-4, atol=1e-6)


def _plain_forward(layer, x):
    """The layer's forward pass written out with σ = softplus(ρ) taken from the parameters
    now (the slow, obvious computation), drawing its noise in the same order as forward."""
    mu, b_mu = layer.weight_mu, layer.bias_mu
    sigma = F.softplus(layer.weight_rho)
    b_sigma = None if layer.bias_rho is None else F.softplus(layer.bias_rho)
    if layer.estimator == "weight":
        w = mu + sigma * torch.randn_like(sigma)
        b = None if b_mu is None else b_mu + b_sigma * torch.randn_like(b_sigma)
        return layer._op(x, w, b)
    mean = layer._op(x, mu, b_mu)
    if layer.estimator == "local":
        var = layer._op(x * x, sigma**2, None if b_sigma is None else b_sigma**2)
        return mean + var.clamp_min(1e-30).sqrt() * torch.randn_like(mean)
    # flipout: the same sign generator (the noise source), σ from the parameters now
    k = layer._spatial_dims
    signs_in = _signs(x.shape[: x.dim() - k] + (1,) * k, x)
    delta = sigma * torch.randn_like(sigma)
    delta_b = None if b_sigma is None else b_sigma * torch.randn_like(b_sigma)
    perturbation = layer._op(x * signs_in, delta, delta_b)
    signs_out = _signs(perturbation.shape[: perturbation.dim() - k] + (1,) * k, perturbation)
    return mean + perturbation * signs_out


def _plain_gaussian_kl(layer):
    total = 0.0
    for mu, rho in ((layer.weight_mu, layer.weight_rho), (layer.bias_mu, layer.bias_rho)):
        if mu is None:
            continue
        s, scale = F.softplus(rho), layer.prior.scale
        total = total + (torch.log(scale / s) + (s**2 + mu**2) / (2 * scale**2) - 0.5).sum()
    return total


def _uses_current_sigma(layer, x):
    torch.manual_seed(123)
    out = layer(x)
    torch.manual_seed(123)
    expected = _plain_forward(layer, x)
    return torch.allclose(out, expected, rtol=1e-5, atol=1e-6)


def _train_steps(layer, opt, steps=20, closure_needed=False):
    torch.manual_seed(0)
    for _ in range(steps):
        x = torch.randn(4, 3)

        def closure(x=x):
            opt.zero_grad()
            loss = layer(x).pow(2).sum() + layer.kl()
            loss.backward()
            return loss

        if closure_needed:
            opt.step(closure)
        else:
            closure()
            opt.step()


OPTIMIZERS = {
    "default (fused Adam)": lambda p: __import__("reparam.training").training.default_optimizer(
        p, lr=0.1
    ),
    "Adam fused": lambda p: torch.optim.Adam(p, lr=0.1, fused=True),
    "Adam foreach": lambda p: torch.optim.Adam(p, lr=0.1, foreach=True),
    "Adam plain": lambda p: torch.optim.Adam(p, lr=0.1, foreach=False),
    "AdamW fused": lambda p: torch.optim.AdamW(p, lr=0.1, fused=True),
    "SGD fused": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.5, fused=True),
    "SGD": lambda p: torch.optim.SGD(p, lr=0.01),
}


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_sigma_follows_every_optimizer(name, estimator):
    """The σ a forward pass and kl() use is softplus(ρ) of the parameters now, whatever
    optimizer moved ρ (fused Adam does not bump ``_version``: the σ bug of issue 12)."""
    torch.manual_seed(0)
    layer = BayesLinear(3, 2, estimator=estimator)
    rho0 = layer.weight_rho.detach().clone()
    _train_steps(layer, OPTIMIZERS[name](layer.parameters()))
    assert not torch.allclose(layer.weight_rho, rho0)  # ρ did move
    assert all(torch.isfinite(p).all() for p in layer.parameters())
    x = torch.randn(6, 3)
    assert _uses_current_sigma(layer, x)
    assert torch.allclose(layer.kl(), _plain_gaussian_kl(layer), rtol=1e-5)


def test_sigma_follows_lbfgs():
    torch.manual_seed(0)
    layer = BayesLinear(3, 2, estimator="local")
    opt = torch.optim.LBFGS(layer.parameters(), lr=0.1, max_iter=3)
    rho0 = layer.weight_rho.detach().clone()
    _train_steps(layer, opt, steps=5, closure_needed=True)
    assert not torch.allclose(layer.weight_rho, rho0)
    assert _uses_current_sigma(layer, torch.randn(6, 3))
    assert torch.allclose(layer.kl(), _plain_gaussian_kl(layer), rtol=1e-5)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_cached_scales_give_the_plain_gradient_after_training(estimator):
    """σ and sigmoid(ρ) are shared by forward and kl() while ρ is unchanged: after fused-Adam
    training, the gradients of one step equal plain autograd through softplus(ρ) now."""
    torch.manual_seed(0)
    layer = BayesLinear(3, 2, estimator=estimator)
    _train_steps(layer, OPTIMIZERS["default (fused Adam)"](layer.parameters()))
    x = torch.randn(6, 3)
    layer.zero_grad()
    torch.manual_seed(7)
    (layer(x).pow(2).sum() + layer.kl()).backward()
    got = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    torch.manual_seed(7)
    (_plain_forward(layer, x).pow(2).sum() + _plain_gaussian_kl(layer)).backward()
    for g, p in zip(got, layer.parameters(), strict=True):
        assert torch.allclose(g, p.grad, rtol=1e-4, atol=1e-6)


def test_cached_scales_follow_dtype_and_reuse_only_equal_values():
    layer = BayesLinear(3, 2, estimator="local")
    first = layer._sigma(layer.weight_rho)
    assert layer._sigma(layer.weight_rho) is first  # unchanged ρ: the same tensor
    layer.double()
    again = layer._sigma(layer.weight_rho)
    assert again.dtype == torch.float64
    assert torch.equal(again, F.softplus(layer.weight_rho.detach()))
    with torch.no_grad():
        layer.weight_rho[0, 0] += 1e-12  # a change far below float32 resolution still counts
    assert torch.equal(layer._sigma(layer.weight_rho), F.softplus(layer.weight_rho.detach()))


@pytest.mark.parametrize(
    "edit",
    [
        "no_grad add_",
        "data add_",
        "data assignment",
        "load_state_dict",
        "copy_ through .data",
    ],
)
def test_sigma_follows_in_place_edits(edit):
    layer = BayesLinear(3, 2, estimator="local")
    x = torch.randn(4, 3)
    layer(x)
    layer.kl()  # any σ a cache would hold is computed now
    new_rho = torch.full_like(layer.weight_rho, -2.0)
    if edit == "no_grad add_":
        with torch.no_grad():
            layer.weight_rho.add_(1.0)
    elif edit == "data add_":
        layer.weight_rho.data.add_(1.0)  # .data edits never bump _version
    elif edit == "data assignment":
        layer.weight_rho.data = new_rho
    elif edit == "load_state_dict":
        state = layer.state_dict()
        state["weight_rho"] = new_rho
        layer.load_state_dict(state)
    else:
        layer.weight_rho.data.copy_(new_rho)
    assert _uses_current_sigma(layer, x)
    assert torch.allclose(layer.kl(), _plain_gaussian_kl(layer), rtol=1e-5)
    fresh = BayesLinear(3, 2, estimator="local")
    fresh.load_state_dict(layer.state_dict())
    assert fresh.kl().item() == pytest.approx(layer.kl().item())


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("prior", ["gaussian", "mixture"])
def test_trained_bnn_uses_trained_sigma(tmp_path, estimator, prior):
    """Train a BNN through reparam.training.train with its default optimizer (what every
    user and command gets), then compare what the layers use with softplus(ρ) now."""
    from reparam.bnn import BNNClassifier
    from reparam.training import TrainConfig, train

    torch.manual_seed(0)
    model = BNNClassifier(
        (6,), 3, hidden=(8,), estimator=estimator, prior=prior, dataset_size=64, init_scale=0.01
    )
    x, y = torch.randn(64, 6), torch.randint(0, 3, (64,))
    rho0 = [m.weight_rho.detach().clone() for m in model.modules() if hasattr(m, "weight_rho")]
    config = TrainConfig(epochs=3, batch_size=16, lr=0.05, progress=False, device="cpu")
    result = train(model, model.pack(x, y), config, tmp_path)
    assert result.stopped is None
    layers = [m for m in model.modules() if isinstance(m, BayesLinear)]
    for layer, before in zip(layers, rho0, strict=True):
        assert not torch.allclose(layer.weight_rho, before)
        assert _uses_current_sigma(layer, torch.randn(5, layer.in_features))
        if prior == "gaussian":
            assert torch.allclose(layer.kl(), _plain_gaussian_kl(layer), rtol=1e-5)
        else:  # the MC KL's entropy term is −Σ log σ − n/2 log 2πe: check σ through it
            torch.manual_seed(5)
            kl = layer.kl()
            torch.manual_seed(5)
            total = 0.0
            for mu, rho in (
                (layer.weight_mu, layer.weight_rho),
                (layer.bias_mu, layer.bias_rho),
            ):
                s = F.softplus(rho)
                w_eps = torch.randn_like(s)
                w = mu + s * w_eps
                total = total - s.log().sum() - mu.numel() * 0.5 * math.log(2 * math.pi * math.e)
                total = total - layer.prior.log_prob(w).sum()
            assert torch.allclose(kl, total, rtol=1e-5)


def _quad_kl(mu, sigma, prior):
    """KL(N(μ, σ²) ‖ prior) for one weight by quadrature."""

    def integrand(w):
        log_q = stats.norm.logpdf(w, mu, sigma)
        log_p = prior.log_prob(torch.tensor(w, dtype=torch.float64)).item()
        return math.exp(log_q) * (log_q - log_p)

    lo, hi = mu - 12 * sigma, mu + 12 * sigma
    points = [p for p in (0.0, mu) if lo < p < hi]
    value, _ = integrate.quad(integrand, lo, hi, points=points or None, limit=200)
    return value


@pytest.mark.parametrize(
    ("prior", "mu", "sigma"),
    [
        (ScaleMixturePrior(0.5, 1.0, math.exp(-6)), 0.3, 0.05),
        (ScaleMixturePrior(0.25, 2.0, 0.1), -0.7, 0.4),
        (ScaleMixturePrior(1.0, 1.5, 0.1), 0.2, 0.3),
    ],
)
def test_scale_mixture_mc_kl_is_unbiased(prior, mu, sigma):
    layer = BayesLinear(1, 1, bias=False, prior=prior, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_mu.fill_(mu)
        layer.weight_rho.fill_(rnn.softplus_inverse(sigma))
    n = 6000
    with torch.no_grad():
        draws = torch.stack([layer.kl() for _ in range(n)])
    exact = _quad_kl(mu, sigma, prior)
    se = draws.std().item() / math.sqrt(n)
    assert abs(draws.mean().item() - exact) < 5 * se + 1e-9
    if prior.pi == 1.0:  # a Gaussian prior: the closed form
        closed = math.log(prior.scale1 / sigma) + (sigma**2 + mu**2) / (2 * prior.scale1**2) - 0.5
        assert exact == pytest.approx(closed, rel=1e-6)


def test_scale_mixture_kl_sums_bias_and_weights():
    prior = ScaleMixturePrior(0.5, 1.0, 0.2)
    layer = BayesLinear(2, 1, prior=prior, init_scale=0.3, dtype=torch.float64)
    params = [
        (m.item(), 0.3) for m in torch.cat([layer.weight_mu.flatten(), layer.bias_mu.flatten()])
    ]
    exact = sum(_quad_kl(m, s, prior) for m, s in params)
    n = 4000
    with torch.no_grad():
        draws = torch.stack([layer.kl() for _ in range(n)])
    assert abs(draws.mean().item() - exact) < 5 * draws.std().item() / math.sqrt(n)


def test_kl_divergence_sums_layers():
    model = nn.Sequential(
        BayesConv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), BayesLinear(8, 3), nn.Linear(3, 3)
    )
    total = kl_divergence(model)
    assert total.item() == pytest.approx((model[0].kl() + model[3].kl()).item(), rel=1e-6)
    assert kl_divergence(nn.Linear(2, 2)).item() == 0.0


# --- estimators: same expected gradient, lower variance ---------------------------------


def _grads(model, x, loss_fn, reps):
    """(reps, P) gradient of loss_fn(model(x)) w.r.t. all parameters, one row per draw."""
    params = list(model.parameters())
    rows = []
    for _ in range(reps):
        grads = torch.autograd.grad(loss_fn(model(x)), params)
        rows.append(torch.cat([g.flatten() for g in grads]))
    return torch.stack(rows).double()


def _copy_with(model, estimator):
    out = bayesianize(model, estimator=estimator)  # same parameters, another estimator
    for layer in out.modules():
        if isinstance(layer, rnn.BayesLayer):
            layer.estimator = estimator
    return out


def _linear_setup():
    torch.manual_seed(1)
    layer = BayesLinear(4, 3, init_scale=0.5)
    with torch.no_grad():
        layer.weight_rho.uniform_(-1.5, 0.0)
        layer.bias_rho.uniform_(-1.5, 0.0)
    x, y = torch.randn(16, 4), torch.randn(16, 3)
    return layer, x, y


def test_estimators_match_exact_expected_gradient_linear():
    """For a linear layer and squared error, E[loss] has a closed form:
    Σ (xμᵀ + μ_b − y)² + x²σ²ᵀ + σ_b², whose gradient every estimator must match."""
    layer, x, y = _linear_setup()
    mu, rho = layer.weight_mu, layer.weight_rho
    b_mu, b_rho = layer.bias_mu, layer.bias_rho
    expected_loss = (
        (F.linear(x, mu, b_mu) - y).square() + F.linear(x * x, F.softplus(rho) ** 2)
    ).sum() + 16 * F.softplus(b_rho).square().sum()
    exact = torch.cat(
        [g.flatten() for g in torch.autograd.grad(expected_loss, [mu, rho, b_mu, b_rho])]
    )
    for estimator in ESTIMATORS:
        layer.estimator = estimator
        g = _grads(layer, x, lambda out: (out - y).square().sum(), 1000)
        se = g.std(0) / math.sqrt(len(g))
        z = (g.mean(0) - exact.double()) / se
        assert z.abs().max() < 5, (estimator, z.abs().max())


def test_estimators_same_expected_gradient_mlp():
    """A two-layer tanh network with a cross-entropy minibatch loss: no closed form, so
    compare the estimators' mean gradients with each other (5 combined SE)."""
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    base = bayesianize(net, init_scale=0.4)
    x, y = torch.randn(12, 3), torch.randint(0, 3, (12,))
    loss = lambda out: F.cross_entropy(out, y, reduction="sum")  # noqa: E731
    stats_ = {}
    for estimator in ESTIMATORS:
        g = _grads(_copy_with(base, estimator), x, loss, 800)
        stats_[estimator] = (g.mean(0), g.var(0) / len(g))
    for other in ("local", "flipout"):
        diff = stats_["weight"][0] - stats_[other][0]
        z = diff / (stats_["weight"][1] + stats_[other][1]).sqrt()
        assert z.abs().max() < 5, (other, z.abs().max())


def test_conv_estimators_match_for_per_unit_loss():
    """For a convolution, local reparameterization keeps each unit's marginal, so a loss
    that sums per-unit terms has the same expected gradient under all three."""
    torch.manual_seed(3)
    base = bayesianize(nn.Conv2d(1, 2, 2), init_scale=0.5)
    x = torch.randn(6, 1, 4, 4)
    target = torch.randn(6, 2, 3, 3)
    loss = lambda out: (out - target).square().sum()  # noqa: E731
    stats_ = {}
    for estimator in ESTIMATORS:
        g = _grads(_copy_with(base, estimator), x, loss, 600)
        stats_[estimator] = (g.mean(0), g.var(0) / len(g))
    for other in ("local", "flipout"):
        z = (stats_["weight"][0] - stats_[other][0]) / (
            stats_["weight"][1] + stats_[other][1]
        ).sqrt()
        assert z.abs().max() < 5, (other, z.abs().max())


def _variance_ratio(g_a, g_b):
    """tr Cov(a) / tr Cov(b) and its standard error (delta method, independent samples)."""
    da = (g_a - g_a.mean(0)).square().sum(1)  # per-draw squared deviation: mean = tr Cov
    db = (g_b - g_b.mean(0)).square().sum(1)
    va, vb = da.mean(), db.mean()
    ratio = va / vb
    se = ratio * torch.sqrt(da.var() / (len(da) * va**2) + db.var() / (len(db) * vb**2))
    return ratio.item(), se.item()


def test_local_and_flipout_have_lower_variance_than_weight():
    """On a minibatch of 64 the shared weight sample makes "weight"'s gradient noisier
    (its variance does not fall as 1/B); require ratio + 5 SE < 1."""
    torch.manual_seed(4)
    net = bayesianize(nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3)), init_scale=0.3)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    loss = lambda out: F.cross_entropy(out, y)  # noqa: E731
    g = {est: _grads(_copy_with(net, est), x, loss, 400) for est in ESTIMATORS}
    for est in ("local", "flipout"):
        ratio, se = _variance_ratio(g[est], g["weight"])
        assert ratio + 5 * se < 1.0, (est, ratio, se)


# --- bayesianize ------------------------------------------------------------------------


def _net():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.Identity(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 10),
        nn.ReLU(),
        nn.Linear(10, 3),
    )


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_bayesianize_keeps_outputs(estimator):
    net = _net()
    x = torch.randn(5, 1, 6, 6)
    bnn = bayesianize(net, estimator=estimator, init_scale=1e-8)
    assert isinstance(bnn[0], BayesConv2d)
    assert isinstance(bnn[5], BayesLinear)
    assert isinstance(net[0], nn.Conv2d)  # the original is untouched
    with torch.no_grad():
        expected = net(x)
        assert torch.allclose(bnn(x), expected, atol=1e-5)
        with deterministic(bnn):
            assert torch.equal(bnn(x), expected)


def test_bayesianize_conv1d_and_nested():
    net = nn.Sequential(nn.Sequential(nn.Conv1d(2, 3, 3, padding=1, bias=False)), nn.ReLU())
    bnn = bayesianize(net, prior=ScaleMixturePrior(), estimator="local")
    layer = bnn[0][0]
    assert isinstance(layer, BayesConv1d)
    assert layer.bias_mu is None
    assert isinstance(layer.prior, ScaleMixturePrior)
    x = torch.randn(2, 2, 5)
    with deterministic(bnn):
        assert torch.equal(bnn(x), net(x))


def test_bayesianize_single_layer_and_unsupported():
    assert isinstance(bayesianize(nn.Linear(2, 3)), BayesLinear)
    with pytest.raises(ValueError, match="LSTM"):
        bayesianize(nn.Sequential(nn.Linear(2, 3), nn.LSTM(3, 3)))
    with pytest.raises(ValueError, match="BatchNorm1d"):
        bayesianize(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)))
    kept = bayesianize(nn.Sequential(nn.Linear(2, 3), nn.LSTM(3, 3)), skip_unsupported=True)
    assert isinstance(kept[0], BayesLinear)
    assert isinstance(kept[1], nn.LSTM)


# --- predictive -------------------------------------------------------------------------


def test_predictive_decomposition():
    model = nn.Sequential(BayesLinear(4, 8, init_scale=0.5), nn.ReLU(), BayesLinear(8, 5))
    x = torch.randn(7, 4)
    p = predictive(model, x, num_samples=16)
    assert p.probs.shape == (16, 7, 5)
    assert p.mean.shape == (7, 5)
    for t in (p.entropy, p.aleatoric, p.epistemic):
        assert t.shape == (7,)
    assert torch.allclose(p.mean.sum(-1), torch.ones(7))
    assert (p.epistemic >= 0).all()
    assert (p.epistemic > 0).any()
    assert torch.allclose(p.entropy, p.aleatoric + p.epistemic, atol=1e-6)
    assert (p.entropy <= math.log(5) + 1e-6).all()
    with deterministic(model):
        q = predictive(model, x, num_samples=4)
    assert torch.allclose(q.epistemic, torch.zeros(7), atol=1e-6)


def test_gaussian_predictive():
    model = BayesLinear(3, 2, init_scale=0.3)
    x = torch.randn(6, 3)
    g = rnn.gaussian_predictive(model, x, num_samples=50, noise_variance=0.25)
    assert g.means.shape == (50, 6, 2)
    assert torch.allclose(g.aleatoric, torch.full((6, 2), 0.25))
    assert torch.allclose(g.variance, g.aleatoric + g.epistemic)
    assert (g.epistemic > 0).all()
    pair = rnn.gaussian_predictive(lambda x: (model(x), torch.ones(6, 2)), x, num_samples=3)
    assert torch.allclose(pair.aleatoric, torch.ones(6, 2))


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: BayesLinear(2, 3, estimator="bogus"), "estimator.*bogus"),
        (lambda: BayesConv2d(2, 3, 3, estimator="reinforce"), "estimator"),
        (lambda: GaussianPrior(-1.0), "scale.*-1"),
        (lambda: GaussianPrior(0.0), "scale"),
        (lambda: ScaleMixturePrior(pi=1.5), "pi.*1.5"),
        (lambda: ScaleMixturePrior(pi=-0.1), "pi"),
        (lambda: ScaleMixturePrior(scale2=-1), "scale2"),
        (lambda: ScaleMixturePrior(pi=float("nan")), "pi"),
        (lambda: BayesLinear(0, 3), "in_features.*0"),
        (lambda: BayesLinear(3, -2), "out_features.*-2"),
        (lambda: BayesConv1d(0, 3, 3), "in_channels"),
        (lambda: BayesConv2d(3, 4, 3, groups=2), "groups"),
        (lambda: BayesConv2d(3, 4, 0), "kernel_size"),
        (lambda: BayesConv2d(3, 4, 3, padding=-1), "padding"),
        (lambda: BayesConv2d(3, 4, 3, padding_mode="mirror"), "padding_mode"),
        (lambda: BayesLinear(2, 3, init_scale=0.0), "init_scale"),
        (lambda: BayesLinear(2, 3, init_scale=-1e-3), "init_scale"),
        (lambda: BayesLinear(2, 3, prior="gaussian"), "prior"),
        (lambda: bayesianize(nn.Linear(2, 2), estimator="nope"), "estimator"),
        (lambda: bayesianize("not a module"), "module"),
        (lambda: predictive(BayesLinear(2, 2), torch.randn(1, 2), num_samples=0), "num_samples"),
    ],
)
def test_bad_input(make, match):
    with pytest.raises(ValueError, match=match):
        make()
