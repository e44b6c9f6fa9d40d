"""The density step's shortcuts against the obvious computation, after real training steps.

The flows take a few shortcuts that must not change any number: ReLU in place in the
conditioners, a MaskedLinear whose mask keeps every connection skipping W ⊙ M, the
bounded affine map written without negations, a one-entry log-det sum taken as a view,
and the log-det total started from the first layer's. Here every flow is trained for a
few steps with the default optimizer (so no parameter is at its zero / identity init),
then its log-density and the gradients of the mean log-density are compared with a
reference written out from the parameters: plain ``F.linear`` (masks always multiplied),
out-of-place ReLU, s = c·tanh(s̃/c) with explicit signs and sums, the base density from
``torch.distributions.Normal``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reparam.flows import IAF, MAF, AffineCoupling, Flow, MaskedAffineAutoregressive, RealNVP
from reparam.flows.made import MaskedLinear
from reparam.training import TrainConfig, default_optimizer

HIDDEN = (32, 32)


# --------------------------------------------------------------------------- reference
def ref_net(net: nn.Module, h: Tensor) -> Tensor:
    """The conditioner's layers one by one: F.linear (masked: W·M always), ReLU out of place."""
    for m in net.children():
        if isinstance(m, MaskedLinear):
            h = F.linear(h, m.weight * m.mask, m.bias)
        elif isinstance(m, nn.Linear):
            h = F.linear(h, m.weight, m.bias)
        elif isinstance(m, nn.ReLU):
            h = torch.relu(h)
        else:
            raise AssertionError(f"unexpected layer {m!r}")
    return h


def ref_affine(x: Tensor, params: Tensor, c: float, inverse: bool) -> tuple[Tensor, Tensor]:
    s = c * torch.tanh(params[..., 0] / c)
    shift = params[..., 1]
    if inverse:
        return (x - shift) * torch.exp(-s), -torch.sum(s, dim=-1)
    return x * torch.exp(s) + shift, torch.sum(s, dim=-1)


def ref_layer(t: nn.Module, v: Tensor, density: bool) -> tuple[Tensor, Tensor]:
    """One layer in the density direction (density=True) or the sampling direction."""
    d = v.shape[-1]
    if isinstance(t, AffineCoupling):
        k = t.split
        if t.reverse:
            vb, va = v[..., : d - k], v[..., d - k :]
        else:
            va, vb = v[..., :k], v[..., k:]
        params = ref_net(t.conditioner, va).reshape(*v.shape[:-1], d - k, 2)
        ub, ladj = ref_affine(vb, params, t.max_log_scale, inverse=density)
        out = torch.cat((ub, va) if t.reverse else (va, ub), dim=-1)
        return out, ladj
    assert isinstance(t, MaskedAffineAutoregressive)
    # the one-pass direction: density for MAF, sampling for IAF; it is the affine map
    assert (t.fast == "inverse") == density
    params = ref_net(t.made.net, v).reshape(*v.shape[:-1], d, 2)
    return ref_affine(v, params, t.max_log_scale, inverse=False)


def ref_log_prob(flow: Flow, z: Tensor) -> Tensor:
    total = torch.zeros(z.shape[:-1])
    for t in reversed(flow.transforms):
        z, ladj = ref_layer(t, z, density=True)
        total = total + ladj
    return torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1) + total


def ref_from_noise_and_log_prob(flow: Flow, eps: Tensor) -> tuple[Tensor, Tensor]:
    total = torch.zeros(eps.shape[:-1])
    x = eps
    for t in flow.transforms:
        x, ladj = ref_layer(t, x, density=False)
        total = total + ladj
    return x, torch.distributions.Normal(0.0, 1.0).log_prob(eps).sum(-1) - total


# --------------------------------------------------------------------------- setup
def data(d: int, n: int = 256, seed: int = 1) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g) / d**0.5 + torch.eye(d)
    return torch.randn(n, d, generator=g) @ a + torch.linspace(-1.0, 1.0, d)


def trained(make, d: int, steps: int = 25) -> Flow:
    """The flow after ``steps`` full-batch steps of the default optimizer at the default lr."""
    torch.manual_seed(0)
    flow = make(d)
    opt = default_optimizer(flow.parameters(), lr=TrainConfig().lr)
    x = data(d)
    for _ in range(steps):
        opt.zero_grad()
        (-flow().log_prob(x).mean()).backward()
        opt.step()
    return flow


DENSITY_FLOWS = {
    "realnvp-2": (lambda d: RealNVP(d, transforms=3, hidden_features=HIDDEN), 2),
    "realnvp-5": (lambda d: RealNVP(d, transforms=3, hidden_features=HIDDEN), 5),
    "maf-2": (lambda d: MAF(d, transforms=3, hidden_features=HIDDEN), 2),
    "maf-5": (lambda d: MAF(d, transforms=3, hidden_features=HIDDEN), 5),
}


def grads(flow: Flow, loss: Tensor) -> list[Tensor]:
    return list(torch.autograd.grad(loss, list(flow.parameters())))


def assert_grads_close(got: list[Tensor], want: list[Tensor]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        scale = max(float(w.abs().max()), 1e-3)
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5 * scale)


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", sorted(DENSITY_FLOWS))
def test_log_prob_and_gradients_match_the_obvious_computation(name):
    make, d = DENSITY_FLOWS[name]
    flow = trained(make, d)
    last = [m for m in flow.modules() if isinstance(m, nn.Linear)][-1]
    assert last.weight.abs().max() > 1e-3  # trained off the zero init
    z = data(d, n=64, seed=2)
    got = flow().log_prob(z)
    want = ref_log_prob(flow, z)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert_grads_close(grads(flow, got.mean()), grads(flow, want.mean()))


@pytest.mark.parametrize("d", [2, 4])
def test_iaf_sample_and_log_q_match_the_obvious_computation(d):
    flow = trained(lambda d: IAF(d, transforms=3, hidden_features=HIDDEN), d, steps=10)
    eps = torch.randn(64, d, generator=torch.Generator().manual_seed(3))
    z, log_q = flow().from_noise_and_log_prob(eps)
    z_ref, log_q_ref = ref_from_noise_and_log_prob(flow, eps)
    torch.testing.assert_close(z, z_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(log_q, log_q_ref, rtol=1e-5, atol=1e-5)
    loss, loss_ref = (log_q + z.sum(-1)).mean(), (log_q_ref + z_ref.sum(-1)).mean()
    assert_grads_close(grads(flow, loss), grads(flow, loss_ref))


def test_the_d2_made_takes_the_full_mask_shortcut_and_d5_does_not():
    def full(flow: Flow) -> list[bool]:
        return [m._mask_is_full() for m in flow.modules() if isinstance(m, MaskedLinear)]

    # D = 2: every hidden unit has degree 1, so the hidden-to-hidden masks are all ones
    assert sum(full(MAF(2, transforms=2, hidden_features=HIDDEN))) == 2
    assert not any(full(MAF(5, transforms=2, hidden_features=HIDDEN)))


def test_masked_linear_notices_a_mask_changed_in_place_or_loaded():
    torch.manual_seed(0)
    layer = MaskedLinear(3, 4, torch.ones(4, 3))
    x = torch.randn(5, 3)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
    with torch.no_grad():
        layer.mask[1, 2] = 0.0  # in place: the version counter moves
    want = F.linear(x, layer.weight * layer.mask, layer.bias)
    assert not torch.allclose(want, F.linear(x, layer.weight, layer.bias))
    torch.testing.assert_close(layer(x), want)

    other = MaskedLinear(3, 4, torch.ones(4, 3))
    assert other._mask_is_full()
    other.load_state_dict(layer.state_dict())
    torch.testing.assert_close(other(x), want)

    other.mask = torch.ones(4, 3)  # a new buffer tensor
    torch.testing.assert_close(other(x), F.linear(x, other.weight, other.bias))


def test_masked_linear_in_inference_mode():
    with torch.inference_mode():
        layer = MaskedLinear(2, 2, torch.tensor([[1.0, 0.0], [1.0, 1.0]]))
        x = torch.randn(3, 2)
        torch.testing.assert_close(layer(x), F.linear(x, layer.weight * layer.mask, layer.bias))
