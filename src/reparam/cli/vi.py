"""``reparam vi fit``: black-box variational inference on a shipped example model.

Fits a guide (mean-field, full-rank, low-rank or flow, :mod:`reparam.vi.guides`) to the
posterior of a model of :data:`reparam.vi.models.MODELS` with :func:`reparam.vi.fit`
(Adam on the negative ELBO surrogate, ``--particles`` draws per step with ``--noise``
mc / antithetic / qmc, optionally sticking the landing), then checks the fit by Pareto-
smoothed importance sampling (k̂, Yao et al. 2018) with ``--eval-samples`` draws, which
also estimates log p(x).

Writes into ``--out`` (default ``runs/vi``), atomically and only once the fit has
succeeded: ``config.json`` (the options), ``summary.csv`` and ``summary.json`` (per
constrained parameter: mean, sd and the 5/50/95 % quantiles of q), ``result.json``
(final ELBO — the mean of the last window — steps, converged, seconds, k̂ with its
verdict, the IS estimate of log p(x) ± its standard error, the ESS and, where the model
knows them, the exact log p(x) and posterior moments' errors), ``elbo.png`` and
``marginals.png``. VI runs are short: there is no checkpoint and no ``--resume``; a
directory holding a ``result.json`` is not overwritten without ``--overwrite``.

``reparam vi fit`` with no options (eight-schools non-centred, mean-field) runs in a few
seconds on one CPU core.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys
import time
from pathlib import Path
from typing import Any

from .._atomic import atomic_write_text
from .._signals import deferred
from ._common import (
    CommandError,
    check_out,
    checker,
    claim_out,
    finite_or_none,
    hidden_sizes,
    positive_float,
    positive_int,
    random_seed,
    reported,
    write_json,
)
from ._resources import check_memory

__all__ = ["DEFAULTS", "GUIDE_CHOICES", "MODEL_CHOICES", "add_vi_parser", "fit_vi"]

CONFIG = "config.json"
RESULT = "result.json"
OUTPUTS = (CONFIG, "summary.csv", "summary.json", RESULT, "elbo.png", "marginals.png")
COMMAND = "vi fit"
MODEL_CHOICES = ("linear", "logistic", "eight-schools", "eight-schools-nc", "funnel")
GUIDE_CHOICES = ("meanfield", "fullrank", "lowrank", "flow")
NOISE_CHOICES = ("mc", "antithetic", "qmc")
QUANTILES = (0.05, 0.5, 0.95)

#: defaults; None on the command line means "not given".
DEFAULTS: dict[str, Any] = {
    "model": "eight-schools-nc",
    "guide": "meanfield",
    "steps": 3000,
    "particles": 8,
    "noise": "mc",
    "lr": 1e-2,
    "tol": 1e-4,
    "window": 100,
    "init_scale": 0.1,
    "rank": 2,
    "flow": "iaf",
    "transforms": 4,
    "hidden": [32, 32],
    "eval_samples": 4000,
    "seed": 0,
    "threads": 1,
}


# --------------------------------------------------------------------------- arguments
def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def _eval_samples(text: str) -> int:
    value = positive_int("--eval-samples")(text)
    if value < 100:
        raise argparse.ArgumentTypeError(
            f"--eval-samples must be >= 100 (the Pareto fit needs a tail), got {value}"
        )
    return value


def add_vi_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``vi`` with its ``fit`` subcommand to ``sub`` (the ``reparam`` subparsers)."""
    vi = sub.add_parser(
        "vi",
        help="black-box variational inference on example models",
        description="Black-box variational inference: fit a guide to a model's posterior.",
    )
    vsub = vi.add_subparsers(dest="vi_command", metavar="VI_COMMAND", required=True)
    d = DEFAULTS
    fit = vsub.add_parser(
        "fit",
        help="fit a guide to an example model (default: eight-schools-nc, meanfield; seconds)",
        description=(
            "Fit a variational guide to the posterior of an example model by maximizing the "
            "ELBO with Adam, check it by Pareto-smoothed importance sampling (k̂ < 0.5 good, "
            "0.5–0.7 ok, > 0.7 unreliable; Yao et al. 2018) and estimate log p(x). Writes "
            "config.json, summary.csv, summary.json, result.json, elbo.png and marginals.png "
            "to --out once the fit has succeeded. VI runs are short: no checkpoint, no "
            f"resume. Defaults: --model {d['model']} --guide {d['guide']} --steps "
            f"{d['steps']} --particles {d['particles']} --noise {d['noise']} --lr {d['lr']} "
            f"--tol {d['tol']} --seed {d['seed']} --threads {d['threads']}."
        ),
    )
    fit.add_argument(
        "--model",
        choices=MODEL_CHOICES,
        default=d["model"],
        help="linear (conjugate, exact posterior), logistic (breast cancer), eight-schools "
        "(centred), eight-schools-nc (non-centred), funnel (Neal, d=10)",
    )
    fit.add_argument(
        "--guide",
        choices=GUIDE_CHOICES,
        default=d["guide"],
        help="meanfield, fullrank (Cholesky), lowrank (+ diagonal) or flow",
    )
    _optimizer_arguments(fit, d)
    fit.add_argument("--rank", type=positive_int("--rank"), help="--guide lowrank: the rank (2)")
    fit.add_argument("--flow", choices=("iaf", "nsf"), help="--guide flow: the flow (iaf)")
    fit.add_argument(
        "--transforms", type=positive_int("--transforms"), help="--guide flow: layers (4)"
    )
    fit.add_argument(
        "--hidden", type=hidden_sizes, help="--guide flow: conditioner widths, e.g. 32,32"
    )
    fit.add_argument(
        "--eval-samples",
        type=_eval_samples,
        default=d["eval_samples"],
        help="draws of q for the summary and the importance-sampling diagnostics",
    )
    fit.add_argument("--seed", type=random_seed, default=d["seed"], help="random seed")
    fit.add_argument(
        "--threads",
        type=positive_int("--threads"),
        default=d["threads"],
        help="CPU threads for torch (the models are small: one thread is fastest)",
    )
    fit.add_argument("--out", type=Path, default=Path("runs/vi"), help="output directory")
    fit.add_argument(
        "--overwrite", action="store_true", help="replace the results of a run already in --out"
    )
    fit.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    fit.set_defaults(run=reported("vi fit", fit_vi), check=checker(fit, _check_fit))
    return vi


def _optimizer_arguments(fit: argparse.ArgumentParser, d: dict[str, Any]) -> None:
    """The ELBO's estimator, Adam and the convergence rule (defaults ``d``)."""
    fit.add_argument(
        "--steps", type=positive_int("--steps"), default=d["steps"], help="maximum steps"
    )
    fit.add_argument(
        "--particles",
        type=positive_int("--particles"),
        default=d["particles"],
        help="samples of q per step (even for --noise antithetic)",
    )
    fit.add_argument("--noise", choices=NOISE_CHOICES, default=d["noise"], help="how ε is drawn")
    fit.add_argument(
        "--stl", action="store_true", help="sticking the landing (drop the entropy's score term)"
    )
    fit.add_argument("--lr", type=positive_float, default=d["lr"], help="Adam learning rate")
    fit.add_argument(
        "--tol",
        type=_nonnegative_float,
        default=d["tol"],
        help="stop when the relative change of the mean ELBO over the last two windows is "
        "below this (0: run all --steps)",
    )
    fit.add_argument(
        "--window",
        type=positive_int("--window"),
        default=d["window"],
        help="steps per convergence window",
    )
    fit.add_argument(
        "--init-scale",
        type=positive_float,
        default=d["init_scale"],
        help="the guide's initial standard deviation",
    )


def _check_fit(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_out(parser, args, COMMAND)
    if args.rank is not None and args.guide != "lowrank":
        parser.error(f"argument --rank: applies only to --guide lowrank, not {args.guide}")
    for name in ("flow", "transforms", "hidden"):
        if getattr(args, name) is not None and args.guide != "flow":
            parser.error(f"argument --{name}: applies only to --guide flow, not {args.guide}")
    if args.noise == "antithetic" and args.particles % 2:
        parser.error(
            f"argument --particles: --noise antithetic pairs draws, so it needs an even "
            f"number of particles, got {args.particles}"
        )


# --------------------------------------------------------------------------- options
def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The run's options; guide options that do not apply are stored as None."""
    keys = (
        "model", "guide", "steps", "particles", "noise", "stl", "lr", "tol", "window",
        "init_scale", "rank", "flow", "transforms", "hidden", "eval_samples", "seed", "threads",
    )  # fmt: skip
    options = {k: getattr(args, k) for k in keys}
    for k in ("rank", "flow", "transforms", "hidden"):
        if options[k] is None:
            options[k] = DEFAULTS[k]
    if options["guide"] != "lowrank":
        options["rank"] = None
    if options["guide"] != "flow":
        options["flow"] = options["transforms"] = options["hidden"] = None
    return options


def memory_needed(options: dict[str, Any], model: Any) -> float:
    """A lower bound of the peak memory (bytes, see :mod:`reparam._resources`): per draw
    of q (the larger of ``--particles`` and ``--eval-samples``) its z, the constrained
    parameters and log-densities in float64, and the model's per-observation terms."""
    observations = max(
        (v.shape[0] for v in model.data.values() if getattr(v, "ndim", 0) > 0), default=0
    )
    draws = max(int(options["particles"]), int(options["eval_samples"]))
    return draws * (model.dim * 16 + observations * 3) * 8


def make_guide_for(options: dict[str, Any], dim: int) -> Any:
    """The guide of a run's options for z ∈ R^dim (see :func:`reparam.vi.guides.make_guide`)."""
    from ..vi.guides import make_guide

    kw: dict[str, Any] = {"init_scale": options["init_scale"]}
    if options["guide"] == "lowrank":
        if options["rank"] > dim:
            raise CommandError(f"--rank {options['rank']} exceeds the model's dimension {dim}")
        kw["rank"] = options["rank"]
    if options["guide"] == "flow":
        kw.update(
            flow=options["flow"],
            transforms=options["transforms"],
            hidden_features=tuple(options["hidden"]),
        )
    return make_guide(options["guide"], dim, **kw)


# --------------------------------------------------------------------------- outputs
#: the summary's columns (keys of :func:`reparam.vi.diagnostics.summarize_draws`).
SUMMARY_COLUMNS = ("mean", "sd", "5%", "50%", "95%")


def summary_rows(layout: Any, samples: Any) -> dict[str, dict[str, float]]:
    """Per flat constrained parameter: mean, sd and the :data:`QUANTILES` of ``samples``
    ((N, n) flat constrained draws of q in ``layout.flatten`` order)."""
    from ..vi.diagnostics import summarize_draws

    return summarize_draws(samples, layout.flat_names(), QUANTILES)


def format_summary(rows: dict[str, dict[str, float]]) -> str:
    """The summary as an aligned text table."""
    header = ["parameter", "mean", "sd", "5%", "50%", "95%"]
    cells = [header]
    cells += [[name] + [f"{row[c]:.4g}" for c in SUMMARY_COLUMNS] for name, row in rows.items()]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for k, r in enumerate(cells):
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _summary_csv(rows: dict[str, dict[str, float]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["parameter", *SUMMARY_COLUMNS])
    for name, row in rows.items():
        writer.writerow([name, *(f"{row[c]:.10g}" for c in SUMMARY_COLUMNS)])
    return buf.getvalue()


def _exact_errors(exact: dict[str, Any], rows: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The largest |mean_q − mean| / sd and |sd_q / sd − 1| over parameters (exact known)."""
    import torch

    mean = exact["mean"].double()
    sd = torch.diagonal(exact["cov"].double()).sqrt()
    mq = torch.tensor([r["mean"] for r in rows.values()], dtype=torch.float64)
    sq = torch.tensor([r["sd"] for r in rows.values()], dtype=torch.float64)
    return {
        "max_mean_error_in_sd": ((mq - mean).abs() / sd).max().item(),
        "max_sd_relative_error": (sq / sd - 1).abs().max().item(),
    }


def _diagnostics(model: Any, q: Any, num_samples: int, seed: int) -> dict[str, Any]:
    """PSIS k̂ with its verdict, the IS log p(x) ± se and the ESS
    (:func:`reparam.vi.diagnostics.importance_diagnostics`)."""
    from ..vi.diagnostics import importance_diagnostics

    diag = importance_diagnostics(model.log_joint, q, num_samples=num_samples, seed=seed)
    return {
        "k_hat": float(diag["k_hat"]),
        "k_hat_verdict": diag["verdict"],
        "log_evidence": float(diag["log_evidence"]),
        "log_evidence_se": float(diag["log_evidence_se"]),
        "ess": float(diag["ess"]),
    }


# --------------------------------------------------------------------------- fit
def fit_vi(args: argparse.Namespace) -> int:
    """Run ``reparam vi fit`` with parsed ``args``; return the exit status."""
    import torch

    from ..vi.fit import fit
    from ..vi.models import get_model

    start = time.perf_counter()
    out: Path = args.out
    options = resolve_options(args)
    torch.set_num_threads(options["threads"])
    # Everything that can fail on bad input happens before the first file is written.
    model = get_model(options["model"])
    check_memory(memory_needed(options, model), [f"--particles {options['particles']}",
                 f"--eval-samples {options['eval_samples']}"])  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"])
        guide = make_guide_for(options, model.dim)
    claim_out(args, COMMAND, OUTPUTS)  # locked and known writable before the fit
    print(
        f"fitting {options['guide']} to {model.description} (d={model.dim}), "
        f"{options['particles']} particles/step, noise {options['noise']}, up to "
        f"{options['steps']} steps",
        file=sys.stderr,
    )
    result = fit(
        model.log_joint,
        guide,
        num_particles=options["particles"],
        noise=options["noise"],
        stl=options["stl"],
        steps=options["steps"],
        lr=options["lr"],
        tol=options["tol"],
        window=options["window"],
        progress=args.progress,
        seed=options["seed"],
    )
    guide = result.guide
    window = min(options["window"], len(result.elbo))
    final_elbo = sum(result.elbo[-window:]) / window
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(options["seed"] + 1)
        q = guide()
        diag = _diagnostics(model, q, options["eval_samples"], options["seed"] + 2)
        z = q.sample(torch.Size([options["eval_samples"]]))
        params, _ = model.layout.constrain(z)
        flat = model.layout.flatten(params).detach()
    rows = summary_rows(model.layout, flat)
    res = _result_doc(options, model, result, final_elbo, window, diag, rows)
    exact = model.exact

    with deferred():  # the outputs are written as a set: a signal waits for the last one
        _write_outputs(out, options, model, rows, result, exact, flat, res, start)

    print(format_summary(rows))
    pm = f" ± {res['log_evidence_se']:.3f}"
    exact_lz = res.get("exact_log_evidence")
    exact_text = "" if exact_lz is None else f" (exact {exact_lz:.3f})"
    state = "converged" if result.converged else "not converged"
    print(
        f"ELBO {final_elbo:.3f} (mean of the last {window} steps) after {result.steps} steps "
        f"({state}); k̂ {diag['k_hat']:.2f} ({res['k_hat_verdict']}); "
        f"IS log p(x) {diag['log_evidence']:.3f}{pm}{exact_text}"
    )
    print(f"wrote {', '.join(OUTPUTS)} to {out} ({time.perf_counter() - start:.1f} s)")
    return 0


def _result_doc(
    options: dict[str, Any], model: Any, result: Any, final_elbo: float, window: int,
    diag: dict[str, Any], rows: dict[str, dict[str, float]],
) -> dict[str, Any]:  # fmt: skip
    """result.json: the fit, its diagnostics and, for a model with an exact posterior, the
    errors of the summary against it."""
    res: dict[str, Any] = {
        "model": options["model"],
        "guide": options["guide"],
        "dim": model.dim,
        "elbo": final_elbo,
        "elbo_window": window,
        "steps": result.steps,
        "converged": result.converged,
        "seconds": result.seconds,
        **diag,
        "eval_samples": options["eval_samples"],
    }
    exact = model.exact
    if exact is not None:
        if exact.get("log_evidence") is not None:
            res["exact_log_evidence"] = float(exact["log_evidence"])
        res.update(_exact_errors(exact, rows))
    return res


def _write_outputs(
    out: Path, options: dict[str, Any], model: Any, rows: Any, result: Any, exact: Any,
    flat: Any, res: dict[str, Any], start: float,
) -> None:  # fmt: skip
    """config.json, summary.csv/json, elbo.png, marginals.png, then result.json."""
    import torch

    from .. import __version__
    from ..plots import save_figure
    from ..plots.vi import elbo_trace, marginal_histograms

    write_json(
        out / CONFIG,
        {
            "reparam_version": __version__,
            "options": options,
            "model": {
                "name": model.name,
                "description": model.description,
                "dim": model.dim,
                "parameters": model.layout.flat_names(),
            },
        },
    )
    atomic_write_text(out / "summary.csv", _summary_csv(rows))
    write_json(out / "summary.json", {"quantiles": list(QUANTILES), "parameters": rows})
    title = f"{options['guide']} on {options['model']}"
    save_figure(elbo_trace(result.elbo, window=options["window"], title=title), out / "elbo.png")
    kw: dict[str, Any] = {}
    if exact is not None:
        kw = {
            "exact_mean": exact["mean"].numpy(),
            "exact_sd": torch.diagonal(exact["cov"]).sqrt().numpy(),
            "exact_gaussian": bool(exact.get("gaussian")),
        }
    names = model.layout.flat_names()
    fig = marginal_histograms(flat.double().numpy(), names, title=title, **kw)
    save_figure(fig, out / "marginals.png")
    res["total_seconds"] = time.perf_counter() - start
    write_json(out / RESULT, {k: finite_or_none(v) for k, v in res.items()})
