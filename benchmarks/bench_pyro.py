"""Pyro SVI step: Pyro's own guides vs the same guides with reparam distributions.

One ``svi.step`` (Trace_ELBO, pyro.optim.Adam) per call, on four pairs of cases:

- ``normal``: a model with D latents z_d ~ N(0, 1), y_d ~ N(z_d, 1) observed; a
  mean-field guide ``Normal(loc, scale)`` in a plate, ``pyro.distributions.Normal`` vs
  ``reparam.pyro.Normal``;
- ``gamma``: D Poisson rates with Gamma(2, 1) priors, counts observed; guide
  ``Gamma(a, b)``, Pyro's (torch's ``_standard_gamma`` with its own gradient) vs
  reparam's (implicit reparameterization);
- ``auto``: the ``normal`` model, Pyro's ``AutoNormal`` vs the hand-written
  ``reparam.pyro.Normal`` mean-field guide (the same family);
- ``flow``: a D_f-latent model, Pyro's ``AutoIAFNormal`` vs ``AutoReparamFlow(flow="iaf")``
  with the same transforms and hidden widths.

Cases are interleaved (shared harness), the ratio reported is time(reparam) /
time(Pyro) paired within each round (median and quartiles). Run with
``--threads 1 --clock cpu`` on a shared machine.

    python benchmarks/bench_pyro.py --threads 1 --clock cpu
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import statistics
import sys

import torch

import reparam
from _harness import add_timing_args, cpu_model, loadavg, paired_ratio, run_timing

try:
    import pyro
    import pyro.distributions as dist
    from pyro.distributions import constraints
    from pyro.infer import SVI, Trace_ELBO
    from pyro.infer.autoguide import AutoIAFNormal, AutoNormal

    import reparam.pyro as rp
except ImportError:  # pragma: no cover - depends on the environment
    raise SystemExit("bench_pyro needs Pyro: pip install 'reparam[pyro]'") from None


def normal_model(y: torch.Tensor) -> None:
    with pyro.plate("d", len(y)):
        z = pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("y", dist.Normal(z, 1.0), obs=y)


def gamma_model(x: torch.Tensor) -> None:
    with pyro.plate("d", len(x)):
        rate = pyro.sample("rate", dist.Gamma(2.0, 1.0))
        pyro.sample("x", dist.Poisson(rate), obs=x)


def normal_guide(family: type):
    def guide(y: torch.Tensor) -> None:
        loc = pyro.param("loc", torch.zeros(len(y)))
        scale = pyro.param("scale", torch.ones(len(y)), constraint=constraints.positive)
        with pyro.plate("d", len(y)):
            pyro.sample("z", family(loc, scale))

    return guide


def gamma_guide(family: type):
    def guide(x: torch.Tensor) -> None:
        a = pyro.param("a", torch.ones(len(x)), constraint=constraints.positive)
        b = pyro.param("b", torch.ones(len(x)), constraint=constraints.positive)
        with pyro.plate("d", len(x)):
            pyro.sample("rate", family(a, b))

    return guide


def _stepper(model, guide, data: torch.Tensor, lr: float = 0.01):
    """A callable making one SVI step with its own param store (swapped in per call)."""
    pyro.clear_param_store()
    svi = SVI(model, guide, pyro.optim.Adam({"lr": lr}), Trace_ELBO())
    svi.step(data)  # set up the guide's parameters
    state = pyro.get_param_store().get_state()

    def step() -> None:
        store = pyro.get_param_store()
        store.set_state(state)
        svi.step(data)
        state.update(store.get_state())

    return step


def build_cases(d: int, d_flow: int, hidden: int) -> list[dict]:
    torch.manual_seed(0)
    y = torch.randn(d) * 1.5
    x = torch.poisson(torch.full((d,), 3.0))
    yf = torch.randn(d_flow) * 1.5
    return [
        {
            "pair": "normal",
            "side": "pyro",
            "step": _stepper(normal_model, normal_guide(dist.Normal), y),
        },
        {
            "pair": "normal",
            "side": "reparam",
            "step": _stepper(normal_model, normal_guide(rp.Normal), y),
        },
        {
            "pair": "gamma",
            "side": "pyro",
            "step": _stepper(gamma_model, gamma_guide(dist.Gamma), x),
        },
        {
            "pair": "gamma",
            "side": "reparam",
            "step": _stepper(gamma_model, gamma_guide(rp.Gamma), x),
        },
        {
            "pair": "auto",
            "side": "pyro",
            "step": _stepper(normal_model, AutoNormal(normal_model), y),
        },
        {
            "pair": "auto",
            "side": "reparam",
            "step": _stepper(normal_model, normal_guide(rp.Normal), y),
        },
        {
            "pair": "flow",
            "side": "pyro",
            "step": _stepper(normal_model, AutoIAFNormal(normal_model, hidden_dim=[hidden]), yf),
        },
        {
            "pair": "flow",
            "side": "reparam",
            "step": _stepper(
                normal_model,
                rp.AutoReparamFlow(normal_model, "iaf", transforms=1, hidden_features=(hidden,)),
                yf,
            ),
        },
    ]


LABELS = {
    "normal": "mean-field Normal guide: pyro.distributions.Normal vs reparam.pyro.Normal",
    "gamma": "mean-field Gamma guide: pyro.distributions.Gamma vs reparam.pyro.Gamma",
    "auto": "AutoNormal vs the reparam.pyro.Normal mean-field guide",
    "flow": "AutoIAFNormal vs AutoReparamFlow('iaf'), 1 transform",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_timing_args(p, rounds=15, target_ms=100.0)
    p.add_argument("--latents", type=int, default=2000, help="D of the mean-field models")
    p.add_argument("--flow-latents", type=int, default=20, help="D of the flow model")
    p.add_argument("--hidden", type=int, default=40, help="the flows' hidden width")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"## Pyro SVI step — {date}\n\n`python {shlex.join(sys.argv)}`\n")
    print(
        f"torch {torch.__version__}, pyro {pyro.__version__}, reparam "
        f"{getattr(reparam, '__version__', '?')}, python {platform.python_version()}, threads "
        f"{torch.get_num_threads()}, nproc {os.cpu_count()}, cpu {cpu_model()}, clock "
        f"{args.clock}, rounds {args.rounds}, D = {args.latents} (flow: {args.flow_latents}, "
        f"hidden {args.hidden}), load average {loadavg()}\n"
    )
    cases = build_cases(args.latents, args.flow_latents, args.hidden)
    run_timing(cases, args.rounds, args.target_ms / 1000, args.seed, args.clock)
    print("| guide | Pyro ms/step | reparam ms/step | reparam / Pyro (paired median [q1, q3]) |")
    print("| --- | ---: | ---: | ---: |")
    for pair, label in LABELS.items():
        a, b = (
            next(c for c in cases if c["pair"] == pair and c["side"] == s)
            for s in ("reparam", "pyro")
        )
        med, q1, q3 = paired_ratio(a, b)
        ta, tb = statistics.median(a["times"]) * 1e3, statistics.median(b["times"]) * 1e3
        print(f"| {label} | {tb:.2f} | {ta:.2f} | {med:.2f} [{q1:.2f}, {q3:.2f}] |")
    print(f"\nload average at the end {loadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
