"""Tests of the ``reparam`` command line, run as a user would (subprocess) where it matters."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import pytest

from reparam import __version__
from reparam.cli import main
from reparam.cli.compare import exact_gradient, loc_scale_families

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ESTIMATORS_ODD_N = [
    "pathwise",
    "pathwise+qmc",
    "pathwise+cv-linear",
    "pathwise+cv-quadratic",
    "score",
    "score+running_mean",
]
ESTIMATORS_EVEN_N = [
    "pathwise",
    "pathwise+antithetic",
    "pathwise+qmc",
    "pathwise+cv-linear",
    "pathwise+cv-quadratic",
    "score",
    "score+running_mean",
    "score+loo",
]


def run_cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "reparam.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_compare_end_to_end(tmp_path):
    proc = run_cli("compare", "--repeats", "40", "--num-samples", "1,10", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for word in (
        "estimator",
        "parameter",
        "estimate",
        "exact",
        "variance",
        "reduction",
        "SNR",
        "µs/estimate",
    ):
        assert word in out
    for est in ESTIMATORS_EVEN_N:
        assert est in out
    run_dir = tmp_path / "runs" / "compare"  # the default --out, relative to the cwd
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".reparam.lock",
        "compare.csv",
        "compare.json",
        "run.json",
        "variance.png",
    ]
    assert json.loads((run_dir / "run.json").read_text())["command"] == "compare"
    png = (run_dir / "variance.png").read_bytes()
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 10_000

    with open(run_dir / "compare.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    # N=1: no antithetic pairs, no leave-one-out; N=10: every estimator; 2 parameters each
    assert [r["estimator"] for r in rows if r["num_samples"] == "1"][::2] == ESTIMATORS_ODD_N
    assert [r["estimator"] for r in rows if r["num_samples"] == "10"][::2] == ESTIMATORS_EVEN_N
    assert len(rows) == (len(ESTIMATORS_ODD_N) + len(ESTIMATORS_EVEN_N)) * 2
    assert set(rows[0]) == {
        "estimator",
        "num_samples",
        "parameter",
        "estimate",
        "exact",
        "variance",
        "variance_reduction",
        "snr",
        "us_per_estimate",
    }
    # default problem: Normal(μ=1, σ=2), f = z², exact gradient (2μ, 2σ) = (2, 4)
    assert {(r["parameter"], float(r["exact"])) for r in rows} == {("loc", 2.0), ("scale", 4.0)}
    by = {(r["estimator"], r["num_samples"], r["parameter"]): r for r in rows}
    for n in ("1", "10"):
        for param in ("loc", "scale"):
            assert float(by["pathwise", n, param]["variance_reduction"]) == 1.0
            # f = z² is quadratic: the quadratic control variate leaves no variance (up to
            # rounding), and every estimate is the exact gradient
            quadratic = by["pathwise+cv-quadratic", n, param]
            assert float(quadratic["variance"]) < 1e-20
            assert float(quadratic["estimate"]) == pytest.approx(float(quadratic["exact"]))
            assert float(quadratic["variance_reduction"]) > 1e12  # "inf" when exactly 0
    for r in rows:  # the reduction is Var[pathwise] / Var[row] at the same N and parameter
        v = float(r["variance"])
        plain = float(by["pathwise", r["num_samples"], r["parameter"]]["variance"])
        if v > 0:
            assert float(r["variance_reduction"]) == pytest.approx(plain / v, rel=1e-8)

    doc = json.loads((run_dir / "compare.json").read_text(encoding="utf-8"))
    assert doc["config"] == {
        "f": "z2",
        "dist": "normal",
        "mu": 1.0,
        "sigma": 2.0,
        "num_samples": [1, 10],
        "repeats": 40,
        "seed": 0,
    }
    assert len(doc["rows"]) == len(rows)
    assert [r["estimator"] for r in doc["rows"]] == [r["estimator"] for r in rows]
    for row in doc["rows"]:  # JSON has no inf: a reduction over a zero variance is null
        if row["variance"] == 0.0:
            assert row["variance_reduction"] is None
        else:
            assert row["variance_reduction"] > 0
    assert not list(run_dir.glob(".*.tmp"))  # no temporary files left behind


def test_help_lists_subcommands(tmp_path):
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "compare" in proc.stdout


def test_version_via_python_m_reparam(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "reparam", "--version"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"reparam {__version__}"


def test_bad_option_exits_2_as_a_user_sees_it(tmp_path):
    proc = run_cli("compare", "--sigma", "-1", cwd=tmp_path)
    assert proc.returncode == 2
    assert "--sigma" in proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--f", "cube"], "--f"),
        (["--dist", "poisson"], "--dist"),
        (["--sigma", "0"], "--sigma"),
        (["--sigma", "nan"], "--sigma"),
        (["--mu", "abc"], "--mu"),
        (["--repeats", "1"], "--repeats"),
        (["--num-samples", "1,x"], "--num-samples"),
        (["--num-samples", "0,10"], "--num-samples"),
        (["--num-samples", ""], "--num-samples"),
    ],
)
def test_bad_options(args, option, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["compare", *args])
    assert exc.value.code == 2
    assert option in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--out", str(target)])
    assert exc.value.code == 2
    assert "--out" in capsys.readouterr().err


def test_no_subcommand_is_an_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


def test_control_variates_need_a_finite_mean(tmp_path, capsys):
    # Cauchy has no mean: its table has the noise rows but no control-variate rows.
    if "cauchy" not in loc_scale_families():
        pytest.skip("no Cauchy family")
    out = tmp_path / "cauchy"
    args = ["compare", "--dist", "cauchy", "--f", "sin", "--repeats", "5"]
    assert main([*args, "--num-samples", "4", "--out", str(out)]) == 0
    doc = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    names = [row["estimator"] for row in doc["rows"]][::2]
    assert names == [n for n in ESTIMATORS_EVEN_N if "cv-" not in n]
    assert "pathwise+qmc" in capsys.readouterr().out


def test_other_family_and_unknown_exact(tmp_path, capsys):
    assert "laplace" in loc_scale_families()
    out = tmp_path / "lap"
    args = ["compare", "--dist", "laplace", "--f", "exp", "--repeats", "5"]
    assert main([*args, "--num-samples", "2", "--out", str(out)]) == 0
    assert "—" in capsys.readouterr().out
    doc = json.loads((out / "compare.json").read_text(encoding="utf-8"))
    assert all(row["exact"] is None for row in doc["rows"])


@pytest.mark.parametrize(
    ("f", "expected"),
    [
        ("z", (1.0, 0.0)),
        ("z2", (2 * 1.5, 2 * 0.7)),
        ("exp", (math.exp(1.5 + 0.7**2 / 2), 0.7 * math.exp(1.5 + 0.7**2 / 2))),
        (
            "sin",
            (
                math.cos(1.5) * math.exp(-(0.7**2) / 2),
                -0.7 * math.sin(1.5) * math.exp(-(0.7**2) / 2),
            ),
        ),
    ],
)
def test_exact_gradient_normal(f, expected):
    got = exact_gradient("normal", f, 1.5, 0.7)
    assert got["loc"] == pytest.approx(expected[0], rel=1e-12, abs=1e-12)
    assert got["scale"] == pytest.approx(expected[1], rel=1e-12, abs=1e-12)


def test_exact_gradient_from_moments():
    # Laplace(μ, b): E[z²] = μ² + 2b², gradient (2μ, 4b)
    got = exact_gradient("laplace", "z2", 1.5, 0.7)
    assert got == pytest.approx({"loc": 3.0, "scale": 2.8})
    if "cauchy" in loc_scale_families():  # no mean: no exact value
        assert exact_gradient("cauchy", "z", 0.0, 1.0) is None


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    from reparam._atomic import atomic_open, atomic_write_text

    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")

    def crash():
        with atomic_open(target) as fh:
            fh.write("partial")
            raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError, match="crash"):
        crash()
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]
    atomic_write_text(target, "new")
    assert target.read_text(encoding="utf-8") == "new"


def test_plot_treats_rounding_noise_as_zero_variance():
    from reparam.plots.compare import variance_vs_samples

    rows = [
        {"estimator": e, "parameter": "loc", "num_samples": n, "variance": v}
        for e, n, v in [
            ("pathwise", 2, 1.0),
            ("pathwise", 4, 0.5),
            ("pathwise+antithetic", 2, 5e-33),  # an exact zero, up to float64 rounding
            ("pathwise+antithetic", 4, 0.0),
            ("pathwise+qmc", 2, 1e-3),
            ("pathwise+qmc", 4, 1e-4),
        ]
    ]
    fig = variance_vs_samples(rows)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "pathwise+antithetic (variance 0)" in labels
    assert "pathwise+qmc" in labels
    assert ax.get_ylim()[0] > 1e-6  # the axis is not stretched down to 1e-33
