"""Every code block of every page under docs/ runs (tools/run_doc_blocks.py), and the
runner follows the conventions: python blocks share one namespace in order, console
``$ `` lines run in bash with the venv first on PATH, text blocks do not run, any other
fence language is an error."""

import subprocess
import sys
from pathlib import Path

import pytest

from .._tools import load_tool

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))


runner = load_tool("run_doc_blocks")


def _id(page):
    return page.relative_to(DOCS).as_posix()


def test_there_are_pages():
    assert DOCS / "index.md" in PAGES


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_page_fences_use_allowed_languages(page):
    blocks = runner.parse_blocks(page.read_text(encoding="utf-8"))
    bad = [
        f"line {b.line}: {b.language!r}" for b in blocks if not runner.language_allowed(b.language)
    ]
    assert not bad, f"docs/{_id(page)}: fences must be python, console or text: {bad}"


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_page_blocks_run(page, tmp_path):
    # a page on an optional extra (the Pyro page) runs where the extra is installed
    if "reparam.pyro" in page.read_text(encoding="utf-8"):
        pytest.importorskip("pyro", reason="the page needs pip install 'reparam[pyro]'")
    # a fresh process per page, as a reader runs it: no state leaks between pages
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools/run_doc_blocks.py"), str(page), "--cwd", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"docs/{_id(page)}: {done.stderr.strip()[-6000:]}", pytrace=False)


def _page(tmp_path, text):
    page = tmp_path / "page.md"
    page.write_text(text)
    work = tmp_path / "work"
    work.mkdir()
    return page, work


def test_python_blocks_share_one_namespace_in_order_in_cwd(tmp_path):
    page, work = _page(
        tmp_path,
        "```python\nx = 2\n```\n\ntext\n\n```python\nimport pathlib\n"
        "pathlib.Path('out.txt').write_text(str(x + 1))\n```\n",
    )
    ran = runner.run_page(page, work)
    assert [b.line for b in ran] == [1, 7]  # the opening fences' lines
    assert (work / "out.txt").read_text() == "3"


def test_console_lines_run_in_bash_with_the_venv_first(tmp_path):
    page, work = _page(
        tmp_path,
        "```console\n$ command -v python > where.txt\nshown output, not run\n"
        "$ echo a \\\n  b > joined.txt\n```\n",
    )
    runner.run_page(page, work)
    assert (work / "where.txt").read_text().strip() == str(Path(sys.executable).parent / "python")
    assert (work / "joined.txt").read_text().strip() == "a b"


def test_text_blocks_do_not_run_and_indented_fences_do(tmp_path):
    page, work = _page(
        tmp_path,
        "```text\n$ touch no.txt\n```\n\n!!! note\n\n"
        "    ```python\n    import pathlib\n    pathlib.Path('yes.txt').touch()\n    ```\n",
    )
    runner.run_page(page, work)
    assert not (work / "no.txt").exists()
    assert (work / "yes.txt").exists()


@pytest.mark.parametrize("fence", ["```bash", "```", "~~~yaml"])
def test_other_languages_are_errors(tmp_path, fence):
    page, work = _page(tmp_path, f"# t\n\n{fence}\nx\n{fence[:3]}\n")
    with pytest.raises(runner.DocBlockError, match=r"page\.md:3: fence with"):
        runner.run_page(page, work)


def test_a_failing_python_block_names_the_page_and_the_line(tmp_path):
    page, work = _page(tmp_path, "# t\n\n```python\nx = 1\n\nraise ValueError('boom')\n```\n")
    with pytest.raises(runner.DocBlockError) as info:
        runner.run_page(page, work)
    message = str(info.value)
    assert message.startswith(f"{page}:3: python block failed")
    assert "line 6" in message
    assert "ValueError: boom" in message


def test_a_failing_console_command_names_the_page_the_line_and_the_command(tmp_path):
    page, work = _page(tmp_path, "```console\n$ true\n$ echo oops >&2; exit 3\n```\n")
    with pytest.raises(
        runner.DocBlockError, match=r"page\.md:1: console command exited 3"
    ) as info:
        runner.run_page(page, work)
    assert "$ echo oops >&2; exit 3" in str(info.value)
    assert "oops" in str(info.value)


def test_warnings_in_python_blocks_are_errors(tmp_path):
    page, work = _page(
        tmp_path, "```python\nimport warnings\nwarnings.warn('old', DeprecationWarning)\n```\n"
    )
    with pytest.raises(runner.DocBlockError, match="DeprecationWarning: old"):
        runner.run_page(page, work)


def test_the_command_line_reports_a_failure_with_exit_status_1(tmp_path):
    page, work = _page(tmp_path, "```python\nassert False, 'no'\n```\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools/run_doc_blocks.py"), str(page)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert f"{page}:1: python block failed" in done.stderr
    assert "AssertionError: no" in done.stderr
