"""Benchmark: torch.compile of the Normal pathwise step and the VAE step, against eager.

Workloads (each timed eager and with its loss function under ``torch.compile``, default
inductor backend; the backward pass and the optimizer step run outside the compiled
function, as a training loop runs them):

    gamma N    reparam.Gamma(α, 1).rsample() on N float32 elements, α ~ U(0.5, 5),
               loss = Σ z², backward (``--gamma-sizes``)
    normal N   reparam.Normal(loc, scale).rsample_and_log_prob() on N elements,
               loss = (z * z).sum() + log_q.sum(), backward (validate_args=False in both:
               torch.compile turns torch's default validation off for the whole process,
               so the eager case states it)
    vae        reparam.VAE 784-400-20, batch 128 of random binary images:
               training_step(x, 0)["loss"], backward, and the default optimizer
               (fused Adam) step; ``--objective iwae --k 5`` for IWAE(5)

Random numbers: by default ``torch._inductor.config.fallback_random = True``, so the
compiled step draws ε with torch's generator (the same numbers as eager); inductor's own
CPU generator (``--inductor-random``) was measured 4× slower than eager at 10⁶ on this
machine, which is then the whole story of the Normal step.

Before timing, every compiled function is checked with ``torch._dynamo.explain`` (graph
and graph-break counts, printed) and its first call (the compilation) is timed. Then the
cases run interleaved in one process (``_harness.run_timing``), medians over rounds, and
the speed-up eager / compiled (ratio of medians and paired per round).

Usage:
    python benchmarks/bench_compile.py [--rounds 20] [--threads 1] [--clock cpu]
                                       [--sizes 10000 1000000] [--objective elbo|iwae]
                                       [--k K] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch._dynamo as dynamo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import add_timing_args, cpu_model, loadavg, paired_ratio, run_timing  # noqa: E402
from reparam import VAE  # noqa: E402
from reparam.distributions import Gamma, Normal  # noqa: E402
from reparam.training import default_optimizer  # noqa: E402


def normal_loss(loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    z, log_q = Normal(loc, scale, validate_args=False).rsample_and_log_prob()
    return (z * z).sum() + log_q.sum()


def _explain(fn: Callable[..., torch.Tensor], *args: object) -> dict:
    dynamo.reset()
    e = dynamo.explain(fn)(*args)
    return {"graphs": e.graph_count, "graph_breaks": e.graph_break_count}


def normal_cases(n: int) -> tuple[list[dict], dict]:
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(n, generator=g).requires_grad_()
    scale = (torch.rand(n, generator=g) + 0.5).requires_grad_()
    info = _explain(normal_loss, loc, scale)
    compiled = torch.compile(normal_loss)
    t0 = time.perf_counter()
    compiled(loc, scale).backward()
    info["compile_s"] = time.perf_counter() - t0

    def make(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            loc.grad = None
            scale.grad = None
            fn(loc, scale).backward()

        return step

    cases = [
        {"impl": f"normal {n} eager", "step": make(normal_loss)},
        {"impl": f"normal {n} compiled", "step": make(compiled)},
    ]
    return cases, info


def gamma_loss(conc: torch.Tensor) -> torch.Tensor:
    return Gamma(conc, torch.ones(())).rsample().square().sum()


def gamma_cases(n: int) -> tuple[list[dict], dict]:
    """reparam.Gamma float32 rsample + backward, α ~ U(0.5, 5) (the implicit family's step:
    its numerics branch on tensor values, so dynamo splits the graph; counted here)."""
    g = torch.Generator().manual_seed(0)
    conc = (torch.rand(n, generator=g) * 4.5 + 0.5).requires_grad_()
    info = _explain(gamma_loss, conc)
    compiled = torch.compile(gamma_loss)
    t0 = time.perf_counter()
    compiled(conc).backward()
    info["compile_s"] = time.perf_counter() - t0

    def make(fn: Callable[..., torch.Tensor]) -> Callable[[], None]:
        def step() -> None:
            conc.grad = None
            fn(conc).backward()

        return step

    cases = [
        {"impl": f"gamma {n} eager", "step": make(gamma_loss)},
        {"impl": f"gamma {n} compiled", "step": make(compiled)},
    ]
    return cases, info


def vae_cases(objective: str, k: int) -> tuple[list[dict], dict]:
    g = torch.Generator().manual_seed(0)
    pool = [torch.bernoulli(torch.full((128, 1, 28, 28), 0.13), generator=g) for _ in range(8)]
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(VAE((1, 28, 28), latent_dim=20, hidden=(400,), objective=objective, k=k))

    def loss_of(vae: VAE) -> Callable[[torch.Tensor], torch.Tensor]:
        def loss(x: torch.Tensor) -> torch.Tensor:
            return vae.training_step(x, 0)["loss"]

        return loss

    eager_loss, compiled_loss = loss_of(models[0]), torch.compile(loss_of(models[1]))
    info = _explain(loss_of(models[1]), pool[0])
    t0 = time.perf_counter()
    compiled_loss(pool[0]).backward()
    info["compile_s"] = time.perf_counter() - t0

    def make(vae: VAE, fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        opt = default_optimizer(vae.parameters(), lr=1e-3)
        it = {"i": 0}

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            fn(pool[it["i"] % len(pool)]).backward()
            opt.step()
            it["i"] += 1

        return step

    name = f"vae {objective}" + (f" k={k}" if k != 1 else "")
    cases = [
        {"impl": f"{name} eager", "step": make(models[0], eager_loss)},
        {"impl": f"{name} compiled", "step": make(models[1], compiled_loss)},
    ]
    return cases, info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_timing_args(p, rounds=20, target_ms=100.0)
    p.add_argument("--sizes", type=int, nargs="*", default=[10**4, 10**6])
    p.add_argument("--objective", choices=("elbo", "iwae"), default="elbo")
    p.add_argument("--k", type=int, default=1)
    p.add_argument("--no-vae", action="store_true", help="the Normal workloads only")
    p.add_argument(
        "--gamma-sizes", type=int, nargs="*", default=[10**5], help="Gamma workloads (none: [])"
    )
    p.add_argument(
        "--inductor-random",
        action="store_true",
        help="inductor's own RNG for randn (default: torch._inductor.config.fallback_random"
        " = True, torch's generator, as eager draws)",
    )
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    import torch._inductor.config as inductor_config

    inductor_config.fallback_random = not args.inductor_random
    env = {
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "clock": args.clock,
        "rounds": args.rounds,
        "loadavg_start": loadavg(),
        "fallback_random": inductor_config.fallback_random,
    }
    print(
        f"torch {env['torch']}, threads {env['threads']}, clock {args.clock}, cpu {env['cpu']},"
        f" inductor fallback_random={inductor_config.fallback_random}"
    )
    workloads = [normal_cases(n) for n in args.sizes]
    workloads += [gamma_cases(n) for n in args.gamma_sizes]
    if not args.no_vae:
        workloads.append(vae_cases(args.objective, args.k))
    cases = [c for w in workloads for c in w[0]]
    run_timing(cases, args.rounds, args.target_ms / 1e3, args.seed, args.clock)
    rows = []
    print(
        f"\n{'workload':<22} {'graphs':>6} {'breaks':>6} {'compile s':>9} {'eager ms':>9} "
        f"{'compiled ms':>11} {'speed-up':>8} {'paired':>7} {'paired IQR':>13}"
    )
    for (eager, compiled), info in ((w[0], w[1]) for w in workloads):
        te, tc = statistics.median(eager["times"]), statistics.median(compiled["times"])
        pm, lo, hi = paired_ratio(eager, compiled)
        row = {"workload": eager["impl"].rsplit(" ", 1)[0], **info, "eager_ms": te * 1e3,
               "compiled_ms": tc * 1e3, "speedup": te / tc, "speedup_paired": pm,
               "speedup_paired_iqr": [lo, hi]}  # fmt: skip
        rows.append(row)
        print(
            f"{row['workload']:<22} {info['graphs']:6d} {info['graph_breaks']:6d} "
            f"{info['compile_s']:9.1f} {te * 1e3:9.3f} {tc * 1e3:11.3f} {te / tc:8.2f} "
            f"{pm:7.2f} {lo:6.2f}-{hi:6.2f}"
        )
    print("\nspeed-up = time(eager) / time(compiled) (> 1: compiled is faster).")
    env["loadavg_end"] = loadavg()
    print(f"load average: start {env['loadavg_start']}, end {env['loadavg_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
