"""torch.compile traces the Normal pathwise step without graph breaks, validation included.

``torch._dynamo.explain`` only traces (no C++ compilation), so these run in seconds; the
runtime check uses the ``aot_eager`` backend for the same reason.
"""

import pytest
import torch
import torch._dynamo as dynamo

from reparam.distributions import DiagonalNormal, Normal


def _normal_loss(validate):
    def loss(loc, scale):
        z, log_q = Normal(loc, scale, validate_args=validate).rsample_and_log_prob()
        return (z * z).sum() + log_q.sum()

    return loss


def _params(n=100):
    loc = torch.randn(n, requires_grad=True)
    scale = (torch.rand(n) + 0.5).requires_grad_()
    return loc, scale


@pytest.mark.parametrize("validate", [None, False, True])
def test_normal_step_has_no_graph_break(validate):
    dynamo.reset()
    explained = dynamo.explain(_normal_loss(validate))(*_params())
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_diagonal_normal_step_has_no_graph_break():
    def loss(loc, scale):
        z, log_q = DiagonalNormal(loc, scale, validate_args=True).rsample_and_log_prob((3,))
        return (z * z).sum() + log_q.sum()

    dynamo.reset()
    loc, scale = (t.detach().view(10, 10).requires_grad_() for t in _params())
    explained = dynamo.explain(loss)(loc, scale)
    assert explained.graph_break_count == 0, explained.break_reasons


def test_compiled_validation_still_rejects_bad_parameters():
    dynamo.reset()
    compiled = torch.compile(_normal_loss(True), backend="aot_eager")
    loc, scale = _params()
    compiled(loc, scale).backward()
    assert torch.isfinite(loc.grad).all()
    with pytest.raises(RuntimeError, match=r"Normal: parameter 'scale' must be finite and > 0"):
        compiled(loc, -scale)
    with pytest.raises(RuntimeError, match=r"Normal: parameter 'loc' must be finite"):
        compiled(loc * float("nan"), scale)


def test_eager_validation_message_unchanged():
    loc, scale = _params(4)
    with pytest.raises(ValueError, match=r"Normal: parameter 'scale' \(tensor of shape \(4,\)\)"):
        Normal(loc, -scale, validate_args=True)
