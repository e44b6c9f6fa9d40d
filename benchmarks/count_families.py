"""Count the reparameterized families of reparam, torch.distributions, Pyro and TFP.

A family is a law with a pathwise sample (``rsample``), counted by class name:

- torch: classes of ``torch.distributions`` with ``has_rsample = True`` as a class
  attribute, plus those whose ``has_rsample`` is a property because they are
  transformed distributions over a reparameterized base (Gumbel, Pareto, Weibull);
  the compositions Independent and TransformedDistribution are not families.
- Pyro (``--pyro``, when importable): the same rule over ``pyro.distributions``, which
  re-exports torch's families and adds its own; its wrappers, point masses and
  improper laws (``_NOT_FAMILIES``) are left out.
- TFP (``--tfp-python PATH``: a Python with tensorflow-probability and jax, run in a
  subprocess): the classes exported by ``tfp.substrates.jax.distributions`` whose module
  passes ``reparameterization_type=FULLY_REPARAMETERIZED`` (read from the source, so a
  family reparameterized only for some parameters counts), less wrappers, compositions,
  point masses and processes (``_NOT_FAMILIES``, ``_TFP_NOT_FAMILIES``).
- reparam: the exported ``ReparamDistribution`` classes with ``has_rsample``, less the
  mechanisms (your own g, wrappers), the compositions, ``DiagonalNormal`` (an
  Independent Normal) and the exact discrete families (no rsample).

Usage::

    python benchmarks/count_families.py --pyro --tfp-python /path/to/tfp-venv/bin/python
"""

from __future__ import annotations

import argparse
import inspect
import json
import subprocess
import sys

import torch.distributions as td

import reparam.distributions as rd

# Mechanisms, wrappers and compositions: not families of their own.
_NOT_FAMILIES = {
    "Distribution", "ExponentialFamily", "TorchDistribution", "TorchDistributionMixin",
    "Independent", "TransformedDistribution", "ReparamDistribution",
    "ImplicitReparamDistribution", "ImplicitReparameterized", "Reparameterized",
    "RejectionReparameterized", "WrappedRSample", "MaskedDistribution", "ExpandedDistribution",
    "Delta", "Unit", "ImproperUniform", "DiagonalNormal",
}  # fmt: skip


def _rsample_classes(module: object) -> set[str]:
    out = set()
    for name in dir(module):
        obj = getattr(module, name)
        if not (inspect.isclass(obj) and issubclass(obj, td.Distribution)):
            continue
        flag = inspect.getattr_static(obj, "has_rsample", None)
        transformed = isinstance(flag, property) and issubclass(obj, td.TransformedDistribution)
        if (flag is True or transformed) and name not in _NOT_FAMILIES:
            out.add(name)
    return out


def torch_families() -> set[str]:
    return _rsample_classes(td)


def reparam_families() -> set[str]:
    return {
        name
        for name in rd.__all__
        if inspect.isclass(obj := getattr(rd, name))
        and issubclass(obj, rd.ReparamDistribution)
        and obj.has_rsample
        and name not in _NOT_FAMILIES
    }


def pyro_families() -> set[str] | None:
    try:
        import pyro.distributions as pd
    except ImportError:
        return None
    return _rsample_classes(pd)


# TFP's exported classes that are not laws of their own: batching/joint/sample wrappers,
# point masses, empirical and process models.
_TFP_NOT_FAMILIES = {
    "BatchBroadcast", "BatchConcat", "BatchReshape", "Blockwise", "Deterministic",
    "VectorDeterministic", "Empirical", "JointDistribution", "JointDistributionCoroutine",
    "JointDistributionNamed", "JointDistributionSequential", "Masked", "Sample",
    "TransformedDistribution", "GaussianProcess", "GaussianProcessRegressionModel",
    "StudentTProcess", "StudentTProcessRegressionModel", "VariationalGaussianProcess",
    "LinearGaussianStateSpaceModel", "AutoCompositeTensorDistribution",
}  # fmt: skip

_TFP_WORKER = """
import inspect, json, sys
import tensorflow_probability.substrates.jax.distributions as tfd
out = []
for name in dir(tfd):
    obj = getattr(tfd, name)
    if not (inspect.isclass(obj) and issubclass(obj, tfd.Distribution)):
        continue
    try:
        src = inspect.getsource(sys.modules[obj.__module__])
    except (OSError, TypeError, KeyError):
        continue
    if "FULLY_REPARAMETERIZED" in src:
        out.append(name)
print(json.dumps(out))
"""


def tfp_families(python: str) -> set[str]:
    done = subprocess.run([python, "-c", _TFP_WORKER], capture_output=True, text=True,
                          check=True, timeout=600)  # fmt: skip
    names = set(json.loads(done.stdout.strip().splitlines()[-1]))
    return {n for n in names if n not in _NOT_FAMILIES | _TFP_NOT_FAMILIES}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pyro", action="store_true", help="count Pyro's (needs pyro-ppl)")
    p.add_argument("--tfp-python", help="a Python with tensorflow-probability and jax")
    args = p.parse_args(argv)
    ours = reparam_families()
    peers = {"torch": torch_families()}
    if args.pyro:
        pyro = pyro_families()
        if pyro is None:
            print("pyro is not importable: skipped", file=sys.stderr)
        else:
            peers["Pyro"] = pyro
    if args.tfp_python:
        peers["TFP"] = tfp_families(args.tfp_python)
    print(f"reparam: {len(ours)} reparameterized families")
    print("  " + ", ".join(sorted(ours)))
    for peer, names in peers.items():
        missing = sorted(names - ours)
        print(f"{peer}: {len(names)}; reparam has {len(names & ours)} of them; missing here:")
        print("  " + (", ".join(missing) if missing else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
