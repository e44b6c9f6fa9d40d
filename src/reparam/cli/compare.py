"""``reparam compare``: measure gradient estimators side by side.

``reparam compare`` runs every applicable estimator on a one-parameter-pair test
problem, ∇ E_q[f(z)] with q = family(loc=μ, scale=σ): pathwise, pathwise with
variance reduction through ε (antithetic pairs for an even N, randomized QMC, linear
and quadratic Taylor control variates where q has a finite mean and variance), and the
score function with no baseline, a running mean and leave-one-out. It reports each
gradient estimate's mean, its exact value where one is known, its variance, the
variance reduction Var[pathwise] / Var[row] at the same N, SNR and cost, and writes
``compare.csv``, ``compare.json`` and ``variance.png`` (atomically) into ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import io
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._common import (
    check_out,
    claim_out,
    parse_float,
    parse_int,
    positive_float,
    random_seed,
    reported,
)

__all__ = ["add_compare_parser", "compare", "exact_gradient", "format_table"]

#: the integrands, with E_{N(μ,σ²)}[f] in closed form (gradients by autograd).
F_CHOICES = ("z", "z2", "exp", "sin")
_F_TEXT = {"z": "z", "z2": "z²", "exp": "exp(z)", "sin": "sin(z)"}

DEFAULTS = {
    "f": "z2",
    "dist": "normal",
    "mu": 1.0,
    "sigma": 2.0,
    "num_samples": "1,10,100",
    "repeats": 300,
    "seed": 0,
    "out": "runs/compare",
}


# --------------------------------------------------------------------------- arguments
def _finite_float(text: str) -> float:
    value = parse_float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _repeats(text: str) -> int:
    value = parse_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2 (a variance needs two), got {value}")
    return value


def _int_list(text: str) -> tuple[int, ...]:
    values: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            n = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated positive integers such as 1,10,100; got {text!r}"
            ) from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"each number of samples must be >= 1, got {n}")
        if n not in values:
            values.append(n)
    return tuple(values)


def loc_scale_families() -> dict[str, type]:
    """Lower-case name → every univariate reparam family built as ``Family(loc, scale)``."""
    from torch.distributions import Distribution

    from .. import distributions

    found = {}
    for name in getattr(distributions, "__all__", ()):
        obj = getattr(distributions, name, None)
        if not (isinstance(obj, type) and issubclass(obj, Distribution)):
            continue
        try:
            params = list(inspect.signature(obj.__init__).parameters)[1:3]
        except (TypeError, ValueError):
            continue
        if params != ["loc", "scale"]:
            continue
        try:  # univariate families only: scalar parameters give a scalar event
            q = obj(0.0, 1.0)  # type: ignore[arg-type]  # a (loc, scale) family, checked above
        except (TypeError, ValueError):
            continue
        if q.batch_shape == () and q.event_shape == ():
            found[name.lower()] = obj
    return dict(sorted(found.items()))


def add_compare_parser(sub: Any) -> None:
    """Add ``reparam compare`` to the subcommands ``sub``."""
    families = loc_scale_families()
    d = DEFAULTS
    compare = sub.add_parser(
        "compare",
        help="compare gradient estimators (pathwise + variance reduction, score function)",
        description=(
            "Estimate the gradient of E_q[f(z)] with respect to q's loc μ and scale σ "
            "with every applicable estimator (pathwise; pathwise with antithetic noise "
            "for even N, randomized QMC noise, linear and quadratic control variates; "
            "score function with no baseline, a running mean, leave-one-out), repeated "
            "--repeats times for each number of samples; report the mean of the "
            "estimates, the exact gradient (closed form; '—' when unknown), the "
            "variance, the reduction Var[pathwise]/Var[row] at the same N, "
            "SNR = |mean|/std and the time per "
            "estimate. Default: q = Normal(μ=1, σ=2), f(z) = z², exact gradient "
            "(2μ, 2σ) = (2, 4). Writes compare.csv, compare.json and variance.png to "
            "--out."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    compare.add_argument(
        "--f",
        choices=F_CHOICES,
        default=d["f"],
        help="integrand: z, z2 (z²), exp (e^z) or sin (sin z); all have exact gradients "
        "for the normal, z and z2 for families with a closed-form mean and variance",
    )
    compare.add_argument(
        "--dist",
        type=str.lower,
        choices=sorted(families),
        default=d["dist"],
        help="the family of q, any reparam distribution built from (loc, scale)",
    )
    compare.add_argument("--mu", type=_finite_float, default=d["mu"], help="q's loc μ")
    compare.add_argument(
        "--sigma", type=positive_float, default=d["sigma"], help="q's scale σ > 0"
    )
    compare.add_argument(
        "--num-samples",
        type=_int_list,
        default=d["num_samples"],
        metavar="N1,N2,...",
        help="numbers of samples per estimate (comma-separated)",
    )
    compare.add_argument(
        "--repeats", type=_repeats, default=d["repeats"], help="independent estimates (>= 2)"
    )
    compare.add_argument("--seed", type=random_seed, default=d["seed"], help="torch random seed")
    compare.add_argument("--out", type=Path, default=Path(str(d["out"])), help="output directory")
    compare.add_argument(
        "--overwrite", action="store_true", help="replace another command's run in --out"
    )
    compare.set_defaults(run=reported("compare", _run_compare), check=_check_compare)


COMMAND = "compare"
OUTPUTS = ("compare.csv", "compare.json", "variance.png")


def _check_compare(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    # a compare directory is replaced by the next compare (a complete, cheap measurement)
    check_out(parser, args, COMMAND, replace_own=True)


# --------------------------------------------------------------------------- compare
def _integrand(name: str) -> Callable[[Any], Any]:
    import torch

    return {
        "z": lambda z: z,
        "z2": lambda z: z * z,
        "exp": torch.exp,
        "sin": torch.sin,
    }[name]


def exact_gradient(dist: str, f: str, mu: float, sigma: float) -> dict[str, float] | None:
    """∂/∂(loc, scale) of E_q[f(z)] in closed form, or None when no closed form is known.

    For the normal: E[z] = μ, E[z²] = μ² + σ², E[e^z] = e^{μ+σ²/2} and
    E[sin z] = sin μ · e^{−σ²/2}; for other families E[z] = mean and
    E[z²] = variance + mean², from the family's closed-form properties. The gradient
    is taken by autograd through these expressions.
    """
    import torch

    family = loc_scale_families()[dist]
    loc = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(sigma, dtype=torch.float64, requires_grad=True)
    if dist == "normal":
        value = {
            "z": lambda: loc,
            "z2": lambda: loc**2 + scale**2,
            "exp": lambda: torch.exp(loc + scale**2 / 2),
            "sin": lambda: torch.sin(loc) * torch.exp(-(scale**2) / 2),
        }[f]()
    elif f in ("z", "z2"):
        q = family(loc, scale)
        try:
            mean = q.mean
            value = mean if f == "z" else q.variance + mean**2
        except NotImplementedError:
            return None
    else:
        return None
    if not value.requires_grad or not torch.isfinite(value):
        return None
    g_loc, g_scale = torch.autograd.grad(value, (loc, scale), allow_unused=True)
    out = {
        "loc": 0.0 if g_loc is None else g_loc.item(),
        "scale": 0.0 if g_scale is None else g_scale.item(),
    }
    return out if all(math.isfinite(v) for v in out.values()) else None


def _has_moments(q: Any) -> bool:
    """q has a finite mean and variance (what the Taylor control variates need)."""
    import torch

    try:
        return bool(torch.isfinite(q.mean).all() and torch.isfinite(q.variance).all())
    except NotImplementedError:
        return False


def _estimators(q: Any, num_samples: int) -> list[Any]:
    from ..estimators import Pathwise, RunningMean, ScoreFunction

    ests: list[Any] = []
    if q.has_rsample:
        ests.append(Pathwise())
        if num_samples % 2 == 0:
            ests.append(Pathwise(noise="antithetic"))
        ests.append(Pathwise(noise="qmc"))
        if _has_moments(q):
            ests += [Pathwise(control_variate="linear"), Pathwise(control_variate="quadratic")]
    ests += [ScoreFunction(), ScoreFunction(baseline=RunningMean())]
    if num_samples >= 2:
        ests.append(ScoreFunction(baseline="loo"))
    return ests


def _reduction(reference: float | None, variance: float) -> float | None:
    """Var[pathwise] / Var[row]: inf when only the row's is 0, 1 when both are."""
    if reference is None:
        return None
    if variance == 0:
        return 1.0 if reference == 0 else math.inf
    return reference / variance


#: float64 tensors of N samples an estimate holds at once (z, f, log q, ε, graph): a
#: lower bound for the memory check.
_TENSORS_PER_SAMPLE = 8


def compare(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the comparison; one row per (estimator, num_samples, parameter)."""
    import torch

    from ._resources import check_memory

    largest = max(args.num_samples)
    check_memory(largest * _TENSORS_PER_SAMPLE * 8, [f"--num-samples {largest}"])

    from ..diagnostics import gradient_stats

    torch.manual_seed(args.seed)
    family = loc_scale_families()[args.dist]
    loc = torch.tensor(args.mu, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(args.sigma, dtype=torch.float64, requires_grad=True)
    # The arguments were checked by the parser; skip per-call validation (it is cost,
    # not signal, in a timing table).
    q = family(loc, scale, validate_args=False)
    f = _integrand(args.f)
    exact = exact_gradient(args.dist, args.f, args.mu, args.sigma)
    rows = []
    for n in args.num_samples:
        for est in _estimators(q, n):
            stats = gradient_stats(
                f, q, {"loc": loc, "scale": scale}, est, num_samples=n, repeats=args.repeats
            )
            for param in ("loc", "scale"):
                rows.append(
                    {
                        "estimator": stats.estimator,
                        "num_samples": n,
                        "parameter": param,
                        "estimate": stats.mean[param].item(),
                        "exact": None if exact is None else exact[param],
                        "variance": stats.variance[param].item(),
                        "variance_reduction": None,
                        "snr": stats.snr[param].item(),
                        "us_per_estimate": stats.seconds_per_estimate * 1e6,
                    }
                )
    plain = {
        (r["num_samples"], r["parameter"]): r["variance"]
        for r in rows
        if r["estimator"] == "pathwise"
    }
    for r in rows:
        r["variance_reduction"] = _reduction(
            plain.get((r["num_samples"], r["parameter"])), r["variance"]
        )
    return rows


COLUMNS = (
    ("estimator", "estimator"),
    ("num_samples", "N"),
    ("parameter", "parameter"),
    ("estimate", "estimate"),
    ("exact", "exact"),
    ("variance", "variance"),
    ("variance_reduction", "reduction"),
    ("snr", "SNR"),
    ("us_per_estimate", "µs/estimate"),
)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as an aligned text table."""
    cells = [[title for _, title in COLUMNS]]
    cells += [[_cell(row[key]) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    lines = []
    for k, r in enumerate(cells):
        parts = [
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return f"{value:.10g}" if isinstance(value, float) else value


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_outputs(out: Path, config: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    from .. import __version__
    from .._atomic import atomic_write_bytes, atomic_write_text
    from ..plots import render_png
    from ..plots.compare import variance_vs_samples

    title = (
        f"∇ E[{_F_TEXT[config['f']]}], "
        f"q = {config['dist']}(μ={config['mu']:g}, σ={config['sigma']:g})"
    )
    png = render_png(variance_vs_samples(rows, title=title))  # first: a failure writes nothing
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[key for key, _ in COLUMNS], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    atomic_write_text(out / "compare.csv", buf.getvalue())
    doc = {
        "reparam_version": __version__,
        "config": config,
        "rows": [{k: _json_number(v) for k, v in row.items()} for row in rows],
    }
    atomic_write_text(out / "compare.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")
    atomic_write_bytes(out / "variance.png", png)


def _run_compare(args: argparse.Namespace) -> int:
    from .._signals import deferred

    start = time.perf_counter()
    claim_out(args, COMMAND, OUTPUTS, replace_own=True)  # locked and writable before the work
    print(f"comparing gradient estimators on {args.dist}(μ={args.mu:g}, σ={args.sigma:g}), "
          f"N = {', '.join(map(str, args.num_samples))}, {args.repeats} repeats",
          file=sys.stderr)  # fmt: skip
    rows = compare(args)
    config = {
        "f": args.f,
        "dist": args.dist,
        "mu": args.mu,
        "sigma": args.sigma,
        "num_samples": list(args.num_samples),
        "repeats": args.repeats,
        "seed": args.seed,
    }
    # Files first, then the table: a closed pipe (``| head``) cannot lose the results.
    with deferred():  # written as a set: a signal waits for the last file
        _write_outputs(args.out, config, rows)
    print(
        f"∇(μ, σ) E[{_F_TEXT[args.f]}] for q = {args.dist}(μ={args.mu:g}, σ={args.sigma:g}), "
        f"{args.repeats} repeats per row, seed {args.seed}"
    )
    print(format_table(rows))
    print(
        "reduction = Var[pathwise] / Var[row] at the same N and parameter "
        "(> 1: lower variance than plain pathwise)"
    )
    print(
        f"wrote compare.csv, compare.json, variance.png to {args.out} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 0
