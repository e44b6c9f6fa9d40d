"""reparam's distributions in Pyro: every class adapted, shapes under expand / mask /
to_event / plates, has_rsample, KL dispatch, and the optional import."""

import subprocess
import sys

import pytest
import torch

pyro = pytest.importorskip("pyro")
import pyro.distributions as dist  # noqa: E402
from pyro.distributions.torch_distribution import TorchDistributionMixin  # noqa: E402
from pyro.infer import TraceMeanField_ELBO  # noqa: E402

import reparam  # noqa: E402
import reparam.distributions as D  # noqa: E402
import reparam.pyro as rp  # noqa: E402


def test_every_distribution_class_is_adapted_under_its_name():
    names = [
        n
        for n in D.__all__
        if isinstance(getattr(D, n), type)
        and issubclass(getattr(D, n), torch.distributions.Distribution)
    ]
    assert "Gamma" in names
    assert "TruncatedNormal" in names
    for n in names:
        cls = getattr(rp, n)
        assert issubclass(cls, getattr(D, n)), n
        assert issubclass(cls, TorchDistributionMixin), n
        assert cls.__module__ == "reparam.pyro"
        assert cls.__qualname__ == n
        assert cls.__doc__
        assert "Pyro" in cls.__doc__
        assert n in rp.__all__


def test_plain_reparam_distribution_fails_and_adapted_one_samples():
    with pytest.raises(TypeError, match="not callable"):
        pyro.sample("mu", reparam.Normal(0.0, 1.0))
    z = pyro.sample("mu", rp.Normal(torch.tensor(0.0), 1.0))
    assert z.shape == ()
    assert z.requires_grad is False


def test_rsample_reaches_parameters_and_has_rsample_is_respected():
    loc = torch.tensor(0.5, requires_grad=True)
    z = rp.Gamma(loc.exp(), 1.0)()
    z.backward()
    assert loc.grad is not None
    assert loc.grad.isfinite()
    q = rp.Bernoulli(probs=torch.tensor(0.3))
    assert not q.has_rsample
    parts = q.score_parts(torch.tensor(1.0))
    assert torch.equal(parts.score_function, parts.log_prob)  # score function for Pyro
    g = rp.Normal(torch.tensor(0.0), 1.0)
    assert g.score_parts(torch.tensor(0.3)).score_function == 0  # pathwise


def test_expand_mask_to_event_shapes():
    q = rp.Gamma(torch.ones(3), torch.ones(3))
    e = q.expand([5, 3])
    assert type(e) is rp.Gamma
    assert e.batch_shape == (5, 3)
    assert e.concentration.data_ptr() == q.concentration.data_ptr()  # expanded, not copied
    ind = e.to_event(1)
    assert ind.batch_shape == (5,)
    assert ind.event_shape == (3,)
    assert ind.has_rsample
    assert ind().shape == (5, 3)
    assert ind.log_prob(ind()).shape == (5,)
    m = e.mask(torch.tensor([True, False, True]))
    v = m.rsample((2,))
    assert v.shape == (2, 5, 3)
    assert (m.log_prob(v)[..., 1] == 0).all()
    assert (m.log_prob(v)[..., 0] != 0).all()
    t = rp.TruncatedNormal(torch.zeros(2), 1.0, -1.0, 2.0).expand_by([4])
    assert t.batch_shape == (4, 2)
    assert t().shape == (4, 2)


def test_plates_broadcast_the_site():
    def guide():
        with pyro.plate("outer", 4, dim=-2), pyro.plate("inner", 3, dim=-1):
            a = pyro.sample("a", rp.Normal(torch.tensor(0.0), 1.0))
            b = pyro.sample("b", rp.Dirichlet(torch.ones(5)))
        return a, b

    tr = pyro.poutine.trace(guide).get_trace()
    assert tr.nodes["a"]["value"].shape == (4, 3)
    assert tr.nodes["b"]["value"].shape == (4, 3, 5)
    assert type(tr.nodes["a"]["fn"]) is rp.Normal
    assert tr.nodes["a"]["fn"].batch_shape == (4, 3)
    tr.compute_log_prob()
    assert tr.nodes["b"]["log_prob"].shape == (4, 3)


def test_trace_mean_field_uses_reparams_kl():
    """A model with only a latent: TraceMeanField's loss is KL(q ‖ p) exactly (no MC)."""
    a, b = torch.tensor(3.0), torch.tensor(2.0)

    def model():
        with pyro.plate("p", 2):
            pyro.sample("r", dist.Gamma(torch.tensor([2.0, 1.5]), 1.0))

    def guide():
        with pyro.plate("p", 2):
            pyro.sample("r", rp.Gamma(a, b))

    loss = TraceMeanField_ELBO().loss(model, guide)
    exact = torch.distributions.kl_divergence(
        torch.distributions.Gamma(a, b), torch.distributions.Gamma(torch.tensor([2.0, 1.5]), 1.0)
    ).sum()
    assert loss == pytest.approx(exact.item(), rel=1e-6)
    q = rp.TruncatedNormal(torch.tensor(0.0), 1.0, -1.0, 1.0)
    p = rp.TruncatedNormal(torch.tensor(0.5), 2.0, -2.0, 2.0)
    assert torch.distributions.kl_divergence(q, p) == torch.distributions.kl_divergence(
        D.TruncatedNormal(torch.tensor(0.0), 1.0, -1.0, 1.0),
        D.TruncatedNormal(torch.tensor(0.5), 2.0, -2.0, 2.0),
    )


def test_to_pyro_shares_state_and_pyro_class_rejects_non_distributions():
    loc = torch.zeros(2, requires_grad=True)
    q = rp.to_pyro(D.Normal(loc, 1.0))
    assert type(q) is rp.Normal
    assert q.loc is loc
    assert rp.to_pyro(q) is q
    with pytest.raises(TypeError, match="to_pyro: expected a torch distribution"):
        rp.to_pyro(3.0)
    with pytest.raises(TypeError, match="pyro_class: expected"):
        rp.pyro_class(int)
    assert rp.pyro_class(dist.Normal) is dist.Normal


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_import_reparam_does_not_import_pyro_and_missing_pyro_is_one_line():
    out = _run("import sys, reparam; print('pyro' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    out = _run("import sys; sys.modules['pyro'] = None; import reparam.pyro")
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError:")
    assert "pip install 'reparam[pyro]'" in last


@pytest.mark.parametrize("name", ["Normal", "Gamma", "TruncatedNormal", "flow"])
def test_log_prob_of_the_draw_is_kept_and_equals_the_computed_one(name):
    torch.manual_seed(4)
    p = torch.tensor([0.5, 2.0], requires_grad=True)
    if name == "flow":
        q = rp.to_pyro(reparam.flows.build_flow("iaf", 2, transforms=2, hidden_features=(8,))())
    elif name == "TruncatedNormal":
        q = rp.TruncatedNormal(p, 1.0, -1.0, 3.0)
    else:
        q = getattr(rp, name)(p.exp(), 1.5)
    z = q()
    kept = q.log_prob(z)
    assert kept is q._drawn[1]
    computed = q.log_prob(z.detach().clone())  # another tensor: computed afresh
    torch.testing.assert_close(kept, computed, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        q2 = rp.Normal(p, 1.0)
        q2()
    assert "_drawn" not in q2.__dict__  # a draw without gradients keeps nothing
