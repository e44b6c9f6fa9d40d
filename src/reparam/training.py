"""The one training loop: every model (VAE, BNN, flows, VI) trains through :func:`train`.

A model is any ``nn.Module`` with ``training_step(batch, step) -> dict[str, Tensor]`` (the
dict holds ``"loss"``, a scalar minimized by gradient descent, and other scalars logged as
metrics), optionally ``validation_step(batch) -> dict[str, Tensor]`` (averaged over the
validation set each epoch, logged with a ``valid_`` prefix) and ``prepare_batch(batch,
generator) -> Tensor`` (called on every training batch first, e.g. dynamic binarization).
Each step is θ ← Adam(θ, ∇θ loss) (Kingma & Ba 2015) unless another optimizer is given.

Contract:

- **Batches.** Epoch ``e`` visits the training tensor (first dimension) in the order
  ``randperm(N)`` drawn from a generator seeded by ``(seed, e)``, in ``N // batch_size`` full
  batches (the last incomplete batch is dropped, so every step has the same size).
- **Files** (rank 0 only, each written atomically: temp file + ``os.replace``).
  ``metrics.jsonl``: one JSON object per epoch (``epoch``, ``step``, the epoch's mean train
  metrics, ``valid_*`` metrics, ``seconds``; a non-finite value is written as ``null``).
  ``checkpoint.pt`` (every ``checkpoint_every`` epochs and at the end): ``model`` and
  ``optimizer`` (and ``scaler``) state dicts, ``epoch`` (completed epochs), ``step``, ``rng``
  (per rank: torch, CUDA, numpy and Python RNG states after the epoch), ``history``,
  ``config``, ``world_size``, ``extra_state``. It loads with ``weights_only=True``, so
  ``extra_state`` may hold only tensors and plain Python values.
- **Resume.** ``resume=True`` restores everything above and continues at the next epoch; the
  final parameters and history (except ``seconds``) equal an uninterrupted run's bit for bit
  (same config and world size; the global torch RNG is seeded with ``seed + rank`` on a fresh
  start, so a model drawing noise from it is covered). The config passed now governs (the
  stored one is a record): ``epochs`` may be raised on resume, never set below the epochs
  the checkpoint has completed (a ``ValueError``).
- **NaN policy.** A non-finite loss (checked before the backward pass, agreed by all ranks)
  or non-finite parameters at an epoch's end stop training with a message naming the epoch
  and step (printed once to stderr, and in ``TrainResult.message``): ``stopped = "nan"``. No
  checkpoint holding that state is written; the last good one stays (an epoch finished but
  not yet saved is saved then), and the message says whether there is one.
- **Divergence.** A loss that stays finite but explodes stops training too
  (``stopped = "diverged"``): at the end of each epoch, if the *median* of its step losses
  exceeds L₀ + ``divergence`` · max(|L₀|, 1), L₀ the loss of the run's first step (kept in
  the checkpoint, so a resumed run decides alike). The median ignores a few outlying
  steps; the default factor 10⁴ is far above any loss that training raises on purpose.
- **Write failures.** A checkpoint or metrics write that fails (a full disk, a removed
  directory) stops training with ``stopped = "write_failed"``; the previous checkpoint is
  intact (writes are atomic) and the message names it.
- **Ownership.** ``train`` holds the exclusive lock of ``out_dir``
  (:mod:`reparam._rundir`; rank 0), so two processes cannot train into one directory;
  temporary files of an interrupted write are removed when it starts.
- **Ctrl-C policy.** A ``KeyboardInterrupt`` (SIGINT, or SIGTERM where the command line
  installed :func:`reparam._signals.installed`) is caught: the last *completed* epoch is on
  disk (written then if ``checkpoint_every`` had skipped it), the message says to resume,
  and ``train`` returns with ``stopped = "interrupted"`` (the partial epoch is discarded, so
  a resume equals the uninterrupted run). Signals wait while an epoch's metrics and
  checkpoint are written, so they are written whole.
- **max_steps.** Training stops after that many steps, possibly mid-epoch; the partial epoch
  is logged and saved as completed (``stopped = "max_steps"``; a resume starts the next one).
- **DDP.** Under ``torchrun`` (``WORLD_SIZE`` > 1) ``train`` initializes ``torch.distributed``
  (gloo on CPU, NCCL on CUDA, one GPU per ``LOCAL_RANK``) unless already initialized, and
  wraps the model in ``DistributedDataParallel``, which averages gradients. Every rank draws
  the same permutation and takes its contiguous shard of each global batch of
  ``batch_size`` (which must divide by the world size; every parameter must take part in the
  loss, as DDP runs without ``find_unused_parameters``); the validation set is split into
  one contiguous part per rank. Metrics are all-reduced means. All ranks read the checkpoint
  on resume, so ``out_dir`` must be shared between machines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm import tqdm

from . import _rundir
from ._atomic import atomic_write_text
from ._checkpoint import CheckpointError, restore_state, save_checkpoint
from ._checkpoint import load_checkpoint as _load_verified
from ._signals import Terminated, deferred

__all__ = [
    "CheckpointError",
    "TrainConfig",
    "TrainResult",
    "default_optimizer",
    "load_checkpoint",
    "select_device",
    "train",
]

CHECKPOINT = "checkpoint.pt"
#: the largest seed: seed + rank seeds NumPy too, which takes seeds below 2**32.
SEED_MAX = 2**31 - 1
METRICS = "metrics.jsonl"
#: the entries every checkpoint of :func:`train` has.
CHECKPOINT_KEYS = ("model", "optimizer", "epoch", "step", "rng", "history", "config")
OptimizerFactory = Callable[..., torch.optim.Optimizer]


@dataclasses.dataclass
class TrainConfig:
    """Settings of :func:`train` (stored in the checkpoint).

    Args:
        epochs: passes over the training data (≥ 1).
        batch_size: global batch size (≥ 1; divisible by the DDP world size).
        lr: learning rate (> 0), passed to the optimizer as ``lr=``.
        seed: seeds the batch order, ``prepare_batch`` generators and the global RNGs (≥ 0).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        amp: autocast (bf16 where supported, else fp16 with loss scaling); CUDA only.
        grad_clip: clip the global gradient norm to this value (> 0), or None.
        progress: show a tqdm bar with the running loss (rank 0).
        checkpoint_every: write ``checkpoint.pt`` every this many epochs (and at the end).
        max_steps: stop after this many optimizer steps in total, or None.
        divergence: stop when an epoch's median loss exceeds the first step's loss L₀ by
            more than this factor times max(|L₀|, 1) (> 0), or None to never stop for it.

    Raises:
        ValueError: a value out of range, naming the field.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"
    amp: bool = False
    grad_clip: float | None = None
    progress: bool = True
    checkpoint_every: int = 1
    max_steps: int | None = None
    divergence: float | None = 1e4

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "checkpoint_every", "max_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"TrainConfig.{name} must be an integer >= 1, got {value!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= SEED_MAX:
            raise ValueError(
                f"TrainConfig.seed must be an integer in [0, {SEED_MAX}], got {self.seed!r}"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TrainConfig.lr must be a finite number > 0, got {self.lr!r}")
        if self.divergence is not None and not (
            math.isfinite(self.divergence) and self.divergence > 0
        ):
            raise ValueError(
                f"TrainConfig.divergence must be a finite number > 0 or None, "
                f"got {self.divergence!r}"
            )
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip!r}")
        _check_device_name(self.device)


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        history: one metric dict per completed epoch (as in ``metrics.jsonl``).
        stopped: None (all epochs ran), ``"nan"``, ``"diverged"``, ``"write_failed"``,
            ``"interrupted"`` or ``"max_steps"``.
        epoch: completed epochs; step: optimizer steps taken in total.
        message: the explanation printed when training stopped early, else None.
        checkpoint: path of ``checkpoint.pt``.
    """

    history: list[dict[str, float]]
    stopped: str | None
    epoch: int
    step: int
    message: str | None
    checkpoint: Path
    #: the signal that interrupted training (``"SIGINT"`` or ``"SIGTERM"``), else None.
    signal: str | None = None


def _check_device_name(name: str) -> None:
    if name not in ("auto", "cpu", "cuda") and not (
        isinstance(name, str) and name.startswith("cuda:") and name[5:].isdigit()
    ):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}")


def select_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``.

    Args:
        name: ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    Returns:
        The device.

    Raises:
        ValueError: an unknown name, or CUDA requested but not available.

    Example:
        >>> select_device("cpu")
        device(type='cpu')
    """
    _check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} requested but CUDA is not available; use 'cpu'")
    return torch.device(name)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint written by :func:`train` onto the CPU (``weights_only=True``) and
    verify it against the checksum stored in it (:mod:`reparam._checkpoint`).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: (a ``ValueError``) the file is damaged, truncated, empty, not a
            checkpoint of :func:`train`, or changed after it was written.
    """
    return _load_verified(path, CHECKPOINT_KEYS)


def _derived_seed(*keys: int) -> int:
    """A 63-bit seed from ``keys``, independent across distinct key tuples."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, np.uint64)[0] >> 1)


def _rng_state() -> dict[str, Any]:
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(key.astype(np.int64)), pos, has_gauss, gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _cpu_copy(obj: Any) -> Any:
    """Deep copy with tensors cloned to the CPU (a snapshot that later steps cannot alter)."""
    if isinstance(obj, Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return type(obj)((k, _cpu_copy(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_cpu_copy(v) for v in obj)
    return obj


def _diverged(losses: list[float], reference: float | None, factor: float | None) -> bool:
    """Whether the median of an epoch's step losses is above L₀ + factor · max(|L₀|, 1)."""
    if factor is None or reference is None or not losses:
        return False
    return float(np.median(losses)) > reference + factor * max(abs(reference), 1.0)


def _write_metrics(path: Path, history: list[dict[str, float]]) -> None:
    def clean(v: float) -> float | None:
        return v if not isinstance(v, float) or math.isfinite(v) else None

    lines = [json.dumps({k: clean(v) for k, v in row.items()}) + "\n" for row in history]
    atomic_write_text(path, "".join(lines))


class _Step(nn.Module):
    """Routes ``forward`` to ``training_step`` so DDP's hooks see every step."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        return self.model.training_step(batch, step)


def _autocast(device: torch.device, amp: bool, dtype: torch.dtype) -> Any:
    return torch.autocast(device.type, dtype=dtype) if amp else contextlib.nullcontext()


def _scalars(out: Any, where: str) -> dict[str, Tensor]:
    if not isinstance(out, dict) or (where == "training_step" and "loss" not in out):
        raise ValueError(f"{where} must return a dict of scalar tensors with a 'loss' entry")
    for key, value in out.items():
        if not isinstance(value, Tensor) or value.numel() != 1:
            raise ValueError(f"{where} returned {key!r} that is not a scalar tensor")
    return out


def train(
    model: nn.Module,
    train_data: Tensor,
    config: TrainConfig,
    out_dir: str | os.PathLike[str],
    *,
    valid_data: Tensor | None = None,
    resume: bool = False,
    extra_state: dict[str, Any] | None = None,
    optimizer: OptimizerFactory | None = None,
    resume_hint: str = "resume=True",
) -> TrainResult:
    """Train ``model`` on ``train_data`` (see the module docstring for the full contract).

    Args:
        model: an ``nn.Module`` with ``training_step`` (see the module docstring); trained in
            place (moved to the selected device).
        train_data: the training tensor; batches are slices of its first dimension.
        config: the :class:`TrainConfig`.
        out_dir: where ``metrics.jsonl`` and ``checkpoint.pt`` go (created if missing).
        valid_data: optional validation tensor, used when the model has ``validation_step``.
        resume: continue from ``out_dir/checkpoint.pt``.
        extra_state: plain data saved in the checkpoint (e.g. the model's constructor args).
        optimizer: a factory ``optimizer(params, lr=config.lr)``; default
            :func:`default_optimizer` (Adam, fused kernels where torch has them).
        resume_hint: how the message of an interrupted run names resuming (a command
            line says ``--resume``).

    Returns:
        The :class:`TrainResult`.

    Raises:
        ValueError: no ``training_step``; fewer samples than ``batch_size``; ``batch_size``
            not divisible by the world size; ``amp`` without CUDA; on resume, ``epochs``
            below the checkpoint's completed epochs.
        CheckpointError: (a ``ValueError``) on resume, a damaged checkpoint or one that
            does not fit the model or optimizer.
        FileNotFoundError: ``resume=True`` but no checkpoint in ``out_dir``.
        reparam._rundir.RunDirError: ``out_dir`` cannot be written, or another process
            trains into it.
    """
    if not callable(getattr(model, "training_step", None)):
        raise ValueError(f"{type(model).__name__} has no training_step(batch, step) method")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if config.batch_size % world:
        raise ValueError(
            f"batch_size={config.batch_size} is not divisible by the world size {world}"
        )
    if len(train_data) < config.batch_size:
        raise ValueError(
            f"train_data has {len(train_data)} samples, fewer than batch_size={config.batch_size}"
        )
    if valid_data is not None and len(valid_data) < world:
        raise ValueError(f"valid_data has {len(valid_data)} samples, fewer than {world} ranks")
    device = select_device(config.device)
    if config.amp and device.type != "cuda":
        raise ValueError(f"amp=True needs a CUDA device, got device={str(device)!r}")
    out_dir = Path(out_dir)
    ckpt_path = out_dir / CHECKPOINT
    if resume and not ckpt_path.is_file():
        raise FileNotFoundError(f"resume=True but there is no checkpoint at {ckpt_path}")

    own_group = world > 1 and not dist.is_initialized()
    if own_group:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device.type == "cuda":
            device = torch.device("cuda", local_rank)
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    try:
        with _rundir.lock(out_dir) if rank == 0 else contextlib.nullcontext():
            return _run(
                model, train_data, valid_data, config, out_dir, ckpt_path, device, rank, world,
                resume, extra_state or {}, optimizer, resume_hint,
            )  # fmt: skip
    finally:
        if own_group:
            dist.destroy_process_group()


def default_optimizer(params: Any, lr: float) -> torch.optim.Optimizer:
    """Adam with torch's fused kernel (one kernel per step instead of ~10 per tensor; the
    same update up to rounding), falling back to the standard implementation where the
    fused one is unavailable (older torch, other devices or dtypes).

    Measured on the 784-400-20 VAE step (benchmarks/bench_vae.py, CPU): ~2 ms of ~7 ms.
    """
    params = list(params)
    floating = all(p.dtype.is_floating_point for p in params)
    devices = {p.device.type for p in params}
    if floating and devices <= {"cpu", "cuda"}:
        try:
            return torch.optim.Adam(params, lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):
            pass
    return torch.optim.Adam(params, lr=lr)


def _run(
    model: nn.Module,
    train_data: Tensor,
    valid_data: Tensor | None,
    config: TrainConfig,
    out_dir: Path,
    ckpt_path: Path,
    device: torch.device,
    rank: int,
    world: int,
    resume: bool,
    extra_state: dict[str, Any],
    optimizer: OptimizerFactory | None,
    resume_hint: str,
) -> TrainResult:
    model.to(device)
    opt = (optimizer or default_optimizer)(model.parameters(), lr=config.lr)
    amp_dtype = torch.bfloat16 if config.amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp and amp_dtype == torch.float16)
    history: list[dict[str, float]] = []
    epoch = step = 0
    reference: float | None = None  # L₀, the loss of the run's first step
    if resume:
        ckpt = load_checkpoint(ckpt_path)
        if ckpt["epoch"] > config.epochs:
            raise ValueError(
                f"epochs={config.epochs} is below the {ckpt['epoch']} epochs the checkpoint "
                f"{ckpt_path} has completed: resuming would train nothing"
            )
        restore_state(model, ckpt["model"], ckpt_path)
        restore_state(opt, ckpt["optimizer"], ckpt_path)
        if ckpt.get("scaler"):
            restore_state(scaler, ckpt["scaler"], ckpt_path)
        epoch, step, history = ckpt["epoch"], ckpt["step"], ckpt["history"]
        reference = ckpt.get("reference_loss")
        if len(ckpt["rng"]) == world:
            _set_rng_state(ckpt["rng"][rank])
        else:  # a different world size: reproducible, though not the same as before
            torch.manual_seed(_derived_seed(config.seed, epoch, rank))
    else:
        torch.manual_seed(config.seed + rank)
        np.random.seed(config.seed + rank)
        random.seed(config.seed + rank)
    stepper: nn.Module = _Step(model)
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        stepper = nn.parallel.DistributedDataParallel(stepper, device_ids=ids)
    params = [p for p in model.parameters() if p.requires_grad]
    train_data = train_data.to(device)
    if valid_data is not None and callable(getattr(model, "validation_step", None)):
        valid_data = valid_data.to(device)
    else:
        valid_data = None
    global_bs, shard = config.batch_size, config.batch_size // world
    steps_per_epoch = len(train_data) // global_bs

    def all_mean(values: Tensor) -> Tensor:
        if world > 1:
            dist.all_reduce(values)
            values = values / world
        return values

    def snapshot() -> dict[str, Any]:
        rngs = [_rng_state()]
        if world > 1:
            rngs = [None] * world
            dist.all_gather_object(rngs, _rng_state())
        return {
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "scaler": scaler.state_dict(), "epoch": epoch, "step": step, "rng": rngs,
            "history": history, "config": dataclasses.asdict(config), "world_size": world,
            "extra_state": extra_state, "reference_loss": reference,
        }  # fmt: skip

    saved_epoch = epoch  # the completed epochs of the checkpoint on disk

    def saved_note() -> str:
        if saved_epoch > 0:
            return f"the last good checkpoint is kept at {ckpt_path} ({saved_epoch} epoch(s))"
        return "no checkpoint was written (no epoch completed)"

    def write(state: dict[str, Any] | None) -> str | None:
        """Write metrics.jsonl (and the checkpoint ``state``) on rank 0; agree on failure.
        Returns the failure's description, or None."""
        nonlocal saved_epoch
        failed = None
        if rank == 0:
            try:
                with deferred():  # an epoch's files as one unit: a signal waits for them
                    _write_metrics(out_dir / METRICS, history)
                    if state is not None:
                        save_checkpoint(ckpt_path, state)
                        saved_epoch = state["epoch"]
            except OSError as exc:
                failed = f"{exc.strerror or exc} ({getattr(exc, 'filename', None) or out_dir})"
        if world > 1:
            flag = all_mean(torch.tensor([float(failed is not None)], device=device)).item()
            if flag > 0 and failed is None:
                failed = "rank 0 could not write its files"
        return failed

    def finish(
        stopped: str | None, message: str | None, note: bool = False, hint: str | None = None
    ) -> TrainResult:
        """Save a completed epoch not yet on disk, print ``message`` once (with where the
        last good checkpoint is, when ``note``, and ``hint`` when there is one) and return
        the result."""
        nonlocal saved_epoch
        bar.close()
        if pending is not None and rank == 0:
            try:
                with deferred():
                    save_checkpoint(ckpt_path, pending)
                    saved_epoch = pending["epoch"]
            except OSError as exc:
                message = (f"{message}; writing the last completed epoch failed too "
                           f"({exc.strerror or exc})")  # fmt: skip
        if message and note:
            message = f"{message}; {saved_note()}"
        if message and hint and saved_epoch > 0:
            message = f"{message}; {hint}"
        if message and rank == 0:
            print(message, file=sys.stderr)
        if world > 1 and stopped != "interrupted":
            dist.barrier()  # no rank returns before rank 0's files are complete
        return TrainResult(history, stopped, epoch, step, message, ckpt_path)

    pending: dict[str, Any] | None = None  # a completed epoch not yet on disk
    stopped: str | None = None
    # One bar for the whole run (a bar per epoch floods logs when epochs are short).
    bar = tqdm(total=config.epochs * steps_per_epoch, initial=epoch * steps_per_epoch,
               disable=not (config.progress and rank == 0), unit="step")  # fmt: skip
    try:
        while epoch < config.epochs and stopped is None:
            start = time.perf_counter()
            perm = torch.randperm(
                len(train_data), generator=torch.Generator().manual_seed(
                    _derived_seed(config.seed, epoch, 0))
            ).to(device)  # fmt: skip
            gen = torch.Generator(device).manual_seed(_derived_seed(config.seed, epoch, 1, rank))
            sums: dict[str, Tensor] = {}
            losses: list[float] = []
            running, done = 0.0, 0
            bar.set_description(f"epoch {epoch + 1}/{config.epochs}", refresh=False)
            model.train()
            for b in range(steps_per_epoch):
                if config.max_steps is not None and step >= config.max_steps:
                    stopped = "max_steps"
                    break
                idx = perm[b * global_bs + rank * shard : b * global_bs + (rank + 1) * shard]
                batch = train_data[idx]
                if callable(getattr(model, "prepare_batch", None)):
                    batch = model.prepare_batch(batch, gen)
                with _autocast(device, config.amp, amp_dtype):
                    out = _scalars(stepper(batch, step), "training_step")
                loss = out["loss"]
                loss_value = loss.item()  # the one host sync per step (NaN check, progress)
                bad = not math.isfinite(loss_value)
                if world > 1:  # a NaN on any rank stops every rank
                    bad = all_mean(torch.tensor([float(bad)], device=device)).item() > 0
                if bad:
                    return finish("nan", (
                        f"stopped: the loss is {loss_value} at epoch {epoch + 1}, step {step} "
                        f"(batch {b + 1} of {steps_per_epoch})"), note=True)  # fmt: skip
                if reference is None:
                    reference = loss_value
                losses.append(loss_value)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if config.grad_clip is not None:
                    scaler.unscale_(opt)
                    nn.utils.clip_grad_norm_(params, config.grad_clip)
                scaler.step(opt)
                scaler.update()
                for key, value in out.items():
                    value = value.detach().float().reshape(())
                    sums[key] = sums[key] + value if key in sums else value
                step, done = step + 1, done + 1
                running += (loss_value - running) / done
                bar.update()
                bar.set_postfix(loss=f"{running:.4g}", refresh=False)
            if done == 0:
                break
            keys = sorted(sums)
            means = all_mean(torch.stack([sums[k] for k in keys]) / done).tolist()
            row: dict[str, float] = {
                "epoch": epoch + 1,
                "step": step,
                **dict(zip(keys, means, strict=True)),
            }
            if valid_data is not None:
                row.update(_validate(model, valid_data, global_bs, rank, world, device,
                                     config.amp, amp_dtype))  # fmt: skip
            if not all(torch.isfinite(p).all() for p in params):
                return finish("nan", (
                    f"stopped: non-finite parameters after epoch {epoch + 1}, step {step}"),
                    note=True)  # fmt: skip
            diverged = _diverged(losses, reference, config.divergence)
            if world > 1:
                diverged = all_mean(torch.tensor([float(diverged)], device=device)).item() > 0
            if diverged:
                median = float(np.median(losses))
                return finish("diverged", (
                    f"stopped: the loss diverged in epoch {epoch + 1} (median {median:.4g} "
                    f"against {reference:.4g} at the first step); lower the learning rate "
                    f"(lr={config.lr:g})"), note=True)  # fmt: skip
            row["seconds"] = time.perf_counter() - start
            history.append(row)
            epoch += 1
            state = snapshot()
            due = epoch % config.checkpoint_every == 0 or epoch == config.epochs
            due = due or stopped is not None
            failed = write(state if due else None)
            if failed is not None:
                history.pop()
                epoch -= 1
                return finish("write_failed", (
                    f"stopped: could not write to {out_dir} after epoch {epoch + 1}: "
                    f"{failed}"), note=True)  # fmt: skip
            if rank == 0:
                pending = None if due else _cpu_copy(state)
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        result = finish("interrupted", f"{how} during epoch {epoch + 1}", note=True,
                        hint=f"rerun with {resume_hint} to continue")  # fmt: skip
        result.signal = "SIGTERM" if isinstance(exc, Terminated) else "SIGINT"
        return result
    return finish(
        stopped,
        None
        if stopped is None
        else f"stopped after max_steps={config.max_steps} steps (epoch {epoch})",
    )


@torch.no_grad()
def _validate(
    model: nn.Module,
    data: Tensor,
    batch_size: int,
    rank: int,
    world: int,
    device: torch.device,
    amp: bool,
    amp_dtype: torch.dtype,
) -> dict[str, float]:
    """Means of ``validation_step`` over ``data`` (weighted by batch size), ``valid_``-prefixed."""
    model.eval()
    sums: dict[str, Tensor] = {}
    count = torch.zeros((), device=device)
    part = torch.tensor_split(data, world)[rank]  # every rank gets a part when N >= world
    for i in range(0, len(part), batch_size):
        batch = part[i : i + batch_size]
        with _autocast(device, amp, amp_dtype):
            out = _scalars(model.validation_step(batch), "validation_step")
        for key, value in out.items():
            value = value.detach().float().reshape(()) * len(batch)
            sums[key] = sums[key] + value if key in sums else value
        count += len(batch)
    model.train()
    keys = sorted(sums)
    totals = torch.stack([*(sums[k] for k in keys), count])
    if world > 1:
        dist.all_reduce(totals)
    return {
        f"valid_{k}": v for k, v in zip(keys, (totals[:-1] / totals[-1]).tolist(), strict=True)
    }
