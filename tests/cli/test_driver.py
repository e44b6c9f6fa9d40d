"""The training-command driver (:mod:`reparam.cli._driver`) and the history plot, where the
per-command tests do not reach: rank-0-only writes under torchrun, the metrics reader."""

import json

import pytest

from reparam.cli import main
from reparam.cli._common import checkpoint_rule, read_history
from reparam.plots.history import BOUND_PANELS, history_curves
from reparam.training import TrainConfig

FAST = {
    "vae": ["vae", "train", "--epochs", "1", "--hidden", "16", "--batch-size", "256"],
    "bnn": ["bnn", "train", "--epochs", "1", "--hidden", "16"],
    "flow": ["flow", "fit", "--epochs", "1", "--n-train", "512", "--layers", "2",
             "--hidden", "16,16"],
    "flow-target": ["flow", "fit", "--target", "banana", "--epochs", "1", "--layers", "2",
                    "--hidden", "16,16", "--samples", "32", "--steps-per-epoch", "4"],
}  # fmt: skip
#: what only rank 0 writes (the loop itself writes checkpoint.pt and metrics.jsonl).
RANK0_FILES = ("config.json", "run.json", "result.json", "loss.png", "samples.png",
               "density.png", "reconstructions.png", "reliability.png", "entropy.png")  # fmt: skip


@pytest.mark.parametrize("command", sorted(FAST))
def test_only_rank_0_writes_and_reports(tmp_path, capsys, monkeypatch, command):
    """Under torchrun every process runs the command: a rank other than 0 trains but writes
    no config, results or plots and prints nothing (as rank 0 does for it)."""
    monkeypatch.setenv("RANK", "1")
    out = tmp_path / "run"
    assert main([*FAST[command], "--no-progress", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "training a" not in captured.err
    assert "fitting" not in captured.err
    written = {p.name for p in out.iterdir()} if out.is_dir() else set()
    assert not written & set(RANK0_FILES), written


@pytest.mark.parametrize("command", ["bnn", "flow-target"])
def test_rank_0_writes_everything(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("RANK", "0")
    out = tmp_path / "run"
    assert main([*FAST[command], "--no-progress", "--out", str(out)]) == 0
    assert "wrote config.json, checkpoint.pt, metrics.jsonl" in capsys.readouterr().out
    assert {"config.json", "loss.png"} <= {p.name for p in out.iterdir()}


def test_read_history(tmp_path):
    assert read_history(tmp_path) == []
    rows = [{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5, "valid_loss": 1.7}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n\n")
    assert read_history(tmp_path) == rows


def test_history_curves_panels():
    history = [{"epoch": 1, "loss": 2.0, "kl": 0.5}, {"epoch": 2, "loss": float("nan")}]
    assert len(history_curves(history, BOUND_PANELS).axes) == 2
    # a panel no epoch logged is left out; the first stays when nothing is logged
    assert len(history_curves([{"epoch": 1, "loss": 1.0}], BOUND_PANELS).axes) == 1
    fig = history_curves([], (("loss", "NLL"),), title="t")
    assert [ax.get_ylabel() for ax in fig.axes] == ["NLL"]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("1", {"checkpoint_every": 1, "checkpoint_seconds": None}),
        ("25", {"checkpoint_every": 25, "checkpoint_seconds": None}),
        ("30s", {"checkpoint_every": None, "checkpoint_seconds": 30.0}),
        ("0.5s", {"checkpoint_every": None, "checkpoint_seconds": 0.5}),
        ("2.5m", {"checkpoint_every": None, "checkpoint_seconds": 150.0}),
        ("1H", {"checkpoint_every": None, "checkpoint_seconds": 3600.0}),
    ],
)
def test_checkpoint_every_takes_epochs_or_a_time(text, rule):
    assert checkpoint_rule(text) == rule
    TrainConfig(**rule)  # a valid configuration


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("0", "must be >= 1 epoch"),
        ("-3", "must be >= 1 epoch"),
        ("1.5", "expected a number of epochs"),
        ("ten", "expected a number of epochs"),
        ("", "expected a number of epochs"),
        ("0s", "finite and > 0"),
        ("-2m", "finite and > 0"),
        ("nans", "finite and > 0"),
        ("infh", "finite and > 0"),
        ("xs", "expected a number of epochs"),
    ],
)
@pytest.mark.parametrize("command", ["vae", "bnn", "flow"])
def test_a_bad_checkpoint_every_is_one_line(tmp_path, capsys, command, value, words):
    out = tmp_path / "run"
    try:
        code = main([*FAST[command], "--no-progress", "--out", str(out), "--checkpoint-every",
                     value])  # fmt: skip
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1, err
    assert "--checkpoint-every" in lines[0], err
    assert words in lines[0], err
    assert not out.exists()


def test_the_default_checkpoint_rule_is_documented_and_used(tmp_path, capsys, monkeypatch):
    from reparam.cli import _driver

    with pytest.raises(SystemExit):
        main(["vae", "train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--checkpoint-every N|TIME" in help_text
    assert f"(default {_driver.CHECKPOINT_EVERY};" in help_text
    seen = []
    real = _driver.TrainCommand.fit

    def fit(self, model, prepared, args):
        seen.append(prepared.config)
        return real(self, model, prepared, args)

    monkeypatch.setattr(_driver.TrainCommand, "fit", fit)
    assert main([*FAST["vae"], "--no-progress", "--out", str(tmp_path / "a")]) == 0
    assert main([*FAST["vae"], "--no-progress", "--out", str(tmp_path / "b"),
                 "--checkpoint-every", "5"]) == 0  # fmt: skip
    default, given = ((c.checkpoint_every, c.checkpoint_seconds) for c in seen)
    assert default == (None, 30.0)
    assert given == (5, None)
