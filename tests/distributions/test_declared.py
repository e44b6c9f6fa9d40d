"""User-declared reparameterizations: ``Reparameterized`` and ``reparameterize``."""

import math

import pytest
import torch
from torch.distributions import constraints

import reparam
from reparam.distributions import _params
from reparam.distributions.declared import Reparameterized, reparameterize


def affine(eps, loc, scale):
    return loc + scale * eps


def normal_ladj(eps, z, loc, scale):
    return scale.log().expand(z.shape)


def make_normal(**kw):
    loc = torch.tensor([0.3, -1.0], dtype=torch.float64, requires_grad=True)
    scale = torch.tensor([0.5, 2.0], dtype=torch.float64, requires_grad=True)
    return Reparameterized(affine, {"loc": loc, "scale": scale}, **kw), loc, scale


def test_declared_normal_matches_builtin_normal():
    q, loc, scale = make_normal(log_abs_det_jacobian=normal_ladj)
    ref = reparam.Normal(loc, scale)
    eps = q.sample_noise((7,))
    z, log_q = q.from_noise_and_log_prob(eps)
    torch.testing.assert_close(z, ref.from_noise(eps))
    torch.testing.assert_close(log_q, ref.log_prob(z))
    assert q.batch_shape == (2,)
    assert q.event_shape == ()
    assert q.params["loc"] is loc  # the caller's tensor, not a copy


def test_gradients_reach_the_callers_tensors():
    q, loc, scale = make_normal()
    z, log_q = q.rsample_and_log_prob((5,))
    (z.sum() + log_q.sum()).backward()
    assert loc.grad is not None
    assert scale.grad is not None
    # log q = log p(ε) − log σ: d/dσ of Σ log q is −5/σ, plus Σ ε from z.
    assert torch.isfinite(scale.grad).all()


def test_autograd_log_det_equals_closed_form():
    q, loc, scale = make_normal()  # no density given: elementwise jvp
    eps = q.sample_noise((6,))
    z, log_q = q.from_noise_and_log_prob(eps)
    want = -0.5 * eps**2 - 0.5 * math.log(2 * math.pi) - scale.log()
    torch.testing.assert_close(log_q, want)
    torch.testing.assert_close(q.log_abs_det_jacobian(eps, z), scale.log().expand(6, 2))
    torch.testing.assert_close(q.log_prob_from_noise(eps, z), want)
    (g,) = torch.autograd.grad(log_q.sum(), scale)
    torch.testing.assert_close(g, -6 / scale.detach())


def test_user_log_prob_and_inverse():
    q, loc, scale = make_normal(inverse=lambda z, loc, scale: (z - loc) / scale)
    z = q.sample((4,))
    torch.testing.assert_close(q.log_prob(z), reparam.Normal(loc, scale).log_prob(z))
    q2, _, _ = make_normal(log_prob=lambda z, loc, scale: reparam.Normal(loc, scale).log_prob(z))
    torch.testing.assert_close(q2.log_prob(z), q.log_prob(z))


def test_log_prob_without_density_or_inverse_is_not_implemented():
    q, _, _ = make_normal()
    with pytest.raises(NotImplementedError, match="log_prob"):
        q.log_prob(torch.zeros(2, dtype=torch.float64))


def test_event_shape_without_density_is_not_implemented():
    m = torch.tensor([[1.0, 0.0], [0.5, 2.0]], dtype=torch.float64)
    q = Reparameterized(lambda e, m: e @ m.T, {"m": m}, event_shape=(2,))
    assert q.batch_shape == ()
    assert q.event_shape == (2,)
    eps = q.sample_noise((3,))
    assert q.from_noise(eps).shape == (3, 2)
    with pytest.raises(NotImplementedError, match="elementwise"):
        q.log_prob_from_noise(eps, q.from_noise(eps))


def test_event_shaped_declaration_matches_torch_mvn():
    loc = torch.tensor([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]], dtype=torch.float64)
    tril = torch.tensor([[1.0, 0.0], [0.3, 0.7]], dtype=torch.float64)

    def g(eps, loc, tril):
        return loc + (tril @ eps.unsqueeze(-1)).squeeze(-1)

    def ladj(eps, z, loc, tril):
        return tril.diagonal().log().sum().expand(z.shape[:-1])

    q = Reparameterized(g, {"loc": loc, "tril": tril}, event_shape=(2,), log_abs_det_jacobian=ladj)
    assert q.batch_shape == (3,)  # read off g's output: tril broadcasts, loc carries (3,)
    z, log_q = q.rsample_and_log_prob((4,))
    ref = torch.distributions.MultivariateNormal(loc, scale_tril=tril)
    torch.testing.assert_close(log_q, ref.log_prob(z))


def test_noise_choice_and_reflection():
    q = Reparameterized(
        lambda u, rate: -torch.log(u) / rate, {"rate": torch.tensor([1.0, 2.0])}, noise="uniform"
    )
    assert isinstance(q.noise, reparam.StandardUniform)
    u = q.sample_noise((5,))
    assert ((u > 0) & (u < 1)).all()
    z, log_q = q.from_noise_and_log_prob(q.noise.reflect(u))  # antithetic partner
    ref = torch.distributions.Exponential(torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(log_q, ref.log_prob(z))
    with pytest.raises(ValueError, match="noise"):
        Reparameterized(affine, {"loc": 0.0, "scale": 1.0}, noise="cauchy")


def test_numbers_become_tensors_and_batch_broadcasts():
    q = Reparameterized(affine, {"loc": torch.zeros(3, 1), "scale": 2.0})
    assert q.batch_shape == (3, 1)
    assert q.params["scale"].dtype == torch.get_default_dtype()
    q = Reparameterized(affine, {"loc": torch.zeros(3, 1), "scale": torch.ones(4)})
    assert q.batch_shape == (3, 4)
    assert q.rsample((2,)).shape == (2, 3, 4)


def test_not_callable_g_is_a_type_error():
    with pytest.raises(TypeError, match=r"\bg\b"):
        Reparameterized("loc + scale * eps", {"loc": 0.0, "scale": 1.0})
    with pytest.raises(TypeError, match="log_prob"):
        Reparameterized(affine, {"loc": 0.0, "scale": 1.0}, log_prob=3.0)


def test_wrong_output_shape_is_a_value_error():
    q = Reparameterized(lambda e, loc: (loc + e).sum(-1), {"loc": torch.zeros(3)})
    with pytest.raises(ValueError, match=r"g returned shape \(2,\).*\(2, 3\)"):
        q.rsample((2,))
    q = Reparameterized(lambda e, loc: float(loc.sum()), {"loc": torch.zeros(3)})
    with pytest.raises(TypeError, match="tensor"):
        q.rsample()
    with pytest.raises(ValueError, match="event_shape"):
        Reparameterized(lambda e, loc: loc + e.sum(-1), {"loc": torch.zeros(3)}, event_shape=(2,))
    with pytest.raises(ValueError, match="batch_shape="):
        Reparameterized(lambda e, loc: loc + e, {"loc": torch.zeros(3)}, event_shape=(2,))


def test_invalid_parameters_are_named():
    # validate_args explicit: torch.compile (in another test) turns torch's default off.
    with pytest.raises(ValueError, match=r"'loc'.*finite"):
        Reparameterized(
            affine, {"loc": torch.tensor([0.0, math.nan]), "scale": 1.0}, validate_args=True
        )
    with pytest.raises(ValueError, match=r"'scale'.*> 0"):
        Reparameterized(
            affine,
            {"loc": 0.0, "scale": torch.tensor([-1.0])},
            arg_constraints={"scale": constraints.positive},
            validate_args=True,
        )
    Reparameterized(affine, {"loc": math.inf, "scale": 1.0}, validate_args=False)
    with pytest.raises(ValueError, match="broadcast"):
        Reparameterized(affine, {"loc": torch.zeros(2), "scale": torch.ones(3)})
    with pytest.raises(ValueError, match="unknown"):
        Reparameterized(affine, {"loc": 0.0}, arg_constraints={"scale": constraints.positive})
    with pytest.raises(TypeError, match="'loc'"):
        Reparameterized(affine, {"loc": "0", "scale": 1.0})


def test_construction_does_not_grow_the_validation_cache():
    Reparameterized(affine, {"loc": torch.zeros(2), "scale": torch.ones(2)})
    before = len(_params._PLANS)
    for _ in range(50):
        Reparameterized(affine, {"loc": torch.zeros(2), "scale": torch.ones(2)})
    assert len(_params._PLANS) == before


def test_expand_keeps_the_parameters():
    q, loc, _ = make_normal(log_abs_det_jacobian=normal_ladj)
    big = q.expand((4, 2))
    assert big.batch_shape == (4, 2)
    assert big.params["loc"] is loc
    z, log_q = big.rsample_and_log_prob((3,))
    assert z.shape == (3, 4, 2)
    assert log_q.shape == (3, 4, 2)
    with pytest.raises(ValueError, match="expand"):
        q.expand((3,))


def test_decorator_form():
    @reparameterize(noise="uniform", arg_constraints={"scale": constraints.positive})
    def gumbel(u, loc, scale=1.0):
        return loc - scale * torch.log(-torch.log(u))

    q = gumbel(torch.zeros(3))
    assert isinstance(q, Reparameterized)
    assert q.batch_shape == (3,)
    assert float(q.params["scale"]) == 1.0
    q = gumbel(loc=torch.zeros(2), scale=torch.full((2,), 2.0), validate_args=False)
    z, log_q = q.rsample_and_log_prob((100,))
    ref = torch.distributions.Gumbel(torch.zeros(2), torch.full((2,), 2.0))
    torch.testing.assert_close(log_q, ref.log_prob(z), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError):
        gumbel()  # loc is required
    with pytest.raises(ValueError, match="'scale'"):
        gumbel(0.0, -1.0, validate_args=True)
    assert reparameterize(affine)(0.0, 1.0).batch_shape == ()


def test_repr_names_g():
    q, _, _ = make_normal()
    assert "affine" in repr(q)
