"""MADE (Germain et al. 2015) and the autoregressive transforms built on it."""

from __future__ import annotations

import pytest
import torch

from reparam.flows.autoregressive import MaskedAffineAutoregressive, SplineAutoregressive
from reparam.flows.made import MADE, MaskedLinear


def _randomize(module: torch.nn.Module, std: float = 0.5) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * std)


def _jacobians(made: MADE, x: torch.Tensor, c: torch.Tensor | None):
    """Per point: ∂out/∂x with shape (n, D, P, D) and ∂out/∂c with shape (n, D, P, C)."""
    jx, jc = [], []
    for i in range(x.shape[0]):
        if c is None:
            jx.append(torch.autograd.functional.jacobian(lambda v: made(v), x[i]))
        else:
            a, b = torch.autograd.functional.jacobian(made, (x[i], c[i]))
            jx.append(a)
            jc.append(b)
    return torch.stack(jx), (torch.stack(jc) if jc else None)


def _connectivity(made: MADE) -> torch.Tensor:
    """Number of masked paths from each input (x then context) to each output unit."""
    conn = None
    for layer in made.net:
        if isinstance(layer, MaskedLinear):
            m = layer.mask.double()
            conn = m if conn is None else m @ conn
    return conn


@pytest.mark.parametrize(("features", "context"), [(5, 0), (5, 3), (3, 2)])
def test_outputs_are_strictly_autoregressive(features, context):
    made = MADE(features, 3, context, (16, 16)).double()
    _randomize(made)
    x = torch.randn(20, features, dtype=torch.float64)
    c = torch.randn(20, context, dtype=torch.float64) if context else None
    assert made(x, c).shape == (20, features, 3)
    jx, jc = _jacobians(made, x, c)
    i, j = torch.meshgrid(torch.arange(features), torch.arange(features), indexing="ij")
    upper = (j >= i)[None, :, None, :].expand_as(jx)
    assert (jx[upper] == 0).all()
    # generic weights: every block i > 0 depends on every earlier input at some point
    seen = jx.abs().amax(dim=(0, 2)) > 0  # (D, D)
    assert torch.equal(seen, j < i)
    if context:
        assert (jc.abs().amax(dim=(0, 3)) > 0).all()  # the context reaches every output


@pytest.mark.parametrize("context", [0, 2])
def test_reversed_order_is_autoregressive_the_other_way(context):
    """reverse=True: block i depends exactly on x_{>i} (and the context)."""
    features = 4
    made = MADE(features, 2, context, (16, 16), reverse=True).double()
    _randomize(made)
    x = torch.randn(20, features, dtype=torch.float64)
    c = torch.randn(20, context, dtype=torch.float64) if context else None
    jx, _ = _jacobians(made, x, c)
    i, j = torch.meshgrid(torch.arange(features), torch.arange(features), indexing="ij")
    seen = jx.abs().amax(dim=(0, 2)) > 0
    assert torch.equal(seen, j > i)


@pytest.mark.parametrize("context", [0, 2])
@pytest.mark.parametrize("hidden", [(16, 16), (4,), (2, 3), ()])
def test_masks_cover_the_autoregressive_connectivity(hidden, context):
    features, per = 5, 2
    made = MADE(features, per, context, hidden)
    conn = _connectivity(made).reshape(features, per, features + context)
    into_x, into_c = conn[..., :features], conn[..., features:]
    i, j = torch.meshgrid(torch.arange(features), torch.arange(features), indexing="ij")
    assert (into_x[(j >= i)[:, None, :].expand_as(into_x)] == 0).all()
    assert (into_c > 0).all()
    full = features if context else features - 1  # hidden units for every degree
    if not hidden or min(hidden) >= full:
        assert (into_x[(j < i)[:, None, :].expand_as(into_x)] > 0).all()
    else:  # still, every block i > 0 sees some earlier input (degree 1 is in every layer)
        assert (into_x[1:].sum(dim=(1, 2)) > 0).all()


@pytest.mark.parametrize("context", [0, 2])
def test_one_feature_depends_only_on_context_and_bias(context):
    made = MADE(1, 4, context, (8, 8)).double()
    _randomize(made)
    x = torch.randn(6, 1, dtype=torch.float64)
    c = torch.randn(6, context, dtype=torch.float64) if context else None
    jx, jc = _jacobians(made, x, c)
    assert (jx == 0).all()
    out = made(x, c)
    if context:
        assert (jc.abs().amax(dim=(0, 3)) > 0).all()
    else:
        torch.testing.assert_close(out, out[:1].expand_as(out), rtol=0, atol=0)


def test_starts_at_zero_output_and_masks_are_buffers():
    made = MADE(4, 2, 1, (8,))
    out = made(torch.randn(3, 7, 4), torch.randn(3, 7, 1))
    assert out.shape == (3, 7, 4, 2)
    assert (out == 0).all()
    keys = made.state_dict().keys()
    assert {"net.0.mask", "net.2.mask"} <= set(keys)
    assert all(not n.endswith("mask") for n, _ in made.named_parameters())
    assert made.double().net[0].mask.dtype == torch.float64


def test_masked_weights_get_no_gradient():
    mask = torch.tensor([[1, 0, 1], [0, 0, 1]])
    layer = MaskedLinear(3, 2, mask)
    layer(torch.randn(5, 3)).sum().backward()
    assert (layer.weight.grad[mask == 0] == 0).all()
    assert (layer.weight.grad[mask == 1] != 0).all()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: MaskedLinear(3, 2, torch.ones(3, 2)), "mask"),
        (lambda: MADE(0, 2), "features"),
        (lambda: MADE(3, 0), "params_per_feature"),
        (lambda: MADE(3, 2, -1), "context_features"),
        (lambda: MADE(3, 2, 0, (8, 0)), "hidden_features"),
        (lambda: MaskedAffineAutoregressive(3, fast="both"), "fast"),
        (lambda: MaskedAffineAutoregressive(3, max_log_scale=-1.0), "max_log_scale"),
    ],
)
def test_bad_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------- autoregressive transforms
@pytest.mark.parametrize("cls", [MaskedAffineAutoregressive, SplineAutoregressive])
@pytest.mark.parametrize("fast", ["inverse", "forward"])
def test_slow_direction_is_exact_after_d_passes(cls, fast):
    features = 6
    t = cls(features, 2, (16, 16), fast=fast).double()
    _randomize(t, 0.3)
    assert t.fast == fast
    x = torch.randn(9, features, dtype=torch.float64)
    c = torch.randn(9, 2, dtype=torch.float64)
    y, ladj = t(x, c)
    x2, ladj_inv = t.inverse(y, c)
    torch.testing.assert_close(x2, x, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(ladj_inv, -ladj, rtol=1e-10, atol=1e-10)
    # and the gradient through the D passes equals the gradient of the one-pass direction
    # composed with it: d/dθ of Σ ladj for a fixed x is finite and nonzero
    grads = torch.autograd.grad(ladj.sum() + y.sum(), list(t.parameters()), allow_unused=True)
    assert all(g is None or torch.isfinite(g).all() for g in grads)


def test_maf_and_iaf_share_their_one_pass_map():
    """MAF's inverse and IAF's forward are the same MADE pass and affine map: each applies
    u·e^s + t in its one-pass direction."""
    maf = MaskedAffineAutoregressive(4, 0, (8,), fast="inverse").double()
    _randomize(maf)
    iaf = MaskedAffineAutoregressive(4, 0, (8,), fast="forward").double()
    iaf.load_state_dict(maf.state_dict())
    y = torch.randn(5, 4, dtype=torch.float64)
    x_maf, l_maf = maf.inverse(y)  # x_i = y_i e^{s_i(y_<i)} + t_i(y_<i)
    y_iaf, l_iaf = iaf(y)  # y_i' = y_i e^{s_i(y_<i)} + t_i(y_<i)
    raw = maf.made(y)
    s = torch.tanh(raw[..., 0] / 3.0) * 3.0
    expected = y * torch.exp(s) + raw[..., 1]
    torch.testing.assert_close(x_maf, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y_iaf, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(l_maf, s.sum(-1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(l_iaf, s.sum(-1), rtol=1e-12, atol=1e-12)
