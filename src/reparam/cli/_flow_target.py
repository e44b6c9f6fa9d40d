"""The VI mode of ``reparam flow fit --target``: :func:`reparam.vi.fit_flow_to_target` with
the run files of the training loop (``metrics.jsonl`` and ``checkpoint.pt`` after every
epoch, in :func:`reparam.training.train`'s checkpoint format, so ``--resume`` works), and
with ``--tensorboard`` the loop's TensorBoard events (:class:`reparam._tensorboard.EventLog`,
written with metrics.jsonl, before the checkpoint)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from .._atomic import atomic_write_text
from .._checkpoint import restore_state, save_checkpoint
from .._signals import Terminated, handled
from .._tensorboard import EventLog
from ..training import CHECKPOINT, TrainResult, load_checkpoint
from ..vi import fit_flow_to_target
from ._driver import rank

__all__ = ["fit_target"]


def fit_target(model: Any, options: dict[str, Any], out: Path, resume: bool,
               progress: bool, tensorboard: Path | None = None) -> Any:  # fmt: skip
    """The VI run: :func:`reparam.vi.fit_flow_to_target`, writing metrics.jsonl, the events
    in ``tensorboard`` (if not None) and checkpoint.pt (the loop's format: model, optimizer,
    epoch, step, rng, history) after every epoch; a resume restores them. Returns a
    :class:`reparam.training.TrainResult`."""
    path = out / CHECKPOINT
    opt = torch.optim.Adam(model.parameters(), lr=options["lr"])
    history: list[dict[str, float]] = []
    if resume:
        ckpt = load_checkpoint(path)
        restore_state(model, ckpt["model"], path)
        restore_state(opt, ckpt["optimizer"], path)
        history = list(ckpt["history"])
        torch.set_rng_state(ckpt["rng"][0]["torch"])
    else:
        torch.manual_seed(options["seed"])
    bar = tqdm(total=options["epochs"], initial=len(history), disable=not progress, unit="epoch")

    lead = rank() == 0  # under torchrun only rank 0 writes the run files
    events: list[EventLog] = []  # opened at the first epoch, with the history before it

    def save(fit: Any) -> None:
        history[:] = fit.history
        bar.update(1)
        bar.set_postfix(elbo=f"{history[-1]['elbo']:.4g}", refresh=False)
        if not lead:
            return
        atomic_write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))
        if tensorboard is not None:
            events[:] = events or [EventLog(tensorboard, history[:-1])]
            events[0].write(history[-1])
        save_checkpoint(path, {
            "model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": len(history),
            "step": history[-1]["step"], "rng": [{"torch": torch.get_rng_state()}],
            "history": history, "config": {k: options[k] for k in ("epochs", "lr", "seed")},
        })  # fmt: skip

    stopped = message = signal = None
    try:
        fit_flow_to_target(
            model.flow, model.log_target, epochs=options["epochs"],
            steps_per_epoch=options["steps_per_epoch"], samples=options["samples"],
            anneal_steps=options.get("anneal_steps") or 0, optimizer=opt,
            history=history, on_epoch=save, eval_samples=0,
        )  # fmt: skip
    except KeyboardInterrupt as exc:
        handled()
        stopped, signal = "interrupted", "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        message = f"interrupted during epoch {len(history) + 1}; rerun with --resume to continue"
    except ValueError as exc:  # a non-finite ELBO: vi.fit names the step
        stopped, message = "nan", f"stopped: {exc}"
    finally:
        bar.close()
        for log in events:
            log.close()
    if message:
        print(message, file=sys.stderr)
    step = int(history[-1]["step"]) if history else 0
    return TrainResult(history, stopped, len(history), step, message, path, signal)
