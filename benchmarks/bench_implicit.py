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

Also in float32 (what a float32 user gets: reparam's float32 pass and inverse, torch's
float32 gradient) for the Gamma grid.

Speed. One VAE-style step per implementation, float32, interleaved (shared harness: order
shuffled each round, process CPU time with ``--clock cpu``): parameters of size n that
require grad (α ~ U(0.5, 5) or U(50, 500)), one rsample each, loss = Σ z², backward, for
Gamma, Chi2, Beta, Dirichlet (K = 10) and StudentT; reparam's antithetic and qmc noise
(the numerical inverse) against its plain Monte Carlo (torch's native sampler). Reported:
medians and paired ratios (median and quartiles of the per-round ratio).

Usage:
    python benchmarks/bench_implicit.py --threads 1 --clock cpu [--rounds 10]
        [--sizes 100000 1000000] [--ranges 0.5-5 50-500] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
from collections.abc import Callable

import mpmath as mp
import torch

import reparam
from _harness import add_timing_args, cpu_model, loadavg, paired_ratio, run_timing

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


def gamma_accuracy_float32() -> dict[str, dict[str, float]]:
    """float32 concentrations and noise on the grid: ∂ log z/∂α (log space, so underflowing
    samples count) of reparam against mpmath at reparam's own z; torch's float32
    ``_standard_gamma_grad`` against mpmath at the same z where z is a normal float."""
    errs: dict[str, list[float]] = {"reparam float32": [], "torch float32": []}
    worst: dict[str, tuple] = {}
    for a in ALPHAS:
        u = torch.tensor(LEVELS, dtype=torch.float32)
        alpha = torch.full_like(u, a).requires_grad_()
        q = reparam.Gamma(alpha, torch.tensor(1.0))
        log_z = q._log_z(u)
        (ours,) = torch.autograd.grad(log_z.sum(), alpha)
        for i, t in enumerate(log_z.detach().tolist()):
            x = mp.exp(mp.mpf(t))
            want = gamma_dx_da(x, a) / float(x) if t > -700 else None
            if want is None:
                continue
            for name, got in (("reparam float32", ours[i].item()),):
                e = _rel(got, want)
                errs[name].append(e)
                if e >= max(errs[name]):
                    worst[name] = (a, LEVELS[i], float(x), e)
            z32 = torch.tensor(float(x), dtype=torch.float32)
            if z32.item() > torch.finfo(torch.float32).tiny:
                theirs = torch._standard_gamma_grad(torch.tensor(a, dtype=torch.float32), z32)
                e = _rel(theirs.item(), gamma_dx_da(z32.item(), a))
                errs["torch float32"].append(e)
                if e >= max(errs["torch float32"]):
                    worst["torch float32"] = (a, LEVELS[i], z32.item(), e)
    return {
        k: {"max": max(v), "median": statistics.median(v), "n": len(v), "worst": worst[k]}
        for k, v in errs.items()
    }


# --------------------------------------------------------------------------- speed
FAMILIES = ("Gamma", "Chi2", "Beta", "Dirichlet", "StudentT")
RANGES = {"0.5-5": (0.5, 5.0), "50-500": (50.0, 500.0)}


def make_step(
    impl: str, family: str, n: int, lo: float, hi: float, noise: str = "mc"
) -> Callable[[], None]:
    """rsample + backward of n float32 samples, one per parameter element (α ~ U(lo, hi);
    Dirichlet: n/10 rows of K = 10; Chi2: df = 2α; StudentT: df = 2α). For noise other
    than mc: a batch of 1000 parameters, sample_shape (n/1000,)."""
    g = torch.Generator().manual_seed(0)
    batch = n if noise == "mc" else 1000
    shape = () if noise == "mc" else (n // 1000,)

    def draw(*size: int) -> torch.Tensor:
        return (torch.rand(*size, generator=g) * (hi - lo) + lo).requires_grad_()

    if family == "Dirichlet":
        params: tuple = (draw(batch // 10, 10),)
    elif family == "Beta":
        params = (draw(batch), draw(batch))
    elif family in ("Chi2", "StudentT"):
        params = ((2 * draw(batch)).detach().requires_grad_(),)
    else:
        params = (draw(batch), torch.ones(batch).requires_grad_())
    cls = getattr(reparam if impl == "reparam" else torch.distributions, family)

    def step() -> None:
        q = cls(*params)
        z = q.rsample(shape) if impl == "torch" else q.rsample(shape, noise=noise)
        z.square().sum().backward()

    return step


def time_cases(args: argparse.Namespace) -> list[dict]:
    cases = []
    for n in args.sizes:
        for rng in args.ranges:
            lo, hi = RANGES[rng]
            for fam in args.families:
                for impl in ("torch", "reparam"):
                    step = make_step(impl, fam, n, lo, hi)
                    cases.append({"n": n, "range": rng, "family": fam, "impl": impl, "step": step})
            for fam in args.noise_families:
                for noise in ("antithetic", "qmc"):
                    step = make_step("reparam", fam, n, lo, hi, noise)
                    cases.append(
                        {"n": n, "range": rng, "family": fam, "impl": noise, "step": step}
                    )
    run_timing(cases, args.rounds, args.target_ms / 1e3, args.seed, args.clock)
    return cases


def speed_table(cases: list[dict]) -> list[dict]:
    """One row per (n, range, family): median ms and paired ratios (reparam / torch;
    antithetic and qmc / reparam's plain Monte Carlo)."""
    index = {(c["n"], c["range"], c["family"], c["impl"]): c for c in cases}
    rows = []
    for (n, rng, fam, impl), c in index.items():
        if impl != "reparam":
            continue
        row = {
            "n": n,
            "range": rng,
            "family": fam,
            "reparam_ms": 1e3 * statistics.median(c["times"]),
        }
        torch_case = index.get((n, rng, fam, "torch"))
        if torch_case is not None:
            row["torch_ms"] = 1e3 * statistics.median(torch_case["times"])
            row["reparam/torch"] = paired_ratio(c, torch_case)
        for noise in ("antithetic", "qmc"):
            other = index.get((n, rng, fam, noise))
            if other is not None:
                row[f"{noise}_ms"] = 1e3 * statistics.median(other["times"])
                row[f"{noise}/mc"] = paired_ratio(other, c)
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(parser, rounds=10, target_ms=200.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--ranges", nargs="+", choices=tuple(RANGES), default=list(RANGES))
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument(
        "--noise-families",
        nargs="*",
        choices=FAMILIES,
        default=["Gamma", "Beta"],
        help="families also timed with antithetic and qmc noise (the numerical inverse)",
    )
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    print(
        f"reparam {reparam.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}, {torch.get_num_threads()} threads, clock {args.clock}, "
        f"{cpu_model()}, load {loadavg()}"
    )
    results: dict[str, object] = {}
    if not args.skip_accuracy:
        print("\nrelative error of dz/dθ against mpmath at the same z (max / median, n points)")
        accuracy = (
            ("Gamma dz/dα float64", gamma_accuracy),
            ("Gamma dlogz/dα float32", gamma_accuracy_float32),
            ("Beta dz/dα float64", beta_accuracy),
        )
        for fam, fn in accuracy:
            acc = fn()
            results[fam] = acc
            for impl, r in acc.items():
                print(
                    f"  {fam:22s} {impl:16s} max {r['max']:.2e}  median {r['median']:.2e}  "
                    f"(n={r['n']}; worst at {tuple(round(v, 6) for v in r['worst'])})"
                )
    print(f"\nspeed: float32 rsample + backward, {args.rounds} interleaved rounds, paired ratios")
    rows = speed_table(time_cases(args))
    results["speed"] = rows
    for r in rows:
        line = f"  n={r['n']:>8} α~U({r['range']:>6}) {r['family']:10s}"
        line += f" reparam {r['reparam_ms']:8.2f} ms"
        if "torch_ms" in r:
            med, q1, q3 = r["reparam/torch"]
            line += f"  torch {r['torch_ms']:8.2f} ms  reparam/torch {med:.2f} ({q1:.2f}-{q3:.2f})"
        for noise in ("antithetic", "qmc"):
            if f"{noise}/mc" in r:
                line += f"  {noise}/mc {r[f'{noise}/mc'][0]:.2f}"
        print(line)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
