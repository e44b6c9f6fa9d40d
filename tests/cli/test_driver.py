"""The training-command driver (:mod:`reparam.cli._driver`) and the history plot, where the
per-command tests do not reach: rank-0-only writes under torchrun, the metrics reader."""

import json

import pytest

from reparam.cli import main
from reparam.cli._common import read_history
from reparam.plots.history import BOUND_PANELS, history_curves

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
