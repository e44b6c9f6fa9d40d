"""Plumbing shared by the commands that train into a run directory (``reparam vae``,
``reparam bnn``, ``reparam flow``): argument checks on the directory, reading its
config.json, the options a user gave, the resume rule (saved options win; only some may
change) and the one way a command reports a user error (message, exit status 2)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from ._atomic import atomic_write_text

Check = Callable[[argparse.ArgumentParser, argparse.Namespace], None]


class CommandError(Exception):
    """A user error found while running a command (reported, exit code 2)."""


def reported(
    command: str, body: Callable[[argparse.Namespace], int]
) -> Callable[[argparse.Namespace], int]:
    """``body`` with user errors (CommandError, FileNotFoundError, ValueError) reported as
    ``reparam COMMAND: error: …`` on stderr and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return body(args)
        except (CommandError, FileNotFoundError, ValueError) as exc:
            print(f"reparam {command}: error: {exc}", file=sys.stderr)
            return 2

    return run


def read_config(path: Path, command: str, required: Collection[str]) -> dict[str, Any]:
    """The JSON object in ``path`` (a run's config.json), which must hold ``required`` keys.

    Raises:
        CommandError: unreadable, not JSON, or missing a required key.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or not set(required) <= set(doc):
        raise CommandError(
            f"{path} is not a reparam {command} config (needs {', '.join(sorted(required))})"
        )
    return doc


def checker(parser: argparse.ArgumentParser, check: Check) -> Check:
    """Report errors through the subcommand's own parser (its usage line)."""

    def run(_top: argparse.ArgumentParser, args: argparse.Namespace) -> None:
        check(parser, args)

    return run


def check_train_out(
    parser: argparse.ArgumentParser, out: Path, resume: bool, config: str, checkpoint: str
) -> None:
    """--out must be a directory; --resume needs a saved run, a new run must not replace one."""
    if out.exists() and not out.is_dir():
        parser.error(f"argument --out: {str(out)!r} exists and is not a directory")
    if resume:
        if not (out / config).is_file() or not (out / checkpoint).is_file():
            parser.error(
                f"--resume: {str(out)!r} has no {config} and {checkpoint} to resume from; "
                "train first without --resume"
            )
        return
    if (out / checkpoint).exists():
        parser.error(
            f"argument --out: {str(out)!r} already holds a trained model ({checkpoint}); "
            "pass --resume to continue it or choose another --out"
        )


def check_run_dir(
    parser: argparse.ArgumentParser, d: Path, names: Iterable[str], command: str
) -> None:
    """DIR must be a run directory holding every file in ``names``."""
    if not d.is_dir():
        parser.error(f"argument DIR: {str(d)!r} is not a directory")
    for name in names:
        if not (d / name).is_file():
            parser.error(
                f"argument DIR: {str(d)!r} has no {name}; train a model first with "
                f"'reparam {command} train --out {d}'"
            )


def given_options(args: argparse.Namespace, keys: Iterable[str]) -> dict[str, Any]:
    """The options the user set (not None), ``data_dir`` as a resolved path string."""
    given = {
        k: getattr(args, k) for k in keys if k != "data_dir" and getattr(args, k, None) is not None
    }
    if getattr(args, "data_dir", None) is not None:
        given["data_dir"] = str(args.data_dir.resolve())
    return given


def resume_options(
    given: dict[str, Any],
    saved: dict[str, Any],
    may_change: Collection[str],
    config_path: Path,
    hint: str = "",
) -> dict[str, Any]:
    """The saved options, updated by the given ones that may change.

    Raises:
        CommandError: a given option that may not change differs from its saved value.
    """
    options = dict(saved)
    conflicts = []
    for key, value in given.items():
        if key in may_change:
            options[key] = value
        elif options.get(key) != value:
            conflicts.append(f"--{key.replace('_', '-')} {value} (saved: {options.get(key)})")
    if conflicts:
        raise CommandError(
            f"--resume: options conflict with {config_path}: {'; '.join(conflicts)}; "
            f"drop them to resume with the saved configuration{hint}"
        )
    return options


# --------------------------------------------------------------------------- argument types
def positive_int(what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= 1 (errors name ``what``)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{what} must be >= 1, got {value}")
        return value

    return parse


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def hidden_sizes(text: str) -> list[int]:
    """An argparse type: comma-separated layer widths >= 1, e.g. ``200,200``."""
    try:
        sizes = [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 200,200; got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1; got {text!r}")
    return sizes


def device_name(text: str) -> str:
    """An argparse type: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    if text in ("auto", "cpu", "cuda") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N; got {text!r}")


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write ``doc`` as indented JSON, atomically (NaN/inf are an error: use
    :func:`finite_or_none`)."""
    atomic_write_text(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")


def finite_or_none(value: Any) -> Any:
    """``value``, or None for a non-finite float (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
