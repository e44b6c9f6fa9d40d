#!/usr/bin/env python3
"""Check the package's layout rules; exit 1 and list every violation, else print a summary.

1. Layers: a module imports only from its own layer or lower ones (imports under
   ``if TYPE_CHECKING:`` count too: they are coupling all the same). The root package
   ``reparam`` is the façade and may import anything; ``from reparam import __version__``
   is allowed everywhere.
2. No import cycle between modules (run-time imports, lazy ones included), except the
   documented pair in ``CYCLES_ALLOWED``.
3. Sizes: no module over 500 lines and no function over 80, except the numerical kernels in
   ``LONG_ALLOWED``.

Usage: ``python tools/check_layout.py [SRC_DIR]`` (default ``src``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

#: bottom-up; a module's layer is that of its longest listed prefix (relative to reparam).
LAYERS: list[tuple[str, ...]] = [
    ("_atomic", "_checks", "_signals", "_aliases", "noise"),
    ("distributions",),
    ("estimators",),
    ("diagnostics", "objectives", "_objective_args", "schedules", "importance", "metrics"),
    ("flows", "nn", "data"),
    ("pyro",),
    ("_checkpoint", "_rundir", "_tensorboard", "_loop", "_loop_state", "training"),
    ("vae", "_vae_fast", "_vae_nets", "_vae_options", "_vae_posteriors", "bnn", "density", "vi"),
    ("plots",),
    ("cli", "__main__"),
]
#: wrap() turns torch's TransformedDistribution into ours, and ours wraps its base: mutual
#: recursion by nature, both imports lazy.
CYCLES_ALLOWED = {frozenset({"distributions.transformed", "distributions.wrapped"})}
#: deliberate upward imports: (importer, imported, why).
UPWARD_ALLOWED = {
    ("data.toy2d", "vi"): "the deprecated old names of the VI targets, lazily, for one release",
}
#: special-function numerics and numerical kernels, long by nature.
LONG_ALLOWED = {"distributions/_gamma_math.py", "flows/splines.py:rational_quadratic_spline"}
MAX_MODULE, MAX_FUNCTION = 500, 80


def _layer(mod: str) -> int:
    best, depth = -1, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (mod == name or mod.startswith(name + ".")) and len(name) > depth:
                best, depth = i, len(name)
    if best < 0:
        raise SystemExit(f"check_layout: module reparam.{mod} is in no layer; add it to LAYERS")
    return best


def _modules(root: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _imports(mod: str, path: Path, modules: set[str]) -> list[tuple[str, bool, int]]:
    """(imported module, type-only?, line) for every import of a reparam module."""
    tree = ast.parse(path.read_text())
    typing_only = _type_checking_nodes(tree)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".") if package else []
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            elif (node.module or "").startswith("reparam"):
                target = (node.module or "").removeprefix("reparam").lstrip(".")
            else:
                continue
            if target == "" and all(a.name == "__version__" for a in node.names):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}" if target else alias.name
                targets.append(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            targets = [
                a.name.removeprefix("reparam").lstrip(".")
                for a in node.names
                if a.name == "reparam" or a.name.startswith("reparam.")
            ]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target != mod:
                found.append((target, id(node) in typing_only, node.lineno))
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _sizes(root: Path, modules: dict[str, Path]) -> list[str]:
    problems = []
    for path in modules.values():
        rel = path.relative_to(root).as_posix()
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > MAX_MODULE and rel not in LONG_ALLOWED:
            problems.append(f"{rel}: {lines} lines (at most {MAX_MODULE})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if n > MAX_FUNCTION and f"{rel}:{node.name}" not in LONG_ALLOWED:
                    problems.append(
                        f"{rel}:{node.lineno}: {node.name} is {n} lines (at most {MAX_FUNCTION})"
                    )
    return problems


def check(src: Path) -> list[str]:
    """Every violation of the three rules under ``src/reparam``."""
    root = src / "reparam"
    modules = _modules(root)
    names = set(modules)
    problems: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in names}
    for mod, path in modules.items():
        if mod == "":
            continue  # the façade
        for target, type_only, line in _imports(mod, path, names):
            if target == "":
                problems.append(f"{path.relative_to(root)}:{line}: imports the root package")
                continue
            allowed = any(
                mod == a and (target == b or target.startswith(b + ".")) for a, b in UPWARD_ALLOWED
            )
            if _layer(target) > _layer(mod) and not allowed:
                problems.append(
                    f"{path.relative_to(root)}:{line}: reparam.{mod} (layer {_layer(mod)}) "
                    f"imports reparam.{target} (layer {_layer(target)}) above it"
                )
            if not type_only:
                graph[mod].add(target)
    # a package's __init__ re-exporting its members is not a cycle with them
    for mod in names:
        graph[mod] = {t for t in graph[mod] if not (mod and t and mod.startswith(t + "."))}
    for comp in _cycles(graph):
        if frozenset(comp) not in CYCLES_ALLOWED:
            problems.append("import cycle: " + " -> ".join(f"reparam.{m}" for m in comp))
    return problems + _sizes(root, modules)


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else Path("src")
    problems = check(src)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layout: {len(problems)} problems", file=sys.stderr)
        return 1
    print(
        f"check_layout: {len(_modules(src / 'reparam'))} modules in {len(LAYERS)} layers, "
        "no upward import, no cycle, sizes within limits"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
