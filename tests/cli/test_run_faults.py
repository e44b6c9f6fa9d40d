"""Run directories under faults, as a user meets them: concurrent runs, another command's
directory, damaged checkpoints, unwritable --out, a full disk, SIGTERM and Ctrl-C, debris
of a killed write, interrupted and resumed ``bnn uci``, divergence, bad resumes (issue 12,
D2-D10, D15-D19). Commands run in subprocesses where signals or processes matter."""

import json
import os
import resource
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from reparam._checkpoint import digest
from reparam.cli import main
from reparam.training import load_checkpoint

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
VAE_FAST = ["--no-progress", "--hidden", "16", "--latent-dim", "2"]


def _cli(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _as_foreground() -> None:
    # a job started in the background (nohup, `&` in a script, some CI runners) inherits
    # SIGINT ignored, and Python then never raises KeyboardInterrupt; a user's Ctrl-C
    # reaches a foreground command, so the command under test gets SIGINT's default back
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(argv, cwd, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "reparam", *map(str, argv)], preexec_fn=_as_foreground,
        cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw,
    )  # fmt: skip


def _wait_for(predicate, proc, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended first: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out: {proc.communicate()}")
        time.sleep(0.05)


def _wait(proc, timeout=120):
    """The exit code; on a timeout the process is killed and its pipes closed first (an
    orphan would keep running, and its pipes would warn in a later test)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise


def _signal_when(proc, predicate, sig):
    """Send ``sig`` once ``predicate()`` holds; (exit code, stderr). Skips the test when
    the command finished first (a machine fast enough to outrun the poll)."""
    _wait_for(predicate, proc)
    proc.send_signal(sig)
    code = _wait(proc)
    _, err = proc.communicate()
    if code == 0:
        pytest.skip("the command finished before the signal arrived")
    return code, err


def _rows(d):
    return [json.loads(line) for line in (Path(d) / "metrics.jsonl").read_text().splitlines()]


def _assert_same_training(a, b):
    """Two run directories hold the same parameters and history (bit for bit; times aside),
    the history as one metrics.jsonl line per completed epoch."""
    ca, cb = (load_checkpoint(Path(d) / "checkpoint.pt") for d in (a, b))
    for key in ca["model"]:
        assert torch.equal(ca["model"][key], cb["model"][key]), key
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    rows = _rows(a)
    assert [r["epoch"] for r in rows] == list(range(1, ca["epoch"] + 1))
    assert strip(rows) == strip(_rows(b))


def _one_line_error(err, *words):
    """stderr holds the error on one line (after argparse's usage, if any), no traceback."""
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, err)
    return lines[0]


def _snapshot(d):
    return {p.name: p.read_bytes() for p in sorted(Path(d).iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "vae"
    assert main(["vae", "train", "--out", str(out), "--epochs", "2", *VAE_FAST]) == 0
    return out


@pytest.fixture(scope="module")
def bnn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "bnn"
    assert main(["bnn", "train", "--out", str(out), "--epochs", "1", "--samples", "2",
                 "--hidden", "8", "--no-progress"]) == 0  # fmt: skip
    return out


def _copy_run(src, dst):
    dst.mkdir()
    for p in src.iterdir():
        if p.is_file():
            (dst / p.name).write_bytes(p.read_bytes())
    return dst


# --------------------------------------------------------------------------- D2: concurrency
def test_two_trainings_into_one_out_one_fails_at_once(tmp_path):
    """Started together into one fresh --out: exactly one runs, the other stops at once with
    one line; the directory holds one consistent run (config and checkpoint agree)."""
    argv = ["vae", "train", "--out", "run", "--epochs", "30", *VAE_FAST]
    procs = [_start([*argv, "--seed", str(seed)], tmp_path) for seed in (1, 2)]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    _, _, err = next(r for r in results if r[0] == 2)
    _one_line_error(err, "'run'")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt["config"]["seed"] == config["options"]["seed"]
    assert ckpt["epoch"] == 30


def test_a_run_in_progress_is_locked(tmp_path):
    proc = _start(["vae", "train", "--out", "run", "--epochs", "3000", "--checkpoint-every",
                   "1", *VAE_FAST], tmp_path)  # fmt: skip
    try:
        _wait_for(lambda: (tmp_path / "run" / "checkpoint.pt").is_file(), proc)
        for extra in (["--resume"], ["--overwrite"]):
            done = subprocess.run(
                [sys.executable, "-m", "reparam", "vae", "train", "--out", "run", *extra,
                 "--no-progress"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
            assert done.returncode == 2, done
            _one_line_error(done.stderr, "in use by another reparam process", f"{proc.pid}")
    finally:
        proc.kill()
        proc.communicate()
    # killed (-9): the kernel released the lock; the run resumes
    done = subprocess.run(
        [sys.executable, "-m", "reparam", "vae", "train", "--out", "run", "--resume",
         "--epochs", "3", "--no-progress"], cwd=tmp_path, env=ENV, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode in (0, 2), done  # 2: the killed run had already passed epoch 3
    if done.returncode == 2:
        _one_line_error(done.stderr, "already completed")


# --------------------------------------------------------------------------- D3 / D7: kinds
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["vi", "fit", "--out", "VAE", "--steps", "5"], ["'reparam vae train' run"]),
        (["flow", "fit", "--out", "VAE", "--epochs", "1"], ["'reparam vae train' run"]),
        (["compare", "--out", "VAE", "--repeats", "2"], ["'reparam vae train' run"]),
        (["bnn", "uci", "yacht", "--out", "VAE"], ["'reparam vae train' run"]),
        (["bnn", "train", "--out", "VAE", "--resume"], ["'reparam vae train' run"]),
        (["vae", "eval", "BNN"], ["'reparam bnn train' run", "reparam bnn"]),
        (["vae", "sample", "BNN"], ["'reparam bnn train' run"]),
        (["vae", "train", "--out", "BNN", "--resume"], ["'reparam bnn train' run"]),
        (["bnn", "eval", "VAE"], ["'reparam vae train' run"]),
    ],
)
def test_a_directory_of_another_kind_is_refused(vae_run, bnn_run, argv, words, capsys):
    argv = [str(vae_run) if a == "VAE" else str(bnn_run) if a == "BNN" else a for a in argv]
    before = {d: _snapshot(d) for d in (vae_run, bnn_run)}
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    _one_line_error(capsys.readouterr().err, *words)
    assert {d: _snapshot(d) for d in (vae_run, bnn_run)} == before


def test_overwrite_replaces_another_kind(vae_run, tmp_path, capsys):
    out = _copy_run(vae_run, tmp_path / "run")
    (out / "notes.txt").write_text("mine")
    code, _, _ = _cli(["flow", "fit", "--out", out, "--overwrite", "--epochs", "1",
                       "--n-train", "300", "--no-progress"], capsys)  # fmt: skip
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert "reconstructions.png" not in names  # the VAE run's outputs are gone
    assert "notes.txt" in names  # files that were not the run's stay
    assert json.loads((out / "run.json").read_text())["command"] == "flow fit"


def test_legacy_run_without_record_resumes(vae_run, tmp_path, capsys):
    """A run written before run records (no run.json) is still resumed by its command,
    and refused by the others."""
    out = _copy_run(vae_run, tmp_path / "old")
    (out / "run.json").unlink()
    with pytest.raises(SystemExit):
        main(["bnn", "eval", str(out)])
    _one_line_error(capsys.readouterr().err, "no run of 'reparam bnn train'")
    code, _, _ = _cli(["vae", "train", "--out", out, "--resume", "--epochs", "3",
                       "--no-progress"], capsys)  # fmt: skip
    assert code == 0
    assert json.loads((out / "run.json").read_text())["command"] == "vae train"


# --------------------------------------------------------------------------- D5 / D6
def _tensor_data_offset(path):
    """Byte offset of the middle of the largest tensor record inside a torch zip file."""
    with zipfile.ZipFile(path) as zf:
        info = max((i for i in zf.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = path.read_bytes()
    h = info.header_offset
    name_len = int.from_bytes(raw[h + 26 : h + 28], "little")
    extra_len = int.from_bytes(raw[h + 28 : h + 30], "little")
    return h + 30 + name_len + extra_len + info.file_size // 2


def _damage(kind, path, other):
    raw = bytearray(path.read_bytes())
    if kind == "flipped byte in a tensor":
        raw[_tensor_data_offset(path)] ^= 0x40
        path.write_bytes(bytes(raw))
    elif kind == "truncated":
        path.write_bytes(bytes(raw[: len(raw) // 2]))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "foreign":
        torch.save({"weights": torch.ones(3)}, path)
    elif kind == "not a dict":
        torch.save([1, 2, 3], path)
    elif kind == "wrong shape":  # a checkpoint of a differently sized model
        path.write_bytes((other / "checkpoint.pt").read_bytes())


DAMAGES = ["flipped byte in a tensor", "truncated", "empty", "garbage", "foreign",
           "not a dict", "wrong shape"]  # fmt: skip


@pytest.fixture(scope="module")
def wide_vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "wide"
    assert main(["vae", "train", "--out", str(out), "--epochs", "1", "--no-progress",
                 "--hidden", "24", "--latent-dim", "2"]) == 0  # fmt: skip
    return out


@pytest.mark.parametrize("command", ["eval", "sample", "resume"])
@pytest.mark.parametrize("kind", DAMAGES)
def test_a_bad_checkpoint_is_one_line_and_nothing_is_written(
    vae_run, wide_vae_run, tmp_path, capsys, kind, command
):
    out = _copy_run(vae_run, tmp_path / "run")
    for name in ("eval.json", "samples.png"):
        (out / name).unlink(missing_ok=True)
    _damage(kind, out / "checkpoint.pt", wide_vae_run)
    before = _snapshot(out)
    argv = {
        "eval": ["vae", "eval", out, "--k", "2"],
        "sample": ["vae", "sample", out, "--n", "4"],
        "resume": ["vae", "train", "--out", out, "--resume", "--epochs", "3", "--no-progress"],
    }[command]
    code, _, err = _cli(argv, capsys)
    assert code == 2
    line = _one_line_error(err, "checkpoint.pt")
    word = {"flipped byte in a tensor": "damaged", "wrong shape": "does not fit",
            "empty": "empty"}.get(kind, "checkpoint")  # fmt: skip
    assert word in line
    assert _snapshot(out) == before


def test_checksum_detects_a_change_and_accepts_an_intact_file(vae_run):
    ckpt = load_checkpoint(vae_run / "checkpoint.pt")
    assert ckpt["checksum"] == digest(ckpt)
    ckpt["model"][next(iter(ckpt["model"]))].view(-1)[0] += 1e-7
    assert ckpt["checksum"] != digest(ckpt)


# --------------------------------------------------------------------------- D8
@pytest.mark.parametrize(
    "argv",
    [
        ["vae", "train", "--epochs", "1", "--no-progress"],
        ["bnn", "train", "--epochs", "1", "--no-progress"],
        ["flow", "fit", "--epochs", "1", "--no-progress"],
        ["vi", "fit", "--steps", "5", "--no-progress"],
        ["compare", "--repeats", "2"],
        ["bnn", "uci", "yacht"],
    ],
)
def test_unwritable_out_fails_before_the_work(tmp_path, capsys, monkeypatch, argv):
    """A file in the path of --out (root ignores permission bits, so this is the unwritable
    --out every user can make): one line, exit 2, before any computation."""
    monkeypatch.setenv("REPARAM_DATA_DIR", str(_uci_root(tmp_path).parent))
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "sub"
    import reparam.cli.bnn_uci
    import reparam.cli.compare
    import reparam.training
    import reparam.vi.fit

    def no_work(*a, **k):
        raise AssertionError("computation started before --out was checked")

    for module, name in (
        (reparam.training, "_run"),
        (reparam.cli.compare, "compare"),
        (reparam.vi.fit, "_step_loop"),
        (reparam.cli.bnn_uci, "run_split"),
    ):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, no_work)  # fmt: skip
    try:
        code = main([*argv, "--out", str(out)])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    _one_line_error(capsys.readouterr().err, "file/sub")


def test_full_disk_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["vae", "train", "--out", str(out), "--epochs", "2", "--checkpoint-every",
                 "1", *VAE_FAST]) == 0  # fmt: skip
    good = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    real_save = torch.save

    def full(obj, fh, *a, **k):
        real_save(obj, fh, *a, **k)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    code, _, err = _cli(["vae", "train", "--out", out, "--resume", "--epochs", "4",
                         "--checkpoint-every", "1", "--no-progress"], capsys)  # fmt: skip
    monkeypatch.undo()
    assert code == 1
    assert "No space left on device" in err
    assert "last good checkpoint is kept" in err
    assert err.count("No space left") == 1
    assert (out / "checkpoint.pt").read_bytes() == good
    assert not list(out.glob(".*.tmp"))


def test_file_size_limit_in_a_real_process(tmp_path):
    """The OS refuses the write (RLIMIT_FSIZE, EFBIG): the first checkpoint cannot be
    written, the command says so once, exits 1 and leaves nothing half-written."""

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    done = subprocess.run(
        [sys.executable, "-m", "reparam", "vae", "train", "--out", "run", "--epochs", "2",
         "--no-progress"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
        preexec_fn=limit, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    assert done.stderr.count("could not write") == 1
    assert not (tmp_path / "run").exists()  # a run with no checkpoint is not kept


# --------------------------------------------------------------------------- D15 / D16 / D18
def test_sigterm_checkpoints_and_resume_is_bit_exact(tmp_path):
    argv = ["vae", "train", "--epochs", "40", "--checkpoint-every", "1", *VAE_FAST]
    proc = _start([*argv, "--out", "run"], tmp_path)
    metrics = tmp_path / "run" / "metrics.jsonl"
    code, err = _signal_when(proc, metrics.is_file, signal.SIGTERM)
    assert code == 143, err
    assert "terminated (SIGTERM)" in err
    assert "rerun with --resume" in err
    assert "resume=True" not in err  # the command line's option, not the Python keyword
    assert "Traceback" not in err
    done = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["epoch"]
    assert 1 <= done < 40
    subprocess.run([sys.executable, "-m", "reparam", *argv, "--out", "run", "--resume"],
                   cwd=tmp_path, env=ENV, check=True, capture_output=True)  # fmt: skip
    subprocess.run([sys.executable, "-m", "reparam", *argv, "--out", "full"],
                   cwd=tmp_path, env=ENV, check=True, capture_output=True)  # fmt: skip
    _assert_same_training(tmp_path / "run", tmp_path / "full")


def test_debris_of_a_killed_write_is_removed_at_the_next_start(vae_run, tmp_path, capsys):
    out = _copy_run(vae_run, tmp_path / "run")
    debris = out / ".checkpoint.pt.k1ll3d_x.tmp"
    debris.write_bytes(b"half")
    user_file = out / ".my.notes.tmp"
    user_file.write_text("mine")
    code, _, _ = _cli(["vae", "train", "--out", out, "--resume", "--epochs", "3",
                       "--no-progress"], capsys)  # fmt: skip
    assert code == 0
    assert not debris.exists()
    assert user_file.exists()


@pytest.mark.parametrize(
    ("argv", "started"),
    [
        (["vae", "eval", "VAE", "--k", "200000", "--chunk", "2000"], "evaluating"),
        (["bnn", "eval", "BNN", "--samples", "100000"], "evaluating"),
        (["compare", "--out", "cmp", "--repeats", "100000"], "comparing"),
        (
            ["vi", "fit", "--out", "vi", "--steps", "1000000", "--tol", "0", "--no-progress"],
            "fitting",
        ),
    ],
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_a_command_is_one_line(vae_run, bnn_run, tmp_path, argv, started, sig):
    argv = [str(vae_run) if a == "VAE" else str(bnn_run) if a == "BNN" else a for a in argv]
    before = {d: _snapshot(d) for d in (vae_run, bnn_run)}
    proc = _start(argv, tmp_path)
    seen = []

    def has_started():
        line = proc.stderr.readline()
        seen.append(line)
        return started in line

    _wait_for(has_started, proc)
    time.sleep(0.3)
    proc.send_signal(sig)
    code = _wait(proc)
    _, err = proc.communicate()
    err = "".join(seen) + err
    assert code == 128 + sig, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert len(lines) == 1, err
    assert ("SIGTERM" if sig == signal.SIGTERM else "SIGINT") in lines[0]
    assert {d: _snapshot(d) for d in (vae_run, bnn_run)} == before  # no eval.json
    for d in ("cmp", "vi"):
        assert not (tmp_path / d).exists()


# --------------------------------------------------------------------------- D4: bnn uci
def _uci_root(tmp_path):
    """A small synthetic UCI set named yacht: 60 rows, 3 features, 3 splits."""
    root = tmp_path / "uci"
    d = root / "yacht"
    if d.is_dir():
        return root
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = x @ np.array([1.0, -0.5, 0.2]) + 0.1 * rng.normal(size=60)
    np.savetxt(d / "data.txt", np.column_stack([x, y]))
    np.savetxt(d / "index_features.txt", [0, 1, 2], fmt="%d")
    np.savetxt(d / "index_target.txt", [3], fmt="%d")
    np.savetxt(d / "n_splits.txt", [3], fmt="%d")
    for i in range(3):
        perm = rng.permutation(60)
        np.savetxt(d / f"index_train_{i}.txt", perm[:48], fmt="%d")
        np.savetxt(d / f"index_test_{i}.txt", perm[48:], fmt="%d")
    return root


UCI = ["bnn", "uci", "yacht", "--epochs", "200", "--samples", "5", "--hidden", "8",
       "--batch-size", "16"]  # fmt: skip


def test_bnn_uci_interrupted_stops_everything_and_resumes_to_the_same_result(tmp_path):
    root = _uci_root(tmp_path)
    args = [*UCI, "--data-dir", root]
    proc = _start([*args, "--out", "run"], tmp_path)
    split_checkpoint = tmp_path / "run" / "split-01" / "checkpoint.pt"
    code, err = _signal_when(proc, split_checkpoint.is_file, signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err
    assert "--resume" in err
    assert not (tmp_path / "run" / "uci.json").exists()  # nothing partial
    assert (tmp_path / "run" / "split-00" / "result.json").is_file()
    assert not (tmp_path / "run" / "split-02").exists()
    done = subprocess.run([sys.executable, "-m", "reparam", *map(str, args), "--out", "run",
                           "--resume"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done
    assert "done earlier" in done.stderr
    subprocess.run(
        [sys.executable, "-m", "reparam", *map(str, args), "--out", "full"],
        cwd=tmp_path,
        env=ENV,
        check=True,
        capture_output=True,
        timeout=600,
    )
    a, b = (json.loads((tmp_path / d / "uci.json").read_text()) for d in ("run", "full"))
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(a["per_split"]) == drop(b["per_split"])
    assert a["summary"] == b["summary"]


def test_bnn_uci_needs_resume_or_overwrite_for_an_existing_run(tmp_path, capsys):
    root = _uci_root(tmp_path)
    out = tmp_path / "run"
    argv = ["bnn", "uci", "yacht", "--epochs", "2", "--samples", "2", "--splits", "2",
            "--data-dir", str(root), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    with pytest.raises(SystemExit):
        main(argv)
    _one_line_error(capsys.readouterr().err, "--resume", "--overwrite")
    assert main([*argv, "--overwrite"]) == 0
    capsys.readouterr()
    # a resume with more splits trains only the new one
    code, _, err = _cli([*argv, "--resume", "--splits", "3"], capsys)
    assert code == 0
    assert err.count("done earlier") == 2
    assert json.loads((out / "uci.json").read_text())["splits"] == 3


# --------------------------------------------------------------------------- D9 / D10
@pytest.mark.parametrize(
    ("lr", "said"),
    [("1e3", "the loss diverged"), ("1e30", "the loss is nan")],
    ids=["finite divergence", "nan in the first epoch"],
)
def test_a_failed_run_says_so_once_and_claims_no_checkpoint(tmp_path, capsys, lr, said):
    """--lr 1e3 gives a finite but exploding loss (test ELBO -4.5e28 before the fix, exit
    0); --lr 1e30 NaN at the second step. Both: exit 1, the reason once, no claim of a
    checkpoint that does not exist, no result, nothing left in --out."""
    out = tmp_path / "run"
    code, stdout, err = _cli(["vae", "train", "--out", out, "--lr", lr, "--epochs", "20",
                              "--no-progress"], capsys)  # fmt: skip
    assert code == 1
    assert err.count(said) == 1
    assert "no checkpoint was written" in err
    assert "kept at" not in err
    assert "test ELBO" not in stdout
    assert not out.exists()


# --------------------------------------------------------------------------- D17 / D19
def test_resume_with_fewer_epochs_is_refused_and_config_kept(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["vae", "train", "--out", str(out), "--epochs", "5", *VAE_FAST]) == 0
    before = _snapshot(out)
    code, _, err = _cli(["vae", "train", "--out", out, "--resume", "--epochs", "3",
                         "--no-progress"], capsys)  # fmt: skip
    assert code == 2
    _one_line_error(err, "--epochs 3", "already completed 5 epochs")
    assert _snapshot(out) == before


FLOW_VI = ["flow", "fit", "--target", "banana", "--samples", "16", "--steps-per-epoch", "5",
           "--layers", "1", "--hidden", "8", "--no-progress"]  # fmt: skip


def test_flow_resume_with_a_derived_annealing_default(tmp_path, capsys):
    """--anneal-steps defaults to half the steps; a resume to more epochs would keep the
    short schedule and give another model than the same command run fresh: refused, unless
    the schedule is passed explicitly, which then gives exactly the fresh run's model."""
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    assert main([*FLOW_VI, "--epochs", "2", "--out", str(run)]) == 0
    saved = json.loads((run / "config.json").read_text())["options"]["anneal_steps"]
    assert saved == 5
    capsys.readouterr()
    code, _, err = _cli([*FLOW_VI[:2], "--out", run, "--resume", "--epochs", "4",
                         "--no-progress"], capsys)  # fmt: skip
    assert code == 2
    _one_line_error(err, "--anneal-steps", "--anneal-steps 5")
    code, _, _ = _cli([*FLOW_VI[:2], "--out", run, "--resume", "--epochs", "4",
                       "--anneal-steps", "5", "--no-progress"], capsys)  # fmt: skip
    assert code == 0
    assert main([*FLOW_VI, "--epochs", "4", "--anneal-steps", "5", "--out", str(fresh)]) == 0
    a, b = (load_checkpoint(d / "checkpoint.pt")["model"] for d in (run, fresh))
    assert all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- D1 at the CLI
def test_bnn_resume_equals_an_uninterrupted_run(tmp_path, capsys):
    """bnn train 3 epochs, resumed to 5, equals 5 epochs in one go (the σ bug made the
    resumed run differ from epoch 4 on), and its logged KL is the KL of its weights."""
    argv = ["bnn", "train", "--epochs", "3", "--hidden", "16", "--samples", "2",
            "--no-progress"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    assert main(["bnn", "train", "--out", str(tmp_path / "run"), "--resume", "--epochs", "5",
                 "--no-progress"]) == 0  # fmt: skip
    argv[3] = "5"
    assert main([*argv, "--out", str(tmp_path / "full")]) == 0
    _assert_same_training(tmp_path / "run", tmp_path / "full")
    b = load_checkpoint(tmp_path / "full" / "checkpoint.pt")
    # the KL of the saved weights (Gaussian prior: closed form) is the logged one's size
    from reparam.cli._bnn_run import model_from_config

    doc = json.loads((tmp_path / "full" / "config.json").read_text())
    model = model_from_config(doc)
    model.load_state_dict(b["model"])
    kl = model.kl().item()
    logged = _rows(tmp_path / "full")[-1]["kl"]  # the epoch's mean, as the weights moved during it
    assert abs(kl - logged) / kl < 0.02
