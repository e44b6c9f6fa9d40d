"""Run the code blocks of one documentation page, by the docs' conventions.

    python tools/run_doc_blocks.py docs/PAGE.md [--cwd DIR] [-v]

- a fence whose language starts with ``python`` is executed; all of a page's python
  blocks run in order in one namespace (tracebacks name the page and its line numbers);
- a ``console`` fence holds shell commands: each line starting with ``$ `` (a trailing
  ``\\`` continues it on the next line) runs in bash, with this Python's ``bin`` folder
  first on PATH; its other lines are output shown to the reader, not checked;
- a ``text`` fence is output shown to the reader and is not run;
- any other fence language (or none) is an error.

Everything runs in one current directory: a fresh temporary one, or ``--cwd DIR`` (to
regenerate a page's figures: ``--cwd docs/FOLDER``). Warnings in python blocks are
errors, as in the test suite. The CPU time of the page (this process and its children)
is printed at the end; a page should stay within 20 s.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

RUN_LANGUAGES = ("python", "console")
SHOWN_LANGUAGES = ("text",)
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


class DocBlockError(Exception):
    """A block that is not allowed, or that failed; the message names the page and line."""


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, the page line of its opening fence, its text."""

    language: str
    line: int
    code: str

    @property
    def runs(self) -> bool:
        return self.language.startswith("python") or self.language == "console"


def language_allowed(language: str) -> bool:
    """python…, console and text; nothing else (an empty language included)."""
    return language.startswith("python") or language in ("console", *SHOWN_LANGUAGES)


def parse_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, in order (indented fences included)."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None or (match["fence"][0] == "`" and "`" in match["info"]):
            i += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        info = match["info"].strip()
        language = info.split()[0].lstrip("{.").rstrip("}") if info else ""
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        start = i + 1
        i += 1
        while i < len(lines) and not close.match(lines[i]):
            line = lines[i]
            strip = min(indent, len(line) - len(line.lstrip(" ")))
            body.append(line[strip:])
            i += 1
        blocks.append(Block(language, start, "\n".join(body) + "\n"))
        i += 1
    return blocks


def check_languages(page: Path, blocks: list[Block]) -> None:
    """Raise DocBlockError for the first block whose language is not allowed."""
    for block in blocks:
        if not language_allowed(block.language):
            shown = repr(block.language) if block.language else "no language"
            raise DocBlockError(
                f"{page}:{block.line}: fence with {shown}; use python, console or text"
            )


def console_commands(code: str) -> list[str]:
    """The ``$ `` lines of a console block, continuation lines joined."""
    commands: list[str] = []
    lines = iter(code.split("\n"))
    for line in lines:
        if not line.startswith("$ "):
            continue
        command = line[2:]
        while command.endswith("\\"):
            command = command[:-1] + " " + next(lines, "").strip()
        commands.append(command)
    return commands


@contextlib.contextmanager
def _inside(cwd: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(before)


def _run_python(page: Path, block: Block, namespace: dict[str, object], cwd: Path) -> None:
    # the block's lines keep their page line numbers in a traceback
    code = compile("\n" * block.line + block.code, str(page.resolve()), "exec")
    with _inside(cwd), warnings.catch_warnings():
        warnings.simplefilter("error")
        # as in pyproject's pytest filterwarnings
        warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib.*")
        warnings.filterwarnings("ignore", "`torch.jit.script_method` is deprecated")
        try:
            exec(code, namespace)
        except Exception as error:
            # the frames of the page only (not this runner's exec)
            tb = error.__traceback__.tb_next if error.__traceback__ else None
            trace = "".join(traceback.format_exception(type(error), error, tb))
            raise DocBlockError(
                f"{page}:{block.line}: python block failed:\n{trace.rstrip()}"
            ) from error


def _run_console(page: Path, block: Block, cwd: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for command in console_commands(block.code):
        done = subprocess.run(
            ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()[-4000:]
            raise DocBlockError(
                f"{page}:{block.line}: console command exited {done.returncode}: "
                f"$ {command}\n{output}"
            )


def run_page(page: Path, cwd: Path, verbose: bool = False) -> list[Block]:
    """Run every block of ``page`` in ``cwd`` (see the module doc); the blocks run."""
    page = Path(page)
    blocks = parse_blocks(page.read_text(encoding="utf-8"))
    check_languages(page, blocks)
    os.environ.setdefault("MPLBACKEND", "Agg")
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = [block for block in blocks if block.runs]
    for block in ran:
        start = time.perf_counter()
        if block.language == "console":
            _run_console(page, block, cwd)
        else:
            _run_python(page, block, namespace, cwd)
        if verbose:
            took = time.perf_counter() - start
            print(f"{page}:{block.line}: {block.language} ok ({took:.1f} s)", file=sys.stderr)
    return ran


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path, help="a Markdown page under docs/")
    parser.add_argument("--cwd", type=Path, help="run here (default: a fresh temporary dir)")
    parser.add_argument("-v", "--verbose", action="store_true", help="report each block")
    args = parser.parse_args(argv)
    page = args.page
    start = _cpu_seconds()
    try:
        if args.cwd is not None:
            args.cwd.mkdir(parents=True, exist_ok=True)
            ran = run_page(page, args.cwd.resolve(), args.verbose)
        else:
            with tempfile.TemporaryDirectory(prefix="doc-blocks-") as tmp:
                ran = run_page(page, Path(tmp), args.verbose)
    except DocBlockError as error:
        print(error, file=sys.stderr)
        return 1
    cpu = _cpu_seconds() - start
    print(f"{args.page}: {len(ran)} blocks ran, {cpu:.1f} s CPU", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
