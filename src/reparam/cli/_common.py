"""Plumbing shared by the commands that train into a run directory (``reparam vae``,
``reparam bnn``, ``reparam flow``): argument checks on the directory, reading its
config.json, the options a user gave, the resume rule (saved options win; only some may
change) and the one way a command reports a user error (message, exit status 2)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from .. import _rundir, _signals
from .._atomic import atomic_write_text
from .._checkpoint import CheckpointError
from .._rundir import RunDirError

Check = Callable[[argparse.ArgumentParser, argparse.Namespace], None]


class CommandError(Exception):
    """A user error found while running a command (reported, exit code 2)."""


_STACKS: list[contextlib.ExitStack] = []


def reported(
    command: str, body: Callable[[argparse.Namespace], int]
) -> Callable[[argparse.Namespace], int]:
    """``body`` with user errors (CommandError, RunDirError, CheckpointError,
    FileNotFoundError, ValueError) reported as ``reparam COMMAND: error: …`` on stderr and
    exit status 2, and Ctrl-C / SIGTERM outside training as one line (exit 130 / 143).

    Run directories claimed by ``body`` (:func:`claim_out`) are released when it ends; if
    it fails before writing anything, a directory it created is removed again.
    """

    def run(args: argparse.Namespace) -> int:
        try:
            with contextlib.ExitStack() as stack:
                _STACKS.append(stack)
                try:
                    return body(args)
                finally:
                    _STACKS.pop()
        except (CommandError, RunDirError, CheckpointError, FileNotFoundError, ValueError) as exc:
            print(f"reparam {command}: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:
            _signals.handled()
            print(
                f"reparam {command}: interrupted by {_signals.signal_name(exc)}; no file is "
                "left half-written",
                file=sys.stderr,
            )
            return _signals.exit_code(exc)

    return run


def claim_out(
    args: argparse.Namespace,
    command: str,
    outputs: Iterable[str],
    *,
    resumable: bool = False,
    replace_own: bool = False,
    legacy_ok: Callable[[Path], bool] | None = None,
) -> _rundir.RunDir:
    """Claim ``args.out`` for ``command`` until the running command ends (see
    :func:`reparam._rundir.claim`; ``args.resume`` and ``args.overwrite`` when present)."""
    from .. import __version__

    if not _STACKS:
        raise RuntimeError("claim_out is called from a command wrapped by reported()")
    return _STACKS[-1].enter_context(
        _rundir.claim(
            args.out,
            command,
            outputs,
            resume=bool(getattr(args, "resume", False)),
            overwrite=bool(getattr(args, "overwrite", False)),
            replace_own=replace_own,
            resumable=resumable,
            legacy_ok=legacy_ok,
            version=__version__,
        )  # fmt: skip
    )


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


def check_out(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    command: str,
    *,
    replace_own: bool = False,
    legacy_ok: Callable[[Path], bool] | None = None,
) -> None:
    """--out must be free for ``command`` (:func:`reparam._rundir.check_claim`), checked
    before any work; the command claims it later (:func:`claim_out`)."""
    try:
        _rundir.check_claim(
            args.out, command, resume=bool(getattr(args, "resume", False)),
            overwrite=bool(getattr(args, "overwrite", False)), replace_own=replace_own,
            legacy_ok=legacy_ok,
        )  # fmt: skip
    except RunDirError as exc:
        parser.error(str(exc))


def check_train_out(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    command: str,
    config: str,
    checkpoint: str,
    legacy_ok: Callable[[Path], bool] | None = None,
) -> None:
    """--out of a training command: free for a new run; --resume needs a saved run of this
    command; --resume and --overwrite exclude each other."""
    out: Path = args.out
    if args.resume and getattr(args, "overwrite", False):
        parser.error("--resume and --overwrite exclude each other: continue a run or replace it")
    if args.resume:
        if not (out / config).is_file() or not (out / checkpoint).is_file():
            parser.error(
                f"--resume: {str(out)!r} has no {config} and {checkpoint} to resume from; "
                "train first without --resume"
            )
    check_out(parser, args, command, legacy_ok=legacy_ok)


def check_run_dir(
    parser: argparse.ArgumentParser,
    d: Path,
    names: Iterable[str],
    command: str,
    legacy_ok: Callable[[Path], bool] | None = None,
) -> None:
    """DIR must be a directory written by ``reparam COMMAND train`` holding ``names``."""
    if not d.is_dir():
        parser.error(f"argument DIR: {str(d)!r} is not a directory")
    for name in names:
        if not (d / name).is_file():
            parser.error(
                f"argument DIR: {str(d)!r} has no {name}; train a model first with "
                f"'reparam {command} train --out {d}'"
            )
    try:
        if _rundir.read_record(d) is not None or legacy_ok is not None:
            _rundir.check_kind(d, f"{command} train", legacy_ok)
    except RunDirError as exc:
        parser.error(f"argument DIR: {exc}")


def check_writable(d: Path) -> None:
    """``d`` accepts a new file (checked before a command's work, not after it).

    Raises:
        CommandError: it does not, with the reason.
    """
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=d):
            pass
    except OSError as exc:
        raise CommandError(f"cannot write to {str(d)!r}: {exc.strerror or exc}") from None


def config_has(*keys: str, without: Iterable[str] = ()) -> Callable[[Path], bool]:
    """A legacy check: ``config.json`` of a directory is a JSON object with ``keys`` (and
    none of ``without``) — how runs written before run records are told apart."""
    absent = tuple(without)

    def accept(d: Path) -> bool:
        try:
            doc = json.loads((d / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return (
            isinstance(doc, dict)
            and all(k in doc for k in keys)
            and not any(k in doc for k in absent)
        )

    return accept


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
def parse_int(text: str) -> int:
    """``int(text)``, or the argparse error "expected an integer, got …"."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def parse_float(text: str) -> float:
    """``float(text)``, or the argparse error "expected a number, got …"."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def positive_int(what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= 1 (errors name ``what``)."""

    def parse(text: str) -> int:
        value = parse_int(text)
        if value < 1:
            raise argparse.ArgumentTypeError(f"{what} must be >= 1, got {value}")
        return value

    return parse


#: the units of a ``--checkpoint-every`` time, in seconds.
TIME_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def checkpoint_rule(text: str) -> dict[str, Any]:
    """An argparse type: ``--checkpoint-every`` as :class:`~reparam.training.TrainConfig`
    keywords. ``N`` (an integer >= 1): every N epochs; a time ``Xs``, ``Xm`` or ``Xh``
    (X > 0, e.g. ``30s``, ``2.5m``): once that much time has passed since the last one."""
    unit = TIME_UNITS.get(text[-1:].lower()) if text else None
    if unit is None:
        try:
            epochs = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a number of epochs (10) or a time (30s, 5m, 1h), got {text!r}"
            ) from None
        if epochs < 1:
            raise argparse.ArgumentTypeError(f"must be >= 1 epoch or a time > 0, got {text!r}")
        return {"checkpoint_every": epochs, "checkpoint_seconds": None}
    try:
        seconds = float(text[:-1]) * unit
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of epochs (10) or a time (30s, 5m, 1h), got {text!r}"
        ) from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"the time must be finite and > 0, got {text!r}")
    return {"checkpoint_every": None, "checkpoint_seconds": seconds}


def nonnegative_int(text: str) -> int:
    """An argparse type: an integer >= 0."""
    value = parse_int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


#: the largest seed a command accepts (as :class:`reparam.training.TrainConfig`): every
#: seed, plus a split or rank offset, seeds torch, NumPy (< 2**32) and Python's RNG alike.
SEED_MAX = 2**31 - 1


def random_seed(text: str) -> int:
    """An argparse type: a random seed, an integer in [0, 2**31 - 1]."""
    value = parse_int(text)
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"a seed must be between 0 and {SEED_MAX}, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    value = parse_float(text)
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


# --------------------------------------------------------------------------- training runs
def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in torch (None: leave torch's default)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def read_history(out: Path) -> list[dict[str, Any]]:
    """The per-epoch records of the run in ``out`` (its ``metrics.jsonl``; [] when absent)."""
    metrics = out / "metrics.jsonl"
    if not metrics.is_file():
        return []
    return [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]


def check_resume(out: Path, checkpoint: str, epochs: int, model: Any = None) -> int:
    """Verify the checkpoint of a run to resume before anything is written: intact, not
    fewer completed epochs than ``epochs``, its history in ``metrics.jsonl`` (unless the
    checkpoint carries it, as older ones did) and (given ``model``) fitting the model that
    the saved configuration builds. Returns the completed epochs.

    Raises:
        CheckpointError: the checkpoint is damaged, not one, lacks its history, or does not
            fit ``model``.
        CommandError: ``epochs`` is below the completed epochs.
    """
    from .._checkpoint import restore_state
    from .._loop_state import read_metrics
    from ..training import load_checkpoint

    ckpt = load_checkpoint(out / checkpoint)
    done = int(ckpt["epoch"])
    if "history" not in ckpt:
        read_metrics(out / "metrics.jsonl", done, ckpt["step"])
    if epochs < done:
        raise CommandError(
            f"--epochs {epochs}: the run in {out} has already completed {done} epochs; pass "
            f"--epochs {done} or more to continue it"
        )
    if model is not None:
        restore_state(model, ckpt["model"], out / checkpoint)
    return done


def finish_run(run: _rundir.RunDir | None, result: Any, resumed: bool) -> int:
    """The exit status of a training command (:func:`train_exit_code`); a new run that
    stopped before its first checkpoint is discarded (nothing half-written stays)."""
    if run is not None and not resumed and not result.checkpoint.is_file():
        run.discard()
        print(f"nothing kept in {run.path}: the run stopped before its first checkpoint",
              file=sys.stderr)  # fmt: skip
    return train_exit_code(result)


def train_exit_code(result: Any) -> int:
    """The exit status of a training command: 0 when it finished (or reached max_steps),
    1 when it stopped on NaN, divergence or a failed write, 130 / 143 when interrupted by
    SIGINT / SIGTERM. (``train`` has printed the reason once.)"""
    if result.stopped in ("nan", "diverged", "write_failed"):
        return 1
    if result.stopped == "interrupted":
        return 143 if result.signal == "SIGTERM" else 130
    return 0
