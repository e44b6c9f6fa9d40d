"""The one training loop: loss goes down, files, exact resume, NaN / Ctrl-C policies, DDP."""

import errno
import functools
import json
import os
import random
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from reparam import _loop_state
from reparam.training import TrainConfig, load_checkpoint, select_device, train

N, D, BATCH = 64, 3, 16  # 4 steps per epoch


def make_data(n=N, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, D, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3 + 0.1 * torch.randn(n, generator=g)
    return torch.cat([x, y[:, None]], dim=1)


class LinReg(nn.Module):
    """Deterministic: least squares on rows (x, y)."""

    def __init__(self, init_seed=0, nan_at=None, interrupt_at=None):
        super().__init__()
        torch.manual_seed(init_seed)
        self.lin = nn.Linear(D, 1)
        self.nan_at, self.interrupt_at = nan_at, interrupt_at

    def loss(self, batch):
        return ((self.lin(batch[:, :D]).squeeze(-1) - batch[:, D]) ** 2).mean()

    def training_step(self, batch, step):
        if step == self.interrupt_at:
            raise KeyboardInterrupt
        loss = self.loss(batch)
        if step == self.nan_at:
            loss = loss * float("nan")
        return {"loss": loss, "mse": loss.detach()}

    def validation_step(self, batch):
        return {"loss": self.loss(batch)}


class Noisy(LinReg):
    """Stochastic: the loss draws from the global torch RNG, and prepare_batch from its
    generator, so an exact resume needs both restored."""

    def prepare_batch(self, batch, generator):
        return batch + 0.1 * torch.randn(batch.shape, generator=generator)

    def training_step(self, batch, step):
        if step == self.interrupt_at:
            raise KeyboardInterrupt
        pred = self.lin(batch[:, :D]).squeeze(-1) + 0.5 * torch.randn(len(batch))
        return {"loss": ((pred - batch[:, D]) ** 2).mean()}


def config(**kw):
    kw = {"epochs": 4, "batch_size": BATCH, "lr": 0.05, "progress": False, **kw}
    return TrainConfig(**kw)


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def strip(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def assert_same_run(model_a, result_a, model_b, result_b):
    for a, b in zip(params(model_a), params(model_b), strict=True):
        assert torch.equal(a, b)
    assert strip(result_a.history) == strip(result_b.history)
    assert result_a.step == result_b.step


def read_metrics(path):
    def reject(value):
        raise ValueError(f"not valid JSON: {value}")

    return [json.loads(line, parse_constant=reject) for line in path.read_text().splitlines()]


def test_loss_decreases_and_metrics_written(tmp_path):
    data = make_data()
    model = LinReg()
    result = train(model, data, config(epochs=5), tmp_path, valid_data=make_data(32, seed=2))
    assert result.stopped is None
    assert result.epoch == 5
    assert result.step == 20
    assert result.history[-1]["loss"] < 0.5 * result.history[0]["loss"]
    assert result.history[-1]["valid_loss"] < 0.5 * result.history[0]["valid_loss"]
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["step"] for r in rows] == [4, 8, 12, 16, 20]
    assert set(rows[0]) == {"epoch", "step", "loss", "mse", "valid_loss", "seconds"}
    assert rows == result.history
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 5
    assert ckpt["step"] == 20
    assert "history" not in ckpt  # it is metrics.jsonl: the checkpoint does not grow with it
    assert ckpt["config"]["epochs"] == 5
    assert ckpt["world_size"] == 1
    assert sorted(os.listdir(tmp_path)) == [".reparam.lock", "checkpoint.pt", "metrics.jsonl"]


def test_no_validation_metrics_without_valid_data(tmp_path):
    result = train(LinReg(), make_data(), config(epochs=1), tmp_path)
    assert not any(k.startswith("valid_") for k in result.history[0])


@pytest.mark.parametrize("model_cls", [LinReg, Noisy])
def test_resume_reproduces_uninterrupted_run(tmp_path, model_cls):
    data, valid = make_data(), make_data(32, seed=2)
    full = model_cls()
    full_result = train(full, data, config(), tmp_path / "full", valid_data=valid)

    out = tmp_path / "resumed"
    first = model_cls()
    train(first, data, config(epochs=2), out, valid_data=valid)
    torch.manual_seed(12345)  # whatever the RNG does in between must not matter
    resumed = model_cls(init_seed=7)  # other initial values: the checkpoint overrides them
    result = train(resumed, data, config(), out, valid_data=valid, resume=True)
    assert_same_run(full, full_result, resumed, result)
    assert len(read_metrics(out / "metrics.jsonl")) == 4


def test_resume_without_rng_restore_differs_for_stochastic_model(tmp_path, monkeypatch):
    """Guards the test above: with the RNG state not restored, the stochastic run changes."""
    data = make_data()
    full = Noisy()
    train(full, data, config(), tmp_path / "full")
    train(Noisy(), data, config(epochs=2), tmp_path / "part")
    monkeypatch.setattr(_loop_state, "set_rng_state", lambda state: torch.manual_seed(99))
    resumed = Noisy()
    train(resumed, data, config(), tmp_path / "part", resume=True)
    assert not torch.equal(full.lin.weight, resumed.lin.weight)


def test_checkpoint_every_and_raising_epochs_on_resume(tmp_path):
    data = make_data()
    train(LinReg(), data, config(epochs=3, checkpoint_every=2), tmp_path)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 3  # the end is always saved
    model = LinReg()
    result = train(model, data, config(epochs=5, checkpoint_every=2), tmp_path, resume=True)
    assert result.epoch == 5
    assert len(result.history) == 5
    full = LinReg()
    full_result = train(full, data, config(epochs=5), tmp_path / "full")
    assert_same_run(full, full_result, model, result)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    data = make_data()
    train(LinReg(), data, config(epochs=1), tmp_path)
    good = (tmp_path / "checkpoint.pt").read_bytes()

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    result = train(LinReg(), data, config(epochs=2), tmp_path, resume=True)
    monkeypatch.undo()
    assert result.stopped == "write_failed"
    assert result.epoch == 1  # the epoch that could not be saved is not counted
    assert "No space left on device" in result.message
    assert "last good checkpoint is kept" in result.message
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == [".reparam.lock", "checkpoint.pt", "metrics.jsonl"]
    # and the run resumes from there as if nothing had happened
    model = LinReg()
    resumed = train(model, data, config(epochs=2), tmp_path, resume=True)
    full = LinReg()
    assert_same_run(full, train(full, data, config(epochs=2), tmp_path / "full"), model, resumed)


@pytest.mark.parametrize("checkpoint_every", [1, 5])
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, capsys, checkpoint_every):
    model = LinReg(nan_at=10)  # step 10 = third batch of epoch 3
    cfg = config(epochs=5, checkpoint_every=checkpoint_every)
    result = train(model, make_data(), cfg, tmp_path)
    assert result.stopped == "nan"
    assert result.epoch == 2
    assert result.step == 10
    assert "epoch 3" in result.message
    assert "step 10" in result.message
    assert "nan" in result.message
    assert "last good checkpoint" in result.message
    assert result.message in capsys.readouterr().err
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 2
    assert ckpt["step"] == 8
    assert ckpt["epoch"] == 2
    fresh = LinReg()
    fresh.load_state_dict(ckpt["model"])
    assert all(torch.isfinite(p).all() for p in fresh.parameters())
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 2


@pytest.mark.parametrize("model_cls", [LinReg, Noisy])
def test_keyboard_interrupt_leaves_usable_checkpoint(tmp_path, capsys, model_cls):
    data = make_data()
    # checkpoint_every=3: epoch 2 is not yet on disk when Ctrl-C comes in epoch 3.
    cfg = config(checkpoint_every=3)
    result = train(model_cls(interrupt_at=9), data, cfg, tmp_path)
    assert result.stopped == "interrupted"
    assert result.epoch == 2
    assert "resume" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    resumed = model_cls()
    result = train(resumed, data, cfg, tmp_path, resume=True)
    full = model_cls()
    full_result = train(full, data, config(), tmp_path / "full")
    assert_same_run(full, full_result, resumed, result)


def test_max_steps_stops_mid_epoch(tmp_path):
    result = train(LinReg(), make_data(), config(max_steps=6), tmp_path)
    assert result.stopped == "max_steps"
    assert result.step == 6
    assert result.epoch == 2
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 6


def test_optimizer_factory_and_extra_state(tmp_path):
    sgd = functools.partial(torch.optim.SGD, momentum=0.9)
    extra = {"latent_dim": 8, "hidden": [128, 128], "name": "vae"}
    result = train(LinReg(), make_data(), config(), tmp_path, optimizer=sgd, extra_state=extra)
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["extra_state"] == extra
    assert ckpt["optimizer"]["param_groups"][0]["momentum"] == 0.9


def _free_ports(n):
    """n distinct bindable ports below the kernel's ephemeral range.

    Ports from ``bind(("", 0))`` lie inside the ephemeral range, where gloo's own
    connections from an earlier process group can take one before its rendezvous binds it
    (seen once in CI as EADDRINUSE); ports below the range are never handed out
    implicitly. All sockets stay bound until every port is known, so they are distinct.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random(os.getpid())
    socks, ports = [], []
    try:
        while len(ports) < n:
            port = rng.randrange(max(1024, low - 12000), low)
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            ports.append(port)
        return ports
    finally:
        for s in socks:
            s.close()


def _ddp_worker(rank, world, ports, out_dir):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", WORLD_SIZE=str(world))
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), MASTER_PORT=str(ports[0]))
    cfg = config(epochs=2, device="cpu")
    train(LinReg(), make_data(), cfg, f"{out_dir}/ddp", valid_data=make_data(30, seed=2))
    # A NaN on rank 1 only (step 6, in epoch 2) must stop both ranks, keeping epoch 1.
    os.environ["MASTER_PORT"] = str(ports[1])
    result = train(LinReg(nan_at=6 if rank == 1 else None), make_data(), cfg, f"{out_dir}/nan")
    if (result.stopped, result.epoch, result.step) != ("nan", 1, 6):
        raise AssertionError(f"rank {rank}: {result}")
    # Exact resume under DDP, with a stochastic model (every rank's RNG state is restored).
    for port, epochs, name, resume in zip(
        ports[2:], (2, 1, 2), ("full", "part", "part"), (False, False, True), strict=True
    ):
        os.environ["MASTER_PORT"] = str(port)
        cfg = config(epochs=epochs, device="cpu")
        model = Noisy(init_seed=7 if resume else 0)  # the checkpoint overrides 7
        train(model, make_data(), cfg, f"{out_dir}/{name}", resume=resume)


def test_ddp_two_processes_match_single_process(tmp_path):
    ports = _free_ports(5)
    mp.spawn(_ddp_worker, args=(2, ports, str(tmp_path)), nprocs=2, join=True)
    assert load_checkpoint(tmp_path / "nan" / "checkpoint.pt")["epoch"] == 1
    full, part = (load_checkpoint(tmp_path / d / "checkpoint.pt") for d in ("full", "part"))
    assert full["epoch"] == part["epoch"] == 2
    full_rows, part_rows = (read_metrics(tmp_path / d / "metrics.jsonl") for d in ("full", "part"))
    assert strip(full_rows) == strip(part_rows)
    for name, value in full["model"].items():
        assert torch.equal(part["model"][name], value)
    single = LinReg()
    single_result = train(
        single, make_data(), config(epochs=2), tmp_path / "one", valid_data=make_data(30, seed=2)
    )
    ckpt = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    assert ckpt["world_size"] == 2
    assert len(ckpt["rng"]) == 2
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ckpt["model"][name], value, rtol=1e-5, atol=1e-6)
    ddp_rows = read_metrics(tmp_path / "ddp" / "metrics.jsonl")
    for ddp_row, row in zip(ddp_rows, single_result.history, strict=True):
        assert ddp_row.keys() == row.keys()
        for key in ("loss", "mse", "valid_loss"):
            assert ddp_row[key] == pytest.approx(row[key], rel=1e-5)


def test_batch_size_not_divisible_by_world_size(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match=r"batch_size=15 .*world size 2"):
        train(LinReg(), make_data(), config(batch_size=15), tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda(tmp_path):
    with pytest.raises(ValueError, match="CUDA is not available"):
        select_device("cuda")
    with pytest.raises(ValueError, match="amp"):
        train(LinReg(), make_data(), config(device="auto", amp=True), tmp_path)


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="'tpu'"):
        select_device("tpu")


def test_amp_on_cpu_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="amp=True needs a CUDA device"):
        train(LinReg(), make_data(), config(device="cpu", amp=True), tmp_path)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", 0),
        ("lr", 0.0),
        ("lr", -1e-3),
        ("lr", float("nan")),
        ("seed", -1),
        ("checkpoint_every", 0),
        ("max_steps", 0),
        ("grad_clip", 0.0),
        ("device", "gpu"),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        train(LinReg(), make_data(), config(), tmp_path, resume=True)
    with pytest.raises(ValueError, match="training_step"):
        train(nn.Linear(2, 1), make_data(), config(), tmp_path)
    with pytest.raises(ValueError, match="fewer than batch_size=16"):
        train(LinReg(), make_data(8), config(), tmp_path)

    class NoLoss(LinReg):
        def training_step(self, batch, step):
            return {"mse": self.loss(batch)}

    with pytest.raises(ValueError, match="'loss'"):
        train(NoLoss(), make_data(), config(), tmp_path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_grad_clip_runs(tmp_path):
    result = train(LinReg(), make_data(), config(grad_clip=0.1, epochs=2), tmp_path)
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_progress_bar_shows_running_loss(tmp_path, capsys):
    train(LinReg(), make_data(), config(epochs=1, progress=True), tmp_path)
    err = capsys.readouterr().err
    assert "epoch 1/1" in err
    assert "loss=" in err


def test_default_optimizer_is_adam_and_matches_the_standard_update():
    from reparam.training import default_optimizer

    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3)
    b = torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    opt_a = default_optimizer(a.parameters(), lr=1e-2)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    assert isinstance(opt_a, torch.optim.Adam)
    x = torch.randn(16, 5)
    for _ in range(5):
        for m, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


class Target(nn.Module):
    """Data-free: draws its own noisy observations of a target from the global RNG."""

    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(2))
        self.batches = []

    def training_step(self, batch, step):
        self.batches.append(batch)
        noise = 0.1 * torch.randn(2)
        return {"loss": ((self.theta - torch.tensor([1.0, -1.0]) - noise) ** 2).sum()}


def test_data_free_mode_runs_steps_per_epoch(tmp_path):
    model = Target()
    result = train(model, None, config(epochs=3, batch_size=1), tmp_path, steps_per_epoch=25)
    assert model.batches == [None] * 75
    assert (result.epoch, result.step, result.stopped) == (3, 75, None)
    assert [row["step"] for row in result.history] == [25, 50, 75]
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    # resumes bit-exactly too (the global RNG is in the checkpoint)
    part, resumed = Target(), Target()
    train(part, None, config(epochs=1, batch_size=1), tmp_path / "r", steps_per_epoch=25)
    out = train(resumed, None, config(epochs=3, batch_size=1), tmp_path / "r",
                steps_per_epoch=25, resume=True)  # fmt: skip
    assert_same_run(model, result, resumed, out)


def test_in_memory_mode_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    on_disk, in_memory = LinReg(), LinReg()
    a = train(on_disk, make_data(), config(), tmp_path / "run")
    b = train(in_memory, make_data(), config(), None)
    assert os.listdir(tmp_path) == ["run"]  # nothing but the run on disk
    assert b.checkpoint is None
    assert_same_run(on_disk, a, in_memory, b)
    nan = train(LinReg(nan_at=5), make_data(), config(), None)
    assert nan.stopped == "nan"
    assert "checkpoint" not in nan.message
    assert nan.message in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["run"]


def test_stop_rule_ends_the_run_and_saves_it(tmp_path, capsys):
    seen = []

    def stop(history):
        seen.append(len(history))
        return len(history) == 2

    result = train(LinReg(), make_data(), config(checkpoint_every=5), tmp_path, stop=stop)
    assert seen == [1, 2]
    assert (result.stopped, result.epoch, result.step) == ("stop", 2, 8)
    assert "stop rule" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2


def test_quiet_caller_owned_rng_and_postfix(capsys):
    torch.manual_seed(3)
    for _ in range(4):  # what the four steps draw
        torch.randn(2)
    expected = torch.rand(4)
    torch.manual_seed(3)
    result = train(Target(), None, config(epochs=1, max_steps=4, progress=True), None,
                   steps_per_epoch=10, echo=False, seed_globals=False,
                   postfix=lambda loss: f"custom={loss:.2f}")  # fmt: skip
    assert result.stopped == "max_steps"
    assert torch.equal(torch.rand(4), expected)  # the caller's RNG, not reseeded
    err = capsys.readouterr().err
    assert "custom=" in err
    assert "max_steps" not in err  # echo=False: the message is only in the result
    assert "max_steps" in result.message


@pytest.mark.parametrize(
    ("data", "kwargs", "match"),
    [
        (None, {}, "either train_data or steps_per_epoch"),
        (make_data(), {"steps_per_epoch": 3}, "either train_data or steps_per_epoch"),
        (None, {"steps_per_epoch": 0}, "steps_per_epoch must be an integer"),
        (make_data(), {"resume": True}, "needs an out_dir"),
    ],
)
def test_bad_mode_arguments(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train(LinReg(), data, config(), None, **kwargs)
