"""Deprecated import paths of modules moved by the layout by layer (kept for one release).

``import reparam.vae_cli`` still works and gives :mod:`reparam.cli.vae` itself (the same
module object, so monkeypatching either name patches both), with a ``DeprecationWarning``
naming the new path. One meta-path finder serves every old name; nothing is imported
until an old name is.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

__all__ = ["MOVED", "install"]

#: old module path → new module path.
MOVED: dict[str, str] = {
    "reparam.vae_cli": "reparam.cli.vae",
    "reparam.bnn_cli": "reparam.cli.bnn",
    "reparam.flow_cli": "reparam.cli.flow",
    "reparam.vi_cli": "reparam.cli.vi",
    "reparam._run_cli": "reparam.cli._common",
    "reparam._resources": "reparam.cli._resources",
    "reparam.vae_plots": "reparam.plots.vae",
    "reparam.bnn_plots": "reparam.plots.bnn",
    "reparam.flow_plots": "reparam.plots.density",
    "reparam.vi_plots": "reparam.plots.vi",
    "reparam.flows.fit": "reparam.density",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new
        self.spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warnings.warn(
            f"{spec.name} is deprecated and will be removed in the next release; "
            f"import {self.new} instead",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the new module is loaded already; the import system has set its __spec__ to the
        # alias's: give it back its own (relative imports inside it resolve through it)
        module.__spec__ = self.spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        new = MOVED.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Put the alias finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
