"""PyTorch's own distribution tests with reparam's same-named classes substituted.

Given a copy of PyTorch's ``test/distributions/test_distributions.py`` (not shipped here:
read it from the PyTorch repository of the installed version), the file is run with
pytest twice, each in a fresh process: once as it is (torch's classes), once with
``torch.distributions.<Name>`` replaced by ``reparam.<Name>`` for every class the two
share (monkeypatched before the test module is imported, so its ``from
torch.distributions import ...`` picks reparam's). Reported: passed / failed / skipped
for each, the tests that pass with torch and fail with reparam, and the KL pairs of the
file's ``TestKL`` (its finite examples checked by Monte Carlo as the test does, its
infinite ones for +inf) that fail with each.

Names a newer test file imports from ``torch.testing._internal`` and an older wheel
lacks (``HardwareClassification``, ``set_default_dtype_if_supported``) are given
stand-ins. The test module needs ``expecttest`` (``pip install expecttest``).

Usage:
    python benchmarks/torch_parity.py PATH/test_distributions.py [--json out.json]
        [-k EXPR]   # a pytest -k expression, for a quick partial run
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

MODES = ("torch", "reparam")


def shared_names() -> list[str]:
    """The classes reparam.distributions and torch.distributions both export."""
    import reparam.distributions as rd

    return sorted(
        n
        for n in rd.__all__
        if isinstance(getattr(torch.distributions, n, None), type)
        and isinstance(getattr(rd, n), type)
    )


def _compat_shims() -> None:
    """Stand-ins for names a newer test file imports from torch.testing._internal."""
    from torch.testing._internal import common_utils

    if not hasattr(common_utils, "HardwareClassification"):

        class HardwareClassification(enum.Enum):
            GENERIC = "generic"

        common_utils.HardwareClassification = HardwareClassification
    if not hasattr(common_utils, "set_default_dtype_if_supported"):
        common_utils.set_default_dtype_if_supported = common_utils.set_default_dtype


def substitute() -> list[str]:
    """Replace torch.distributions.<Name> by reparam's class; return the names."""
    import reparam.distributions as rd

    names = shared_names()
    for name in names:
        setattr(torch.distributions, name, getattr(rd, name))
    return names


class _Outcomes:
    """A pytest plugin that records the outcome of every test (its call phase)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001 (pytest's type)
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[report.nodeid] = report.outcome


def _load(path: Path) -> object:
    spec = importlib.util.spec_from_file_location("torch_test_distributions", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _kl_pair_ok(p: object, q: object, finite: bool, case: object) -> bool:
    """The check TestKL makes of one pair, without its assertion message."""
    from torch.distributions import kl_divergence

    try:
        actual = kl_divergence(p, q)
        if not finite:
            return bool((actual == math.inf).all())
        numerator, denominator = 0, 0
        while denominator < case.max_samples:
            x = p.sample(sample_shape=(case.samples_per_batch,))
            numerator = numerator + (p.log_prob(x) - q.log_prob(x)).sum(0)
            denominator += x.size(0)
            expected = numerator / denominator
            error = torch.abs(expected - actual) / (1 + expected)
            if error[error == error].max() < case.precision:
                return True
        return False
    except Exception:  # any error fails the pair, as it fails the test
        return False


def kl_pairs(module: object) -> dict[str, list[str]]:
    """name → list of failing pairs, for TestKL's finite and infinite examples."""
    case = module.TestKL("test_kl_infinite")
    case.setUp()
    torch.manual_seed(0)
    failing: dict[str, list[str]] = {"finite": [], "infinite": []}
    total = {"finite": 0, "infinite": 0}
    for (p, _), (_, q) in case.finite_examples:
        total["finite"] += 1
        if not _kl_pair_ok(p, q, True, case):
            failing["finite"].append(f"{type(p).__name__}-{type(q).__name__}")
    for p, q in case.infinite_examples:
        total["infinite"] += 1
        if not _kl_pair_ok(p, q, False, case):
            failing["infinite"].append(f"{type(p).__name__}-{type(q).__name__}")
    case.tearDown()
    return {"failing": failing, "total": total}


def worker(mode: str, path: Path, select: str | None, out: Path) -> None:
    """Run the file under pytest with ``mode``'s classes; write the outcomes to ``out``."""
    import pytest

    import reparam  # noqa: F401  (before the substitution: reparam keeps torch's classes)

    _compat_shims()
    names = substitute() if mode == "reparam" else []
    recorder = _Outcomes()
    args = [str(path), "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-o", "addopts="]
    if select:
        args += ["-k", select]
    with contextlib.redirect_stdout(sys.stderr):
        pytest.main(args, plugins=[recorder])
        pairs = kl_pairs(_load(path)) if not select else None
    out.write_text(json.dumps({"substituted": names, "tests": recorder.outcomes, "kl": pairs}))


def _run(mode: str, path: Path, select: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        cmd = [sys.executable, __file__, "--worker", mode, str(path), "--out", str(out)]
        if select:
            cmd += ["-k", select]
        subprocess.run(cmd, check=True, cwd=tmp)
        return json.loads(out.read_text())


def _counts(outcomes: dict[str, str]) -> dict[str, int]:
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "path", type=Path, help="PyTorch's test/distributions/test_distributions.py"
    )
    parser.add_argument("-k", dest="select", default=None, help="pytest -k expression")
    parser.add_argument("--json", type=Path, default=None, help="write the full report here")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    path = args.path.resolve()
    if args.worker:
        worker(args.worker, path, args.select, args.out)
        return
    results = {mode: _run(mode, path, args.select) for mode in MODES}
    torch_tests, ours = results["torch"]["tests"], results["reparam"]["tests"]
    regressions = sorted(
        n for n, o in ours.items() if o == "failed" and torch_tests.get(n) == "passed"
    )
    print(
        f"substituted ({len(results['reparam']['substituted'])}): "
        + ", ".join(results["reparam"]["substituted"])
    )
    for mode in MODES:
        c = _counts(results[mode]["tests"])
        print(
            f"{mode:8s} tests: {len(results[mode]['tests'])} — passed {c['passed']}, "
            f"failed {c['failed']}, skipped {c['skipped']}"
        )
    print(f"pass with torch, fail with reparam: {len(regressions)}")
    for name in regressions:
        print(f"  {name}")
    for mode in MODES:
        kl = results[mode]["kl"]
        if kl is None:
            continue
        n_fail = sum(len(v) for v in kl["failing"].values())
        n_all = sum(kl["total"].values())
        print(
            f"{mode:8s} KL pairs: {n_all - n_fail}/{n_all} pass; failing: "
            + (", ".join(kl["failing"]["finite"] + kl["failing"]["infinite"]) or "none")
        )
    if args.json:
        args.json.write_text(json.dumps({**results, "regressions": regressions}, indent=1))


if __name__ == "__main__":
    main()
