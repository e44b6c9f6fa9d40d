"""Every script in examples/ runs with ``--fast`` in a fresh directory and prints its figures.

The scripts are discovered, so a new example is tested as soon as it exists. Each runs in a
subprocess (the interpreter and the reparam package of this test run) in a temporary
working directory; it must exit 0 and print what it measured. An example whose data are not
on this machine exits with status 77 and one line on stderr: the test is then skipped with
that line as the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import reparam

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
#: the exit status of an example that cannot run here for want of its data (automake's skip).
EXIT_SKIP = 77
NUMBER = r"-?\d+\.\d+"

#: lines the known examples must print (regular expressions, searched in stdout); any other
#: example must print at least one decimal number.
EXPECTED: dict[str, list[str]] = {
    "vae_digits.py": [
        rf"test ELBO +{NUMBER} ± {NUMBER} nats",
        rf"test log p\(x\), k=100 +{NUMBER} ± {NUMBER} nats",
        r"active units +\d+ of 8",
    ],
    "bnn_uci.py": [
        rf"split +0 +test RMSE {NUMBER} +test log-likelihood {NUMBER}",
        rf"mean ± se over 1 split\(s\): RMSE {NUMBER}, log-likelihood {NUMBER}",
    ],
    "flow_vi_banana.py": [
        r"log Z = 2\.5310",
        rf"IAF flow \(5\) +{NUMBER} ± {NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}",
        rf"full-rank Gaussian +{NUMBER} ± {NUMBER} +{NUMBER}",
    ],
    "estimator_comparison.py": [
        rf"E_q\[f\] = 4\.6970 \(reparam\.expectation, 1e5 samples: {NUMBER}\)",
        *(
            rf"{re.escape(name)} +\S+ +\S+ +\S+ +{NUMBER} +\d+"
            for name in (
                "pathwise ",
                "pathwise, antithetic",
                "pathwise, qmc",
                "pathwise, linear CV",
                "pathwise, quadratic CV",
                "score ",
                "score, running mean",
                "score, leave-one-out",
            )
        ),  # fmt: skip
    ],
}


def run_example(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python SCRIPT ARGS`` in ``cwd``, importing the reparam this test run imports."""
    env = dict(os.environ)
    package_root = str(Path(reparam.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_examples_exist():
    names = {p.name for p in SCRIPTS}
    assert set(EXPECTED) <= names, f"missing examples: {sorted(set(EXPECTED) - names)}"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_example_runs_fast(script, tmp_path):
    proc = run_example(script, "--fast", cwd=tmp_path)
    if proc.returncode == EXIT_SKIP:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, f"{script.name}: a skip must be one line, got:\n{proc.stderr}"
        pytest.skip(lines[0])
    assert proc.returncode == 0, f"{script.name} exited {proc.returncode}:\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    patterns = EXPECTED.get(script.name, [NUMBER])
    for pattern in patterns:
        assert re.search(pattern, proc.stdout), (
            f"{script.name}: no line matching {pattern!r} in its output:\n{proc.stdout}"
        )


def test_bnn_uci_without_data_says_so_in_one_line(tmp_path):
    missing = tmp_path / "no-such-folder"
    proc = run_example(EXAMPLES / "bnn_uci.py", "--fast", "--data", str(missing), cwd=tmp_path)
    assert proc.returncode == EXIT_SKIP
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(missing / "concrete") in lines[0]
    assert "--data" in lines[0]


def test_readme_lists_every_example():
    readme = (EXAMPLES / "README.md").read_text(encoding="utf-8")
    unlisted = [p.name for p in SCRIPTS if f"`{p.name}`" not in readme]
    assert not unlisted, f"examples/README.md does not list {unlisted}"
