"""One version source: ``reparam.__version__``. pyproject reads it (a dynamic version), the
command line prints it, the installed metadata and the changelog carry it.

The wheel's metadata and a fresh install are checked in tests/test_packaging.py.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import reparam

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = Path(__file__).resolve().parents[1]


def test_pyproject_takes_the_version_from_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "a static version would be a second source"
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "reparam.__version__"}


def test_version_is_pep440():
    assert re.fullmatch(r"\d+\.\d+\.\d+((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?", reparam.__version__)


def test_command_line_prints_the_version():
    env = dict(os.environ)
    package_root = str(Path(reparam.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-m", "reparam", "--version"], env=env,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert proc.stdout.strip() == f"reparam {reparam.__version__}"


def test_installed_metadata_agrees():
    try:
        installed = importlib.metadata.version("reparam")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("reparam is not installed here (run from the source tree only)")
    assert installed == reparam.__version__, (
        "the installed metadata is stale: reinstall (make install) after a version change"
    )


def test_changelog_has_a_section_for_the_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog
    assert re.search(rf"^## \[{re.escape(reparam.__version__)}\]", changelog, re.MULTILINE)
