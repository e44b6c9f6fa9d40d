"""reparam.pyro.noise: antithetic pairs and QMC across Pyro's vectorized particles."""

import math

import pytest
import torch

pyro = pytest.importorskip("pyro")
import pyro.distributions as dist  # noqa: E402
from pyro.infer import Trace_ELBO  # noqa: E402

import reparam.pyro as rp  # noqa: E402
from reparam.noise import NoiseStrategy  # noqa: E402

LOC, SCALE = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, 2.0, 1.0])


def _guide():
    with pyro.plate("d", 3):
        pyro.sample("z", rp.Normal(LOC, SCALE))
        pyro.sample("g", rp.Gamma(torch.tensor(2.5), 1.5))
    pyro.sample("v", rp.Normal(torch.zeros(2), 1.0).to_event(1).mask(True))
    pyro.sample("w", dist.Normal(0.0, 1.0))  # Pyro's own: left to Pyro


def _trace(strategy, n=8, reps=None):
    with rp.noise(strategy), pyro.plate(rp.PARTICLE_PLATE, n, dim=-2):
        if reps is None:
            return pyro.poutine.trace(_guide).get_trace()
        with pyro.plate("replicates", reps, dim=-3):  # independent replicates
            return pyro.poutine.trace(_guide).get_trace()


def test_antithetic_pairs_reflect_eps_across_particles():
    torch.manual_seed(0)
    tr = _trace("antithetic")
    z = tr.nodes["z"]["value"]
    assert z.shape == (8, 3)
    eps = (z - LOC) / SCALE
    torch.testing.assert_close(eps[4:], -eps[:4])
    assert eps[:4].std() > 0.3  # not degenerate
    u = torch.distributions.Gamma(2.5, 1.5).cdf(tr.nodes["g"]["value"])
    torch.testing.assert_close(u[4:] + u[:4], torch.ones(4, 3), atol=2e-5, rtol=0)
    v = tr.nodes["v"]["value"]
    assert v.shape == (8, 1, 2)
    torch.testing.assert_close(v[4:], -v[:4])


def test_qmc_spreads_the_particles():
    torch.manual_seed(1)
    z = _trace("qmc", n=16).nodes["z"]["value"]
    u = torch.distributions.Normal(LOC, SCALE).cdf(z)  # (16, 3): one Sobol' net
    for j in range(3):  # a (0, m, s)-net: each of the 16 cells of width 1/16 holds one point
        counts = torch.bincount((u[:, j] * 16).long(), minlength=16)
        assert (counts == 1).all()


def test_antithetic_and_qmc_estimates_are_unbiased():
    """Mean over replicates of the particle average of exp(z/2) matches E[exp(z/2)]."""
    torch.manual_seed(2)
    exact = torch.exp(LOC / 2 + SCALE**2 / 8)
    for strategy in ("antithetic", "qmc"):
        z = _trace(strategy, reps=4000).nodes["z"]["value"]  # (4000, 8, 3)
        est = (z / 2).exp().mean(1)  # one particle average per replicate
        se = est.std(0) / math.sqrt(len(est))
        assert ((est.mean(0) - exact).abs() < 5 * se).all(), strategy
        plain = torch.distributions.Normal(LOC, SCALE).sample((4000, 8)).div(2).exp().mean(1)
        assert (est.var(0) < plain.var(0)).all(), strategy  # and they do reduce variance


def test_one_particle_or_handler_inside_the_elbo_is_a_named_error():
    def model():
        pyro.sample("z", dist.Normal(0.0, 1.0))

    def guide():
        pyro.sample("z", rp.Normal(torch.tensor(0.0), 1.0))

    with pytest.raises(ValueError, match=r"noise\('antithetic'\): site 'z' has no particle"):
        with rp.noise("antithetic"):
            Trace_ELBO().loss(model, guide)
    elbo = Trace_ELBO(num_particles=4, vectorize_particles=True, max_plate_nesting=0)
    with pytest.raises(ValueError, match="has no particle dimension"):
        elbo.loss(model, rp.noise("qmc")(guide))
    with rp.noise("antithetic"):  # the right place: works
        assert math.isfinite(elbo.loss(model, guide))
    with pytest.raises(ValueError, match="must be even"), rp.noise("antithetic"):
        Trace_ELBO(num_particles=3, vectorize_particles=True).loss(model, guide)
    with rp.noise("mc"):  # mc leaves the site to Pyro, one particle is fine
        assert math.isfinite(Trace_ELBO().loss(model, guide))


def test_bad_arguments_are_named_errors():
    with pytest.raises(ValueError, match="unknown noise 'sobol'"):
        rp.noise("sobol")
    with pytest.raises(TypeError, match="plate must be a plate name"):
        rp.noise("qmc", plate=3)

    class Wrong(NoiseStrategy):
        name = "wrong"

        def draw(self, q, sample_shape):
            return torch.zeros(2)

    with pytest.raises(ValueError, match="noise strategy 'wrong' returned"):
        _trace(Wrong())


def test_the_flow_autoguide_latent_gets_antithetic_base_noise():
    def model():
        pyro.sample("w", dist.Normal(torch.zeros(3), 1.0).to_event(1))

    guide = rp.AutoReparamFlow(model, flow="maf", transforms=2, hidden_features=(8,))
    guide()  # builds the flow
    with torch.no_grad(), rp.noise("antithetic"), pyro.plate(rp.PARTICLE_PLATE, 6, dim=-1):
        tr = pyro.poutine.trace(guide).get_trace()
    site = next(s for n, s in tr.nodes.items() if n.endswith("_latent"))
    u = site["value"]
    assert u.shape == (6, 3)
    eps, _ = site["fn"]._pull(u)  # the flow's inverse: back to the base noise
    torch.testing.assert_close(eps[3:], -eps[:3], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(tr.nodes["w"]["value"], u)  # real support: w = u


def test_a_family_under_pyros_expanded_distribution_is_a_named_error():
    from pyro.distributions.torch_distribution import ExpandedDistribution

    def guide():
        base = rp.Normal(torch.tensor(0.0), 1.0)
        pyro.sample("e", ExpandedDistribution(base, torch.Size([8])).to_event(1))

    with pytest.raises(ValueError, match="under Pyro's ExpandedDistribution"):
        with rp.noise("qmc"), pyro.plate(rp.PARTICLE_PLATE, 4, dim=-1):
            pyro.poutine.trace(guide).get_trace()
