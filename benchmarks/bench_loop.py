"""The training loop's cost outside the epochs, as a run grows (issue 14, part 3).

Each measurement is one ``reparam vae train`` on the bundled digits, run in a fresh child
process (``--child``) with :func:`reparam.training.train` wrapped by a timer, against the
reparam source tree of a ``--src`` (so a tree of an older commit can be measured beside
this one; the cases are interleaved, round by round). A child reports, in wall seconds
(file writes and fsyncs are the point, so the clock is the wall clock):

- ``epochs_s``: the sum of the epochs' own times (``seconds`` in ``metrics.jsonl``);
- ``loop_s``: the wall time of the ``train`` call (the epochs plus their files);
- ``outside_s`` = ``loop_s`` − ``epochs_s``: what the loop spends between the epochs;
- ``total_s``: the child's whole command (start-up, data, training, evaluation, plots);
  ``startup_s`` = ``total_s`` − ``loop_s`` (everything but the loop, before and after).

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
    from reparam.cli import main

    real, spans = training.train, []

    def timed(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spans.append(time.perf_counter() - t0)

    training.train = timed
    code = main(argv)
    total = time.perf_counter() - start
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    epochs = sum(r["seconds"] for r in rows)
    print(json.dumps({
        "code": code, "epochs": len(rows), "epochs_s": epochs, "loop_s": spans[0],
        "outside_s": spans[0] - epochs, "total_s": total, "startup_s": total - spans[0],
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
    print("| tree | case | epochs | Σ epochs s | loop s | outside s | outside ms/epoch | "
          "loop / Σ epochs | start-up+end s | total s | checkpoint KB |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (src, case), rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
        print(
            f"| {src} | {case} | {med['epochs']:.0f} | {med['epochs_s']:.2f} | "
            f"{med['loop_s']:.2f} | {med['outside_s']:.2f} | "
            f"{1e3 * med['outside_s'] / med['epochs']:.2f} | "
            f"{med['loop_s'] / med['epochs_s']:.3f} | {med['startup_s']:.2f} | "
            f"{med['total_s']:.2f} | {med['checkpoint_bytes'] / 1024:.0f} |"
        )


if __name__ == "__main__":
    main()
