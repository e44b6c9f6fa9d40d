"""``reparam bnn train|eval|uci`` end to end in a temporary directory; bad input writes nothing."""

import json
from pathlib import Path

import pytest

from reparam.cli import main

REAL = Path("/work/shared/data/uci")
TINY = ["--epochs", "1", "--samples", "5", "--no-progress"]


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bnn") / "run"
    assert main(["bnn", "train", "--data", "digits", "--out", str(out), *TINY]) == 0
    return out


def test_train_writes_everything(trained_dir):
    for name in ("config.json", "checkpoint.pt", "metrics.jsonl", "loss.png",
                 "reliability.png", "entropy.png"):  # fmt: skip
        path = trained_dir / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name
    assert (trained_dir / "entropy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((trained_dir / "config.json").read_text())
    assert config["kind"] == "classification"
    assert config["options"]["data"] == "digits"
    assert config["model"]["hidden"] == [100]
    assert config["model"]["in_shape"] == [1, 8, 8]
    lines = (trained_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert {"loss", "nll", "kl", "valid_loss", "valid_accuracy"} <= set(json.loads(lines[0]))
    assert not list(trained_dir.glob(".*.tmp"))


def test_eval_prints_table_and_writes_json(trained_dir, capsys):
    code, out, _ = _run(["bnn", "eval", str(trained_dir), "--samples", "4"], capsys)
    assert code == 0
    for label in ("accuracy", "NLL", "ECE", "OOD AUROC"):
        assert label in out
    result = json.loads((trained_dir / "eval.json").read_text())
    assert result["n_test"] == 250
    assert result["samples"] == 4
    assert 0 <= result["accuracy"] <= 1
    assert 0 <= result["ece"] <= 1
    assert 0 <= result["ood_auroc"] <= 1
    assert result["ood_set"] == "flipped"


def test_resume_continues(trained_dir, capsys):
    code, _, _ = _run(["bnn", "train", "--out", str(trained_dir), "--resume", "--epochs", "2",
                       "--no-progress"], capsys)  # fmt: skip
    assert code == 0
    assert len((trained_dir / "metrics.jsonl").read_text().splitlines()) == 2


def test_train_uci_split(tmp_path, capsys):
    if not (REAL / "yacht").is_dir():
        pytest.skip("no UCI data in shared/data")
    out = tmp_path / "run"
    code, stdout, _ = _run(["bnn", "train", "--data", "uci:yacht", "--data-dir", str(REAL),
                            "--out", str(out), *TINY], capsys)  # fmt: skip
    assert code == 0
    assert "RMSE" in stdout
    assert "test log-likelihood" in stdout
    assert (out / "loss.png").stat().st_size > 0
    code, stdout, _ = _run(["bnn", "eval", str(out)], capsys)
    assert code == 0
    assert json.loads((out / "eval.json").read_text())["rmse"] > 0


@pytest.mark.skipif(not (REAL / "bostonHousing").is_dir(), reason="no UCI data in shared/data")
def test_uci_protocol(tmp_path, capsys):
    out = tmp_path / "uci"
    code, stdout, _ = _run(["bnn", "uci", "bostonHousing", "--splits", "2", "--epochs", "2",
                            "--samples", "10", "--out", str(out)], capsys)  # fmt: skip
    assert code == 0
    assert "RMSE" in stdout
    assert "±" in stdout
    result = json.loads((out / "uci.json").read_text())
    assert result["splits"] == 2
    assert len(result["per_split"]) == 2
    assert result["summary"]["rmse"]["mean"] > 0
    assert result["options"]["hidden"] == [50]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bnn", "train", "--estimator", "reinforce"], "reinforce"),
        (["bnn", "train", "--prior-scale", "-1"], "--prior-scale"),
        (["bnn", "train", "--data", "uci:housing"], "uci:housing"),
        (["bnn", "uci", "housing"], "housing"),
        (["bnn", "train", "--data", "mnist", "--data-dir", "MISSING"], "--data-dir"),
        (["bnn", "uci", "bostonHousing", "--data-dir", "MISSING"], "--data-dir"),
    ],
)
def test_bad_input_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    argv = [str(tmp_path / "nope") if a == "MISSING" else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", str(out)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_empty_data_dir_names_the_file(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _run(["bnn", "uci", "yacht", "--data-dir", str(tmp_path), "--out", str(out)],
                        capsys)  # fmt: skip
    assert code == 2
    assert "yacht" in err
    assert not out.exists()


def test_eval_needs_a_trained_dir(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bnn", "eval", str(tmp_path)])
    assert exc.value.code == 2
    assert "config.json" in capsys.readouterr().err
    assert not (tmp_path / "eval.json").exists()
