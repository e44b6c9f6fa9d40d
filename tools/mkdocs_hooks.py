"""mkdocs hooks (``hooks:`` in mkdocs.yml): the API reference pages and the globbed nav.

- One page ``api/<package>.md`` per package of ``reparam`` (found by walking the source
  tree: a new package appears without editing anything), with one ``::: package.Name``
  entry per name in its ``__all__``. A name a package re-exports from one of its own
  subpackages (``reparam.Normal`` is ``reparam.distributions.Normal``) is documented
  once, on the subpackage's page, and linked from the parent's.
- A name that griffe cannot see in the source (made at import time, e.g. the Pyro
  classes ``reparam.pyro`` builds in a loop) gets a row in a table instead, with the
  first line of its docstring, the documented classes it derives from, and an anchor
  ``package.Name`` that cross-references reach.
- Nav entries may be globs (``tutorials/*.md``): each expands to the pages that match and
  are not listed anywhere else in the nav (nor matched by an earlier glob), sorted by
  path with a folder's ``index.md`` first; a titled glob becomes a section, and a glob
  that matches nothing drops out. A page appears once it exists.
- A line ``<!-- pages: GLOB ... | INTRO -->`` in a page becomes the paragraph INTRO
  followed by a list of links to the pages that match (in the order of the globs, then
  by path), each titled by its first heading; it becomes nothing when no page matches,
  so a page can link to pages that do not exist yet.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import logging
import pkgutil
import posixpath
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT_PACKAGE = "reparam"
API_DIR = "api"
log = logging.getLogger("mkdocs.hooks.reparam")
_PAGES = re.compile(r"^<!-- pages: (?P<globs>[^|]+?)(?: \| (?P<intro>.+?))? -->$", re.MULTILINE)
_HEADING = re.compile(r"^# (?P<title>.+)$", re.MULTILINE)


def _import_packages(src: Path) -> dict[str, ModuleType]:
    """Every public package under ``src/reparam`` (the root included), imported from src."""
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    root = importlib.import_module(ROOT_PACKAGE)
    if not str(Path(root.__file__ or "").resolve()).startswith(str(src.resolve())):
        raise RuntimeError(f"{ROOT_PACKAGE} imports from {root.__file__}, not from {src}")
    packages = {ROOT_PACKAGE: root}
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{ROOT_PACKAGE}."):
        if not info.ispkg or any(part.startswith("_") for part in info.name.split(".")):
            continue
        try:
            packages[info.name] = importlib.import_module(info.name)
        except ImportError as error:  # an optional dependency is missing: say so, fail --strict
            log.warning("API reference: %s is left out, it does not import: %s", info.name, error)
    return {name: mod for name, mod in packages.items() if getattr(mod, "__all__", None)}


def _identifier(package: str, name: str, packages: dict[str, ModuleType]) -> str:
    """The path mkdocstrings documents ``package.name`` under: that path, unless a submodule
    of the same name hides the object from griffe (``reparam.vi.fit`` the function and the
    module), then the object's own module and name."""
    obj = getattr(packages[package], name)
    hidden = not isinstance(obj, ModuleType) and importlib.util.find_spec(f"{package}.{name}")
    return f"{obj.__module__}.{obj.__qualname__}" if hidden else f"{package}.{name}"


def static_names(src: Path) -> Callable[[str], bool]:
    """Whether griffe (so mkdocstrings) finds a dotted path in the source as written."""
    root = griffe.GriffeLoader(search_paths=[str(src)]).load(ROOT_PACKAGE)

    def found(path: str) -> bool:
        obj: Any = root
        for part in path.split(".")[1:]:
            if part not in obj.members:
                return False
            obj = obj.members[part]
        return True

    return found


def _summary(obj: object) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip().split("\n\n")[0]
    doc = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", " ".join(doc.split()))
    return doc.replace("|", "\\|")


def _documented_bases(obj: object, documented: dict[int, str]) -> list[str]:
    bases = obj.__mro__[1:] if isinstance(obj, type) else ()
    return [f"[`{b.__name__}`][{documented[id(b)]}]" for b in bases if id(b) in documented]


def _documented_in(name: str, package: str, packages: dict[str, ModuleType]) -> str | None:
    """The deepest subpackage of ``package`` that exports the same object as ``name``."""
    obj = getattr(packages[package], name)
    owners = [
        other
        for other, mod in packages.items()
        if other.startswith(f"{package}.")
        and name in mod.__all__
        and getattr(mod, name, None) is obj
    ]
    return max(owners, key=lambda other: other.count("."), default=None)


def api_page(
    package: str,
    packages: dict[str, ModuleType],
    static: Callable[[str], bool] = lambda path: True,
) -> str:
    """The Markdown of one package's API page (``static``: see :func:`static_names`)."""
    lines = [
        f"# {package}",
        "",
        f"::: {package}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "",
    ]
    linked: dict[str, list[str]] = {}
    built: list[str] = []
    for name in packages[package].__all__:
        owner = _documented_in(name, package, packages)
        if owner is not None:
            target = _identifier(owner, name, packages)
            linked.setdefault(owner, []).append(f"[`{name}`][{target}]")
        elif static(f"{package}.{name}"):
            lines += [f"::: {_identifier(package, name, packages)}", ""]
        else:
            built.append(name)
    if built:
        documented = {
            id(getattr(mod, n)): _identifier(p, n, packages)
            for p, mod in packages.items()
            for n in mod.__all__
            if static(f"{p}.{n}") and isinstance(getattr(mod, n), type)
        }
        lines += [
            "## Built at import",
            "",
            f"Names that `{package}` makes when it is imported:",
            "",
            "| name | what | derives from |",
            "| --- | --- | --- |",
        ]
        for name in built:
            obj = getattr(packages[package], name)
            bases = ", ".join(_documented_bases(obj, documented))
            lines.append(f"| [](){{#{package}.{name}}}`{name}` | {_summary(obj)} | {bases} |")
        lines.append("")
    if linked:
        lines += [
            "## Re-exported",
            "",
            f"Also importable from `{package}`, and documented with their package:",
            "",
            *(f"- [`{owner}`]({owner}.md): {', '.join(names)}" for owner, names in linked.items()),
            "",
        ]
    return "\n".join(lines)


def _is_glob(entry: object) -> bool:
    return isinstance(entry, str) and any(ch in entry for ch in "*?[")


def _explicit_pages(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return set() if _is_glob(nav) else {nav}
    if isinstance(nav, list):
        return set().union(*(_explicit_pages(item) for item in nav)) if nav else set()
    if isinstance(nav, dict):
        return set().union(*(_explicit_pages(value) for value in nav.values()))
    return set()


def expand_nav(nav: list[Any], pages: list[str]) -> list[Any]:
    """The nav with each glob entry replaced by the pages it matches (see the module doc)."""
    placed = _explicit_pages(nav)

    def matches(pattern: str) -> list[str]:
        # a folder's index.md first (the section's page), then by path
        ordered = sorted(pages, key=lambda p: (p.rsplit("/", 1)[0], not p.endswith("index.md"), p))
        found = [p for p in ordered if fnmatch.fnmatch(p, pattern) and p not in placed]
        placed.update(found)
        return found

    def expand(items: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if _is_glob(item):
                out += matches(item)
            elif isinstance(item, dict):
                ((title, value),) = item.items()
                if _is_glob(value):
                    found = matches(value)
                    if found:
                        out.append({title: found})
                elif isinstance(value, list):
                    sub = expand(value)
                    if sub:
                        out.append({title: sub})
                else:
                    out.append(item)
            else:
                out.append(item)
        return out

    return expand(nav)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    src = Path(config.config_file_path).parent / "src"
    packages = _import_packages(src)
    static = static_names(src)
    for package in packages:
        files.append(
            File.generated(
                config, f"{API_DIR}/{package}.md", content=api_page(package, packages, static)
            )
        )
    if config.nav:
        config.nav = expand_nav(config.nav, [f.src_uri for f in files.documentation_pages()])
    return files


def page_links(markdown: str, here: str, pages: dict[str, str]) -> str:
    """``markdown`` with each ``<!-- pages: ... -->`` line replaced by its list of links;
    ``pages`` maps each page's path to its Markdown, ``here`` is this page's path."""

    def links(match: re.Match[str]) -> str:
        found: list[str] = []
        for pattern in match["globs"].split():
            found += [p for p in sorted(pages) if fnmatch.fnmatch(p, pattern) and p not in found]
        lines = []
        for path in found:
            heading = _HEADING.search(pages[path])
            title = heading["title"].strip() if heading else path
            lines.append(f"- [{title}]({posixpath.relpath(path, posixpath.dirname(here) or '.')})")
        if not lines:
            return ""
        return (f"{match['intro']}\n\n" if match["intro"] else "") + "\n".join(lines)

    return _PAGES.sub(links, markdown)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if not _PAGES.search(markdown):
        return markdown
    pages = {f.src_uri: f.content_string for f in files.documentation_pages()}
    return page_links(markdown, page.file.src_uri, pages)
