"""Bad input that used to surface late or unclearly (issue 12, D11-D14, D20, D21, D23):
each command is run as a user runs it; the exit code is 2, the message one line that
names the problem, and nothing is left half-written."""

import json

import numpy as np
import pytest

from reparam.cli import attach_negative_values, main
from tests.data.test_images import fake_idx_set, idx_bytes, write

TINY_VAE = ["--epochs", "1", "--no-progress", "--hidden", "8", "--latent-dim", "2"]


def _fails(argv, capsys, *words, out=None):
    """Run; expect exit 2, one error line holding ``words``, and ``out`` not created."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, err)
    if out is not None:
        assert not out.exists()
    return lines[0]


def _mnist_like(directory, n_train=10_300, labels_fix=None):
    """An IDX set big enough for the CLI's 10000-image hold-out, 5×4 pixels."""
    fake_idx_set(directory, n_train=n_train, n_test=60)
    if labels_fix is not None:
        labels = (np.arange(n_train) % 10).astype(np.uint8)
        labels_fix(labels)
        write(directory / "train-labels-idx1-ubyte", idx_bytes(labels), False)
    return directory


def _uci(root, data_text=None, drop=()):
    d = root / "yacht"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.normal(size=(40, 4))
    if data_text is None:
        np.savetxt(d / "data.txt", data)
    else:
        (d / "data.txt").write_text(data_text)
    np.savetxt(d / "index_features.txt", [0, 1, 2], fmt="%d")
    np.savetxt(d / "index_target.txt", [3], fmt="%d")
    np.savetxt(d / "index_train_0.txt", np.arange(32), fmt="%d")
    np.savetxt(d / "index_test_0.txt", np.arange(32, 40), fmt="%d")
    for name in drop:
        (d / name).unlink()
    return root


# --------------------------------------------------------------------------- D11
def test_labels_outside_the_classes_are_named(tmp_path, capsys):
    def bad(labels):
        labels[17] = 12

    data = _mnist_like(tmp_path / "mnist", labels_fix=bad)
    out = tmp_path / "run"
    _fails(["bnn", "train", "--data", "mnist", "--data-dir", data, "--out", out,
            "--epochs", "1", "--no-progress"], capsys,
           "train-labels-idx1-ubyte", "label 12 at position 17", out=out)  # fmt: skip


def test_ood_set_is_read_beside_a_custom_data_dir_or_not_at_all(tmp_path, capsys):
    """With --data-dir, the OOD set (Fashion-MNIST for MNIST) comes from the sibling folder,
    never silently from the shared data; absent, OOD AUROC is skipped and said so."""
    root = tmp_path / "mine"
    data = _mnist_like(root / "mnist")
    argv = ["bnn", "train", "--data", "mnist", "--data-dir", str(data), "--epochs", "1",
            "--hidden", "8", "--samples", "2", "--no-progress"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "no out-of-distribution set" in err
    assert str(root / "fashion_mnist") in err
    assert main(["bnn", "eval", str(tmp_path / "a"), "--samples", "2"]) == 0
    assert "ood_auroc" not in json.loads((tmp_path / "a" / "eval.json").read_text())
    fake_idx_set(root / "fashion_mnist", n_train=20, n_test=30)
    assert main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert main(["bnn", "eval", str(tmp_path / "b"), "--samples", "2"]) == 0
    result = json.loads((tmp_path / "b" / "eval.json").read_text())
    assert result["ood_dir"] == str((root / "fashion_mnist").resolve())
    assert 0 <= result["ood_auroc"] <= 1


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda r: _uci(r, data_text=""), ["data.txt is empty"]),
        (
            lambda r: _uci(r, data_text="1 2 3 4\n" * 20 + "1 nan 3 4\n" + "1 2 3 4\n" * 19),
            ["data.txt: row 20", "nan", "finite"],
        ),
        (
            lambda r: _uci(r, data_text="1 2 3 4\n" * 20 + "1 1e39 3 4\n" + "1 2 3 4\n" * 19),
            ["row 20", "float32"],
        ),
        (lambda r: _uci(r, drop=["data.txt"]), ["data.txt: no such file"]),
        (lambda r: _uci(r, drop=["index_train_0.txt"]), ["index_train_0.txt: no such file"]),
    ],
    ids=["empty", "nan", "beyond float32", "no data.txt", "no index file"],
)
@pytest.mark.parametrize("command", ["uci", "train"])
def test_bad_uci_files_fail_before_training(tmp_path, capsys, make, words, command):
    root = make(tmp_path / "uci")
    out = tmp_path / "run"
    argv = (["bnn", "uci", "yacht"] if command == "uci" else ["bnn", "train", "--data",
            "uci:yacht"]) + ["--data-dir", root, "--out", out, "--epochs", "1"]  # fmt: skip
    _fails(argv, capsys, *words, out=out)


# --------------------------------------------------------------------------- D12
def test_compare_with_every_estimate_infinite_writes_its_files(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(["compare", "--f", "exp", "--mu", "800", "--repeats", "3", "--out", str(out)])
    assert code == 0
    assert (out / "variance.png").read_bytes()[:4] == b"\x89PNG"
    assert "inf" in (out / "compare.csv").read_text() or "nan" in (out / "compare.csv").read_text()


@pytest.mark.parametrize("value", ["-1", "99999999999999999999", "2147483648"])
@pytest.mark.parametrize(
    "command",
    [["compare"], ["vae", "train"], ["bnn", "train"], ["flow", "fit"], ["vi", "fit"]],
)
def test_every_command_takes_the_same_seeds(tmp_path, capsys, command, value):
    out = tmp_path / "run"
    _fails([*command, "--seed", value, "--out", out], capsys, "--seed", "between 0 and",
           out=out)  # fmt: skip


# --------------------------------------------------------------------------- D13
@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["vae", "train", "--latent-dim", "1000000000"], "--latent-dim 1000000000"),
        (["vae", "train", "--k", "100000000"], "--k 100000000"),
        (["bnn", "train", "--hidden", "1000000000"], "--hidden 1000000000"),
        (["bnn", "train", "--samples", "100000000"], "--samples 100000000"),
        (["flow", "fit", "--target", "banana", "--samples", "1000000000"], "--samples"),
        (["flow", "fit", "--hidden", "1000000,1000000"], "--hidden 1000000,1000000"),
        (["vi", "fit", "--particles", "100000000"], "--particles 100000000"),
        (["compare", "--num-samples", "100000000000"], "--num-samples 100000000000"),
    ],
)
def test_resource_sized_options_are_refused_before_allocating(tmp_path, capsys, argv, flag):
    out = tmp_path / "run"
    line = _fails([*argv, "--out", out], capsys, flag, "needs at least", "available", out=out)
    assert "memory" in line


def test_memory_check_lets_ordinary_runs_through():
    from reparam.cli._resources import check_memory, format_bytes

    check_memory(1e6, ["--k 1"])  # 1 MB
    with pytest.raises(ValueError, match="--k 9: needs at least 2 GB .* than the 1 GB"):
        check_memory(2e9, ["--k 9"], available=10**9)
    with pytest.raises(ValueError, match="needs at least inf"):
        check_memory(float("inf"), ["--k 9"], available=10**9)
    assert format_bytes(3.1e12) == "3.1 TB"


# --------------------------------------------------------------------------- D14
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["vae", "train", "--objective", "iwae", "--beta", "0.5"], ["--beta", "elbo"]),
        (
            ["vae", "train", "--objective", "dreg", "--warmup-steps", "10"],
            ["--warmup-steps", "elbo"],
        ),
        (["vae", "train", "--data-dir", "."], ["--data-dir", "digits"]),
        (["bnn", "train", "--split", "3"], ["--split", "uci:NAME"]),
        (["bnn", "train", "--data", "uci:yacht", "--arch", "conv"], ["--arch", "uci:yacht"]),
        (["bnn", "train", "--noise", "0.1"], ["--noise", "regression"]),
        (["bnn", "train", "--data-dir", "."], ["--data-dir", "digits"]),
    ],
)
def test_options_that_do_not_apply_are_refused(tmp_path, capsys, argv, words):
    out = tmp_path / "run"
    _fails([*argv, "--out", out], capsys, *words, out=out)


def test_data_dir_on_a_digits_run_is_refused_at_eval(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["vae", "train", "--out", str(out), *TINY_VAE]) == 0
    assert main(["bnn", "train", "--out", str(tmp_path / "bnn"), "--epochs", "1",
                 "--hidden", "8", "--samples", "2", "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    _fails(["vae", "eval", out, "--data-dir", tmp_path], capsys, "--data-dir", "digits")
    _fails(["bnn", "eval", tmp_path / "bnn", "--data-dir", tmp_path], capsys, "--data-dir")
    assert not (out / "eval.json").exists()


# --------------------------------------------------------------------------- D20
def test_csv_values_beyond_float32_are_named(tmp_path, capsys):
    rows = np.random.default_rng(0).normal(size=(50, 2))
    rows[7, 1] = 1e39
    path = tmp_path / "big.csv"
    np.savetxt(path, rows, delimiter=",")
    out = tmp_path / "run"
    _fails(["flow", "fit", "--data", path, "--out", out, "--epochs", "1"], capsys,
           "float32", "row 8", "column 2", out=out)  # fmt: skip


def test_csv_values_near_float32_limit_are_standardized_exactly(tmp_path, capsys):
    """Values of 1e37 fit float32 but their float32 sum overflows: standardizing in float64
    keeps the fit finite (before: a 35-line NaN dump)."""
    rows = np.random.default_rng(0).normal(size=(200, 2)) * 1e36 + 3e37
    path = tmp_path / "huge.csv"
    np.savetxt(path, rows, delimiter=",")
    out = tmp_path / "run"
    code = main(["flow", "fit", "--data", str(path), "--out", str(out), "--epochs", "2",
                 "--batch-size", "32", "--no-progress"])  # fmt: skip
    assert code == 0
    result = json.loads((out / "result.json").read_text())
    assert result["test_nll"] is not None
    assert np.isfinite(result["test_nll"])


# --------------------------------------------------------------------------- D21
@pytest.mark.parametrize(
    "argv",
    [
        ["vae", "train", "--data", "mnist"],
        ["bnn", "train", "--data", "mnist"],
        ["bnn", "uci", "yacht"],
        ["bnn", "train", "--data", "uci:yacht"],
    ],
)
def test_reparam_data_dir_naming_no_directory_is_an_error(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.setenv("REPARAM_DATA_DIR", str(tmp_path / "missing"))
    out = tmp_path / "run"
    _fails([*argv, "--out", out, "--epochs", "1"], capsys, "REPARAM_DATA_DIR",
           "is not a directory", out=out)  # fmt: skip


# --------------------------------------------------------------------------- D23
@pytest.mark.parametrize(
    "command", [["vae", "train"], ["bnn", "train"], ["flow", "fit"], ["vi", "fit"]]
)
def test_a_negative_learning_rate_is_named_as_such(tmp_path, capsys, command):
    out = tmp_path / "run"
    _fails([*command, "--lr", "-1e-3", "--out", out], capsys, "--lr", "> 0", "'-1e-3'", out=out)


def test_attach_negative_values():
    assert attach_negative_values(["--lr", "-1e-3", "--mu", "-2", "--x", "y"]) == [
        "--lr=-1e-3", "--mu=-2", "--x", "y",
    ]  # fmt: skip
    assert attach_negative_values(["--num-samples", "-1,10"]) == ["--num-samples=-1,10"]
    assert attach_negative_values(["--", "-1"]) == ["--", "-1"]
    assert attach_negative_values(["-h"]) == ["-h"]
