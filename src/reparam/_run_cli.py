"""Plumbing shared by the commands that train into a run directory (``reparam vae``,
``reparam bnn``): argument checks on the directory, the options a user gave, and the
resume rule (saved options win; only some may change)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

Check = Callable[[argparse.ArgumentParser, argparse.Namespace], None]


class CommandError(Exception):
    """A user error found while running a command (reported, exit code 2)."""


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
