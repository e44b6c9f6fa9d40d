"""``reparam vae train|eval|sample`` end to end in a temporary directory."""

import json

import pytest

from reparam.cli import main

TINY = ["--epochs", "1", "--hidden", "16", "--batch-size", "256", "--no-progress"]


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae") / "run"
    assert main(["vae", "train", "--out", str(out), "--latent-dim", "2", *TINY]) == 0
    return out


def test_train_writes_everything(trained_dir):
    for name in (
        "config.json",
        "checkpoint.pt",
        "metrics.jsonl",
        "loss.png",
        "reconstructions.png",
        "samples.png",
        "latent.png",
    ):
        path = trained_dir / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name
    assert (trained_dir / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((trained_dir / "config.json").read_text())
    assert config["options"]["data"] == "digits"
    assert config["options"]["latent_dim"] == 2
    assert config["options"]["binarize"] == "auto"
    assert config["model"]["dynamic_binarize"] is True
    lines = (trained_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1
    assert {"loss", "elbo", "kl", "valid_loss"} <= set(json.loads(lines[0]))
    assert not list(trained_dir.glob(".*.tmp"))


def test_no_latent_plot_unless_2d(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = _run(["vae", "train", "--out", str(out), "--latent-dim", "3", *TINY], capsys)
    assert code == 0
    assert "test ELBO" in stdout
    assert (out / "samples.png").stat().st_size > 0
    assert not (out / "latent.png").exists()


def test_eval_prints_table_and_writes_json(trained_dir, capsys):
    code, out, _ = _run(["vae", "eval", str(trained_dir), "--k", "20", "--chunk", "7"], capsys)
    assert code == 0
    assert "test log-likelihood (k=20)" in out
    assert "test ELBO" in out
    assert "active units" in out
    result = json.loads((trained_dir / "eval.json").read_text())
    assert result["k"] == 20
    assert 0 <= result["active_units"] <= 2
    assert result["log_likelihood"] < 0
    assert result["n_test"] == 250


def test_sample_writes_png(trained_dir, capsys):
    (trained_dir / "samples.png").unlink()
    code, out, _ = _run(["vae", "sample", str(trained_dir), "--n", "9"], capsys)
    assert code == 0
    assert "samples.png" in out
    assert (trained_dir / "samples.png").stat().st_size > 0


def test_resume_continues(tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(["vae", "train", "--out", str(out), "--latent-dim", "2", *TINY], capsys)[0] == 0
    code, _, _ = _run(
        ["vae", "train", "--out", str(out), "--resume", "--epochs", "2", "--no-progress"], capsys
    )
    assert code == 0
    epochs = [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2]
    # a conflicting option is refused and names the option and the saved value
    code, _, err = _run(["vae", "train", "--out", str(out), "--resume", "--k", "3"], capsys)
    assert code == 2
    assert "--k 3" in err
    assert "saved: 1" in err


def test_existing_run_is_not_overwritten(trained_dir, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["vae", "train", "--out", str(trained_dir), *TINY])
    assert exc.value.code == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--objective", "vimco"], "invalid choice: 'vimco'"),
        (["--k", "0"], "--k must be >= 1"),
        (["--data", "cifar"], "invalid choice: 'cifar'"),
        (["--hidden", "a,b"], "layer widths"),
    ],
)
def test_bad_train_options(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["vae", "train", "--out", str(out), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_missing_data_dir(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "vae",
                "train",
                "--data",
                "mnist",
                "--data-dir",
                str(tmp_path / "nope"),
                "--out",
                str(out),
            ]
        )
    assert exc.value.code == 2
    assert "--data-dir" in capsys.readouterr().err
    assert not out.exists()
    # an existing directory without the files: the loader names the missing file
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _run(
        ["vae", "train", "--data", "mnist", "--data-dir", str(empty), "--out", str(out)], capsys
    )
    assert code == 2
    assert "train-images-idx3-ubyte" in err
    assert not out.exists()
    # no --data-dir and no default directory
    monkeypatch.setattr("reparam.data.default_data_dir", lambda name: None)
    with pytest.raises(SystemExit):
        main(["vae", "train", "--data", "mnist", "--out", str(out)])
    assert "pass --data-dir" in capsys.readouterr().err
    assert not out.exists()


def test_bernoulli_on_grey_data_without_binarization_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = _run(["vae", "train", "--binarize", "none", "--out", str(out), *TINY], capsys)
    assert code == 2
    assert "binary data" in err
    assert not out.exists()


@pytest.mark.parametrize("command", ["eval", "sample"])
def test_eval_and_sample_need_a_trained_dir(tmp_path, capsys, command):
    with pytest.raises(SystemExit) as exc:
        main(["vae", command, str(tmp_path)])
    assert exc.value.code == 2
    assert "config.json" in capsys.readouterr().err
    assert not (tmp_path / "eval.json").exists()


def test_eval_k_zero_is_refused(trained_dir, capsys):
    with pytest.raises(SystemExit):
        main(["vae", "eval", str(trained_dir), "--k", "0"])
    assert "--k must be >= 1" in capsys.readouterr().err


def test_flow_posterior_train_and_eval(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["vae", "train", "--out", str(out), "--latent-dim", "2", "--posterior", "iaf"]
    code, stdout, _ = _run([*argv, "--flow-length", "3", "--objective", "dreg", *TINY], capsys)
    assert code == 0, stdout
    config = json.loads((out / "config.json").read_text())
    assert config["options"]["flow_length"] == 3
    assert config["model"]["posterior"] == "iaf"
    assert (out / "latent.png").stat().st_size > 0
    code, stdout, _ = _run(["vae", "eval", str(out), "--k", "10"], capsys)
    assert code == 0, stdout
    assert json.loads((out / "eval.json").read_text())["log_likelihood"] < 0


def test_flow_length_needs_a_flow_posterior(tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["vae", "train", "--out", str(out), "--flow-length", "2"])
    assert exc.value.code == 2
    assert "--flow-length: needs --posterior planar or iaf" in capsys.readouterr().err


@pytest.mark.parametrize("posterior", ["vmf", "power-spherical"])
def test_sphere_posterior_train_and_eval(tmp_path, capsys, posterior):
    out = tmp_path / "run"
    argv = ["vae", "train", "--out", str(out), "--latent-dim", "3", "--posterior", posterior]
    code, stdout, _ = _run([*argv, *TINY], capsys)
    assert code == 0, stdout
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["posterior"] == posterior
    code, stdout, _ = _run(["vae", "eval", str(out), "--k", "10"], capsys)
    assert code == 0, stdout
    result = json.loads((out / "eval.json").read_text())
    assert result["log_likelihood"] < 0
    assert result["elbo"] <= result["log_likelihood"] + 1.0  # IS bound above the ELBO


def test_sphere_posterior_needs_two_dimensions(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["vae", "train", "--out", str(out), "--latent-dim", "1", "--posterior", "vmf"]
    code, _, err = _run([*argv, *TINY], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "needs latent_dim >= 2; got 1" in err
    assert not out.exists()
