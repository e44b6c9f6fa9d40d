"""The hot path works under torch.compile (validation off, as in a compiled training step)."""

import sys

import pytest
import torch

import reparam

pytestmark = pytest.mark.skipif(
    sys.platform.startswith("win"), reason="torch.compile needs a C++ toolchain"
)


def test_normal_rsample_and_log_prob_compiles():
    loc = torch.randn(8, requires_grad=True)
    scale = torch.rand(8).add(0.5).requires_grad_()

    def step(loc, scale, eps):
        q = reparam.Normal(loc, scale, validate_args=False)
        z, log_q = q.from_noise_and_log_prob(eps)
        return (z * z).sum() + log_q.sum()

    eps = torch.randn(4, 8)
    compiled = torch.compile(step, fullgraph=True, backend="inductor")
    got = compiled(loc, scale, eps)
    want = step(loc, scale, eps)
    torch.testing.assert_close(got, want)
    g_got = torch.autograd.grad(got, (loc, scale))
    g_want = torch.autograd.grad(want, (loc, scale))
    torch.testing.assert_close(g_got, g_want)
