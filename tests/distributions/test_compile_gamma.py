"""torch.compile traces the Gamma pathwise step in one graph: the numerics (which branch on
values) are one opaque operation, ``reparam::native_standard_gamma``.

``torch._dynamo.explain`` only traces, and the runtime checks use the ``aot_eager``
backend, so these run in seconds without a C++ compiler.
"""

import pytest
import torch
import torch._dynamo as dynamo

import reparam


def _rsample_loss(conc):
    return reparam.Gamma(conc, torch.tensor(2.0)).rsample((3,)).square().sum()


def _rsample_and_log_prob_loss(conc):
    z, log_q = reparam.Gamma(conc, torch.tensor(2.0)).rsample_and_log_prob((3,))
    return z.square().sum() + log_q.sum()


def _conc(dtype):
    return torch.tensor([0.01, 0.7, 3.0, 80.0], dtype=dtype, requires_grad=True)


@pytest.mark.parametrize("loss", [_rsample_loss, _rsample_and_log_prob_loss])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_gamma_step_has_no_graph_break(loss, dtype):
    dynamo.reset()
    explained = dynamo.explain(loss)(_conc(dtype))
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.mark.parametrize("loss", [_rsample_loss, _rsample_and_log_prob_loss])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_compiled_gamma_step_equals_eager(loss, dtype):
    """Same seed, same draws: the compiled loss and its gradient equal the eager ones
    (including a < 0.05, inverted inside the operation, and a = 80, Temme's range)."""
    dynamo.reset()
    conc = _conc(dtype)
    torch.manual_seed(0)
    eager = loss(conc)
    (g_eager,) = torch.autograd.grad(eager, conc)
    torch.manual_seed(0)
    compiled = torch.compile(loss, backend="aot_eager")(conc)
    (g_compiled,) = torch.autograd.grad(compiled, conc)
    torch.testing.assert_close(compiled, eager)
    torch.testing.assert_close(g_compiled, g_eager)


def test_an_identity_keyed_draw_is_used_only_inside_rsample():
    """A compiled ``sample_noise`` keeps its draw by identity only for rsample's own
    ``from_noise``; any other ``from_noise`` of that ε inverts it (so an in-place edit of
    ε between the two is honoured)."""
    q = reparam.Gamma(_conc(torch.float64), torch.tensor(1.0))
    eps = torch.full((2, 4), 0.5, dtype=torch.float64)
    log_x = torch.zeros(2, 4, dtype=torch.float64)
    q._drawn = (eps, None, None, (log_x, None, None))
    assert q._recall_draw(eps) is None
    q._in_rsample = True
    assert q._recall_draw(eps) is not None
    assert q._recall_draw(eps.clone()) is None
