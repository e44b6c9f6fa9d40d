"""``train(tensorboard=...)``: TensorBoard events that equal ``metrics.jsonl`` (read back with
TensorBoard's own readers), after an interrupt and resume too, in memory, under DDP (rank 0
only), and a one-line ImportError without the package."""

import json
import math
import os
import sys

import pytest
import torch.multiprocessing as mp

from reparam import _tensorboard
from reparam.training import train
from tests.tensorboard_events import (
    accumulated,
    assert_events_equal_metrics,
    expected_scalars,
    metrics_rows,
    same,
)
from tests.test_training import LinReg, Noisy, _free_ports, config, make_data


@pytest.fixture
def tb():
    pytest.importorskip("tensorboard")


@pytest.mark.usefixtures("tb")
def test_every_metric_is_a_scalar_at_its_epoch(tmp_path):
    out = tmp_path / "run"
    result = train(LinReg(), make_data(), config(epochs=3), out, valid_data=make_data(32, 2),
                   tensorboard=True)  # fmt: skip
    rows = metrics_rows(out)
    assert_events_equal_metrics(out / "tensorboard", rows)
    assert set(accumulated(out / "tensorboard")) == {
        "train/loss", "train/mse", "valid/loss", "run/step", "run/seconds"}  # fmt: skip
    assert rows == result.history


@pytest.mark.usefixtures("tb")
def test_an_interrupted_and_resumed_run_has_each_epoch_once(tmp_path):
    out, log_dir = tmp_path / "run", tmp_path / "events"
    cut = train(Noisy(interrupt_at=9), make_data(), config(checkpoint_every=3), out,
                tensorboard=log_dir)  # fmt: skip
    assert (cut.stopped, cut.epoch) == ("interrupted", 2)
    assert_events_equal_metrics(log_dir, metrics_rows(out))
    done = train(Noisy(), make_data(), config(), out, resume=True, tensorboard=log_dir)
    assert done.epoch == 4
    assert_events_equal_metrics(log_dir, metrics_rows(out))


@pytest.mark.usefixtures("tb")
def test_rows_the_checkpoint_had_not_completed_are_dropped(tmp_path):
    """A crash after epoch 3's row and events but before its checkpoint: the resume redoes
    epoch 3, and the events hold the new row (its seconds differ), not the old one."""
    out = tmp_path / "run"
    train(Noisy(), make_data(), config(epochs=2), out, tensorboard=True)
    behind = (out / "checkpoint.pt").read_bytes()
    train(Noisy(), make_data(), config(epochs=3), out, resume=True, tensorboard=True)
    stale = metrics_rows(out)[2]["seconds"]
    (out / "checkpoint.pt").write_bytes(behind)
    train(Noisy(), make_data(), config(), out, resume=True, tensorboard=True)
    rows = metrics_rows(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[2]["seconds"] != stale
    assert_events_equal_metrics(out / "tensorboard", rows)


@pytest.mark.usefixtures("tb")
def test_resuming_with_events_writes_the_whole_history(tmp_path):
    out = tmp_path / "run"
    train(LinReg(), make_data(), config(epochs=2), out)  # no events
    assert not (out / "tensorboard").exists()
    train(LinReg(), make_data(), config(), out, resume=True, tensorboard=True)
    assert_events_equal_metrics(out / "tensorboard", metrics_rows(out))


@pytest.mark.usefixtures("tb")
def test_other_event_files_in_the_directory_are_left_alone(tmp_path):
    log_dir = tmp_path / "events"
    log_dir.mkdir()
    theirs = log_dir / "events.out.tfevents.123.host.1.0"
    theirs.write_bytes(b"")
    train(LinReg(), make_data(), config(epochs=2), tmp_path / "run", tensorboard=log_dir)
    train(LinReg(), make_data(), config(epochs=2), tmp_path / "run2", tensorboard=log_dir)
    assert theirs.exists()
    ours = list(log_dir.glob(f"*{_tensorboard.SUFFIX}"))
    assert len(ours) == 1  # the second run replaced the first one's


@pytest.mark.usefixtures("tb")
def test_a_run_in_memory_writes_events_too(tmp_path):
    result = train(LinReg(), make_data(), config(epochs=3), None, tensorboard=tmp_path / "tb")
    assert os.listdir(tmp_path) == ["tb"]
    same(accumulated(tmp_path / "tb"), expected_scalars(result.history))


def test_tensorboard_true_needs_an_out_dir():
    with pytest.raises(ValueError, match="tensorboard=True needs an out_dir"):
        train(LinReg(), make_data(), config(epochs=1), None, tensorboard=True)


def test_without_the_package_it_is_one_line_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # the import fails
    with pytest.raises(ImportError) as err:
        train(LinReg(), make_data(), config(epochs=1), tmp_path / "run", tensorboard=True)
    assert str(err.value) == (
        "TensorBoard logging needs the tensorboard package: pip install 'reparam[tensorboard]'"
    )
    assert not (tmp_path / "run").exists()


def test_scalars_take_numeric_fields_only():
    row = {"epoch": 3, "step": 12, "loss": 1.5, "valid_elbo": -2.0, "note": "x", "ok": True,
           "seconds": 0.25}  # fmt: skip
    assert _tensorboard.scalars(row) == {
        "run/step": 12.0, "train/loss": 1.5, "valid/elbo": -2.0, "run/seconds": 0.25}  # fmt: skip


@pytest.mark.usefixtures("tb")
def test_a_non_finite_value_is_written_as_it_is(tmp_path):
    log = _tensorboard.EventLog(tmp_path, [{"epoch": 1, "loss": 1.0}])
    log.write({"epoch": 2, "loss": math.inf, "valid_loss": math.nan})
    log.close()
    log.close()  # closing twice is harmless
    events = accumulated(tmp_path)
    assert events["train/loss"] == [(1, 1.0), (2, math.inf)]
    assert math.isnan(events["valid/loss"][0][1])


def _ddp_worker(rank, world, ports, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", WORLD_SIZE=str(world))
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), MASTER_PORT=str(ports[0]))
    cfg = config(epochs=2, device="cpu")
    train(LinReg(), make_data(), cfg, f"{out_dir}/files", tensorboard=True)
    os.environ["MASTER_PORT"] = str(ports[1])  # in memory: the events alone
    result = train(LinReg(), make_data(), cfg, None, tensorboard=f"{out_dir}/memory")
    if rank == 0:
        with open(f"{out_dir}/memory.json", "w") as fh:
            json.dump(result.history, fh)


@pytest.mark.usefixtures("tb")
def test_under_ddp_only_rank_0_writes_events(tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_ports(2), str(tmp_path)), nprocs=2, join=True)
    files = tmp_path / "files"
    assert_events_equal_metrics(files / "tensorboard", metrics_rows(files))
    history = json.loads((tmp_path / "memory.json").read_text())
    assert_events_equal_metrics(tmp_path / "memory", history)
