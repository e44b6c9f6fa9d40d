"""The package as users get it: sdist and wheel build offline, pass ``twine check``, hold
the package and nothing else, and the wheel installed into a fresh virtual environment runs.

The fresh environment gets the wheel by ``pip install --no-deps --no-index`` and sees the
test environment's dependencies (torch, numpy, …) through a ``.pth`` file naming this
interpreter's site-packages (a ``.pth`` file's directories are added to ``sys.path``, but
the ``.pth`` files inside them are not run, so an editable install of reparam there stays
invisible); the checks assert that ``reparam`` is imported from the fresh environment.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("build")
pytest.importorskip("twine")
pytest.importorskip("setuptools")

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
#: never part of a copy of the tree (caches, environments, outputs).
JUNK = (".git", ".venv", "venv", "runs", "build", "dist", "site", "*.egg-info",
        "__pycache__", ".*_cache", "*.pyc")  # fmt: skip


def source_version() -> str:
    """``__version__`` as written in src/reparam/__init__.py, the one version source."""
    text = (ROOT / "src" / "reparam" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match, 'src/reparam/__init__.py defines no __version__ = "..."'
    return match.group(1)


def run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)  # fmt: skip
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH (the fresh venv must not see the source tree)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """sdist and wheel of a copy of the tree; the wheel is built from the sdist (``build``'s
    default), so the sdist must hold everything a build needs."""
    tmp = tmp_path_factory.mktemp("packaging")
    tree = tmp / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(*JUNK))
    out = tmp / "dist"
    run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, tree, cwd=tmp,
        env=clean_env())  # fmt: skip
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"tmp": tmp, "sdist": sdist, "wheel": wheel}


def test_twine_check_passes(dist):
    proc = run(sys.executable, "-m", "twine", "check", "--strict", dist["sdist"], dist["wheel"],
               cwd=dist["tmp"])  # fmt: skip
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_wheel_holds_the_package_only(dist):
    version = source_version()
    assert dist["wheel"].name == f"reparam-{version}-py3-none-any.whl"
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = z.namelist()
        metadata = z.read(f"reparam-{version}.dist-info/METADATA").decode()
    assert "reparam/py.typed" in names
    assert "reparam/__init__.py" in names
    assert "reparam/cli/__init__.py" in names
    info = f"reparam-{version}.dist-info/"
    strays = [n for n in names if not n.startswith(("reparam/", info))]
    assert not strays, f"outside the package: {strays}"  # no tests/, benchmarks/, docs/
    data = [n for n in names if n.startswith("reparam/") and not n.endswith((".py", "py.typed"))]
    assert not data, f"non-code files in the wheel: {data}"
    assert f"{info}licenses/LICENSE" in names
    assert re.search(rf"^Version: {re.escape(version)}$", metadata, re.MULTILINE)
    assert "Description-Content-Type: text/markdown" in metadata
    assert "License-Expression: MIT" in metadata
    assert "Classifier: Typing :: Typed" in metadata


def test_sdist_holds_what_builds_and_no_tests(dist):
    with tarfile.open(dist["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for needed in ("pyproject.toml", "README.md", "LICENSE", "src/reparam/__init__.py",
                   "src/reparam/py.typed"):  # fmt: skip
        assert needed in names, f"{needed} missing from the sdist"
    for prefix in ("tests/", "benchmarks/", "docs/", "examples/"):
        assert not any(n.startswith(prefix) for n in names), f"{prefix} in the sdist"


@pytest.fixture(scope="module")
def fresh_venv(dist) -> Path:
    """A new virtual environment with the wheel installed and the dependencies visible."""
    venv = dist["tmp"] / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=dist["tmp"])
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--no-input", "--disable-pip-version-check", dist["wheel"], cwd=dist["tmp"],
        env=clean_env())  # fmt: skip
    # the dependencies of this environment, added after the fresh site-packages
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
               cwd=dist["tmp"], env=clean_env()).stdout.strip()  # fmt: skip
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    Path(site, "_test_dependencies.pth").write_text("\n".join(ours) + "\n", encoding="utf-8")
    return venv


def test_installed_wheel_runs(fresh_venv, dist, tmp_path):
    version = source_version()
    python, env = fresh_venv / "bin" / "python", clean_env()
    code = (
        "import importlib.metadata as m, json, reparam; "
        "print(json.dumps([reparam.__file__, reparam.__version__, m.version('reparam')]))"
    )
    where, attr, meta = json.loads(run(python, "-c", code, cwd=tmp_path, env=env).stdout)
    assert Path(where).resolve().is_relative_to(fresh_venv.resolve()), where
    assert attr == meta == version
    cli = fresh_venv / "bin" / "reparam"
    assert run(cli, "--version", cwd=tmp_path, env=env).stdout.strip() == f"reparam {version}"
    proc = run(cli, "compare", cwd=tmp_path, env=env)
    assert "pathwise" in proc.stdout
    assert "score" in proc.stdout
    result = json.loads((tmp_path / "runs" / "compare" / "compare.json").read_text())
    assert result["reparam_version"] == version
    assert result["rows"]
