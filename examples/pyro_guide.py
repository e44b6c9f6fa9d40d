"""Fit Pyro guides built from reparam distributions and compare with the exact posterior.

Two conjugate models with known posteriors:

1. Gamma–Poisson: rate ~ Gamma(2, 1), counts ~ Poisson(rate). The guide is
   ``reparam.pyro.Gamma(a, a / m)`` (implicit reparameterization), fitted with Pyro's
   ``Trace_ELBO`` over 32 vectorized particles whose noise is drawn in antithetic pairs
   (``reparam.pyro.noise("antithetic")``).
2. Bayesian linear regression with a correlated Gaussian posterior, fitted with the
   flow autoguide ``reparam.pyro.AutoReparamFlow(model, flow="maf")`` and QMC noise.

    python examples/pyro_guide.py          # the full fit (about 20 s)
    python examples/pyro_guide.py --fast   # a smoke run (a few seconds)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch

try:
    import pyro
    import pyro.distributions as dist
    from pyro.distributions import constraints
    from pyro.infer import SVI, Trace_ELBO

    import reparam.pyro as rp
except ImportError:  # the examples' smoke test skips on exit status 77
    print("pyro_guide.py needs Pyro: pip install 'reparam[pyro]'", file=sys.stderr)
    sys.exit(77)

COUNTS = torch.tensor([3.0, 5.0, 4.0, 6.0, 2.0, 4.0])
X = torch.tensor([[1.0, 0.5], [0.8, 1.0], [1.2, 0.9], [0.3, 1.1], [1.0, 1.0]])
Y = torch.tensor([1.1, 0.4, 1.5, -0.2, 0.9])


def gamma_model() -> None:
    rate = pyro.sample("rate", dist.Gamma(2.0, 1.0))
    with pyro.plate("data", len(COUNTS)):
        pyro.sample("x", dist.Poisson(rate), obs=COUNTS)


def gamma_guide() -> None:
    a = pyro.param("a", torch.tensor(1.0), constraint=constraints.positive)
    m = pyro.param("m", torch.tensor(1.0), constraint=constraints.positive)
    pyro.sample("rate", rp.Gamma(a, a / m))


def regression_model() -> None:
    w = pyro.sample("w", dist.Normal(torch.zeros(2), 2.0).to_event(1))
    with pyro.plate("data", len(Y)):
        pyro.sample("y", dist.Normal(w[..., 0] * X[:, 0] + w[..., 1] * X[:, 1], 1.0), obs=Y)


def fit(
    model: Callable[[], None],
    guide: Callable[[], object],
    particles: int,
    noise: str,
    steps: int,
    lrs: tuple[float, ...],
) -> None:
    """Pyro's Adam at each learning rate in turn, ``steps`` SVI steps each."""
    elbo = Trace_ELBO(num_particles=particles, vectorize_particles=True, max_plate_nesting=1)
    with rp.noise(noise):
        for lr in lrs:
            svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), elbo)
            for _ in range(steps):
                svi.step()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--fast", action="store_true", help="a short smoke run")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    steps = 60 if args.fast else 400
    pyro.set_rng_seed(args.seed)

    pyro.clear_param_store()
    fit(gamma_model, gamma_guide, 32, "antithetic", steps, (0.1, 0.01, 0.001))
    a, m = pyro.param("a").item(), pyro.param("m").item()
    a_n, b_n = 2.0 + COUNTS.sum().item(), 1.0 + len(COUNTS)
    print("Gamma–Poisson, guide reparam.pyro.Gamma (antithetic noise, 32 particles)")
    print(f"  fitted: mean {m:.4f}  variance {m * m / a:.4f}")
    print(f"  exact:  mean {a_n / b_n:.4f}  variance {a_n / b_n**2:.4f}")

    pyro.clear_param_store()
    guide = rp.AutoReparamFlow(regression_model, flow="maf", transforms=2, hidden_features=(16,))
    fit(regression_model, guide, 32, "qmc", steps, (0.02, 0.003, 0.0005))
    with torch.no_grad(), pyro.plate("draws", 20000):
        w = guide()["w"]
    cov = torch.linalg.inv(torch.eye(2) / 4.0 + X.T @ X)
    mean = cov @ X.T @ Y
    fitted_cov = torch.cov(w.T)
    print("linear regression, AutoReparamFlow('maf') (qmc noise, 32 particles; 20000 draws)")
    print(
        f"  fitted: mean {w.mean(0).numpy().round(3)}  cov {fitted_cov.flatten().numpy().round(3)}"
    )
    print(f"  exact:  mean {mean.numpy().round(3)}  cov {cov.flatten().numpy().round(3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
