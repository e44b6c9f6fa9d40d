"""Benchmark: implicit reparameterization gradients — accuracy and speed against torch.

Accuracy. For a sample z and parameter θ the implicit gradient is
dz/dθ = −(∂F(z; θ)/∂θ) / q(z; θ). The reference is computed at the *same* z with mpmath
(30 significant digits, numerical differentiation of the regularized incomplete gamma /
beta function in θ), so both implementations are judged at identical points:

    Gamma(α, 1)    ours: reparam.Gamma                torch: torch._standard_gamma_grad
                   (what torch.distributions.Gamma.rsample back-propagates)
    Beta(α, β)     ours: z = X/(X+Y) from two implicit Gammas, so dz/dα = X'(α)·Y/(X+Y)²
                   (reference: mpmath X'(α) at our X, Y);  torch: Beta.rsample
                   (the Beta-CDF implicit gradient; reference: mpmath at torch's z)

over α ∈ {1e-3 … 1e3} (Beta: α, β ∈ {0.01 … 100}) and quantile levels u from 1e-6 to
1 − 1e-6; reported: max and median relative error.

Speed. One VAE-style step per implementation, interleaved round-robin in one process:
parameters of size n that require grad (α drawn in [0.5, 5]), one rsample each,
loss = z.sum(), backward. Reported: medians and the ratio reparam / torch.

Usage:
    python benchmarks/bench_implicit.py [--rounds 20] [--size 100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable

import mpmath as mp
import torch

import reparam

mp.mp.dps = 30
ALPHAS = [1e-3, 1e-2, 0.1, 0.5, 1.0, 2.0, 10.0, 100.0, 1000.0]
LEVELS = [1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999, 1 - 1e-6]
BETA_PAIRS = [(a, b) for a in (0.01, 0.1, 1.0, 10.0, 100.0) for b in (0.01, 1.0, 100.0)]


# --------------------------------------------------------------------------- references
def gamma_dx_da(x: float, a: float) -> float:
    """−∂P(a, x)/∂a / p(x; a) for the standard Gamma, in mpmath."""
    x, a = mp.mpf(x), mp.mpf(a)
    d_p = mp.diff(lambda s: mp.gammainc(s, 0, x, regularized=True), a)
    log_pdf = (a - 1) * mp.log(x) - x - mp.loggamma(a)
    return float(-d_p / mp.exp(log_pdf))


def beta_dz_da(z: float, a: float, b: float) -> float:
    """−∂I_z(a, b)/∂a / p(z; a, b) for the Beta, in mpmath."""
    z, a, b = mp.mpf(z), mp.mpf(a), mp.mpf(b)
    d_i = mp.diff(lambda s: mp.betainc(s, b, 0, z, regularized=True), a)
    log_pdf = (a - 1) * mp.log(z) + (b - 1) * mp.log1p(-z) - mp.log(mp.beta(a, b))
    return float(-d_i / mp.exp(log_pdf))


def _rel(got: float, want: float) -> float:
    return abs(got - want) / max(abs(want), 1e-300)


def gamma_accuracy() -> dict[str, dict[str, float]]:
    errs: dict[str, list[float]] = {"reparam": [], "torch": []}
    worst: dict[str, tuple] = {}
    for a in ALPHAS:
        u = torch.tensor(LEVELS, dtype=torch.float64)
        alpha = torch.full_like(u, a).requires_grad_()
        z = reparam.Gamma(alpha, 1.0).from_noise(u)
        (ours,) = torch.autograd.grad(z.sum(), alpha)
        zs = z.detach()
        theirs = torch._standard_gamma_grad(alpha.detach(), zs)  # (concentration, sample)
        for i, x in enumerate(zs.tolist()):
            if x <= 1e-300:  # underflowed sample: dz/dα is 0 to double precision
                continue
            want = gamma_dx_da(x, a)
            for name, got in (("reparam", ours[i].item()), ("torch", theirs[i].item())):
                e = _rel(got, want)
                errs[name].append(e)
                if e >= max(errs[name]):
                    worst[name] = (a, LEVELS[i], x, e)
    return {
        k: {"max": max(v), "median": statistics.median(v), "n": len(v), "worst": worst[k]}
        for k, v in errs.items()
    }


def beta_accuracy() -> dict[str, dict[str, float]]:
    errs: dict[str, list[float]] = {"reparam": [], "torch": []}
    worst: dict[str, tuple] = {}
    levels = torch.tensor(LEVELS, dtype=torch.float64)
    for a, b in BETA_PAIRS:
        n = len(LEVELS)
        # ours: a grid of (u1, u2) level pairs (the diagonal and one off-diagonal shift).
        u = torch.stack([levels, levels.roll(2)], dim=-1)
        alpha = torch.full((n,), a, dtype=torch.float64, requires_grad=True)
        beta = torch.full((n,), b, dtype=torch.float64)
        q = reparam.Beta(alpha, beta)
        z = q.from_noise(u)
        (ours,) = torch.autograd.grad(z.sum(), alpha)
        xg = reparam.Gamma(torch.full((n,), a, dtype=torch.float64), 1.0).from_noise(u[:, 0])
        yg = reparam.Gamma(torch.full((n,), b, dtype=torch.float64), 1.0).from_noise(u[:, 1])
        for i in range(n):
            x, y = xg[i].item(), yg[i].item()
            # skip underflowed gammas and z that rounds to 1 (dz/dα is below rounding there)
            if x <= 1e-300 or y <= 1e-300 or z[i].item() >= 1 - 2**-52:
                continue
            want = gamma_dx_da(x, a) * y / (x + y) ** 2
            e = _rel(ours[i].item(), want)
            errs["reparam"].append(e)
            if e >= max(errs["reparam"]):
                worst["reparam"] = (a, b, x, y, e)
        # torch: its own samples, judged at the sample it drew.
        torch.manual_seed(0)
        alpha_t = torch.full((64,), a, dtype=torch.float64, requires_grad=True)
        zt = torch.distributions.Beta(alpha_t, torch.full((64,), b, dtype=torch.float64)).rsample()
        (theirs,) = torch.autograd.grad(zt.sum(), alpha_t)
        for i in range(0, 64, 8):
            zi = zt[i].item()
            if not 1e-300 < zi < 1 - 1e-16:
                continue
            e = _rel(theirs[i].item(), beta_dz_da(zi, a, b))
            errs["torch"].append(e)
            if e >= max(errs["torch"]):
                worst["torch"] = (a, b, zi, e)
    return {
        k: {"max": max(v), "median": statistics.median(v), "n": len(v), "worst": worst[k]}
        for k, v in errs.items()
    }


# --------------------------------------------------------------------------- speed
def make_step(impl: str, family: str, n: int) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    if family == "Dirichlet":
        conc = (torch.rand(n // 10, 10, generator=g) * 4.5 + 0.5).requires_grad_()
        params = (conc,)
    elif family == "Beta":
        params = tuple((torch.rand(n, generator=g) * 4.5 + 0.5).requires_grad_() for _ in "ab")
    else:
        params = (
            (torch.rand(n, generator=g) * 4.5 + 0.5).requires_grad_(),
            torch.ones(n).requires_grad_(),
        )
    cls = getattr(reparam if impl == "reparam" else torch.distributions, family)

    def step() -> None:
        z = cls(*params).rsample()
        z.sum().backward()

    return step


def time_cases(n: int, rounds: int) -> dict[str, dict[str, float]]:
    cases = {
        (impl, fam): make_step(impl, fam, n)
        for fam in ("Gamma", "Beta", "Dirichlet")
        for impl in ("torch", "reparam")
    }
    times: dict[tuple, list[float]] = {k: [] for k in cases}
    for step in cases.values():
        step()
    for _ in range(rounds):
        order = list(cases)
        random.shuffle(order)
        for k in order:
            t0 = time.perf_counter()
            cases[k]()
            times[k].append(time.perf_counter() - t0)
    out = {}
    for fam in ("Gamma", "Beta", "Dirichlet"):
        t_t = statistics.median(times[("torch", fam)])
        t_r = statistics.median(times[("reparam", fam)])
        out[fam] = {
            "torch_ms": 1e3 * t_t,
            "reparam_ms": 1e3 * t_r,
            "ratio": t_r / t_t,
            "reparam_samples_per_s": n / t_r,
            "torch_samples_per_s": n / t_t,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(0)
    torch.manual_seed(0)
    print(
        f"reparam {reparam.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}, {torch.get_num_threads()} threads"
    )
    results: dict[str, object] = {}
    print("\nrelative error of dz/dθ against mpmath at the same z (max / median, n points)")
    for fam, fn in (("Gamma dz/dα", gamma_accuracy), ("Beta dz/dα", beta_accuracy)):
        acc = fn()
        results[fam] = acc
        for impl, r in acc.items():
            print(
                f"  {fam:12s} {impl:8s} max {r['max']:.2e}  median {r['median']:.2e}  "
                f"(n={r['n']}; worst at {tuple(round(v, 6) for v in r['worst'])})"
            )
    print(f"\nspeed: rsample + backward, n = {args.size}, {args.rounds} interleaved rounds")
    speed = time_cases(args.size, args.rounds)
    results["speed"] = speed
    for fam, r in speed.items():
        print(
            f"  {fam:10s} torch {r['torch_ms']:8.2f} ms  reparam {r['reparam_ms']:8.2f} ms  "
            f"ratio reparam/torch {r['ratio']:.2f}  ({r['reparam_samples_per_s']:.3g} "
            "samples+grads/s)"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
