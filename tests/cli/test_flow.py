"""``reparam flow fit`` end to end in a temporary directory."""

import json
import math

import numpy as np
import pytest

from reparam.cli import main

TINY = ["--layers", "2", "--hidden", "16,16", "--no-progress"]
PNG = b"\x89PNG\r\n\x1a\n"


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _files(out, names):
    for name in names:
        path = out / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == PNG, name
    assert not list(out.glob(".*.tmp"))


ALL = ("config.json", "checkpoint.pt", "metrics.jsonl", "result.json", "loss.png", "samples.png")


def test_fit_moons(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["flow", "fit", "--out", str(out), "--epochs", "2", "--n-train", "1024", *TINY]
    code, stdout, _ = _run(argv, capsys)
    assert code == 0
    assert "test NLL" in stdout
    _files(out, (*ALL, "density.png"))
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["data"] == "moons"
    assert config["options"]["flow"] == "maf"
    assert config["options"]["target"] is None
    assert config["options"]["samples"] is None
    assert config["features"] == 2
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 2]
    assert {"loss", "nll", "valid_loss", "valid_nll"} <= set(lines[0])
    res = json.loads((out / "result.json").read_text())
    assert (res["n_train"], res["n_valid"], res["n_test"]) == (1024, 2000, 2000)
    for key in ("train_nll", "valid_nll", "test_nll", "gaussian_test_nll"):
        assert math.isfinite(res[key])
    # moons in [-4, 4]²: NLLs are a few nats; the Gaussian's is ≈ 3.3 (measured)
    assert 0 < res["test_nll"] < 5
    assert 3.0 < res["gaussian_test_nll"] < 3.6
    assert 0 < res["test_nll_se"] < 0.1
    assert res["epochs"] == 2
    assert res["steps"] == 2 * (1024 // 256)


def test_fit_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3)) @ np.array([[1.0, 0.5, 0.0], [0.0, 2.0, 0.3], [0, 0, 1]])
    path = tmp_path / "data.csv"
    lines = ["a,b,c"] + [",".join(f"{v:.6f}" for v in row) for row in x]
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    argv = ["flow", "fit", "--data", str(path), "--out", str(out), "--epochs", "2"]
    code, _, _ = _run([*argv, "--batch-size", "64", "--flow", "realnvp", *TINY], capsys)
    assert code == 0
    _files(out, ALL)
    assert not (out / "density.png").exists()  # 3-D data: no density image
    res = json.loads((out / "result.json").read_text())
    assert (res["n_train"], res["n_valid"], res["n_test"], res["features"]) == (240, 30, 30, 3)
    # standardized Gaussian data: the Gaussian fit's train NLL is near (3/2)(log 2π + 1)
    assert abs(res["gaussian_train_nll"] - 1.5 * (math.log(2 * math.pi) + 1)) < 0.3
    assert math.isfinite(res["test_nll"])
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["data"] == str(path.resolve())
    assert config["options"]["n_train"] is None
    assert config["options"]["bins"] is None


def test_fit_target_banana(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["flow", "fit", "--target", "banana", "--out", str(out), "--epochs", "2"]
    code, stdout, _ = _run([*argv, "--steps-per-epoch", "20", "--samples", "64", *TINY], capsys)
    assert code == 0
    assert "KL(q‖p)" in stdout
    _files(out, (*ALL, "density.png"))
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["flow"] == "iaf"
    assert config["options"]["data"] is None
    res = json.loads((out / "result.json").read_text())
    assert res["log_z_source"] == "closed form"
    assert res["log_z"] == pytest.approx(math.log(4 * math.pi))
    assert res["kl"] == pytest.approx(res["log_z"] - res["elbo"])
    assert res["kl"] > -4 * res["kl_se"]  # KL ≥ 0 up to noise
    assert 0 < res["ess_fraction"] <= 1
    assert res["steps"] == 40
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "elbo"} <= set(lines[0])


def test_target_without_closed_form_uses_quadrature(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["flow", "fit", "--target", "u1", "--flow", "maf", "--out", str(out)]
    code, _, _ = _run([*argv, "--epochs", "1", "--steps-per-epoch", "5", *TINY], capsys)
    assert code == 0
    res = json.loads((out / "result.json").read_text())
    assert res["log_z_source"] == "quadrature"
    assert math.isfinite(res["kl"])


def test_resume_continues(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["flow", "fit", "--out", str(out), "--n-train", "512", "--no-progress"]
    assert _run([*base, "--epochs", "1", "--layers", "2"], capsys)[0] == 0
    resume = ["flow", "fit", "--out", str(out), "--resume", "--no-progress"]
    code, _, _ = _run([*resume, "--epochs", "2"], capsys)
    assert code == 0
    epochs = [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    assert json.loads((out / "config.json").read_text())["options"]["epochs"] == 2
    assert json.loads((out / "result.json").read_text())["epochs"] == 2
    # conflicting options are refused, name the option and the saved value, change nothing
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for extra, saved in ((["--layers", "3"], "saved: 2"), (["--target", "banana"], "saved: None")):
        code, _, err = _run([*resume, *extra], capsys)
        assert code == 2
        assert saved in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(SystemExit) as exc:
        main(["flow", "fit", "--out", str(out)])
    assert exc.value.code == 2
    assert "--resume" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "moons", "--target", "banana"], "not both"),
        (["--data", "blobs"], "unknown toy data set 'blobs'"),
        (["--flow", "glow"], "invalid choice: 'glow'"),
        (["--target", "donut"], "invalid choice: 'donut'"),
        (["--data", "missing.csv"], "no such file"),
        (["--resume"], "no config.json and checkpoint.pt"),
        (["--target", "banana", "--batch-size", "8"], "--batch-size: applies only"),
        (["--samples", "8"], "--samples: applies only"),
        (["--anneal-steps", "8"], "--anneal-steps: applies only"),
        (["--target", "u1", "--anneal-steps", "-1"], "must be >= 0"),
        (["--flow", "planar", "--hidden", "8"], "no conditioner"),
        (["--bins", "4"], "only to --flow nsf"),
        (["--layers", "0"], "--layers must be >= 1"),
    ],
)
def test_bad_options_write_nothing(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["flow", "fit", "--out", str(out), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bad_csv_content_writes_nothing(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("1,2\n3\n")
    out = tmp_path / "run"
    code, _, err = _run(["flow", "fit", "--data", str(path), "--out", str(out)], capsys)
    assert code == 2
    assert "bad.csv" in err
    assert "ragged" in err
    assert not out.exists()
