"""A griffe extension (mkdocs.yml, ``extensions:``) for the RST bits of the docstrings.

The docstrings are Google style with a few reStructuredText constructs that read well in
``help()``; for the site they become Markdown before griffe parses them:

- ``.. math:: ...`` (on its line and the more-indented lines after it) becomes a
  ``$$ ... $$`` block, rendered by MathJax through pymdownx.arithmatex;
- a list item's lines hung at the text's column (RST: 2 spaces under ``- ``) move to
  4 spaces, where Markdown keeps them in the item;
- ``:math:`x``` becomes ``$x$``;
- ``:func:`x```, ``:class:`~a.b```, ``:mod:``, ``:meth:``, ``:attr:``, ``:data:`` become
  inline code (``~`` keeps the last component, as in Sphinx);
- a run of doctest lines (``>>>`` up to the next blank line) becomes a ``pycon`` code
  block (griffe does this only under ``Examples:``; the docstrings write ``Example:``,
  an admonition to griffe).

The source is not changed; only what the site shows.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|obj|exc):`(~?)([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]+)`")
_MATH = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_ITEM = re.compile(r"^\s*(?:[-*] |\d+\. )")
_DOCTEST = re.compile(r"^(\s*)>>>( |$)")


def _role(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _math_blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent, first = match.groups()
        body = [first] if first else []
        i += 1
        while i < len(lines) and (
            not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > len(indent)
        ):
            if not lines[i].strip() and (i + 1 >= len(lines) or not _deeper(lines[i + 1], indent)):
                break
            body.append(lines[i].strip())
            i += 1
        out += [f"{indent}$$", *(f"{indent}{line}" for line in body if line), f"{indent}$$"]
    return out


def _doctests(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _DOCTEST.match(lines[i])
        if match is None:
            out.append(lines[i])
            i += 1
            continue
        indent = match.group(1)
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return out


def _lists(lines: list[str]) -> list[str]:
    # RST hangs a list item's continuation at the text's column (2 for "- "); Markdown
    # needs 4 once a blank line or a block intervenes: move each item's lines to 4.
    out: list[str] = []
    # Markdown also starts a list, or an item after an item of several blocks, only after
    # a blank line: one is put there.
    stack: list[list[int]] = []  # open items: [indent in the text, indent out, blank seen]
    block = False  # inside a $$ or ``` block: no list markers there
    for line in lines:
        text = line.lstrip(" ")
        if not text:
            for item in stack:
                item[2] = 1
            out.append(line)
            continue
        n = len(line) - len(text)
        loose, popped = False, False
        while stack and n <= stack[-1][0]:
            loose, popped = loose or bool(stack.pop()[2]), True
        new = stack[-1][1] + 4 + max(0, n - stack[-1][0] - 2) if stack else n
        if text.startswith(("$$", "```")):
            block = not block
        elif not block and re.match(r"[-*] |\d+\. ", text):
            in_list = popped or bool(stack) or bool(out and _ITEM.match(out[-1]))
            if out and out[-1].strip() and (loose or not in_list):
                out.append("")
            stack.append([n, new, 0])
        out.append(" " * new + text)
    return out


def _deeper(line: str, indent: str) -> bool:
    return bool(line.strip()) and len(line) - len(line.lstrip()) > len(indent)


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with the RST constructs above in Markdown."""
    text = "\n".join(_doctests(_lists(_math_blocks(text.split("\n")))))
    text = _MATH_ROLE.sub(r"$\1$", text)
    return _ROLE.sub(_role, text)


class RSTToMarkdown(griffe.Extension):
    """Rewrites each docstring (before it is parsed) with :func:`rst_to_markdown`."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
