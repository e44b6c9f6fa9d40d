"""The training loop's cost outside the epochs, as a run grows (issue 14, part 3).

Each measurement is one ``reparam vae train`` on the bundled digits, run in a fresh child
process (``--child``) with :func:`reparam.training.train` wrapped by a timer, against the
reparam source tree of a ``--src`` (so a tree of an older commit can be measured beside
this one; the cases are interleaved, round by round). A child reports, in wall seconds
(file writes and fsyncs are the point, so the clock is the wall clock):

- ``epochs_s``: the sum of the epochs' own times (``seconds`` in ``metrics.jsonl``);
- ``outside_s``: the wall time from the first epoch's start to the last one's end, less
  ``epochs_s``: what the loop spends outside the epochs (their files, checkpoints, the
  snapshot an interrupt would save), start-up aside;
- ``first_ms`` / ``last_ms``: that time per epoch, over the first and the last tenth
  of the epochs (equal when the cost per epoch is constant);
- ``loop_s``: the wall time of the ``train`` call, and ``loop_startup_s`` the part of it
  before the first epoch and after the last (the optimizer, whose constructor imports
  ``torch._dynamo``, the lock, the bar);
- ``total_s``: the child's whole command (start-up, data, training, evaluation, plots);
  ``startup_s`` = ``total_s`` − ``epochs_s`` − ``outside_s`` (all but the epochs and
  what lies between them, before and after). The demo's target (issue 14):
  ``total_s`` ≤ 1.15 × ``epochs_s`` + ``startup_s``, i.e. ``(epochs_s + outside_s) /
  epochs_s`` ≤ 1.15, the "epochs+files / Σ epochs" column.

``--demo`` runs the demo as a user does (``reparam vae train --out DIR``, default options,
progress bar on, to a discarded stderr); ``--epochs N ...`` runs N epochs with
``--checkpoint-every N`` (one checkpoint, at the end) and no bar, the issue's "time outside
the epochs". Example::

    python benchmarks/bench_loop.py --src src --src /tmp/before/src --epochs 100 1600
    python benchmarks/bench_loop.py --src src --demo --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import cpu_model, loadavg


def _child(out: Path, argv: list[str]) -> None:
    """Run ``reparam`` with ``argv`` in this process, ``train`` timed; print the figures."""
    start = time.perf_counter()
    import reparam.training as training
    from reparam import _loop
    from reparam.cli import main

    real, real_epoch, spans, marks = training.train, _loop.Loop._epoch, [], []

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spans.append(time.perf_counter() - t0)

    def epoch(self):
        marks.append(time.perf_counter())
        try:
            return real_epoch(self)
        finally:
            marks.append(time.perf_counter())

    training.train, _loop.Loop._epoch = timed, epoch
    code = main(argv)
    total = time.perf_counter() - start
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = sum(r["seconds"] for r in rows)
    between = marks[-1] - marks[0] - epochs  # the first epoch's start to the last one's end
    # per epoch: its _epoch call less its own time, over the first and the last tenth
    each = [b - a - r["seconds"] for a, b, r in zip(marks[::2], marks[1::2], rows, strict=True)]
    tenth = max(1, len(each) // 10)
    print(json.dumps({
        "code": code, "epochs": len(rows), "epochs_s": epochs, "loop_s": spans[0],
        "outside_s": between, "loop_startup_s": spans[0] - (marks[-1] - marks[0]),
        "total_s": total, "startup_s": total - (marks[-1] - marks[0]),
        "first_ms": 1e3 * statistics.mean(each[:tenth]),
        "last_ms": 1e3 * statistics.mean(each[-tenth:]),
        "checkpoint_bytes": (out / "checkpoint.pt").stat().st_size,
    }))  # fmt: skip


def _measure(src: str, case: str | int, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_loop.") as tmp:
        out = Path(tmp) / "run"
        argv = ["vae", "train", "--out", str(out)]
        if case != "demo":
            argv += ["--epochs", str(case), "--checkpoint-every", str(case), "--no-progress"]
        env = {**os.environ, "PYTHONPATH": str(Path(src).resolve()),
               "OMP_NUM_THREADS": str(threads)}  # fmt: skip
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(out), *argv], env=env, check=True,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", action="append", help="a reparam source tree (repeatable)")
    p.add_argument("--epochs", type=int, nargs="*", default=[], help="cases: N epochs")
    p.add_argument("--demo", action="store_true", help="case: the demo, default options")
    p.add_argument("--rounds", type=int, default=1, help="interleaved rounds (default 1)")
    p.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of a child")
    p.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(Path(args.child[0]), args.child[1:])
        return
    cases: list[str | int] = [*(["demo"] if args.demo else []), *args.epochs]
    srcs = args.src or ["src"]
    print(f"# {cpu_model()}; load {loadavg()}; {args.rounds} round(s); wall seconds")
    results: dict[tuple[str, str | int], list[dict]] = {}
    for _ in range(args.rounds):
        for case in cases:
            for src in srcs:
                r = _measure(src, case, args.threads)
                results.setdefault((src, case), []).append(r)
                print(f"#   {src} {case}: {json.dumps(r)}", flush=True)
    print("| tree | case | epochs | Σ epochs s | outside s | outside ms/epoch | "
          "first / last tenth ms/epoch | "
          "epochs+files / Σ epochs | train() start-up s | start-up+end s | total s | "
          "checkpoint KB |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (src, case), rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(
            f"| {src} | {case} | {med['epochs']:.0f} | {med['epochs_s']:.2f} | "
            f"{med['outside_s']:.2f} | {1e3 * med['outside_s'] / med['epochs']:.2f} | "
            f"{med['first_ms']:.2f} / {med['last_ms']:.2f} | "
            f"{1 + med['outside_s'] / med['epochs_s']:.3f} | {med['loop_startup_s']:.2f} | "
            f"{med['startup_s']:.2f} | {med['total_s']:.2f} | "
            f"{med['checkpoint_bytes'] / 1024:.0f} |"
        )


if __name__ == "__main__":
    main()
