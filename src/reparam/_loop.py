"""The run behind :func:`reparam.training.train`: set-up, epochs, steps, files and the end.

:class:`Loop` holds a run's state (model, optimizer, scaler, history, counters, the bar);
its methods are the phases of the loop, and an early stop travels as :class:`Stop` from
the step or epoch that decides it to :meth:`Loop.run`, which ends the run. The contract
is the one in :mod:`reparam.training`'s docstring.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from . import _loop_state as state
from ._checkpoint import restore_state, save_checkpoint
from ._signals import Terminated, deferred, handled, signal_name
from ._tensorboard import EventLog

__all__ = ["METRICS", "Loop", "Options", "Stop", "TrainResult"]

METRICS = "metrics.jsonl"


@dataclasses.dataclass
class TrainResult:
    """What :func:`~reparam.training.train` returns.

    Attributes:
        history: one metric dict per completed epoch (as in ``metrics.jsonl``).
        stopped: None (all epochs ran), ``"nan"``, ``"diverged"``, ``"write_failed"``,
            ``"interrupted"``, ``"max_steps"`` or ``"stop"`` (the ``stop`` rule held).
        epoch: completed epochs; step: optimizer steps taken in total.
        message: the explanation printed when training stopped early, else None.
        checkpoint: path of ``checkpoint.pt`` (None for a run in memory).
    """

    history: list[dict[str, float]]
    stopped: str | None
    epoch: int
    step: int
    message: str | None
    checkpoint: Path | None
    #: the signal that interrupted training (``"SIGINT"`` or ``"SIGTERM"``), else None.
    signal: str | None = None


class Stop(Exception):  # noqa: N818 (a control-flow signal, not an error)
    """Ends the run early with ``stopped`` (a TrainResult reason) and its message."""

    def __init__(self, stopped: str, message: str) -> None:
        super().__init__(message)
        self.stopped, self.message = stopped, message


class _Step(nn.Module):
    """Routes ``forward`` to ``training_step`` so DDP's hooks see every step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Tensor | None, step: int) -> dict[str, Tensor]:
        return _method(self.model, "training_step")(batch, step)


def _method(model: nn.Module, name: str) -> Callable[..., Any]:
    """``model.<name>``, a method of the user's model (torch types a module's unknown
    attributes as ``Tensor | Module``)."""
    return cast(Callable[..., Any], getattr(model, name))


def _autocast(device: torch.device, amp: bool, dtype: torch.dtype) -> Any:
    return torch.autocast(device.type, dtype=dtype) if amp else contextlib.nullcontext()


def _scalars(out: Any, where: str) -> dict[str, Tensor]:
    if not isinstance(out, dict) or (where == "training_step" and "loss" not in out):
        raise ValueError(f"{where} must return a dict of scalar tensors with a 'loss' entry")
    for key, value in out.items():
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise ValueError(f"{where} returned {key!r} that is not a scalar tensor")
    return out


@dataclasses.dataclass
class Options:
    """The per-call choices of :func:`~reparam.training.train` beyond its config."""

    extra_state: dict[str, Any]
    optimizer: Callable[..., torch.optim.Optimizer]
    resume_hint: str = "resume=True"
    steps_per_epoch: int | None = None
    stop: Callable[[list[dict[str, float]]], bool] | None = None
    postfix: Callable[[float], str] = "loss={:.4g}".format
    echo: bool = True
    seed_globals: bool = True
    tensorboard: Path | None = None


class Loop:
    """One run of :func:`~reparam.training.train` (``out_dir=None``: in memory, no files)."""

    def __init__(
        self,
        model: nn.Module,
        data: tuple[Tensor | None, Tensor | None],
        config: Any,
        out: tuple[Path | None, Path | None],
        device: torch.device,
        ranks: tuple[int, int],
        options: Options,
    ) -> None:
        self.model, (self.train_data, self.valid_data), self.config = model, data, config
        (self.out_dir, self.ckpt_path), self.device = out, device
        (self.rank, self.world), self.options = ranks, options
        model.to(device)
        self.opt = options.optimizer(model.parameters(), lr=config.lr)
        bf16 = config.amp and torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.bfloat16 if bf16 else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp and not bf16)
        self.history: list[dict[str, float]] = []
        self.epoch = self.step = 0
        self.reference: float | None = None  # L₀, the loss of the run's first step
        self.stopped: str | None = None
        self.pending: dict[str, Any] | None = None  # a completed epoch not yet on disk
        self.fresh = True  # a new run: its first metrics row starts metrics.jsonl anew
        self.metrics_cut: int | None = None  # on resume, the bytes of the checkpoint's rows
        self.events: EventLog | None = None  # TensorBoard's copy of metrics.jsonl (rank 0)

    # ------------------------------------------------------------------ set-up
    def restore(self, ckpt: dict[str, Any] | None) -> None:
        """Continue from ``ckpt`` (a verified checkpoint), or seed a fresh start."""
        config, path = self.config, self.ckpt_path
        if ckpt is None:
            if self.options.seed_globals:
                seed = config.seed + self.rank
                torch.manual_seed(seed)
                np.random.seed(seed)
                random.seed(seed)
            return
        assert path is not None  # train() loads a checkpoint only from its ckpt_path
        if ckpt["epoch"] > config.epochs:
            raise ValueError(
                f"epochs={config.epochs} is below the {ckpt['epoch']} epochs the checkpoint "
                f"{path} has completed: resuming would train nothing"
            )
        restore_state(self.model, ckpt["model"], path)
        restore_state(self.opt, ckpt["optimizer"], path)
        if ckpt.get("scaler"):
            restore_state(self.scaler, ckpt["scaler"], path)
        self.epoch, self.step = ckpt["epoch"], ckpt["step"]
        self.reference = ckpt.get("reference_loss")
        self.fresh = False
        if "history" in ckpt:  # written by a reparam that kept the history in it
            self.history = list(ckpt["history"])
        else:  # the history is metrics.jsonl's first rows (all ranks read the shared file)
            rows = state.read_metrics(path.with_name(METRICS), self.epoch, self.step)
            self.history, self.metrics_cut = rows
        if len(ckpt["rng"]) == self.world:
            state.set_rng_state(ckpt["rng"][self.rank])
        else:  # a different world size: reproducible, though not the same as before
            torch.manual_seed(state.derived_seed(config.seed, self.epoch, self.rank))

    def release(self) -> None:
        """Drop the DDP wrapper now: its reducer holds the process group, and freed after
        the group is destroyed (by the cyclic collector, at any later time) gloo's
        destructor waits for a peer that has left, and the process hangs."""
        self.forward: Callable[..., Any] = _method(self.model, "training_step")
        if self.world > 1:
            gc.collect()

    def _prepare(self) -> None:
        """DDP wrapper, data on the device, the batch layout, the bar."""
        model, device, config = self.model, self.device, self.config
        # one process calls training_step directly; DDP needs it as a module's forward
        self.forward = _method(model, "training_step")
        if self.world > 1:
            ids = [device.index] if device.type == "cuda" else None
            self.forward = nn.parallel.DistributedDataParallel(_Step(model), device_ids=ids)
        self.params = [p for p in model.parameters() if p.requires_grad]
        if self.train_data is not None:
            self.train_data = self.train_data.to(device)
        if self.valid_data is not None and callable(getattr(model, "validation_step", None)):
            self.valid_data = self.valid_data.to(device)
        else:
            self.valid_data = None
        self.shard = config.batch_size // self.world
        self.prepares = callable(getattr(model, "prepare_batch", None))
        per_epoch = self.options.steps_per_epoch
        # train() passes exactly one of train_data and steps_per_epoch (>= 1)
        self.steps_per_epoch = per_epoch or len(cast(Tensor, self.train_data)) // config.batch_size
        self.saved_epoch = self.epoch  # the completed epochs of the checkpoint on disk
        self.saved_at = time.perf_counter()  # when it was written (or the run started)
        # One bar for the whole run (a bar per epoch floods logs when epochs are short).
        total = config.epochs * self.steps_per_epoch
        self.bar = tqdm(total=total, initial=self.epoch * self.steps_per_epoch,
                        disable=not (config.progress and self.rank == 0), unit="step")  # fmt: skip

    # ------------------------------------------------------------------ the loop
    def run(self) -> TrainResult:
        """Train until the epochs are done or a stop; return the TrainResult."""
        self._prepare()
        try:
            self._resume_metrics()
            while self.epoch < self.config.epochs and self.stopped is None:
                if not self._epoch():
                    break
        except Stop as stop:
            return self._finish(stop.stopped, stop.message, note=True)
        except KeyboardInterrupt as exc:
            handled()
            how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
            hint = f"rerun with {self.options.resume_hint} to continue"
            result = self._finish("interrupted", f"{how} during epoch {self.epoch + 1}",
                                  note=True, hint=hint)  # fmt: skip
            result.signal = signal_name(exc)
            return result
        finally:
            self.bar.close()
            if self.events is not None:
                self.events.close()
        return self._finish(self.stopped, self._stop_message())

    def _stop_message(self) -> str | None:
        if self.stopped == "max_steps":
            return f"stopped after max_steps={self.config.max_steps} steps (epoch {self.epoch})"
        if self.stopped == "stop":
            return f"stopped by the stop rule after epoch {self.epoch} (step {self.step})"
        return None

    def _epoch(self) -> bool:
        """One epoch: steps, its history row, checks, files. False when no step ran."""
        start = time.perf_counter()
        sums, losses, done = self._steps()
        if done == 0:
            return False
        keys = sorted(sums)
        means = self._all_mean(torch.stack([sums[k] for k in keys]) / done).tolist()
        row: dict[str, float] = {
            "epoch": self.epoch + 1,
            "step": self.step,
            **dict(zip(keys, means, strict=True)),
        }
        if self.valid_data is not None:
            row.update(self._validate())
        self._check_epoch(losses)
        row["seconds"] = time.perf_counter() - start
        self.history.append(row)
        self.epoch += 1
        stop = self.options.stop
        if self.stopped is None and stop is not None and stop(self.history):
            self.stopped = "stop"
        self._save()
        return True

    def _steps(self) -> tuple[dict[str, Tensor], list[float], int]:
        """The steps of one epoch: the summed metrics, the step losses, the step count."""
        config, epoch = self.config, self.epoch
        perm = gen = None
        if self.train_data is not None:
            seed = torch.Generator().manual_seed(state.derived_seed(config.seed, epoch, 0))
            perm = torch.randperm(len(self.train_data), generator=seed).to(self.device)
            gen = torch.Generator(self.device).manual_seed(
                state.derived_seed(config.seed, epoch, 1, self.rank))  # fmt: skip
        sums: dict[str, Tensor] = {}
        losses: list[float] = []
        running, done = 0.0, 0
        self.bar.set_description(f"epoch {epoch + 1}/{config.epochs}", refresh=False)
        self.model.train()
        for b in range(self.steps_per_epoch):
            if config.max_steps is not None and self.step >= config.max_steps:
                self.stopped = "max_steps"
                break
            loss_value = self._step(self._batch(perm, gen, b), b, sums)
            losses.append(loss_value)
            self.step, done = self.step + 1, done + 1
            running += (loss_value - running) / done
            if not self.bar.disable:
                self.bar.update()
                self.bar.set_postfix_str(self.options.postfix(running), refresh=False)
        return sums, losses, done

    def _batch(self, perm: Tensor | None, gen: torch.Generator | None, b: int) -> Tensor | None:
        """This rank's shard of global batch ``b`` (None without a data set)."""
        if perm is None:
            return None
        assert self.train_data is not None  # perm is a permutation of train_data
        start = b * self.config.batch_size + self.rank * self.shard
        batch = self.train_data[perm[start : start + self.shard]]
        return _method(self.model, "prepare_batch")(batch, gen) if self.prepares else batch

    def _step(self, batch: Tensor | None, b: int, sums: dict[str, Tensor]) -> float:
        """One optimizer step; adds its metrics to ``sums`` and returns its loss."""
        config = self.config
        with _autocast(self.device, config.amp, self.amp_dtype):
            out = _scalars(self.forward(batch, self.step), "training_step")
        loss = out["loss"]
        loss_value = loss.item()  # the one host sync per step (NaN check, progress)
        if self._anywhere(not math.isfinite(loss_value)):  # a NaN on any rank stops all
            raise Stop("nan", (
                f"stopped: the loss is {loss_value} at epoch {self.epoch + 1}, step {self.step} "
                f"(batch {b + 1} of {self.steps_per_epoch})"))  # fmt: skip
        if self.reference is None:
            self.reference = loss_value
        self.opt.zero_grad(set_to_none=True)
        if self.scaler.is_enabled():
            self._scaled_update(loss)
        else:  # what the disabled scaler does, without its per-step calls
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.params, config.grad_clip)
            self.opt.step()
        for key, value in out.items():
            value = value.detach().float().reshape(())
            sums[key] = sums[key] + value if key in sums else value
        return loss_value

    def _scaled_update(self, loss: Tensor) -> None:
        """Backward pass and step under fp16 loss scaling."""
        self.scaler.scale(loss).backward()
        if self.config.grad_clip is not None:
            self.scaler.unscale_(self.opt)
            nn.utils.clip_grad_norm_(self.params, self.config.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()

    def _check_epoch(self, losses: list[float]) -> None:
        """Raise :class:`Stop` for non-finite parameters or a diverged epoch."""
        epoch, step = self.epoch + 1, self.step
        if not all(torch.isfinite(p).all() for p in self.params):
            raise Stop("nan", f"stopped: non-finite parameters after epoch {epoch}, step {step}")
        if self._anywhere(state.diverged(losses, self.reference, self.config.divergence)):
            median = float(np.median(losses))
            raise Stop("diverged", (
                f"stopped: the loss diverged in epoch {epoch} (median {median:.4g} "
                f"against {self.reference:.4g} at the first step); lower the learning rate "
                f"(lr={self.config.lr:g})"))  # fmt: skip

    # ------------------------------------------------------------------ ranks
    def _all_mean(self, values: Tensor) -> Tensor:
        if self.world > 1:
            dist.all_reduce(values)
            values = values / self.world
        return values

    def _anywhere(self, flag: bool) -> bool:
        """``flag`` on any rank (every rank agrees)."""
        if self.world > 1:
            return self._all_mean(torch.tensor([float(flag)], device=self.device)).item() > 0
        return flag

    # ------------------------------------------------------------------ files
    def _snapshot(self) -> dict[str, Any]:
        rngs: list[dict[str, Any] | None] = [state.rng_state()]
        if self.world > 1:
            rngs = [None] * self.world
            dist.all_gather_object(rngs, state.rng_state())
        return {
            "model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(), "epoch": self.epoch, "step": self.step,
            "rng": rngs, "config": dataclasses.asdict(self.config),
            "world_size": self.world, "extra_state": self.options.extra_state,
            "reference_loss": self.reference,
        }  # fmt: skip

    def _save(self) -> None:
        """Write the epoch's metrics, events and (when due) checkpoint, those asked for."""
        files = self.out_dir is not None  # (the same on every rank, as the calls below)
        if not files and self.options.tensorboard is None:
            return
        snap = self._snapshot() if files else None
        failed = self._write(snap if files and self._due() else None)
        if failed is not None:
            self.history.pop()
            self.epoch -= 1
            raise Stop("write_failed", (
                f"stopped: could not write to {self.out_dir or self.options.tensorboard} after "
                f"epoch {self.epoch + 1}: {failed}"))  # fmt: skip
        if self.rank == 0 and files:
            self.pending = None if self.saved_epoch == self.epoch else state.cpu_copy(snap)

    def _due(self) -> bool:
        """Whether this epoch writes a checkpoint: every ``checkpoint_every`` epochs, once
        ``checkpoint_seconds`` have passed since the last one, at the end and at a stop."""
        every, seconds = self.config.checkpoint_every, self.config.checkpoint_seconds
        late = seconds is not None and time.perf_counter() - self.saved_at >= seconds
        epochs = every is not None and self.epoch % every == 0
        return self.stopped is not None or self.epoch == self.config.epochs or epochs or late

    def _write(self, snap: dict[str, Any] | None) -> str | None:
        """Write metrics.jsonl, the events and the checkpoint ``snap`` (those asked for) on
        rank 0; agree on failure. Returns the failure's description, or None."""
        failed = None
        if self.rank == 0:
            try:
                with deferred():  # an epoch's files as one unit: a signal waits for them
                    if self.out_dir is not None:
                        state.append_metrics(self.out_dir / METRICS, self.history[-1],
                                             fresh=self.fresh, sync=snap is not None)  # fmt: skip
                        self.fresh = False
                    if (log_dir := self.options.tensorboard) is not None:  # history first
                        self.events = self.events or EventLog(log_dir, self.history[:-1])
                        self.events.write(self.history[-1])
                    if snap is not None:
                        self._checkpoint(snap)
            except OSError as exc:
                where = getattr(exc, "filename", None) or self.out_dir or self.options.tensorboard
                failed = f"{exc.strerror or exc} ({where})"
        if self._anywhere(failed is not None) and failed is None:
            failed = "rank 0 could not write its files"
        return failed

    def _checkpoint(self, snap: dict[str, Any]) -> None:
        """Write ``snap`` as the checkpoint (rank 0, after its metrics rows are durable)."""
        save_checkpoint(cast(Path, self.ckpt_path), snap)  # (files only with an out_dir)
        self.saved_epoch, self.saved_at = snap["epoch"], time.perf_counter()

    def _resume_metrics(self) -> None:
        """On resume (rank 0): ``metrics.jsonl`` cut back to the checkpoint's rows, or
        rewritten from the history a checkpoint of an older reparam carries."""
        if self.fresh or self.rank or self.out_dir is None:
            return
        try:
            with deferred():
                state.restart_metrics(self.out_dir / METRICS, self.history, self.metrics_cut)
        except OSError as exc:
            where = f"{self.out_dir} before epoch {self.epoch + 1}"
            raise Stop("write_failed", f"stopped: could not write to {where}: {exc}") from None

    def _saved_note(self) -> str:
        if self.saved_epoch > 0:
            return (f"the last good checkpoint is kept at {self.ckpt_path} "
                    f"({self.saved_epoch} epoch(s))")  # fmt: skip
        return "no checkpoint was written (no epoch completed)"

    def _finish(
        self, stopped: str | None, message: str | None, note: bool = False, hint: str | None = None
    ) -> TrainResult:
        """Save a completed epoch not yet on disk, print ``message`` once (with where the
        last good checkpoint is, when ``note``, and ``hint`` when there is one) and return
        the result."""
        self.bar.close()
        if self.pending is not None and self.rank == 0:
            assert self.out_dir is not None  # only _save (which has files) sets pending
            try:
                with deferred():
                    state.sync_metrics(self.out_dir / METRICS)
                    self._checkpoint(self.pending)
            except OSError as exc:
                message = (f"{message}; writing the last completed epoch failed too "
                           f"({exc.strerror or exc})")  # fmt: skip
        if message and note and self.out_dir is not None:
            message = f"{message}; {self._saved_note()}"
        if message and hint and self.saved_epoch > 0:
            message = f"{message}; {hint}"
        if message and self.rank == 0 and self.options.echo:
            print(message, file=sys.stderr)
        if self.world > 1 and stopped != "interrupted":
            dist.barrier()  # no rank returns before rank 0's files are complete
        return TrainResult(self.history, stopped, self.epoch, self.step, message, self.ckpt_path)

    @torch.no_grad()
    def _validate(self) -> dict[str, float]:
        """Means of ``validation_step`` over the validation set (weighted by batch size),
        ``valid_``-prefixed."""
        model, device, batch_size = self.model, self.device, self.config.batch_size
        model.eval()
        sums: dict[str, Tensor] = {}
        count = torch.zeros((), device=device)
        assert self.valid_data is not None  # _epoch validates only when there is a set
        part = torch.tensor_split(self.valid_data, self.world)[self.rank]  # N >= world
        for i in range(0, len(part), batch_size):
            batch = part[i : i + batch_size]
            with _autocast(device, self.config.amp, self.amp_dtype):
                out = _scalars(_method(model, "validation_step")(batch), "validation_step")
            for key, value in out.items():
                value = value.detach().float().reshape(()) * len(batch)
                sums[key] = sums[key] + value if key in sums else value
            count += len(batch)
        model.train()
        keys = sorted(sums)
        totals = torch.stack([*(sums[k] for k in keys), count])
        if self.world > 1:
            dist.all_reduce(totals)
        means = (totals[:-1] / totals[-1]).tolist()
        return {f"valid_{k}": v for k, v in zip(keys, means, strict=True)}
