"""Benchmark: variance reduction through ε — antithetic, randomized QMC, control variates.

For each problem the gradient of an expectation is estimated R times independently with
N samples per estimate, for plain Monte Carlo (the baseline, timed alongside) and each
strategy. Reported per strategy and N:

    reduction      = tr Var[ĝ_mc] / tr Var[ĝ_strategy]        (equal sample count;
                     also split into the loc block and the scale block of the gradient)
    per second     = reduction × t_mc / t_strategy              (equal compute time)

(tr Var is the sum of the per-coordinate variances of the gradient over the R
replications; its relative standard error is about sqrt(2/(R − 1)) for each side.)
Each strategy is also checked for bias: the mean gradient over the R replications must
agree with the plain-MC mean within 5 standard errors of the difference.

Problems:

    gaussian   the seed example: q = Normal(μ = 1, σ = 2), f(z) = z² (exact ∇ = (2, 4)),
               and f(z) = sin z;
    logistic   the ELBO of Bayesian logistic regression on scikit-learn's bundled
               breast-cancer data (569 × 30, standardized, plus an intercept; prior
               N(0, I)), mean-field Gaussian q over the 31 weights, gradient with respect
               to (μ, log σ) of E_q[log p(y, w)] + H[q] (entropy analytic), evaluated at
               the initialization (μ = 0, σ = 0.1) and near the optimum (after 2000
               Adam steps on the ELBO).

Target (issue 3): qmc reduces the logistic-regression ELBO-gradient variance ≥ 10× at
N ≥ 16.

Usage:
    python benchmarks/bench_variance.py [--repeats 200] [--samples 4 16 64 256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch

import reparam
from reparam import Pathwise

STRATEGIES: dict[str, dict] = {
    "mc": {},
    "antithetic": {"noise": "antithetic"},
    "qmc": {"noise": "qmc"},
    "cv-linear": {"control_variate": "linear"},
    "cv-quadratic": {"control_variate": "quadratic"},
    "qmc+cv-quadratic": {"noise": "qmc", "control_variate": "quadratic"},
}
QMC_TARGET = 10.0


# --------------------------------------------------------------------------- problems
def breast_cancer() -> tuple[torch.Tensor, torch.Tensor]:
    """(X with an intercept column, y ∈ {0, 1}) from scikit-learn's bundled data set."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    x = torch.tensor(data.data, dtype=torch.float64)
    x = (x - x.mean(0)) / x.std(0)
    x = torch.cat([torch.ones(x.shape[0], 1, dtype=torch.float64), x], dim=1)
    return x, torch.tensor(data.target, dtype=torch.float64)


def logistic_log_joint(x: torch.Tensor, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """log p(y, w) = Σ_i log σ(±x_iᵀw) + log N(w; 0, I), for w with shape (N, d)."""
    sign = 2 * y - 1

    def log_joint(w: torch.Tensor) -> torch.Tensor:
        logits = w @ x.T
        lik = torch.nn.functional.logsigmoid(sign * logits).sum(-1)
        prior = -0.5 * (w * w).sum(-1) - 0.5 * w.shape[-1] * math.log(2 * math.pi)
        return lik + prior

    return log_joint


def fit_meanfield(log_joint: Callable, d: int, steps: int = 2000) -> tuple[torch.Tensor, ...]:
    """(μ, log σ) after Adam on the ELBO (16 samples per step, analytic entropy)."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(1)
    mu = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    log_sigma = torch.full((d,), math.log(0.1), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([mu, log_sigma], lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        q = reparam.Normal(mu, log_sigma.exp())
        loss = -(log_joint(q.rsample((16,))).mean() + log_sigma.sum())
        loss.backward()
        opt.step()
    torch.random.set_rng_state(gen_state)
    return mu.detach(), log_sigma.detach()


def gaussian_problem(f: Callable) -> Callable[[Pathwise, int], tuple[torch.Tensor, float]]:
    def estimate(est: Pathwise, n: int) -> tuple[torch.Tensor, float]:
        mu = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        sigma = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
        t0 = time.perf_counter()
        value = reparam.expectation(f, reparam.Normal(mu, sigma), n, est)
        grads = torch.autograd.grad(value, (mu, sigma))
        return torch.stack(grads), time.perf_counter() - t0

    return estimate


def logistic_problem(
    log_joint: Callable, mu0: torch.Tensor, log_sigma0: torch.Tensor
) -> Callable[[Pathwise, int], tuple[torch.Tensor, float]]:
    def estimate(est: Pathwise, n: int) -> tuple[torch.Tensor, float]:
        mu = mu0.clone().requires_grad_()
        log_sigma = log_sigma0.clone().requires_grad_()
        t0 = time.perf_counter()
        q = reparam.Normal(mu, log_sigma.exp())
        elbo = (
            reparam.expectation(lambda w: log_joint(w), reparam.Independent(q, 1), n, est)
            + log_sigma.sum()
        )
        grads = torch.autograd.grad(elbo, (mu, log_sigma))
        return torch.cat(grads), time.perf_counter() - t0

    return estimate


# --------------------------------------------------------------------------- measurement
def measure(
    estimate: Callable[[Pathwise, int], tuple[torch.Tensor, float]],
    n: int,
    repeats: int,
) -> dict[str, dict[str, float]]:
    """Interleave the strategies replication by replication; summarize each."""
    estimators = {name: Pathwise(**kw) for name, kw in STRATEGIES.items()}
    grads: dict[str, list[torch.Tensor]] = {k: [] for k in estimators}
    times: dict[str, list[float]] = {k: [] for k in estimators}
    for _ in range(repeats):
        for name, est in estimators.items():
            g, t = estimate(est, n)
            grads[name].append(g)
            times[name].append(t)
    stacked = {k: torch.stack(v) for k, v in grads.items()}
    var_mc = stacked["mc"].var(0).sum().item()
    t_mc = statistics.median(times["mc"])
    out = {}
    for name, g in stacked.items():
        var = g.var(0).sum().item()
        t = statistics.median(times[name])
        diff = g.mean(0) - stacked["mc"].mean(0)
        se = torch.sqrt((g.var(0) + stacked["mc"].var(0)) / repeats)
        z = (diff.abs() / se.clamp(min=1e-300)).max().item() if name != "mc" else 0.0
        reduction = var_mc / var if var > 0 else math.inf
        half = g.shape[1] // 2  # every problem stacks (loc block, scale block)
        blocks = {}
        for block, sl in (("loc", slice(0, half)), ("scale", slice(half, None))):
            v = g[:, sl].var(0).sum().item()
            blocks[block] = stacked["mc"][:, sl].var(0).sum().item() / v if v > 0 else math.inf
        out[name] = {
            "reduction_loc": blocks["loc"],
            "reduction_scale": blocks["scale"],
            "trace_var": var,
            "reduction": reduction,
            "per_second": reduction * t_mc / t,
            "ms": 1e3 * t,
            "max_bias_z": z,
        }
    return out


def _fmt(ratio: float) -> str:
    """A ratio for the table; 'exact' where the strategy's variance is rounding error
    (the estimator is exact for this f, e.g. antithetic on an odd gradient)."""
    return "exact" if ratio > 1e12 else f"{ratio:.3g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--samples", type=int, nargs="+", default=[4, 16, 64, 256])
    parser.add_argument("--fit-steps", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    x, y = breast_cancer()
    log_joint = logistic_log_joint(x, y)
    d = x.shape[1]
    mu_opt, log_sigma_opt = fit_meanfield(log_joint, d, args.fit_steps)
    problems = {
        "gaussian z²": gaussian_problem(lambda z: z * z),
        "gaussian sin z": gaussian_problem(torch.sin),
        "logistic ELBO at init": logistic_problem(
            log_joint,
            torch.zeros(d, dtype=torch.float64),
            torch.full((d,), math.log(0.1), dtype=torch.float64),
        ),
        "logistic ELBO near optimum": logistic_problem(log_joint, mu_opt, log_sigma_opt),
    }
    results: dict[str, dict] = {}
    print(
        f"reparam {reparam.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}, {torch.get_num_threads()} threads, "
        f"R = {args.repeats} replications; ratio rel. SE ≈ "
        f"{math.sqrt(4 / (args.repeats - 1)):.2f}"
    )
    header = f"{'problem':28s} {'N':>5s} " + " ".join(f"{k:>17s}" for k in STRATEGIES)
    ok = True
    verdicts: list[str] = []
    for pname, estimate in problems.items():
        print()
        print("variance reduction (equal samples) / per second (equal time):")
        print(header)
        for n in args.samples:
            res = measure(estimate, n, args.repeats)
            results[f"{pname}|{n}"] = res
            cells = []
            for k in STRATEGIES:
                r = res[k]
                red, per = _fmt(r["reduction"]), _fmt(r["per_second"])
                flag = "!" if r["max_bias_z"] > 5 else ""
                cells.append(f"{red:>8s}/{per:<7s}{flag:1s}")
            print(f"{pname:28s} {n:5d} " + " ".join(f"{c:>17s}" for c in cells))
            split = "  ".join(
                f"{k} {_fmt(res[k]['reduction_loc'])}|{_fmt(res[k]['reduction_scale'])}"
                for k in STRATEGIES
                if k != "mc"
            )
            print(f"{'':28s} {'':5s} reduction on the loc | scale gradients: {split}")
            if pname.startswith("logistic") and n >= 16:
                met = res["qmc"]["reduction"] >= QMC_TARGET
                verdicts.append(
                    f"{pname}, N={n}: qmc {res['qmc']['reduction']:.3g}x "
                    f"{'PASS' if met else 'FAIL'}"
                )
                ok &= met
            ok &= all(r["max_bias_z"] <= 5 for r in res.values())
    print()
    print("'!' marks a mean gradient more than 5 SE from plain MC's (bias check).")
    print(f"target qmc >= {QMC_TARGET:g}x on the logistic ELBO at N >= 16:")
    for line in verdicts:
        print("  " + line)
    print(f"overall: {'PASS' if ok else 'FAIL'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
