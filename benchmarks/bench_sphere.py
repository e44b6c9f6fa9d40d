"""Benchmark: VonMisesFisher and PowerSpherical against TensorFlow Probability on JAX.

Values: log_prob at reparam's samples, mean, entropy and KL to SphericalUniform, float64,
for κ ∈ {0.1, 1, 10, 100, 1e3} at d = 3, 10, 100; printed: the max abs difference.

Speed: one rsample of a batch (default 1024, one κ and loc per element, float32) plus
the backward of Σ z·w into κ and loc. reparam in this process, TFP (jit-compiled
sample + jax.grad) in a worker process (benchmarks/_tfp_sphere_worker.py, run by the TFP
venv's python); in each round every case is measured once, in a shuffled order, reparam
and TFP alternating, so the per-round paired ratio reparam/TFP sees the same load.
Printed: per-sample time (median over rounds) and the paired ratio (median, quartiles).

Usage:
    python benchmarks/bench_sphere.py --threads 1 --clock cpu [--rounds 10]
        [--tfp-python /work/tfp-venv/bin/python] [--tfp-pythonpath DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys

import torch

import reparam
from _harness import CLOCKS, add_timing_args, calibrate, cpu_model

DIMS = (3, 10, 100)
KAPPAS = [0.1, 1.0, 10.0, 100.0, 1e3]
FAMILIES = {"vmf": reparam.VonMisesFisher, "ps": reparam.PowerSpherical}


class Worker:
    def __init__(self, python: str, pythonpath: str | None, clock: str) -> None:
        env = dict(os.environ)
        if pythonpath:
            env["PYTHONPATH"] = pythonpath
        env.setdefault("JAX_PLATFORMS", "cpu")
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen(
            [python, os.path.join(here, "_tfp_sphere_worker.py"), f"--clock={clock}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ask(self, **req: object) -> dict:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the TFP worker died (see its stderr)")
        return json.loads(line)


def _loc(n: int, d: int, dtype: torch.dtype) -> torch.Tensor:
    v = torch.randn(n, d, dtype=torch.float64)
    return (v / v.norm(dim=-1, keepdim=True)).to(dtype)


def agreement(worker: Worker) -> None:
    print("values (float64, max |reparam − TFP|):")
    for fam, cls in FAMILIES.items():
        for d in DIMS:
            loc, kappa = (
                _loc(len(KAPPAS), d, torch.float64),
                torch.tensor(KAPPAS, dtype=torch.float64),
            )
            q = cls(loc, kappa)
            x = q.sample((4,))
            u = reparam.SphericalUniform(d, dtype=torch.float64)
            ours = {
                "log_prob": q.log_prob(x),
                "mean": q.mean,
                "entropy": q.entropy(),
                "kl": torch.distributions.kl_divergence(q, u),
            }
            theirs = worker.ask(
                kind="values", family=fam, loc=loc.tolist(), kappa=KAPPAS, x=x.tolist()
            )
            diffs = {
                k: (v - torch.tensor(theirs[k], dtype=torch.float64)).abs().max().item()
                for k, v in ours.items()
            }
            print(
                f"  {cls.__name__:15s} d={d:3d}  "
                + "  ".join(f"{k} {v:.1e}" for k, v in diffs.items())
            )


def speed(worker: Worker, args: argparse.Namespace) -> None:
    now = CLOCKS[args.clock]
    cases = []
    for fam, cls in FAMILIES.items():
        for d in DIMS:
            loc = _loc(args.batch, d, torch.float32)
            kappa = torch.exp(torch.empty(args.batch).uniform_(0.0, 5.0))
            lv, kv = loc.clone().requires_grad_(), kappa.clone().requires_grad_()
            w = torch.linspace(-1.0, 1.0, d)

            def step(cls=cls, lv=lv, kv=kv, w=w):
                (cls(lv, kv, validate_args=False).rsample() * w).sum().backward()

            name = f"{fam}-{d}"
            tfp_grad = worker.ask(
                kind="setup", case=name, family=fam, loc=loc.tolist(), kappa=kappa.tolist()
            )
            reps = calibrate(step, args.target_ms / 1e3)
            t_reps = max(1, reps)
            cases.append(
                {
                    "name": name,
                    "label": f"{cls.__name__} d={d}",
                    "step": step,
                    "reps": reps,
                    "t_reps": t_reps,
                    "ours": [],
                    "tfp": [],
                    "tfp_grad": tfp_grad["with_grad"],
                }
            )
    rng = random.Random(args.seed)
    for _ in range(args.rounds):
        rng.shuffle(cases)
        for c in cases:
            t0 = now()
            for _ in range(c["reps"]):
                c["step"]()
            c["ours"].append((now() - t0) / c["reps"])
            c["tfp"].append(worker.ask(kind="time", case=c["name"], reps=c["t_reps"])["seconds"])
    cases.sort(key=lambda c: c["name"])
    print(
        f"rsample + backward, batch {args.batch}, float32, {args.rounds} rounds, "
        f"clock {args.clock}:"
    )
    print(
        f"  {'case':22s} {'reparam µs/sample':>18s} {'TFP µs/sample':>14s}  "
        "ratio reparam/TFP [q1, q3]"
    )
    for c in cases:
        ratios = sorted(a / b for a, b in zip(c["ours"], c["tfp"], strict=True))
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        ours = statistics.median(c["ours"]) / args.batch * 1e6
        tfp = statistics.median(c["tfp"]) / args.batch * 1e6
        ratio = f"{statistics.median(ratios):.2f} [{q[0]:.2f}, {q[2]:.2f}]"
        note = "" if c["tfp_grad"] else "  (TFP: sample only, its jax.grad fails)"
        print(f"  {c['label']:22s} {ours:18.2f} {tfp:14.2f}  {ratio}{note}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_timing_args(p, rounds=10, target_ms=200.0)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--tfp-python", default="/work/tfp-venv/bin/python")
    p.add_argument("--tfp-pythonpath", default=None, help="PYTHONPATH for the worker")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["XLA_FLAGS"] = (
            "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    torch.manual_seed(args.seed)
    print(f"cpu: {cpu_model()}  torch {torch.__version__}  threads {torch.get_num_threads()}")
    worker = Worker(args.tfp_python, args.tfp_pythonpath, args.clock)
    agreement(worker)
    speed(worker, args)
    print("", file=sys.stderr)


if __name__ == "__main__":
    main()
