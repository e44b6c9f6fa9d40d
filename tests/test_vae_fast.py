"""The VAE's fused training losses compute what the general path (reparam.objectives) does.

Two copies of a VAE with the same weights, one fused (the default) and one with
``fused = False``, are trained side by side with the default optimizer of
:func:`reparam.training.train` on the same batches and the same noise; at every step the
logged metrics, the gradients and, at the end, the parameters must agree to float32
rounding.
"""

import copy

import pytest
import torch

from reparam import VAE
from reparam._vae_fast import fused_metrics
from reparam.training import default_optimizer

SHAPE = (1, 6, 6)


def _pair(**kwargs):
    torch.manual_seed(0)
    fused = VAE(SHAPE, latent_dim=3, hidden=(16, 12), **kwargs)
    general = copy.deepcopy(fused)
    general.fused = False
    return fused, general


def _batches(n=4, b=16):
    g = torch.Generator().manual_seed(3)
    return [torch.bernoulli(torch.full((b, *SHAPE), 0.3), generator=g) for _ in range(n)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"k": 3, "beta": 0.5},
        {"objective": "iwae", "k": 5},
        {"objective": "iwae", "k": 1},
        {"arch": "conv", "hidden": (16,)},
    ],
    ids=["elbo", "elbo-k3-beta", "iwae-k5", "iwae-k1", "elbo-conv"],
)
def test_fused_matches_general_path_over_training(kwargs):
    shape = (1, 8, 8) if kwargs.get("arch") == "conv" else SHAPE
    torch.manual_seed(0)
    fused = VAE(shape, latent_dim=3, **{"hidden": (16, 12), **kwargs})
    general = copy.deepcopy(fused)
    general.fused = False
    assert fused_metrics(fused, torch.zeros(2, *shape), 0, 1e-4) is not None
    opts = [default_optimizer(m.parameters(), lr=1e-2) for m in (fused, general)]
    g = torch.Generator().manual_seed(3)
    for step in range(6):
        x = torch.bernoulli(torch.full((16, *shape), 0.3), generator=g)
        outs = []
        for model, opt in zip((fused, general), opts, strict=True):
            opt.zero_grad(set_to_none=True)
            torch.manual_seed(100 + step)  # the same noise for both
            out = model.training_step(x, step)
            out["loss"].backward()
            outs.append(out)
        assert set(outs[0]) == set(outs[1])
        for key in outs[0]:
            torch.testing.assert_close(outs[0][key], outs[1][key], rtol=1e-5, atol=1e-4)
        for (name, p), q in zip(fused.named_parameters(), general.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)
        for opt in opts:
            opt.step()
    for p, q in zip(fused.parameters(), general.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_validation_step_matches():
    fused, general = _pair(k=2)
    x = _batches(1)[0]
    torch.manual_seed(1)
    a = fused.validation_step(x)
    torch.manual_seed(1)
    b = general.validation_step(x)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-4)
        assert not a[key].requires_grad


@pytest.mark.parametrize(
    "kwargs",
    [
        {"posterior": "lowrank"},
        {"posterior": "planar"},
        {"likelihood": "gaussian"},
        {"objective": "dreg", "k": 2},
        {"kl": "mc"},
        {"noise": "antithetic", "k": 2},
    ],
)
def test_other_configurations_take_the_general_path(kwargs):
    vae = VAE(SHAPE, latent_dim=3, hidden=(8,), **kwargs)
    assert fused_metrics(vae, torch.zeros(2, *SHAPE), 0, 1e-4) is None
    out = vae.training_step(_batches(1, 4)[0], 0)
    assert torch.isfinite(out["loss"])


def test_fused_flag_off_takes_the_general_path():
    fused, general = _pair()
    assert fused_metrics(fused, torch.zeros(2, *SHAPE), 0, 1e-4) is not None
    assert fused_metrics(general, torch.zeros(2, *SHAPE), 0, 1e-4) is None


@pytest.mark.parametrize(
    ("kwargs", "fused"),
    [({}, True), ({"objective": "iwae", "k": 5}, True), ({}, False)],
    ids=["elbo-fused", "iwae-fused", "elbo-general"],
)
def test_training_loss_traces_without_graph_breaks(kwargs, fused):
    import torch._dynamo as dynamo

    vae = VAE((1, 8, 8), latent_dim=3, hidden=(16,), **kwargs)
    vae.fused = fused

    def loss(x):
        return vae.training_step(x, 0)["loss"]

    dynamo.reset()
    explained = dynamo.explain(loss)(torch.rand(4, 1, 8, 8).round())
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
