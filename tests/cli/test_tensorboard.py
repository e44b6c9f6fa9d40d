"""``--tensorboard [DIR]`` on the training commands (``vae train``, ``bnn train``, ``flow
fit`` in both modes, ``bnn uci``): the events, read back with TensorBoard's readers, equal
``metrics.jsonl``, after an interrupt and ``--resume`` too; rank ≠ 0 writes none; without
the package it is one line and nothing is written."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import reparam
from reparam.cli import main
from tests.cli.test_driver import FAST
from tests.cli.test_run_faults import ENV, _as_foreground, _signal_when, _uci_root
from tests.tensorboard_events import assert_events_equal_metrics, metrics_rows

#: two epochs of each training command (the later --epochs wins).
TWO = {name: [*argv, "--epochs", "2", "--no-progress"] for name, argv in FAST.items()}
EXTRA = "pip install 'reparam[tensorboard]'"


@pytest.fixture
def tb():
    pytest.importorskip("tensorboard")


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.usefixtures("tb")
@pytest.mark.parametrize("command", sorted(TWO))
def test_the_events_equal_metrics_jsonl(tmp_path, capsys, command):
    out = tmp_path / "run"
    code, stdout, _ = _run([*TWO[command], "--out", out, "--tensorboard"], capsys)
    assert code == 0
    rows = metrics_rows(out)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert_events_equal_metrics(out / "tensorboard", rows)
    assert f"TensorBoard events to {out / 'tensorboard'}" in stdout
    assert "tensorboard" in json.loads((out / "run.json").read_text())["outputs"]


@pytest.mark.usefixtures("tb")
def test_a_directory_of_ones_own(tmp_path, capsys):
    out, events = tmp_path / "run", tmp_path / "tb" / "bnn-1"
    code, _, _ = _run([*TWO["bnn"], "--out", out, "--tensorboard", events], capsys)
    assert code == 0
    assert_events_equal_metrics(events, metrics_rows(out))
    assert not (out / "tensorboard").exists()


def _interrupt_loop(monkeypatch, at_step):
    """Ctrl-C in the shared loop when it reaches step ``at_step``."""
    from reparam import _loop

    real = _loop.Loop._step

    def step(self, batch, b, sums):
        if self.step == at_step:
            raise KeyboardInterrupt
        return real(self, batch, b, sums)

    monkeypatch.setattr(_loop.Loop, "_step", step)


def _interrupt_vi(monkeypatch, at_call):
    """Ctrl-C in ``flow fit --target``'s own epoch loop, in epoch ``at_call``."""
    from reparam.vi import flow_fit

    real, calls = flow_fit.fit, []

    def fit(*args, **kw):
        calls.append(1)
        if len(calls) == at_call:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(flow_fit, "fit", fit)


@pytest.mark.usefixtures("tb")
@pytest.mark.parametrize("command", ["vae", "flow-target"])
def test_interrupted_and_resumed_the_events_still_equal_metrics_jsonl(
    tmp_path, capsys, monkeypatch, command
):
    """vae goes through the shared loop, flow fit --target through its own epoch loop."""
    out = tmp_path / "run"
    argv = [*FAST[command], "--no-progress", "--out", out, "--epochs", "4", "--tensorboard"]
    with monkeypatch.context() as patch:
        if command == "vae":
            _interrupt_loop(patch, at_step=12)  # in epoch 3 (5 steps an epoch)
        else:
            _interrupt_vi(patch, at_call=3)
        code, _, err = _run(argv, capsys)
    assert code == 130, err
    assert [r["epoch"] for r in metrics_rows(out)] == [1, 2]
    assert_events_equal_metrics(out / "tensorboard", metrics_rows(out))
    code, _, err = _run([*argv, "--resume"], capsys)
    assert code == 0, err
    rows = metrics_rows(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert_events_equal_metrics(out / "tensorboard", rows)


@pytest.mark.parametrize("command", sorted(TWO))
def test_a_rank_other_than_0_writes_no_events(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("RANK", "1")
    out, events = tmp_path / "run", tmp_path / "tb"
    for where in ([], [events]):
        code, _, _ = _run([*FAST[command], "--no-progress", "--out", out, "--overwrite",
                           "--tensorboard", *where], capsys)  # fmt: skip
        assert code == 0
    assert not (out / "tensorboard").exists()
    assert not events.exists()


@pytest.mark.parametrize("command", [*sorted(TWO), "uci"])
def test_without_the_package_it_is_one_line_and_nothing_is_written(
    tmp_path, capsys, monkeypatch, command
):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # the import fails
    out = tmp_path / "run"
    argv = ["bnn", "uci", "yacht", "--data-dir", _uci_root(tmp_path)] if command == "uci" else (
        TWO[command])  # fmt: skip
    code, stdout, err = _run([*argv, "--out", out, "--tensorboard"], capsys)
    assert code == 2
    assert stdout == ""
    assert err.count("\n") == 1, err
    assert EXTRA in err
    assert "Traceback" not in err
    assert not out.exists()


def _this_reparam_env():
    """The subprocess environment with this checkout's reparam first on the path."""
    src = str(Path(reparam.__file__).parents[1])
    return {**ENV, "PYTHONPATH": os.pathsep.join([src, ENV.get("PYTHONPATH", "")])}


@pytest.mark.usefixtures("tb")
def test_sigterm_closes_the_events_and_resume_completes_them(tmp_path):
    """A real SIGTERM to the command: what is on disk equals metrics.jsonl (the epoch's
    events are written with its row, under the deferred signal), and so after --resume."""
    argv = [*FAST["vae"], "--no-progress", "--epochs", "40", "--checkpoint-every", "3",
            "--out", "run", "--tensorboard"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "reparam", *argv], cwd=tmp_path,
                            env=_this_reparam_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_foreground)  # fmt: skip
    events = tmp_path / "run" / "tensorboard"
    metrics = tmp_path / "run" / "metrics.jsonl"

    def one_epoch_written() -> bool:
        # the events file opens before the first epoch ends: wait for that epoch's row
        # too (on a loaded machine the signal could otherwise land before any row)
        return any(events.glob("events.*")) and metrics.is_file() and metrics.stat().st_size > 0

    code, err = _signal_when(proc, one_epoch_written, signal.SIGTERM)
    assert code == 143, err
    out = tmp_path / "run"
    done = len(metrics_rows(out))
    assert 1 <= done < 40
    assert_events_equal_metrics(events, metrics_rows(out))
    subprocess.run([sys.executable, "-m", "reparam", *argv, "--resume"], cwd=tmp_path,
                   env=_this_reparam_env(), check=True, capture_output=True)  # fmt: skip
    assert len(metrics_rows(out)) == 40
    assert_events_equal_metrics(events, metrics_rows(out))


def test_without_the_package_in_a_fresh_process(tmp_path):
    """The real chain: no ``tensorboard`` module, so torch.utils.tensorboard fails to import."""
    argv = [*TWO["bnn"], "--out", "run", "--tensorboard"]
    code = (
        "import sys; sys.modules['tensorboard'] = None; from reparam.cli import main; "
        f"sys.exit(main({argv!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_this_reparam_env(),
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [
        f"reparam bnn train: error: --tensorboard: TensorBoard logging needs the tensorboard "
        f"package: {EXTRA}"
    ]
    assert not (tmp_path / "run").exists()


@pytest.mark.usefixtures("tb")
def test_bnn_uci_writes_one_events_directory_per_split(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["bnn", "uci", "yacht", "--epochs", "2", "--samples", "2", "--splits", "2",
            "--data-dir", _uci_root(tmp_path), "--out", out, "--tensorboard"]  # fmt: skip
    code, _, err = _run(argv, capsys)
    assert code == 0, err
    assert sorted(p.name for p in (out / "tensorboard").iterdir()) == ["split-00", "split-01"]
    for split in ("split-00", "split-01"):
        assert_events_equal_metrics(out / "tensorboard" / split, metrics_rows(out / split))


@pytest.mark.usefixtures("tb")
def test_overwrite_removes_the_old_events(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run([*FAST["bnn"], "--no-progress", "--out", out, "--tensorboard"], capsys)[0] == 0
    assert (out / "tensorboard").is_dir()
    assert _run([*FAST["bnn"], "--no-progress", "--out", out, "--overwrite"], capsys)[0] == 0
    assert not (out / "tensorboard").exists()


@pytest.mark.parametrize("command", [["vae", "train"], ["bnn", "train"], ["flow", "fit"],
                                     ["bnn", "uci"]])  # fmt: skip
def test_help_documents_the_option(capsys, command):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--tensorboard [DIR]" in text
    assert EXTRA in text
    assert "a resume rewrites them to match metrics.jsonl" in text
