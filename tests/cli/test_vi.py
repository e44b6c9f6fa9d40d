"""``reparam vi fit`` end to end in a temporary directory."""

import csv
import json
import math

import pytest

from reparam.cli import build_parser, main
from reparam.cli.vi import OUTPUTS

PNG = b"\x89PNG\r\n\x1a\n"


def _run(argv, capsys):
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _files(out):
    for name in OUTPUTS:
        path = out / name
        assert path.is_file(), name
        assert path.stat().st_size > 0, name
        if name.endswith(".png"):
            assert path.read_bytes()[:8] == PNG, name
    assert not list(out.glob(".*.tmp"))


def test_defaults():
    args = build_parser().parse_args(["vi", "fit"])
    assert (args.model, args.guide, args.noise) == ("eight-schools-nc", "meanfield", "mc")
    assert args.rank is None
    assert args.flow is None


def test_fit_linear_meanfield(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["vi", "fit", "--model", "linear", "--guide", "meanfield", "--out", str(out)]
    argv += ["--steps", "600", "--lr", "0.05", "--particles", "8", "--stl", "--no-progress"]
    code, stdout, _ = _run(argv, capsys)
    assert code == 0, stdout
    _files(out)
    assert "k̂" in stdout
    assert "w[4]" in stdout
    config = json.loads((out / "config.json").read_text())
    opts = config["options"]
    assert (opts["model"], opts["guide"], opts["steps"]) == ("linear", "meanfield", 600)
    assert opts["stl"] is True
    assert opts["rank"] is None
    assert opts["flow"] is None
    assert config["model"]["parameters"] == [f"w[{i}]" for i in range(5)]
    res = json.loads((out / "result.json").read_text())
    assert 1 <= res["steps"] <= 600
    assert isinstance(res["converged"], bool)
    assert res["k_hat_verdict"] in ("good", "ok", "unreliable")
    assert math.isfinite(res["k_hat"])
    # the ELBO is a lower bound of log p(x) (exact here), up to its Monte Carlo noise
    assert res["elbo"] < res["exact_log_evidence"] + 0.5
    assert abs(res["log_evidence"] - res["exact_log_evidence"]) < 1.0
    # mean-field recovers the exact means; its sds are the (smaller) mean-field ones
    assert res["max_mean_error_in_sd"] < 0.5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["quantiles"] == [0.05, 0.5, 0.95]
    rows = summary["parameters"]
    assert list(rows) == [f"w[{i}]" for i in range(5)]
    for row in rows.values():
        assert row["5%"] < row["50%"] < row["95%"]
        assert row["sd"] > 0
    with (out / "summary.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["parameter"] for r in table] == list(rows)
    assert float(table[0]["mean"]) == pytest.approx(rows["w[0]"]["mean"])


def test_fit_eight_schools_flow(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["vi", "fit", "--model", "eight-schools", "--guide", "flow", "--out", str(out)]
    argv += ["--steps", "40", "--transforms", "2", "--hidden", "8,8", "--eval-samples", "500"]
    code, stdout, _ = _run([*argv, "--no-progress", "--noise", "qmc"], capsys)
    assert code == 0
    _files(out)
    opts = json.loads((out / "config.json").read_text())["options"]
    assert (opts["flow"], opts["transforms"], opts["hidden"]) == ("iaf", 2, [8, 8])
    res = json.loads((out / "result.json").read_text())
    assert res["steps"] == 40
    assert res["eval_samples"] == 500
    assert "exact_log_evidence" not in res
    rows = json.loads((out / "summary.json").read_text())["parameters"]
    assert list(rows)[:3] == ["mu", "tau", "theta[0]"]
    assert rows["tau"]["5%"] > 0  # constrained: τ = exp(z)
    # a second run into the same directory needs --overwrite
    with pytest.raises(SystemExit):
        main(argv)
    assert "--overwrite" in capsys.readouterr().err
    code, _, _ = _run([*argv, "--no-progress", "--overwrite", "--steps", "20"], capsys)
    assert code == 0
    assert json.loads((out / "result.json").read_text())["steps"] == 20


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rank", "2"], "--rank: applies only to --guide lowrank"),
        (["--flow", "nsf"], "--flow: applies only to --guide flow"),
        (["--transforms", "2", "--guide", "lowrank"], "--transforms: applies only"),
        (["--noise", "antithetic", "--particles", "3"], "even number of particles"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--lr", "-1"], "must be a finite number > 0"),
        (["--tol", "nan"], "must be a finite number >= 0"),
        (["--model", "nope"], "invalid choice"),
        (["--guide", "nope"], "invalid choice"),
        (["--eval-samples", "10"], "must be >= 100"),
        (["--hidden", "8,x", "--guide", "flow"], "layer widths"),
    ],
)
def test_bad_input_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["vi", "fit", "--out", str(out), *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_rank_above_dimension_is_reported_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["vi", "fit", "--guide", "lowrank", "--rank", "11", "--out", str(out)]
    code, _, err = _run(argv, capsys)
    assert code == 2
    assert "reparam vi fit: error: --rank 11 exceeds the model's dimension 10" in err
    assert not out.exists()


def test_out_must_be_a_directory(tmp_path, capsys):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["vi", "fit", "--out", str(path)])
    assert exc.value.code == 2
    assert "is not a directory" in capsys.readouterr().err
    assert path.read_text() == "x"


def test_help_says_no_resume(capsys):
    with pytest.raises(SystemExit):
        main(["vi", "fit", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal width
    assert "no checkpoint, no resume" in text
