"""The docstrings' RST bits become Markdown for the site (tools/griffe_rst.py)."""

from pathlib import Path

import pytest

from .._tools import load_tool

pytest.importorskip("griffe")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rst():
    return load_tool("griffe_rst")


def test_math_directives_become_display_math(rst):
    text = "Intro.\n\n.. math:: a = b\n          + c\n\nAfter.\n\n.. math::\n    x^2\n"
    assert rst.rst_to_markdown(text) == ("Intro.\n\n$$\na = b\n+ c\n$$\n\nAfter.\n\n$$\nx^2\n$$\n")


def test_roles_become_code_and_math(rst):
    text = "See :func:`reparam.expectation`, :class:`~reparam.noise.NoiseStrategy`, :math:`x^2`."
    assert rst.rst_to_markdown(text) == ("See `reparam.expectation`, `NoiseStrategy`, $x^2$.")


def test_doctests_become_code_blocks(rst):
    text = "Example:\n    >>> 1 + 1\n    2\n\nMore."
    assert (
        rst.rst_to_markdown(text)
        == "Example:\n    ```pycon\n    >>> 1 + 1\n    2\n    ```\n\nMore."
    )


def test_hanging_list_items_move_to_four_spaces_and_get_their_blank_lines(rst):
    text = "Kinds:\n- one,\n\n  .. math:: a\n\n  more\n- two\n  cont\n- three\n"
    assert rst.rst_to_markdown(text) == (
        "Kinds:\n\n- one,\n\n    $$\n    a\n    $$\n\n    more\n\n- two\n    cont\n- three\n"
    )


def test_section_items_are_left_to_griffe(rst):
    text = "Args:\n    x: the value,\n        on two lines.\n    y: other.\n"
    assert rst.rst_to_markdown(text) == text
