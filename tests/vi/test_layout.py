"""Layout: constrained blocks ↔ the unconstrained vector z, with the log-det correction."""

import math

import pytest
import torch

from reparam.vi import Layout


def _mixed() -> Layout:
    return Layout(
        {
            "mu": ((), "real"),
            "tau": ((), "positive"),
            "theta": (3, "real"),
            "sd": ((2,), "positive"),
            "p": ((2, 2), "unit_interval"),
            "w": (4, "simplex"),
            "pi": ((2, 3), "simplex"),
        }
    )


def test_dim_names_and_flat_names():
    layout = _mixed()
    # 1 + 1 + 3 + 2 + 4 + (4 − 1) + 2·(3 − 1)
    assert layout.dim == 18
    assert layout.names == ["mu", "tau", "theta", "sd", "p", "w", "pi"]
    names = layout.flat_names()
    assert names[:7] == ["mu", "tau", "theta[0]", "theta[1]", "theta[2]", "sd[0]", "sd[1]"]
    assert names[7:11] == ["p[0,0]", "p[0,1]", "p[1,0]", "p[1,1]"]
    assert names[11:15] == ["w[0]", "w[1]", "w[2]", "w[3]"]
    assert names[15:] == [f"pi[{i},{j}]" for i in range(2) for j in range(3)]
    assert len(names) == 21 == len(set(names))


@pytest.mark.parametrize("lead", [(), (5,), (2, 3)])
def test_constrain_shapes_and_supports(lead):
    layout = _mixed()
    z = 2.0 * torch.randn(*lead, layout.dim, dtype=torch.float64)
    params, log_det = layout.constrain(z)
    assert log_det.shape == lead
    for name, shape in layout.shapes.items():
        assert params[name].shape == lead + shape
    assert (params["tau"] > 0).all()
    assert (params["sd"] > 0).all()
    assert ((params["p"] > 0) & (params["p"] < 1)).all()
    for name in ("w", "pi"):
        assert (params[name] > 0).all()
        torch.testing.assert_close(
            params[name].sum(-1),
            torch.ones(lead + params[name].shape[len(lead) : -1], dtype=torch.float64),
        )
    # the real blocks are copies of their slice of z
    torch.testing.assert_close(params["mu"], z[..., 0])
    torch.testing.assert_close(params["theta"], z[..., 2:5])
    torch.testing.assert_close(params["tau"], z[..., 1].exp())


@pytest.mark.parametrize("lead", [(), (7,), (2, 3)])
def test_round_trips(lead):
    layout = _mixed()
    z = torch.randn(*lead, layout.dim, dtype=torch.float64)
    params, _ = layout.constrain(z)
    torch.testing.assert_close(layout.unconstrain(params), z)
    again, _ = layout.constrain(layout.unconstrain(params))
    for name in layout.names:
        torch.testing.assert_close(again[name], params[name])


def test_flatten_matches_flat_names():
    layout = _mixed()
    z = torch.randn(4, layout.dim, dtype=torch.float64)
    params, _ = layout.constrain(z)
    flat = layout.flatten(params)
    names = layout.flat_names()
    assert flat.shape == (4, len(names))
    torch.testing.assert_close(flat[:, names.index("tau")], params["tau"])
    torch.testing.assert_close(flat[:, names.index("p[1,0]")], params["p"][:, 1, 0])
    torch.testing.assert_close(flat[:, names.index("pi[1,2]")], params["pi"][:, 1, 2])
    torch.testing.assert_close(flat[:, names.index("w[3]")], params["w"][:, 3])


def _square_map(layout: Layout):
    """z ↦ the constrained values with each simplex's last entry dropped (d → d)."""

    def f(z):
        params, _ = layout.constrain(z)
        parts = []
        for name in layout.names:
            v = params[name]
            if layout.constraints[name] == "simplex":
                v = v[..., :-1]
            parts.append(v.reshape(-1))
        return torch.cat(parts)

    return f


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_det_matches_autograd_jacobian(seed):
    layout = _mixed()
    gen = torch.Generator().manual_seed(seed)
    z = 1.5 * torch.randn(layout.dim, dtype=torch.float64, generator=gen)
    jac = torch.autograd.functional.jacobian(_square_map(layout), z)
    assert jac.shape == (layout.dim, layout.dim)
    _, expected = torch.linalg.slogdet(jac)
    _, log_det = layout.constrain(z)
    torch.testing.assert_close(log_det, expected, rtol=1e-10, atol=1e-10)


def test_log_det_batched_equals_per_row():
    layout = _mixed()
    z = torch.randn(6, layout.dim, dtype=torch.float64)
    _, batched = layout.constrain(z)
    rows = torch.stack([layout.constrain(zi)[1] for zi in z])
    torch.testing.assert_close(batched, rows)


def _integrate_1d(f, lo, hi, n=20001):
    z = torch.linspace(lo, hi, n, dtype=torch.float64)
    return torch.trapezoid(f(z.unsqueeze(-1)).exp(), z).item()


def test_log_joint_from_positive_and_unit_interval_normalize():
    # a normalized density on θ stays normalized on z after the change of variables
    pos = Layout({"t": ((), "positive")})
    gamma = torch.distributions.Gamma(torch.tensor(2.5, dtype=torch.float64), 1.5)
    f = pos.log_joint_from(lambda p: gamma.log_prob(p["t"]))
    assert _integrate_1d(f, -30.0, 10.0) == pytest.approx(1.0, abs=1e-6)

    unit = Layout({"u": ((), "unit_interval")})
    beta = torch.distributions.Beta(
        torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64)
    )
    g = unit.log_joint_from(lambda p: beta.log_prob(p["u"]))
    assert _integrate_1d(g, -40.0, 40.0) == pytest.approx(1.0, abs=1e-6)


def test_log_joint_from_simplex_normalizes():
    # Dirichlet(2, 3, 4) density on the 3-simplex, pushed to R^2 by stick-breaking
    layout = Layout({"w": (3, "simplex")})
    alpha = torch.tensor([2.0, 3.0, 4.0], dtype=torch.float64)
    dirichlet = torch.distributions.Dirichlet(alpha)
    f = layout.log_joint_from(lambda p: dirichlet.log_prob(p["w"]))
    grid = torch.linspace(-25.0, 25.0, 1001, dtype=torch.float64)
    z = torch.stack(torch.meshgrid(grid, grid, indexing="ij"), dim=-1)
    density = f(z).exp()
    assert density.shape == (1001, 1001)
    total = torch.trapezoid(torch.trapezoid(density, grid, dim=-1), grid).item()
    assert total == pytest.approx(1.0, abs=1e-4)


def test_log_joint_from_adds_log_det():
    layout = _mixed()
    z = torch.randn(3, layout.dim, dtype=torch.float64)

    def log_density(p):
        return -p["tau"] + p["w"].log().sum(-1) - p["theta"].pow(2).sum(-1)

    params, log_det = layout.constrain(z)
    torch.testing.assert_close(
        layout.log_joint_from(log_density)(z), log_density(params) + log_det
    )


def test_gradients_flow_and_float32():
    layout = _mixed()
    z = torch.randn(2, layout.dim, requires_grad=True)
    params, log_det = layout.constrain(z)
    assert log_det.dtype == torch.float32
    assert params["w"].dtype == torch.float32
    (log_det.sum() + sum(v.sum() for v in params.values())).backward()
    assert torch.isfinite(z.grad).all()
    assert (z.grad != 0).all()


def test_int_and_tuple_shapes_agree():
    a = Layout({"x": (3, "positive")})
    b = Layout({"x": ((3,), "positive")})
    assert a.dim == b.dim == 3
    assert a.flat_names() == b.flat_names()


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("blocks", "match"),
    [
        ({}, "non-empty"),
        ({"x": ((), "negative")}, "unknown constraint 'negative'"),
        ({"x": (3, "Real")}, "unknown constraint"),
        ({"x": (1, "simplex")}, "K >= 2"),
        ({"x": ((), "simplex")}, "K >= 2"),
        ({"x": ((2, 1), "simplex")}, "K >= 2"),
        ({"x": (0, "real")}, "shape"),
        ({"x": (-2, "real")}, "shape"),
        ({"x": ((2.0,), "real")}, "shape"),
        ({"x": ([2], "real")}, "shape"),
        ({"x": (True, "real")}, "shape"),
        ({"x": "real"}, "pair"),
        ({"": ((), "real")}, "non-empty strings"),
    ],
)
def test_bad_layouts(blocks, match):
    with pytest.raises(ValueError, match=match):
        Layout(blocks)


def test_bad_z():
    layout = _mixed()
    with pytest.raises(ValueError, match=r"\(\*, 18\)"):
        layout.constrain(torch.zeros(4, 17))
    with pytest.raises(ValueError, match="shape"):
        layout.constrain(torch.tensor(0.0))
    with pytest.raises(ValueError, match="Tensor"):
        layout.constrain([0.0] * 18)


def test_bad_params():
    layout = Layout({"a": ((), "real"), "s": (2, "positive"), "w": (3, "simplex")})
    good = {"a": torch.zeros(4), "s": torch.ones(4, 2), "w": torch.full((4, 3), 1 / 3)}
    assert layout.unconstrain(good).shape == (4, 5)
    with pytest.raises(ValueError, match="missing \\['w'\\]"):
        layout.unconstrain({"a": good["a"], "s": good["s"]})
    with pytest.raises(ValueError, match="unexpected \\['b'\\]"):
        layout.flatten({**good, "b": torch.zeros(4)})
    with pytest.raises(ValueError, match="'s' must have shape"):
        layout.unconstrain({**good, "s": torch.ones(4, 3)})
    with pytest.raises(ValueError, match="leading shape"):
        layout.unconstrain({**good, "a": torch.zeros(5)})
    with pytest.raises(ValueError, match="'s' \\(positive\\) must be finite and > 0"):
        layout.unconstrain({**good, "s": torch.tensor([[1.0, 0.0]] * 4)})
    with pytest.raises(ValueError, match="summing to 1"):
        layout.unconstrain({**good, "w": torch.full((4, 3), 0.3)})
    with pytest.raises(ValueError, match="finite"):
        layout.unconstrain({**good, "a": torch.tensor([0.0, math.nan, 0.0, 0.0])})
    unit = Layout({"u": (2, "unit_interval")})
    with pytest.raises(ValueError, match="open interval"):
        unit.unconstrain({"u": torch.tensor([0.5, 1.0])})
    with pytest.raises(ValueError, match="callable"):
        layout.log_joint_from(3)
