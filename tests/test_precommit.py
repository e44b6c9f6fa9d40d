"""The pre-commit hooks run exactly the commands of ``make lint``, in the same order.

Both files are parsed: the Makefile's ``lint`` recipe with its variables expanded to their
defaults (``VENV ?= .venv``, ``PY := $(VENV)/bin/python``), and the ``entry`` (plus
``args``) of every hook in ``.pre-commit-config.yaml``. A check added to one and not the
other fails here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(\?=|:=|=)\s*(.*)$")


def expand(text: str, variables: dict[str, str]) -> str:
    """Replace $(NAME) by its value until none is left (the Makefile's variables)."""
    for _ in range(10):
        new = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: variables[m.group(1)], text)
        if new == text:
            return new
        text = new
    raise AssertionError(f"recursive variables in {text!r}")


def recipe(makefile: str, target: str) -> list[str]:
    """The commands of ``target``'s recipe, variables expanded (``@``/``-`` prefixes dropped)."""
    variables: dict[str, str] = {}
    lines = makefile.splitlines()
    for line in lines:
        m = ASSIGNMENT.match(line)
        if m:
            variables[m.group(1)] = m.group(3).strip()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^{target}\s*:", line))
    commands = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        command = line.strip().lstrip("@-")
        if command:
            commands.append(expand(command, variables))
    return commands


def hook_commands(config: dict) -> list[str]:
    commands = []
    for repo in config["repos"]:
        assert repo["repo"] == "local", "every hook is local (no download)"
        for hook in repo["hooks"]:
            assert hook["language"] == "system", hook["id"]
            assert hook.get("pass_filenames") is False, f"{hook['id']} must check the tree"
            commands.append(shlex.join([*shlex.split(hook["entry"]), *hook.get("args", [])]))
    return commands


def test_recipe_parser_reads_a_known_recipe():
    makefile = "VENV ?= .venv\nPY := $(VENV)/bin/python\n\nx: y\n\t$(PY) a.py\n\t@echo b\n\nz:\n"
    assert recipe(makefile, "x") == [".venv/bin/python a.py", "echo b"]


def test_precommit_runs_the_lint_target():
    lint = recipe((ROOT / "Makefile").read_text(encoding="utf-8"), "lint")
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = hook_commands(config)
    assert lint, "the Makefile has no lint recipe"
    assert [shlex.join(shlex.split(c)) for c in lint] == hooks
