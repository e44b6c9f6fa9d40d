"""Every family of the registry under torch.compile: ``from_noise_and_log_prob`` and the
backward pass through it give what eager mode gives.

ε is drawn outside the compiled function (as a training step that takes the batch's noise
does), so the two runs see the same numbers. The backend is Dynamo's own ("eager": the
captured graphs run as they are), where a family breaks (data-dependent control flow,
in-place writes, Python-side state) at a fraction of inductor's compile time;
``REPARAM_COMPILE_BACKEND=aot_eager`` also traces the backward graphs (about 3× longer:
run before a release). Inductor itself is exercised on the hot families in
test_compile*.py. Graph breaks are allowed (a rejection loop is Python by nature): what
must hold is that the compiled function runs and agrees.
"""

from __future__ import annotations

import os
import sys

import pytest
import torch

from .registry import EXAMPLES, Example
from .test_generic import build, grad_names

_BACKEND = os.environ.get("REPARAM_COMPILE_BACKEND", "eager")

pytestmark = pytest.mark.skipif(
    sys.platform.startswith("win"), reason="torch.compile is not supported here"
)


def _step(ex: Example, names: tuple[str, ...], fixed: dict):
    density = ex.extra.get("log_prob", True)  # Stable has none: its draws only

    def step(eps: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        q = ex.make(**fixed, **dict(zip(names, args, strict=True)), validate_args=False)
        if not density:
            return q.from_noise(eps).sin().sum()
        z, log_q = q.from_noise_and_log_prob(eps)
        return z.sin().sum() + log_q.sum()  # bounded in z: finite for every family

    return step


# Dynamo reports each graph break (allowed here) and its tracing notes (through lru_cache'd
# pure helpers, .grad of non-leaf tensors it wraps) as UserWarnings: what is checked is
# that the compiled function runs and agrees.
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore:<class 'torch.autograd.function.Function'> should not be")
@pytest.mark.parametrize("ex", [pytest.param(e, id=e.name) for e in EXAMPLES])
def test_from_noise_and_log_prob_compiles(ex):
    q, ps = build(ex, requires_grad=False)
    torch.manual_seed(0)
    eps = q.sample_noise((4,))
    names = () if ex.extra.get("parameter_free") else grad_names(ex)
    fixed = {k: v for k, v in ps.items() if k not in names}
    step = _step(ex, names, fixed)
    torch._dynamo.reset()
    compiled = torch.compile(step, backend=_BACKEND)

    def run(fn):
        args = [ps[n].clone().requires_grad_() for n in names]
        out = fn(eps, *args)
        grads = torch.autograd.grad(out, args, allow_unused=True) if args else ()
        return out.detach(), grads

    want, want_grads = run(step)
    got, got_grads = run(compiled)
    torch.testing.assert_close(got, want)
    for name, g, w in zip(names, got_grads, want_grads, strict=True):
        if w is None:
            assert g is None, name
        else:
            torch.testing.assert_close(g, w, msg=name)
