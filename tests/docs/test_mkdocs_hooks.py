"""The mkdocs hooks (tools/mkdocs_hooks.py): API pages from every package's __all__, and
the globbed nav entries."""

import re
from pathlib import Path

import pytest

from .._tools import load_tool

pytest.importorskip("mkdocs")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hooks():
    return load_tool("mkdocs_hooks")


def test_every_public_package_gets_a_page_with_every_name(hooks):
    packages = hooks._import_packages(ROOT / "src")
    src = ROOT / "src/reparam"
    on_disk = {
        ".".join(("reparam", *init.parent.relative_to(src).parts))
        for init in src.rglob("__init__.py")
        if not any(part.startswith("_") for part in init.parent.relative_to(src).parts)
    }
    assert set(packages) == {name for name in on_disk if getattr(packages.get(name), "__all__", 0)}
    assert {"reparam.distributions", "reparam.estimators", "reparam.vi"} <= set(packages)
    for package, module in packages.items():
        page = hooks.api_page(package, packages)
        assert page.startswith(f"# {package}\n")
        for name in module.__all__:
            documented = re.search(rf"^::: [\w.]+\.{name}$", page, re.MULTILINE)
            linked = re.search(rf"\[`{name}`\]\[[\w.]+\.{name}\]", page)
            assert documented or linked or f"{{#{package}.{name}}}" in page, (package, name)


def test_a_reexported_name_is_linked_not_documented_twice(hooks):
    packages = hooks._import_packages(ROOT / "src")
    page = hooks.api_page("reparam", packages)
    assert "::: reparam.Normal\n" not in page
    assert "[`Normal`][reparam.distributions.Normal]" in page
    assert "::: reparam.gradient_stats\n" in page  # from a module, not a subpackage
    # reparam.vi.fit is both a function and a module: the function's own path
    assert "::: reparam.vi.fit.fit\n" in hooks.api_page("reparam.vi", packages)


def test_a_name_griffe_cannot_see_gets_a_row_with_an_anchor_and_its_documented_bases(hooks):
    packages = hooks._import_packages(ROOT / "src")
    page = hooks.api_page(
        "reparam.distributions", packages, lambda path: not path.endswith(".Gamma")
    )
    assert "::: reparam.distributions.Gamma\n" not in page
    (row,) = [line for line in page.split("\n") if "{#reparam.distributions.Gamma}" in line]
    assert "Gamma distribution" in row
    assert "[`ReparamDistribution`][reparam.distributions.ReparamDistribution]" in row
    assert "::: reparam.distributions.Beta\n" in page


def test_static_names_are_the_source_as_written(hooks):
    found = hooks.static_names(ROOT / "src")
    assert found("reparam.distributions.Normal")
    assert found("reparam.vi.fit")
    assert not found("reparam.distributions.NoSuchName")


def test_globs_expand_to_existing_pages_not_listed_elsewhere(hooks):
    pages = ["index.md", "tutorials/b.md", "tutorials/a.md", "tutorials/c.md", "x.md", "y.md"]
    nav = [
        {"Home": "index.md"},
        {"Tutorials": ["tutorials/c.md", "tutorials/*.md"]},
        "pyro*.md",
        {"Missing": "missing/*.md"},
        {"Other": "*.md"},
    ]
    assert hooks.expand_nav(nav, pages) == [
        {"Home": "index.md"},
        {"Tutorials": ["tutorials/c.md", "tutorials/a.md", "tutorials/b.md"]},
        {"Other": ["x.md", "y.md"]},
    ]
    assert hooks.expand_nav(["pyro*.md"], [*pages, "pyro.md"]) == ["pyro.md"]


def test_a_pages_line_lists_the_pages_that_exist_and_vanishes_when_none_does(hooks):
    pages = {"index.md": "", "tutorials/b.md": "# Bee\n", "tutorials/a.md": "text\n# Ay\n"}
    line = "<!-- pages: tutorials/b*.md tutorials/*.md | **Tutorials**: -->"
    assert hooks.page_links(f"x\n\n{line}\n\ny", "index.md", pages) == (
        "x\n\n**Tutorials**:\n\n- [Bee](tutorials/b.md)\n- [Ay](tutorials/a.md)\n\ny"
    )
    assert hooks.page_links(line, "tutorials/a.md", pages).endswith("- [Ay](a.md)")
    assert hooks.page_links(f"x\n{line.replace('tutorials', 'none')}\ny", "index.md", pages) == (
        "x\n\ny"
    )
