"""The one driver of the training commands (``vae train``, ``bnn train``, ``flow fit``).

:func:`run_train_command` runs the steps they share: options (new or resumed), threads,
data, the model under a forked RNG, the training configuration and its checks, the device,
``config.json``, the banner, the shared loop and its stops (NaN, divergence, signals),
optional TensorBoard events (``--tensorboard``, :mod:`reparam._tensorboard`), evaluation,
an optional result file, plots, the "wrote …" line and the exit status. A
:class:`TrainCommand` supplies what differs. Under torchrun every process trains; only rank
0 (``$RANK``) claims the directory, writes config, results, plots and events, and reports.
"""

from __future__ import annotations

import abc
import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._common import (
    CommandError,
    check_resume,
    checkpoint_rule,
    claim_out,
    finish_run,
    finite_or_none,
    read_history,
    set_threads,
    write_json,
)

__all__ = [
    "CHECKPOINT",
    "CONFIG",
    "TENSORBOARD",
    "TrainCommand",
    "add_run_arguments",
    "rank",
    "run_train_command",
    "write_history",
]

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
#: ``--checkpoint-every``'s default: a time, so that short epochs do not each pay for a
#: checkpoint and long ones still get one each.
CHECKPOINT_EVERY = "30s"
#: ``--tensorboard``'s directory in the run directory when no DIR is given.
TENSORBOARD = "tensorboard"


class TrainCommand(abc.ABC):
    """What one training command supplies to :func:`run_train_command`.

    ``options`` is the run's option dict (config.json's ``options``); ``data`` is whatever
    :meth:`load` returns; ``evaluated`` is the dict :meth:`evaluate` returns.
    """

    #: the run-record kind of its directories, e.g. ``"vae train"``.
    command: str
    #: every file the command writes into a run directory.
    outputs: tuple[str, ...]
    #: how a run written before run records is recognised (see :func:`claim_out`; set it
    #: as ``staticmethod(check)`` in a subclass).
    legacy_ok: Callable[[Path], bool] | None = None
    #: what the training rows are, for the --batch-size message (e.g. "training images").
    rows: str = "training rows"
    #: the checkpoint's extra-state key of ``model.config`` (None: no extra state).
    state_key: str | None = None
    #: a JSON file written from ``evaluated`` (plus epochs, steps, seconds), or None.
    result_file: str | None = None

    @abc.abstractmethod
    def read_config(self, out: Path) -> dict[str, Any]:
        """The saved config.json of the run in ``out`` (for --resume)."""

    @abc.abstractmethod
    def resolve_options(self, args: argparse.Namespace) -> dict[str, Any]:
        """The options of a new run: given values, then defaults."""

    @abc.abstractmethod
    def resume_options(self, args: argparse.Namespace, saved: dict[str, Any]) -> dict[str, Any]:
        """The options of a resumed run: ``saved``'s, with the given ones that may change."""

    @abc.abstractmethod
    def load(self, options: dict[str, Any]) -> Any:
        """The data, read and checked (memory included) before anything is written."""

    @abc.abstractmethod
    def threads(self, options: dict[str, Any], data: Any) -> int | None:
        """torch's CPU threads when --threads is not given (None: torch's default)."""

    @abc.abstractmethod
    def build_model(self, options: dict[str, Any], data: Any) -> Any:
        """The model to train (built under a forked RNG seeded with ``options["seed"]``)."""

    @abc.abstractmethod
    def train_config(self, options: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
        """:class:`~reparam.training.TrainConfig` keywords besides epochs, lr, seed, device
        and progress (``batch_size`` at least)."""

    @abc.abstractmethod
    def datasets(self, options: dict[str, Any], model: Any, data: Any) -> tuple[Any, Any]:
        """The training tensor (N, …) and the validation one (or None) for the loop."""

    def fit(self, model: Any, prepared: Any, args: argparse.Namespace) -> Any:
        """Train ``model``; a :class:`reparam.training.TrainResult`. Default: the shared loop
        on :meth:`datasets` (``prepared`` is what :func:`run_train_command` set up)."""
        from ..training import train

        extra = None if self.state_key is None else {self.state_key: model.config}
        return train(model, prepared.train_set, prepared.config, args.out,
                     valid_data=prepared.valid_set, resume=args.resume, resume_hint="--resume",
                     extra_state=extra, tensorboard=prepared.tensorboard)  # fmt: skip

    @abc.abstractmethod
    def config_doc(
        self, args: argparse.Namespace, options: dict[str, Any], model: Any, data: Any,
        saved: dict[str, Any] | None,
    ) -> dict[str, Any]:  # fmt: skip
        """config.json's content after ``reparam_version`` (``saved``: the resumed run's)."""

    @abc.abstractmethod
    def banner(self, options: dict[str, Any], data: Any, device: Any) -> str:
        """The line on stderr before training."""

    @abc.abstractmethod
    def evaluate(self, model: Any, data: Any, options: dict[str, Any]) -> dict[str, Any]:
        """Test metrics of the trained ``model`` (on the CPU, in eval mode, RNG seeded)."""

    @abc.abstractmethod
    def write_plots(
        self, model: Any, data: Any, evaluated: dict[str, Any], options: dict[str, Any], out: Path
    ) -> list[str]:
        """Write the run's figures into ``out``; return their names."""

    @abc.abstractmethod
    def summary(self, evaluated: dict[str, Any]) -> str:
        """The result printed on stdout."""


def add_run_arguments(parser: argparse.ArgumentParser, out: Path, resume_help: str) -> None:
    """Add a training command's run-directory options: --out (default ``out``), --resume,
    --overwrite, --no-progress, --checkpoint-every and --tensorboard."""
    parser.add_argument("--out", type=Path, default=out, help="output directory")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the run already in --out"
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    parser.add_argument(
        "--checkpoint-every",
        type=checkpoint_rule,
        default=CHECKPOINT_EVERY,
        metavar="N|TIME",
        help="write checkpoint.pt every N epochs, or once TIME (30s, 5m, 1h) of training has "
        "passed since the last one; always at the end and when stopped or interrupted "
        f"(SIGINT, SIGTERM), so a resume loses nothing then (default {CHECKPOINT_EVERY}; "
        "metrics.jsonl gets its line every epoch; flow fit --target checkpoints every "
        "epoch)",
    )
    add_tensorboard_argument(parser, f"DIR (default OUT/{TENSORBOARD})")


def add_tensorboard_argument(parser: argparse.ArgumentParser, into: str) -> None:
    """Add ``--tensorboard [DIR]`` (``into`` says where the events go): ``args.tensorboard``
    is None (not given), True (no DIR) or the DIR given (see :func:`event_dir`)."""
    parser.add_argument(
        "--tensorboard",
        nargs="?",
        const=True,
        type=Path,
        metavar="DIR",
        help="also write each metrics.jsonl row as TensorBoard scalars at step = epoch "
        f"(train/loss, valid/..., run/step, run/seconds) into {into}; a resume rewrites "
        "them to match metrics.jsonl; needs pip install 'reparam[tensorboard]'",
    )


def event_dir(args: argparse.Namespace, default: Path) -> Path | None:
    """The events' directory that ``--tensorboard`` asks for (``default`` without a DIR;
    None without the option), checked before anything is written.

    Raises:
        CommandError: the ``tensorboard`` package is missing (one line naming the extra).
    """
    from .._tensorboard import require

    given = getattr(args, "tensorboard", None)
    if given is None:
        return None
    try:
        require()
    except ImportError as exc:
        raise CommandError(f"--tensorboard: {exc}") from None
    return default if given is True else Path(given)


def rank() -> int:
    """This process's rank under torchrun (``$RANK``; 0 outside it)."""
    return int(os.environ.get("RANK", "0"))


def write_history(out: Path, panels: Sequence[tuple[str, str]], title: str) -> str:
    """Write ``out/loss.png``, the run's per-epoch curves (:func:`history_curves`); "loss.png"."""
    from ..plots import save_figure
    from ..plots.history import history_curves

    save_figure(history_curves(read_history(out), panels, title=title), out / "loss.png")
    return "loss.png"


@dataclasses.dataclass
class _Prepared:
    saved: dict[str, Any] | None
    options: dict[str, Any]
    data: Any
    model: Any
    config: Any
    train_set: Any
    valid_set: Any
    device: Any
    #: the TensorBoard events' directory (rank 0), or None.
    tensorboard: Path | None = None


def _prepare(spec: TrainCommand, args: argparse.Namespace) -> _Prepared:
    """Options, data, model and loop configuration: everything that can fail on bad input,
    before the first file is written."""
    import torch

    from ..training import TrainConfig, select_device

    events = event_dir(args, args.out / TENSORBOARD)  # every rank fails alike without it
    saved = spec.read_config(args.out) if args.resume else None
    options = spec.resolve_options(args) if saved is None else spec.resume_options(args, saved)
    data = spec.load(options)
    set_threads(args.threads or spec.threads(options, data))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"])
        model = spec.build_model(options, data)
    if args.resume:  # intact, enough epochs, fits the model
        check_resume(args.out, CHECKPOINT, options["epochs"], model)
    config = TrainConfig(
        epochs=options["epochs"], lr=options["lr"], seed=options["seed"],
        device=options["device"], progress=args.progress, **args.checkpoint_every,
        **spec.train_config(options, args),
    )  # fmt: skip
    train_set, valid_set = spec.datasets(options, model, data)
    if train_set is not None and len(train_set) < config.batch_size:
        raise CommandError(
            f"--batch-size {config.batch_size} exceeds the {len(train_set)} {spec.rows}"
        )
    device = select_device(config.device)
    if config.amp and device.type != "cuda":
        raise CommandError(f"--amp needs a CUDA device; the device is {device}")
    events = events if rank() == 0 else None  # rank 0 writes the events
    return _Prepared(saved, options, data, model, config, train_set, valid_set, device, events)


def run_train_command(spec: TrainCommand, args: argparse.Namespace) -> int:
    """Run the training command ``spec`` with parsed ``args`` (``out``, ``resume``,
    ``progress``, ``threads``, …); return its exit status (0, 1 on NaN / divergence / a
    failed write, 130 / 143 on SIGINT / SIGTERM)."""
    import torch

    from .. import __version__

    start = time.perf_counter()
    out: Path = args.out
    p = _prepare(spec, args)
    lead = rank() == 0  # under torchrun only rank 0 claims, writes and reports
    run = None
    if lead:
        outputs = (*spec.outputs, TENSORBOARD)
        run = claim_out(args, spec.command, outputs, resumable=True, legacy_ok=spec.legacy_ok)
        doc = spec.config_doc(args, p.options, p.model, p.data, p.saved)
        write_json(out / CONFIG, {"reparam_version": __version__, **doc})
        print(spec.banner(p.options, p.data, p.device), file=sys.stderr)
    result = spec.fit(p.model, p, args)
    code = finish_run(run, result, args.resume)
    if code == 1 or not lead or not result.checkpoint.is_file():  # failed, or nothing kept
        return code
    model = p.model.cpu().eval()
    files: list[str] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(p.options["seed"])
        evaluated = spec.evaluate(model, p.data, p.options)
        if spec.result_file is not None:
            evaluated.update(epochs=result.epoch, steps=result.step,
                             seconds=time.perf_counter() - start)  # fmt: skip
            record = {k: finite_or_none(v) for k, v in evaluated.items()}
            write_json(out / spec.result_file, record)
            files.append(spec.result_file)
        files += spec.write_plots(model, p.data, evaluated, p.options, out)
    events = "" if p.tensorboard is None else f" and TensorBoard events to {p.tensorboard}"
    print(spec.summary(evaluated))
    print(
        f"wrote {CONFIG}, {CHECKPOINT}, metrics.jsonl, {', '.join(files)} to {out}{events} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return code
