"""The rational-quadratic spline (Durkan et al. 2019) and the transforms built on it."""

from __future__ import annotations

import math

import pytest
import torch

from reparam.flows.autoregressive import SplineAutoregressive
from reparam.flows.coupling import AffineCoupling, SplineCoupling
from reparam.flows.splines import rational_quadratic_spline as rqs

B = 3.0
K = 6


def _params(n: int, dtype: torch.dtype = torch.float64, scale: float = 1.5):
    w = torch.randn(n, K, dtype=dtype) * scale
    h = torch.randn(n, K, dtype=dtype) * scale
    d = torch.randn(n, K - 1, dtype=dtype) * scale
    return w, h, d


def _knots(raw: torch.Tensor) -> torch.Tensor:
    """Knot positions recomputed independently from the documented parameterization."""
    sizes = 1e-3 + (1 - 1e-3 * K) * torch.softmax(raw, -1)
    cum = torch.cat((torch.zeros_like(sizes[..., :1]), sizes.cumsum(-1)), -1)
    return -B + 2 * B * cum


def _derivs(raw: torch.Tensor) -> torch.Tensor:
    inner = 1e-3 + torch.nn.functional.softplus(raw + math.log(math.expm1(1 - 1e-3)))
    one = torch.ones_like(raw[..., :1])
    return torch.cat((one, inner, one), -1)


def test_zero_parameters_give_the_identity():
    x = torch.linspace(-2 * B, 2 * B, 401, dtype=torch.float64)
    zeros = torch.zeros(401, K, dtype=torch.float64)
    for inverse in (False, True):
        y, ladj = rqs(x, zeros, zeros, zeros[:, 1:], bound=B, inverse=inverse)
        torch.testing.assert_close(y, x, rtol=0, atol=1e-12)
        torch.testing.assert_close(ladj, torch.zeros_like(x), rtol=0, atol=1e-12)


def test_knots_are_interpolated_with_their_derivatives():
    w, h, d = _params(50)
    kx, ky, kd = _knots(w), _knots(h), _derivs(d)
    x = kx.T.contiguous()  # (K + 1, 50): knot j of every spline
    expand = (K + 1, 50)
    y, ladj = rqs(x, w.expand(*expand, K), h.expand(*expand, K), d.expand(*expand, K - 1), bound=B)
    torch.testing.assert_close(y, ky.T, rtol=0, atol=1e-12)
    torch.testing.assert_close(ladj.exp(), kd.T, rtol=1e-10, atol=0)


@pytest.mark.parametrize("where", ["random", "knots", "tails", "edges"])
def test_inverse_round_trip(where):
    n = 400
    w, h, d = _params(n)
    if where == "random":
        x = (torch.rand(n, dtype=torch.float64) * 2 - 1) * B
    elif where == "knots":
        x = _knots(w).gather(-1, torch.randint(0, K + 1, (n, 1))).squeeze(-1)
    elif where == "tails":
        x = torch.sign(torch.randn(n, dtype=torch.float64)) * (B + torch.rand(n) * 10)
    else:
        x = torch.tensor([-B, B], dtype=torch.float64).repeat(n // 2)
    y, ladj = rqs(x, w, h, d, bound=B)
    x2, ladj_inv = rqs(y, w, h, d, bound=B, inverse=True)
    # Backward-stable: the error in x is ~ machine precision in y divided by dy/dx.
    torch.testing.assert_close(x2, x, rtol=0, atol=1e-13 * B / ladj.exp().min().item())
    torch.testing.assert_close(ladj_inv, -ladj, rtol=0, atol=1e-8)
    if where == "tails":
        torch.testing.assert_close(y, x, rtol=0, atol=0)
        assert (ladj == 0).all()
    # and from the y side: y at the knots of the output grid
    if where == "knots":
        y = _knots(h).gather(-1, torch.randint(0, K + 1, (n, 1))).squeeze(-1)
        x, _ = rqs(y, w, h, d, bound=B, inverse=True)
        y2, _ = rqs(x, w, h, d, bound=B)
        torch.testing.assert_close(y2, y, rtol=0, atol=1e-12)


@pytest.mark.parametrize("inverse", [False, True])
def test_ladj_matches_the_autograd_derivative(inverse):
    n = 500
    w, h, d = _params(n)
    x = ((torch.rand(n, dtype=torch.float64) * 2 - 1) * 1.3 * B).requires_grad_()
    y, ladj = rqs(x, w, h, d, bound=B, inverse=inverse)
    (grad,) = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(ladj, grad.log(), rtol=1e-10, atol=1e-10)


def test_gradcheck_in_the_parameters():
    w, h, d = (t.requires_grad_() for t in _params(6))
    x = torch.tensor([-3.5, -2.0, -0.3, 0.4, 1.7, 2.9], dtype=torch.float64)
    for inverse in (False, True):
        assert torch.autograd.gradcheck(
            lambda w, h, d, inverse=inverse: rqs(x, w, h, d, bound=B, inverse=inverse),
            (w, h, d),
        )


def test_monotone():
    w, h, d = _params(8, scale=3.0)
    x = torch.linspace(-1.5 * B, 1.5 * B, 20001, dtype=torch.float64)[:, None].expand(-1, 8)
    n = x.shape[0]
    y, _ = rqs(x, w.expand(n, 8, K), h.expand(n, 8, K), d.expand(n, 8, K - 1), bound=B)
    assert (y.diff(dim=0) > 0).all()


def test_value_and_slope_are_continuous_across_knots():
    w, h, d = _params(30, scale=2.0)
    kx = _knots(w)[:, 1:-1]  # interior knots (30, K - 1)
    delta = 1e-10
    expand = (30, K - 1)
    args = (w[:, None].expand(*expand, K), h[:, None].expand(*expand, K))
    args += (d[:, None].expand(*expand, K - 1),)
    lo, ladj_lo = rqs(kx - delta, *args, bound=B)
    hi, ladj_hi = rqs(kx + delta, *args, bound=B)
    slope = _derivs(d)[:, 1:-1]
    assert ((hi - lo).abs() <= 2 * delta * 1.01 * slope + 1e-14).all()
    torch.testing.assert_close(ladj_lo.exp(), slope, rtol=1e-4, atol=0)
    torch.testing.assert_close(ladj_hi.exp(), slope, rtol=1e-4, atol=0)


def test_float32_is_finite_at_the_edges_and_with_extreme_parameters():
    n = 64
    w, h, d = _params(n, dtype=torch.float32, scale=8.0)
    edge = torch.tensor(B, dtype=torch.float32)
    specials = torch.stack(
        (
            -edge,
            edge,
            torch.nextafter(edge, torch.tensor(0.0)),
            torch.nextafter(edge, torch.tensor(10.0)),
            torch.tensor(0.0),
            torch.tensor(1e30),
        )
    )
    knots = _knots(w.double()).float()
    x = torch.cat((specials.repeat(n // 8 + 1)[: n // 2], knots[: n // 2, 3]))
    x = x[:n].clone().requires_grad_()
    params = [t.requires_grad_() for t in (w, h, d)]
    for inverse in (False, True):
        y, ladj = rqs(x, *params, bound=B, inverse=inverse)
        assert torch.isfinite(y).all()
        assert torch.isfinite(ladj).all()
        grads = torch.autograd.grad((y + ladj).sum(), [x, *params])
        assert all(torch.isfinite(g).all() for g in grads)
        assert (y[x.abs() <= B].abs() <= B).all()


@pytest.mark.parametrize(
    ("shapes", "kw"),
    [
        (((5,), (5, 4), (5, 4), (5, 2)), {}),  # derivatives need K - 1 = 3
        (((5,), (5, 4), (5, 3), (5, 3)), {}),  # heights differ from widths
        (((5,), (6, 4), (6, 4), (6, 3)), {}),  # leading dims differ from x
        (((5,), (5, 0), (5, 0), (5, 0)), {}),  # no bins
        (((5,), (5, 4), (5, 4), (5, 3)), {"bound": 0.0}),
        (((5,), (5, 4), (5, 4), (5, 3)), {"min_bin_size": 0.3}),
    ],
)
def test_bad_arguments_raise(shapes, kw):
    args = [torch.zeros(s) for s in shapes]
    with pytest.raises(ValueError, match="rational_quadratic_spline"):
        rqs(*args, **kw)


# ---------------------------------------------------------------- spline transforms
@pytest.mark.parametrize(
    "make",
    [
        lambda: SplineCoupling(5, 2, (8,), bins=4, bound=2.0),
        lambda: SplineAutoregressive(5, 2, (8,), bins=4, bound=2.0, fast="inverse"),
        lambda: SplineAutoregressive(5, 2, (8,), bins=4, bound=2.0, fast="forward"),
    ],
)
def test_spline_transforms_start_at_the_identity(make):
    t = make().double()
    x = torch.randn(7, 5, dtype=torch.float64) * 2
    c = torch.randn(7, 2, dtype=torch.float64)
    for f in (t.forward, t.inverse):
        y, ladj = f(x, c)
        torch.testing.assert_close(y, x, rtol=0, atol=1e-12)
        torch.testing.assert_close(ladj, torch.zeros(7, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SplineCoupling(1), "at least 2 features"),
        (lambda: AffineCoupling(1), "at least 2 features"),
        (lambda: AffineCoupling(3, max_log_scale=0.0), "max_log_scale"),
        (lambda: SplineCoupling(3, bins=0), "bins"),
        (lambda: SplineCoupling(3, bound=-1.0), "bound"),
        (lambda: SplineAutoregressive(3, bins=2.5), "bins"),
        (lambda: SplineAutoregressive(3, fast="both"), "fast"),
    ],
)
def test_bad_transform_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()
