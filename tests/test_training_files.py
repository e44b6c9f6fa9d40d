"""The training loop's files as a run grows: ``metrics.jsonl`` appended one line per epoch
and read back on resume (cut to the checkpoint's epochs, a torn line dropped), a checkpoint
that does not grow with the history, checkpoints by epochs and by time, and checkpoints of
older versions (history inside) that still resume."""

import json
import os
import types

import pytest
import torch

from reparam import _loop, _loop_state
from reparam._checkpoint import CheckpointError, save_checkpoint
from reparam.training import TrainConfig, load_checkpoint, train
from tests.test_training import LinReg, Noisy, assert_same_run, config, make_data, strip


def lines(d):
    return (d / "metrics.jsonl").read_bytes().split(b"\n")


def rows(d):
    return [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]


def assert_one_line_per_epoch(d, epochs):
    """metrics.jsonl: exactly the rows of epochs 1..epochs, each a whole line."""
    raw = (d / "metrics.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    assert [r["epoch"] for r in rows(d)] == list(range(1, epochs + 1))


@pytest.fixture
def full(tmp_path):
    """An uninterrupted 4-epoch run of Noisy (model, result, directory)."""
    model = Noisy()
    result = train(model, make_data(), config(), tmp_path / "full")
    return model, result, tmp_path / "full"


def _resume_equals_full(full, out):
    model = Noisy()
    result = train(model, make_data(), config(), out, resume=True)
    assert_same_run(full[0], full[1], model, result)
    assert_one_line_per_epoch(out, 4)
    assert strip(rows(out)) == strip(rows(full[2]))
    return result


def test_interrupted_and_resumed_run_has_one_line_per_epoch(tmp_path, full):
    out = tmp_path / "run"
    cut = train(Noisy(interrupt_at=9), make_data(), config(checkpoint_every=3), out)
    assert (cut.stopped, cut.epoch) == ("interrupted", 2)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2  # the pending epoch, saved
    assert_one_line_per_epoch(out, 2)
    _resume_equals_full(full, out)


def test_resume_from_a_checkpoint_behind_the_metrics_drops_the_later_rows(tmp_path, full):
    """A crash after an epoch's line but before its checkpoint: metrics.jsonl holds rows
    of epochs the checkpoint has not completed (and a torn line); the resume cuts them."""
    out = tmp_path / "run"
    train(Noisy(), make_data(), config(epochs=2), out)
    behind = (out / "checkpoint.pt").read_bytes()
    train(Noisy(), make_data(), config(epochs=3), out, resume=True)
    assert_one_line_per_epoch(out, 3)
    (out / "checkpoint.pt").write_bytes(behind)  # the checkpoint of epoch 2 ...
    with open(out / "metrics.jsonl", "ab") as fh:  # ... 3 rows and a torn 4th
        fh.write(b'{"epoch": 4, "step": 1')
    result = _resume_equals_full(full, out)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4]


def test_a_torn_last_line_is_dropped(tmp_path, full):
    out = tmp_path / "run"
    train(Noisy(), make_data(), config(epochs=2), out)
    with open(out / "metrics.jsonl", "ab") as fh:
        fh.write(b'{"epoch": 3, "st')
    _resume_equals_full(full, out)


def test_the_history_is_rebuilt_from_metrics_for_the_stop_rule(tmp_path):
    seen = []

    def stop(history):
        seen.append([r["epoch"] for r in history])
        return len(history) == 3

    out = tmp_path / "run"
    train(LinReg(), make_data(), config(epochs=2), out)
    result = train(LinReg(), make_data(), config(), out, resume=True, stop=stop)
    assert seen == [[1, 2, 3]]
    assert (result.stopped, result.epoch) == ("stop", 3)
    assert result.history == rows(out)


def test_the_checkpoint_does_not_grow_with_the_epochs(tmp_path):
    sizes = {}
    for epochs in (1, 30):
        train(LinReg(), make_data(), config(epochs=epochs), tmp_path / str(epochs))
        sizes[epochs] = (tmp_path / str(epochs) / "checkpoint.pt").stat().st_size
        assert "history" not in load_checkpoint(tmp_path / str(epochs) / "checkpoint.pt")
    assert abs(sizes[30] - sizes[1]) < 64, sizes  # a few bytes: the counters' encoding


def test_a_checkpoint_with_its_history_inside_still_resumes(tmp_path, full):
    """Checkpoints of reparam before 2026-12 carried the history; metrics.jsonl was then
    rewritten each epoch. Such a run resumes, its metrics.jsonl rewritten from the
    checkpoint's history (whatever the file held)."""
    out = tmp_path / "run"
    train(Noisy(), make_data(), config(epochs=2), out)
    old = load_checkpoint(out / "checkpoint.pt")
    del old["checksum"]
    old["history"] = rows(out)
    save_checkpoint(out / "checkpoint.pt", old)
    (out / "metrics.jsonl").write_text('{"epoch": 1}\n')  # not the history: rewritten
    _resume_equals_full(full, out)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: p.unlink(), "holds 0 whole row(s), fewer than the 2"),
        (lambda p: p.write_bytes(p.read_bytes()[:-5]), "holds 1 whole row(s)"),
        (lambda p: p.write_text('{"epoch": 1, "step": 4}\n{"epoch": 3}\n'), "line 2"),
        (lambda p: p.write_text("not json\n"), "line 1"),
        (lambda p: p.write_text('{"epoch": 1}\n{"epoch": 2, "step": 7}\n'), "at step 7"),
    ],
    ids=["missing", "short", "gap", "garbage", "another-run"],
)
def test_a_lost_history_is_a_clear_error(tmp_path, damage, words):
    out = tmp_path / "run"
    train(LinReg(), make_data(), config(epochs=2), out)
    damage(out / "metrics.jsonl")
    before = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(CheckpointError, match="metrics.jsonl") as err:
        train(LinReg(), make_data(), config(), out, resume=True)
    assert words in str(err.value)
    assert (out / "checkpoint.pt").read_bytes() == before


def test_null_is_read_back_as_nan(tmp_path):
    class InfMetric(LinReg):
        def training_step(self, batch, step):
            return {**super().training_step(batch, step), "ratio": torch.tensor(float("inf"))}

    out = tmp_path / "run"
    train(InfMetric(), make_data(), config(epochs=1), out)
    assert rows(out)[0]["ratio"] is None
    result = train(InfMetric(), make_data(), config(epochs=2), out, resume=True)
    assert result.history[0]["ratio"] != result.history[0]["ratio"]  # NaN
    assert [r["ratio"] for r in rows(out)] == [None, None]


def test_a_short_metrics_write_is_cut_back_and_stops_the_run(tmp_path, monkeypatch):
    out = tmp_path / "run"
    train(LinReg(), make_data(), config(epochs=2), out)
    real_write = os.write

    def short(fd, data):
        return real_write(fd, data[: len(data) // 2])  # a full disk: half of the line

    monkeypatch.setattr(_loop_state.os, "write", short)
    result = train(LinReg(), make_data(), config(), out, resume=True)
    monkeypatch.undo()
    assert (result.stopped, result.epoch) == ("write_failed", 2)
    assert "No space left on device" in result.message
    assert_one_line_per_epoch(out, 2)  # no half line left
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 2


# --------------------------------------------------------------------------- the rule
class Clocked(LinReg):
    """Each step takes one second of a fake clock (4 steps an epoch)."""

    def __init__(self, now):
        super().__init__()
        self.now = now

    def training_step(self, batch, step):
        self.now[0] += 1.0
        return super().training_step(batch, step)


@pytest.mark.parametrize(
    ("every", "seconds", "saved"),
    [
        (1, None, [1, 2, 3, 4, 5]),
        (2, None, [2, 4, 5]),
        (None, None, [5]),  # the end only
        (None, 6.0, [2, 4, 5]),  # 8 s, 16 s since the start; then the end
        (None, 12.0, [3, 5]),
        (3, 6.0, [2, 3, 5]),  # whichever comes first: 8 s, epoch 3, (4 s later) the end
    ],
)
def test_checkpoints_by_epochs_by_time_and_at_the_end(tmp_path, monkeypatch, every, seconds,
                                                      saved):  # fmt: skip
    now = [0.0]
    monkeypatch.setattr(_loop, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    written = []
    real = _loop.save_checkpoint

    def save(path, snap):
        written.append(snap["epoch"])
        real(path, snap)

    monkeypatch.setattr(_loop, "save_checkpoint", save)
    cfg = config(epochs=5, checkpoint_every=every, checkpoint_seconds=seconds)
    result = train(Clocked(now), make_data(), cfg, tmp_path)
    assert result.epoch == 5
    assert written == saved
    assert_one_line_per_epoch(tmp_path, 5)


def test_an_interrupt_saves_the_epoch_the_time_rule_skipped(tmp_path, full):
    out = tmp_path / "run"
    cfg = config(checkpoint_every=None, checkpoint_seconds=3600.0)
    cut = train(Noisy(interrupt_at=13), make_data(), cfg, out)
    assert (cut.stopped, cut.epoch) == ("interrupted", 3)
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 3
    assert_one_line_per_epoch(out, 3)
    _resume_equals_full(full, out)


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "30"])
def test_bad_checkpoint_seconds_names_the_field(value):
    with pytest.raises(ValueError, match="checkpoint_seconds"):
        TrainConfig(checkpoint_seconds=value)
