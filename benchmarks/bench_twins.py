"""Benchmark: the families with a torch.distributions twin, rsample + backward against torch.

For each family, one step per implementation on the same parameter tensors (float32, leaves
that require grad, ``validate_args=False`` on both sides): build q, draw one sample, loss =
Σ z·w (w fixed, drawn once), backward into the parameters. Second case: the sample and its
log density, loss = Σ z·w + Σ log q — reparam's ``rsample_and_log_prob`` against torch's
``rsample`` + ``log_prob``.

Sizes: a batch of 4096 scalars for the univariate families; batch 256 with K = 5
(LogisticNormal, 6 components), K = 10 (OneHotCategoricalStraightThrough), d = 5
(Wishart, LKJCholesky) for the others. torch's LKJCholesky has no ``rsample``: its
``sample`` (no gradient through the sample; the log_prob case backpropagates log q only)
is the reference, marked ``(sample)``.

Explicit in torch (target reparam/torch ≤ 1): HalfCauchy, Pareto, GeneralizedPareto,
ContinuousBernoulli, LogisticNormal, OneHotCategoricalStraightThrough. FisherSnedecor,
InverseGamma and Wishart draw Gamma/Chi2 in torch, implicit in both.

All cases run interleaved in one process (shared harness: order shuffled each round,
process CPU time with ``--clock cpu``). Reported: medians and the paired ratio
reparam/torch (median and quartiles of the per-round ratio).

Usage:
    python benchmarks/bench_twins.py --threads 1 --clock cpu [--rounds 20] [--target-ms 50]
        [--families HalfCauchy Pareto ...] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import warnings
from collections.abc import Callable

import torch
import torch.distributions as td

import reparam
from _harness import add_timing_args, cpu_model, loadavg, paired_ratio, run_timing

UNIVARIATE_N = 4096
BATCH = 256

#: family → how torch draws it (explicit: a closed-form rsample the target applies to)
FAMILIES = {
    "HalfCauchy": "explicit",
    "Pareto": "explicit",
    "GeneralizedPareto": "explicit",
    "ContinuousBernoulli": "explicit",
    "LogisticNormal": "explicit",
    "OneHotCategoricalStraightThrough": "explicit",
    "FisherSnedecor": "implicit",
    "InverseGamma": "implicit",
    "Wishart": "implicit",
    "LKJCholesky": "torch: sample",
}


def _params(family: str, g: torch.Generator) -> dict[str, torch.Tensor | int]:
    """The keyword arguments of both constructors: float32 leaves that require grad."""

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return (torch.rand(*shape, generator=g) * (hi - lo) + lo).requires_grad_()

    n, b = UNIVARIATE_N, BATCH
    if family == "HalfCauchy":
        return {"scale": u(0.5, 2.0, n)}
    if family == "Pareto":
        return {"scale": u(0.5, 2.0, n), "alpha": u(1.0, 5.0, n)}
    if family == "GeneralizedPareto":
        return {"loc": u(-1.0, 1.0, n), "scale": u(0.5, 2.0, n), "concentration": u(-0.4, 0.4, n)}
    if family == "ContinuousBernoulli":
        return {"logits": u(-4.0, 4.0, n)}
    if family == "FisherSnedecor":
        return {"df1": u(1.0, 10.0, n), "df2": u(1.0, 10.0, n)}
    if family == "InverseGamma":
        return {"concentration": u(0.5, 5.0, n), "rate": u(0.5, 2.0, n)}
    if family == "LogisticNormal":
        return {"loc": u(-1.0, 1.0, b, 5), "scale": u(0.5, 1.5, b, 5)}
    if family == "OneHotCategoricalStraightThrough":
        return {"logits": u(-2.0, 2.0, b, 10)}
    if family == "Wishart":
        d = 5
        raw = torch.randn(b, d, d, generator=g) * 0.3
        tril = raw.tril(-1) + torch.diag_embed(torch.rand(b, d, generator=g) + 0.5)
        return {"df": u(6.0, 10.0, b), "scale_tril": tril.requires_grad_()}
    if family == "LKJCholesky":
        return {"dim": 5, "concentration": u(0.5, 3.0, b)}
    raise ValueError(family)


def make_step(impl: str, family: str, with_log_prob: bool, seed: int) -> Callable[[], None]:
    """One step: build q on the shared parameters, sample, loss, backward."""
    g = torch.Generator().manual_seed(seed)
    kwargs = _params(family, g)
    cls = getattr(reparam if impl == "reparam" else td, family)
    probe = cls(**kwargs, validate_args=False)
    w = torch.randn(probe.batch_shape + probe.event_shape, generator=g)
    torch_sample = impl == "torch" and family == "LKJCholesky"

    def step() -> None:
        q = cls(**kwargs, validate_args=False)
        if impl == "reparam" and with_log_prob:
            z, lp = q.rsample_and_log_prob()
            loss = (z * w).sum() + lp.sum()
        else:
            z = q.sample() if torch_sample else q.rsample()
            loss = (z * w).sum()
            if with_log_prob:
                loss = loss + q.log_prob(z).sum()
        if loss.requires_grad:
            loss.backward()

    return step


def time_cases(args: argparse.Namespace) -> list[dict]:
    cases = []
    for fam in args.families:
        for with_lp in (False, True):
            for impl in ("torch", "reparam"):
                step = make_step(impl, fam, with_lp, args.seed)
                cases.append({"family": fam, "log_prob": with_lp, "impl": impl, "step": step})
    run_timing(cases, args.rounds, args.target_ms / 1e3, args.seed, args.clock)
    return cases


def speed_table(cases: list[dict]) -> list[dict]:
    index = {(c["family"], c["log_prob"], c["impl"]): c for c in cases}
    rows = []
    for (fam, with_lp, impl), c in index.items():
        if impl != "reparam":
            continue
        t = index[(fam, with_lp, "torch")]
        med, q1, q3 = paired_ratio(c, t)
        rows.append(
            {
                "family": fam,
                "case": "rsample+log_prob" if with_lp else "rsample",
                "kind": FAMILIES[fam],
                "reparam_ms": 1e3 * statistics.median(c["times"]),
                "torch_ms": 1e3 * statistics.median(t["times"]),
                "reparam/torch": (med, q1, q3),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_timing_args(parser, rounds=20, target_ms=50.0)
    parser.add_argument("--families", nargs="+", choices=tuple(FAMILIES), default=list(FAMILIES))
    parser.add_argument("--json", type=str, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # torch's Wishart.rsample warns when a float32 sample fails its Cholesky check (and redraws)
    warnings.filterwarnings("ignore", message="Singular sample detected")
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    print(
        f"reparam {reparam.__version__}, torch {torch.__version__}, python "
        f"{platform.python_version()}, {torch.get_num_threads()} threads, clock {args.clock}, "
        f"{cpu_model()}, load {loadavg()}"
    )
    print(
        f"\nfloat32 sample + backward of Σ z·w (+ Σ log q), validate_args=False, "
        f"{args.rounds} interleaved rounds, paired ratios; univariate n={UNIVARIATE_N}, "
        f"else batch {BATCH}"
    )
    rows = speed_table(time_cases(args))
    for r in rows:
        med, q1, q3 = r["reparam/torch"]
        flag = ""
        if r["kind"] == "explicit":
            flag = "  ok" if med <= 1.0 else "  ABOVE 1"
        print(
            f"  {r['family']:33s} {r['case']:17s} {r['kind']:14s}"
            f" reparam {r['reparam_ms']:7.3f} ms  torch {r['torch_ms']:7.3f} ms"
            f"  reparam/torch {med:.2f} ({q1:.2f}-{q3:.2f}){flag}"
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
