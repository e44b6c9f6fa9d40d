"""``reparam bnn uci NAME``: the UCI regression protocol of Hernández-Lobato & Adams
(2015) over the published splits.

Each split trains a BNN regressor (one hidden layer of 50 ReLU units, inputs and targets
normalised on the training split) in ``OUT/split-NN`` (checkpoint, metrics,
``result.json``), so an interrupted run continues with ``--resume`` where it stopped; the
RMSE and test log-likelihood (original units), mean ± standard error over splits, go to
``OUT/uci.json``. With ``--tensorboard [DIR]`` each split also writes the loop's TensorBoard
events into ``DIR/split-NN`` (default ``OUT/tensorboard/split-NN``: one TensorBoard run per
split).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._bnn_run import build_model, check_run_memory, split_data
from ._common import (
    CommandError,
    check_out,
    checker,
    claim_out,
    finite_or_none,
    positive_int,
    read_config,
    reported,
    resume_options,
    set_threads,
    write_json,
)
from ._driver import TENSORBOARD, add_tensorboard_argument, event_dir
from .bnn import (
    CHECKPOINT,
    CONFIG,
    _check_data_dir,
    _default_threads,
    _given,
    _model_options,
    _noise,
    evaluate_run,
    resolve_options,
)

__all__ = ["SplitStopped", "add_uci_parser", "load_splits", "run_split", "summarize_splits",
           "uci_protocol"]  # fmt: skip

UCI = "bnn uci"
#: what ``bnn uci`` writes: its config, one directory per split, the summary.
UCI_OUTPUTS = (CONFIG, "split-*", "uci.json", TENSORBOARD)
UCI_RESULT = "result.json"


def add_uci_parser(bsub: Any) -> argparse.ArgumentParser:
    """Add ``uci`` to ``bsub``, the subparsers of ``reparam bnn``."""
    from ..data.uci import UCI_DATASETS

    uci = bsub.add_parser(
        "uci",
        help="the UCI regression protocol over the published splits (mean ± s.e.)",
        description=(
            "Train and test a BNN regressor on each split of a UCI set (Hernández-Lobato & "
            "Adams 2015: one hidden layer of 50 ReLU units, inputs and targets normalised on "
            "the training split); print RMSE and test log-likelihood (original units), "
            "mean ± standard error over splits, and write OUT/uci.json. Each split trains "
            "in OUT/split-NN (checkpoint, metrics, result.json), so an interrupted run "
            "continues with --resume where it stopped."
        ),
    )
    uci.add_argument("name", choices=UCI_DATASETS, metavar="NAME", help=", ".join(UCI_DATASETS))
    uci.add_argument(
        "--splits", type=positive_int("--splits"), help="use the first N splits (default all)"
    )
    uci.add_argument("--noise", type=_noise, help="learned or a fixed std (normalised units)")
    _model_options(uci)
    uci.add_argument("--out", type=Path, default=Path("runs/bnn-uci"), help="output directory")
    uci.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    uci.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    add_tensorboard_argument(uci, f"DIR/split-NN (default OUT/{TENSORBOARD}/split-NN)")
    uci.set_defaults(run=reported("bnn uci", _uci), check=checker(uci, _check_uci))
    return uci


def _check_uci(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other: continue a run or replace it")
    if args.resume and not (args.out / CONFIG).is_file():
        parser.error(
            f"--resume: {str(args.out)!r} has no {CONFIG} to resume from; run first without "
            "--resume"
        )
    check_out(parser, args, UCI)
    _check_data_dir(parser, args)


class SplitStopped(Exception):
    """A split's training stopped early (NaN, divergence, a failed write)."""


def run_split(
    d: Any, options: dict[str, Any], split_dir: Path, tensorboard: Path | None = None
) -> dict[str, Any]:
    """Train and test on one split in ``split_dir`` (resuming a checkpoint found there;
    TensorBoard events in ``tensorboard`` unless None), write its ``result.json`` and
    return its metrics; a split already done is read back.

    Raises:
        KeyboardInterrupt: training was interrupted (its last completed epoch is saved).
        SplitStopped: training stopped on NaN, divergence or a failed write.
    """
    import torch

    from .._signals import Terminated
    from ..training import TrainConfig, train

    done = split_dir / UCI_RESULT
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    data = split_data(d)
    seed = options["seed"] + d.split
    epochs = options["epochs"]
    split_dir.mkdir(exist_ok=True)
    resume = (split_dir / CHECKPOINT).is_file()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(options, data)
        config = TrainConfig(
            epochs=epochs, batch_size=min(options["batch_size"], len(d.x_train)),
            lr=options["lr"], seed=seed, device=options["device"], progress=False,
            checkpoint_every=max(1, epochs // 10),
        )  # fmt: skip
        result = train(model, model.pack(d.x_train, d.y_train), config, split_dir,
                       resume=resume, tensorboard=tensorboard)  # fmt: skip
        if result.stopped == "interrupted":
            raise Terminated() if result.signal == "SIGTERM" else KeyboardInterrupt()
        if result.stopped is not None:
            raise SplitStopped(f"split {d.split}: {result.message}")
        torch.manual_seed(seed)
        metrics = evaluate_run(model, data, options["samples"])["metrics"]
    metrics.update(split=d.split, seconds=time.perf_counter() - t0)
    write_json(done, _clean(metrics))
    return metrics


def summarize_splits(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard error over splits of the RMSE and the test log-likelihood."""
    summary = {}
    for key in ("rmse", "log_likelihood"):
        values = [r[key] for r in rows]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0
        summary[key] = {"mean": mean, "se": math.sqrt(var / len(values))}
    return summary


def load_splits(name: str, options: dict[str, Any], splits: int | None = None) -> list[Any]:
    """The first ``splits`` published splits of ``name`` (all by default), every file read
    and checked before any training.

    Raises:
        CommandError: more splits asked for than the data set has.
    """
    from ..data.uci import load_uci, uci_num_splits

    directory = options.get("data_dir")
    available = uci_num_splits(name, directory)
    splits = available if splits is None else splits
    if splits > available:
        raise CommandError(f"--splits {splits}: {name} has {available} splits")
    return [load_uci(name, i, directory) for i in range(splits)]


def uci_protocol(
    datasets: list[Any], options: dict[str, Any], out: Path,
    progress: Callable[..., Any] = print, tensorboard: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train and test on each split of ``datasets`` (:func:`load_splits`), split ``i`` in
    ``out/split-ii`` (resumable: done splits are read back, a split with a checkpoint
    continues from it), its TensorBoard events in ``tensorboard/split-ii`` unless None."""
    rows = []
    for d in datasets:
        split_dir = out / f"split-{d.split:02d}"
        was_done = (split_dir / UCI_RESULT).is_file()
        events = None if tensorboard is None else tensorboard / split_dir.name
        metrics = run_split(d, options, split_dir, events)
        rows.append(metrics)
        note = "done earlier" if was_done else f"{metrics['seconds']:.1f} s"
        progress(f"split {d.split:2d}: RMSE {metrics['rmse']:.3f}  test LL "
                 f"{metrics['log_likelihood']:.3f}  ({note})")  # fmt: skip
    name = datasets[0].name if datasets else ""
    return {"name": name, "splits": len(datasets), "summary": summarize_splits(rows),
            "per_split": rows}  # fmt: skip


def _clean(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return finite_or_none(obj)


def _uci(args: argparse.Namespace) -> int:
    from .. import __version__
    from .._signals import exit_code, handled, signal_name

    start = time.perf_counter()
    out: Path = args.out
    events = event_dir(args, out / TENSORBOARD)  # the package is there
    if args.resume:
        saved = read_config(out / CONFIG, "bnn uci", ("options", "name"))
        if saved["name"] != args.name:
            raise CommandError(f"--resume: {out} holds a run on {saved['name']}, not {args.name}")
        options = resume_options(_given(args), saved["options"], ("device",), out / CONFIG,
                                 " (only --device and --splits may change)")  # fmt: skip
    else:
        options = resolve_options(args, data=f"uci:{args.name}")
    set_threads(args.threads or _default_threads(options["data"]))
    datasets = load_splits(args.name, options, args.splits)
    check_run_memory(options, split_data(datasets[0]), options["samples"])
    claim_out(args, UCI, UCI_OUTPUTS, resumable=True)
    write_json(out / CONFIG, {"reparam_version": __version__, "name": args.name,
                              "options": options})  # fmt: skip
    try:
        result = uci_protocol(datasets, options, out, tensorboard=events,
                              progress=lambda m: print(m, file=sys.stderr))  # fmt: skip
    except KeyboardInterrupt as exc:
        handled()
        done = len(list(out.glob(f"split-*/{UCI_RESULT}")))
        print(
            f"reparam bnn uci: interrupted by {signal_name(exc)}: {done} split(s) done, the "
            f"split in progress saved at its last checkpoint, no uci.json written; rerun with "
            f"--resume (same --out) to continue",
            file=sys.stderr,
        )
        return exit_code(exc)
    except SplitStopped as exc:
        print(f"reparam bnn uci: stopped: {exc}; no uci.json written", file=sys.stderr)
        return 1
    result["options"] = options
    result["reparam_version"] = __version__
    result["seconds"] = time.perf_counter() - start
    write_json(out / "uci.json", _clean(result))
    s = result["summary"]
    print(
        f"{args.name}: {result['splits']} split(s), {options['epochs']} epochs, estimator "
        f"{options['estimator']}, hidden {options['hidden']} (mean ± standard error)"
    )
    print(f"{'metric':<20}  {'mean':>9}  {'± s.e.':>7}")
    print(f"{'-' * 20}  {'-' * 9}  {'-' * 7}")
    print(f"{'RMSE':<20}  {s['rmse']['mean']:>9.3f}  {s['rmse']['se']:>7.3f}")
    print(f"{'test log-likelihood':<20}  {s['log_likelihood']['mean']:>9.3f}  "
          f"{s['log_likelihood']['se']:>7.3f}")  # fmt: skip
    print(f"wrote uci.json to {out} ({result['seconds']:.1f} s)")
    return 0
