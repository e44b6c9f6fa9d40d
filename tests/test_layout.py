"""The package's layout rules (tools/check_layout.py): layers, no import cycle, sizes."""

from pathlib import Path

import pytest

from ._tools import load_tool

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def check_layout():
    return load_tool("check_layout")


def test_the_package_keeps_its_layout(check_layout):
    assert check_layout.check(ROOT / "src") == []


def _tree(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / "reparam" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_an_upward_import_is_found(check_layout, tmp_path):
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "noise.py": "def f():\n    from .vae import VAE\n",
            "vae.py": "from . import noise\n",
        },
    )
    problems = check_layout.check(src)
    assert any("reparam.noise (layer 0) imports reparam.vae" in p for p in problems)
    assert any("import cycle: reparam.noise -> reparam.vae" in p for p in problems)


def test_a_type_only_import_is_still_upward_but_no_cycle(check_layout, tmp_path):
    text = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .distributions import D\n"
    )
    src = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "noise.py": text,
            "distributions/__init__.py": "from ..noise import x\n",
        },
    )
    problems = check_layout.check(src)
    assert len(problems) == 1
    assert "imports reparam.distributions" in problems[0]


def test_long_modules_and_functions_are_found(check_layout, tmp_path):
    body = "def long():\n" + "    x = 1\n" * 85
    src = _tree(tmp_path, {"__init__.py": "", "vae.py": body + "\n" * 420})
    problems = check_layout.check(src)
    assert any("vae.py: 506 lines" in p for p in problems)
    assert any("long is 86 lines" in p for p in problems)
