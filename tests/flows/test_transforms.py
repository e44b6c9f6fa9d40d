"""Generic transform tests, run on every case in cases_glue.CASES + cases_conditioned.CASES.

Each case is built in float64 under a fixed seed, its parameters perturbed off the
identity init (N(0, 0.3²)), and checked for: exact round trips, the log-determinant
against autograd's Jacobian, shapes, input validation, triangular Jacobians for the
autoregressive ones, and gradcheck in x, the context and the parameters.
"""

from __future__ import annotations

import importlib
import importlib.util

import pytest
import torch
from torch.func import functional_call

from reparam.flows import ActNorm, LULinear, Permutation, Planar, Radial, ReversePermutation
from reparam.flows.base import Bijection

from .cases_glue import CASES as GLUE_CASES
from .cases_glue import TransformCase

_CONDITIONED = "tests.flows.cases_conditioned"
HAVE_CONDITIONED = importlib.util.find_spec(_CONDITIONED) is not None
CONDITIONED_CASES: list[TransformCase] = (
    importlib.import_module(_CONDITIONED).CASES if HAVE_CONDITIONED else []
)
ALL_CASES = GLUE_CASES + CONDITIONED_CASES
BATCH = (5, 3)


def test_conditioned_cases_are_collected():
    assert HAVE_CONDITIONED, "tests/flows/cases_conditioned.py is missing (owned by H1)"
    assert len(CONDITIONED_CASES) > 0


def build(case: TransformCase) -> Bijection:
    torch.manual_seed(0)
    t = case.make().double()
    if case.randomize:
        with torch.no_grad():
            for p in t.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return t


def inputs(case: TransformCase, t: Bijection, batch: tuple[int, ...] = BATCH):
    x = torch.randn(*batch, t.features, dtype=torch.float64)
    ctx = (
        torch.randn(*batch, case.context_features, dtype=torch.float64)
        if case.context_features
        else None
    )
    return x, ctx


def jacobians(t: Bijection, x: torch.Tensor, ctx: torch.Tensor | None) -> torch.Tensor:
    """Per-point Jacobians ∂y/∂x, shape (N, D, D), for x of shape (N, D)."""
    n, d = x.shape
    full = torch.autograd.functional.jacobian(lambda v: t(v, ctx)[0], x)  # (N, D, N, D)
    idx = torch.arange(n)
    return full[idx, :, idx, :]


ids = [c.name for c in ALL_CASES]


@pytest.fixture(params=ALL_CASES, ids=ids)
def case(request):
    return request.param


def test_case_context_matches(case):
    t = build(case)
    assert isinstance(t, Bijection)
    assert t.context_features == case.context_features
    assert t.fast in ("both", "forward", "inverse")


def test_shapes_and_dtype(case):
    t = build(case)
    x, ctx = inputs(case, t)
    y, ladj = t(x, ctx)
    assert y.shape == x.shape
    assert y.dtype == torch.float64
    assert ladj.shape == BATCH
    assert ladj.dtype == torch.float64
    x2, ladj_inv = t.inverse(y, ctx)
    assert x2.shape == x.shape
    assert ladj_inv.shape == BATCH


def test_round_trips(case):
    t = build(case)
    x, ctx = inputs(case, t)
    y, ladj = t(x, ctx)
    x2, ladj_inv = t.inverse(y, ctx)
    torch.testing.assert_close(x2, x, rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(ladj_inv, -ladj, rtol=1e-8, atol=1e-9)
    # and the other way round, from points in the output space
    y0 = torch.randn_like(x)
    x0, ladj_inv0 = t.inverse(y0, ctx)
    y1, ladj0 = t(x0, ctx)
    torch.testing.assert_close(y1, y0, rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(ladj0, -ladj_inv0, rtol=1e-8, atol=1e-9)


def test_forward_is_not_the_identity(case):
    """Guards the other tests against a randomization that did nothing."""
    if not case.randomize:
        pytest.skip("case is tested at its init")
    t = build(case)
    x, ctx = inputs(case, t)
    y, ladj = t(x, ctx)
    is_perm = isinstance(t, Permutation | ReversePermutation)
    if t.features == 1 and is_perm:
        pytest.skip("a permutation of one feature is the identity")
    assert not torch.allclose(y, x) or not torch.allclose(ladj, torch.zeros_like(ladj))


def test_log_det_matches_autograd_jacobian(case):
    t = build(case)
    x, ctx = inputs(case, t)
    d = t.features
    xf = x.reshape(-1, d)
    cf = None if ctx is None else ctx.reshape(-1, case.context_features)
    jac = jacobians(t, xf, cf)
    expected = torch.linalg.slogdet(jac).logabsdet
    _, ladj = t(xf, cf)
    torch.testing.assert_close(ladj, expected, rtol=1e-8, atol=1e-8)
    if case.autoregressive:
        upper = torch.triu(jac, diagonal=1)
        assert upper.abs().max() == 0, "autoregressive Jacobian must be lower triangular"


def test_inverse_log_det_matches_autograd_jacobian(case):
    t = build(case)
    y, ctx = inputs(case, t, (6,))
    jac = torch.autograd.functional.jacobian(lambda v: t.inverse(v, ctx)[0], y)
    idx = torch.arange(6)
    expected = torch.linalg.slogdet(jac[idx, :, idx, :]).logabsdet
    torch.testing.assert_close(t.inverse(y, ctx)[1], expected, rtol=1e-8, atol=1e-8)


def test_wrong_feature_count(case):
    t = build(case)
    x, ctx = inputs(case, t)
    bad = torch.randn(*BATCH, t.features + 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="features"):
        t(bad, ctx)
    with pytest.raises(ValueError, match="features"):
        t.inverse(bad, ctx)


def test_context_missing_or_unexpected(case):
    t = build(case)
    x, ctx = inputs(case, t)
    if case.context_features:
        with pytest.raises(ValueError, match="context missing"):
            t(x)
        with pytest.raises(ValueError, match="context missing"):
            t.inverse(x)
        with pytest.raises(ValueError, match="context"):
            t(x, ctx[..., :-1])  # wrong width
        with pytest.raises(ValueError, match="context"):
            t(x, ctx[:1])  # wrong leading dims
    else:
        extra = torch.randn(*BATCH, 2, dtype=torch.float64)
        with pytest.raises(ValueError, match="unconditional"):
            t(x, extra)
        with pytest.raises(ValueError, match="unconditional"):
            t.inverse(x, extra)


def test_gradcheck_inputs_and_parameters(case):
    t = build(case)
    x, ctx = inputs(case, t, (2,))
    names = [n for n, _ in t.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in t.named_parameters()]
    x.requires_grad_(True)
    extra = [] if ctx is None else [ctx.requires_grad_(True)]

    def f(x, *rest):
        c = rest[0] if ctx is not None else None
        ps = rest[1:] if ctx is not None else rest
        return functional_call(t, dict(zip(names, ps, strict=True)), (x, c))

    assert torch.autograd.gradcheck(f, (x, *extra, *params), fast_mode=True)


# ---------------------------------------------------------------- glue specifics
def test_permutation_validation_and_seed():
    p = Permutation(3, [2, 0, 1])
    x = torch.tensor([[10.0, 20.0, 30.0]])
    assert p(x)[0].tolist() == [[30.0, 10.0, 20.0]]
    assert torch.equal(Permutation(6, seed=3).permutation, Permutation(6, seed=3).permutation)
    for bad in ([0, 0, 1], [0, 1], [0, 1, 3], [0.0, 1.0, 2.0]):
        with pytest.raises(ValueError, match="permutation"):
            Permutation(3, bad)
    with pytest.raises(ValueError, match="seed"):
        Permutation(3, [0, 1, 2], seed=1)
    assert ReversePermutation(3)(x)[0].tolist() == [[30.0, 20.0, 10.0]]


def test_lu_linear_starts_as_its_permutation_and_matches_weight():
    t = LULinear(4).double()
    eye = torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(t.weight(), eye[t.permutation])
    with torch.no_grad():
        for p in t.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = torch.randn(7, 4, dtype=torch.float64)
    torch.testing.assert_close(t(x)[0], x @ t.weight().T + t.bias)
    torch.testing.assert_close(t(x)[1], torch.linalg.slogdet(t.weight()).logabsdet.expand(7))


def test_actnorm_initializes_once_from_the_first_inverse_batch():
    t = ActNorm(3).double()
    y = torch.randn(500, 3, dtype=torch.float64) * torch.tensor([1.0, 2.0, 5.0]) + 3.0
    x, _ = t.inverse(y)
    torch.testing.assert_close(x.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(x.std(0, unbiased=False), torch.ones(3, dtype=torch.float64))
    assert bool(t.initialized)
    loc = t.loc.detach().clone()
    t.inverse(y * 10.0)  # a second batch does not re-initialize
    torch.testing.assert_close(t.loc.detach(), loc)
    state = t.state_dict()
    assert "initialized" in state
    assert bool(state["initialized"])
    fresh = ActNorm(3).double()
    fresh.load_state_dict(state)
    fresh.inverse(y * 10.0)
    torch.testing.assert_close(fresh.loc.detach(), loc)


def test_actnorm_no_init_in_eval_or_forward():
    t = ActNorm(2)
    t(torch.randn(10, 2) * 4)
    assert not bool(t.initialized)
    t.eval()
    t.inverse(torch.randn(10, 2) * 4)
    assert not bool(t.initialized)
    assert torch.count_nonzero(t.loc) == 0


def test_planar_inverse_near_the_invertibility_edge():
    """wᵀû → −1 makes f'(a) = 1 + wᵀû h'(a + b) tiny near a = −b: Newton alone overshoots."""
    t = Planar(2).double()
    with torch.no_grad():
        # u = 0, w = (3, 0): wᵀu = 0 → m = −1 + log 2; push wᵀu very negative: m → −1
        t.params.copy_(torch.tensor([-30.0, 0.0, 3.0, 0.0, 0.5], dtype=torch.float64))
    x = torch.linspace(-3, 3, 201, dtype=torch.float64).unsqueeze(-1).expand(201, 2).clone()
    y, ladj = t(x)
    x2, ladj_inv = t.inverse(y)
    torch.testing.assert_close(x2, x, rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(ladj_inv, -ladj)
    assert torch.isfinite(ladj).all()


class _Inverse(torch.nn.Module):
    def __init__(self, inner: Bijection) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inner.inverse(y)


def test_planar_inverse_is_differentiable_in_parameters():
    """The Newton solve runs without a graph; the final step must carry the exact gradient."""
    t = Planar(3).double()
    with torch.no_grad():
        t.params.add_(0.5 * torch.randn_like(t.params))
    wrapped = _Inverse(t)
    y = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    p = t.params.detach().clone().requires_grad_(True)

    def f(y, p):
        return functional_call(wrapped, {"inner.params": p}, (y,))

    assert torch.autograd.gradcheck(f, (y, p))


def test_radial_inverse_closed_form_handles_contracting_and_expanding():
    for beta_hat in (-4.0, 0.0, 4.0):
        t = Radial(3).double()
        with torch.no_grad():
            t.params.copy_(torch.tensor([0.5, -0.2, 0.1, 0.3, beta_hat], dtype=torch.float64))
        x = torch.randn(50, 3, dtype=torch.float64) * 3
        y, ladj = t(x)
        x2, ladj_inv = t.inverse(y)
        torch.testing.assert_close(x2, x, rtol=1e-8, atol=1e-9)
        torch.testing.assert_close(ladj_inv, -ladj, rtol=1e-8, atol=1e-9)
