"""``reparam flow fit``: fit a normalizing flow to data (density estimation) or to a target
density (variational inference).

Density estimation (``--data``, the default ``--data moons``): a 2-D toy of
:data:`reparam.data.TOY_DATA` (``--n-train`` training points; validation and test sets of
:data:`TOY_EVAL` points each drawn with other seeds), or an (N, D) matrix from a ``.csv`` /
``.npy`` file, split 80/10/10 into train / validation / test with ``--seed`` and
standardized with the training mean and standard deviation. The loss is the NLL
−mean log q(x). Default flow: ``maf``.

Variational inference (``--target``, one of :data:`reparam.vi.targets.TARGETS`): minimize
E_q[log q(z) − log p̃(z)] = −ELBO with ``--samples`` draws per step and
``--steps-per-epoch`` steps per epoch. VI only needs z and log q(z) from one sampling
walk (``rsample_and_log_prob``), so the default flow is ``iaf`` and ``maf`` / ``nsf`` are
built in their IAF form (``fast="forward"``: the sampling direction is one network pass;
``maf`` becomes the IAF, ``nsf`` the inverse-autoregressive spline flow).

Writes into ``--out`` (default ``runs/flow``): ``config.json`` (at the start,
atomically), ``metrics.jsonl`` and ``checkpoint.pt`` (``--data``: the shared training
loop, a line each epoch and a checkpoint by ``--checkpoint-every``; ``--target``: both each
epoch), ``result.json`` (density: train / valid / test NLL per point and the test NLL of a
full-covariance Gaussian fit; VI: ELBO, reverse KL(q‖p) with its standard error — log Z in
closed form for banana and funnel, by grid quadrature for the other 2-D targets — and the
effective sample size of the importance weights p̃/q), ``loss.png``, ``samples.png`` and,
for 2-D problems, ``density.png``. ``--resume`` continues from ``checkpoint.pt`` with the
saved configuration (only ``--epochs`` and ``--device`` may change).

``reparam flow fit`` with no options (moons, MAF) runs in seconds on 2 CPU cores. This
module holds the parser and the dispatch; what both modes share is in :mod:`._flow_run`,
the modes are :mod:`.flow_density` and :mod:`.flow_target`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import (
    check_train_out,
    checker,
    device_name,
    hidden_sizes,
    nonnegative_int,
    positive_float,
    positive_int,
    random_seed,
    reported,
)
from ._driver import add_run_arguments, run_train_command
from ._flow_run import (
    CHECKPOINT,
    COMMAND,
    CONDITIONED,
    CONFIG,
    DEFAULTS,
    DENSITY_DEFAULTS,
    FLOW_CHOICES,
    LEGACY,
    TOY_EVAL,
    VI_DEFAULTS,
    _read_config,
    _toys,
)

__all__ = ["DEFAULTS", "FLOW_CHOICES", "add_flow_parser", "fit_flow"]


def _data(text: str) -> str:
    from ..data.toy2d import TOY_DATA

    if text in TOY_DATA or Path(text).suffix.lower() in (".csv", ".npy"):
        return text
    raise argparse.ArgumentTypeError(
        f"unknown toy data set {text!r}: choose one of {', '.join(TOY_DATA)}, "
        "or give a .csv or .npy file"
    )


# --------------------------------------------------------------------------- parser
def add_flow_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``flow`` with its ``fit`` subcommand to ``sub`` (the ``reparam`` subparsers)."""
    from ..data.toy2d import TOY_DATA
    from ..vi.targets import TARGETS

    flow = sub.add_parser(
        "flow",
        help="fit normalizing flows to data or to a target density",
        description="Normalizing flows: fit (density estimation or variational inference).",
    )
    fsub = flow.add_subparsers(dest="flow_command", metavar="FLOW_COMMAND", required=True)
    d, dd, vd = DEFAULTS, DENSITY_DEFAULTS, VI_DEFAULTS
    fit = fsub.add_parser(
        "fit",
        help="fit a flow (default: MAF on two moons, seconds on 2 CPU cores)",
        description=(
            "Fit a normalizing flow by maximum likelihood to --data (a 2-D toy or a .csv/.npy "
            "matrix, split 80/10/10 and standardized) or by variational inference to "
            "--target (an unnormalized 2-D density). Writes config.json, checkpoint.pt, "
            "metrics.jsonl, result.json, loss.png, samples.png and (2-D) density.png to "
            f"--out. Defaults: --data {dd['data']} --flow {dd['flow']} --layers {d['layers']} "
            f"--hidden 64,64 --bins {d['bins']} --seed {d['seed']} --device {d['device']}; "
            f"data: --epochs {dd['epochs']} --batch-size {dd['batch_size']} --lr {dd['lr']} "
            f"--n-train {dd['n_train']} (toys; {TOY_EVAL} validation and test points); "
            f"target: --flow {vd['flow']} --epochs {vd['epochs']} --lr {vd['lr']} --samples "
            f"{vd['samples']} --steps-per-epoch {vd['steps_per_epoch']}. With --target, maf "
            "and nsf are built in IAF form (fast sampling direction), since VI only samples."
        ),
    )
    fit.add_argument(
        "--data",
        type=_data,
        metavar="NAME|PATH",
        help=f"a toy ({', '.join(TOY_DATA)}) or a .csv/.npy file of shape (N, D)",
    )
    fit.add_argument("--target", choices=TARGETS, help="an unnormalized 2-D target density")
    fit.add_argument("--flow", choices=FLOW_CHOICES, help="the flow architecture")
    fit.add_argument("--layers", type=positive_int("--layers"), help="number of transforms")
    fit.add_argument(
        "--hidden", type=hidden_sizes, metavar="H1,H2,...", help="conditioner hidden widths"
    )
    fit.add_argument("--bins", type=positive_int("--bins"), help="spline bins (nsf)")
    fit.add_argument("--epochs", type=positive_int("--epochs"), help="training epochs")
    fit.add_argument("--batch-size", type=positive_int("--batch-size"), help="batch size (data)")
    fit.add_argument("--lr", type=positive_float, help="Adam learning rate")
    fit.add_argument(
        "--samples", type=positive_int("--samples"), help="samples of q per step (target)"
    )
    fit.add_argument(
        "--steps-per-epoch",
        type=positive_int("--steps-per-epoch"),
        help="optimizer steps per epoch (target)",
    )
    fit.add_argument(
        "--anneal-steps",
        type=nonnegative_int,
        help="target: anneal the target as β_t log p̃ with β_t = min(1, 0.01 + t/N) over the "
        "first N steps (Rezende & Mohamed 2015; keeps q from locking onto one mode); "
        "default half of the steps, 0 = off",
    )
    fit.add_argument(
        "--n-train", type=positive_int("--n-train"), help="training points drawn (toy data)"
    )
    fit.add_argument("--seed", type=random_seed, help="random seed")
    fit.add_argument("--device", type=device_name, help="auto, cpu, cuda or cuda:N")
    add_run_arguments(fit, Path("runs/flow"), "continue from OUT/checkpoint.pt (saved config)")
    fit.add_argument(
        "--threads",
        type=positive_int("--threads"),
        help="CPU threads for torch (default: 1 for 2-D problems, whose tiny batches only "
        "lose time to thread start-up, else torch's default)",
    )
    fit.set_defaults(run=reported("flow fit", fit_flow), check=checker(fit, _check_fit))
    return flow


def _check_fit(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.data is not None and args.target is not None:
        parser.error("give either --data or --target, not both")
    check_train_out(parser, args, COMMAND, CONFIG, CHECKPOINT, LEGACY)
    if args.data is not None and args.data not in _toys():
        path = Path(args.data)
        if not path.is_file():
            parser.error(f"argument --data: {str(path)!r}: no such file")
    if args.resume:
        return
    vi = args.target is not None
    wrong = {
        "--batch-size": vi and args.batch_size is not None,
        "--n-train": args.n_train is not None and (vi or (args.data or "moons") not in _toys()),
        "--samples": not vi and args.samples is not None,
        "--steps-per-epoch": not vi and args.steps_per_epoch is not None,
        "--anneal-steps": not vi and args.anneal_steps is not None,
    }
    for name, bad in wrong.items():
        if bad:
            what = {
                "--batch-size": "--data",
                "--n-train": "a toy --data set",
                "--samples": "--target",
                "--steps-per-epoch": "--target",
                "--anneal-steps": "--target",
            }[name]
            parser.error(f"argument {name}: applies only with {what}")
    flow = args.flow or (VI_DEFAULTS if vi else DENSITY_DEFAULTS)["flow"]
    if args.bins is not None and flow != "nsf":
        parser.error(f"argument --bins: applies only to --flow nsf, not {flow}")
    if args.hidden is not None and flow not in CONDITIONED:
        parser.error(f"argument --hidden: --flow {flow} has no conditioner network")


def fit_flow(args: argparse.Namespace) -> int:
    """Run ``reparam flow fit`` with parsed ``args``; return the exit status."""
    target = _read_config(args.out)["options"]["target"] if args.resume else args.target
    if target is None:
        from .flow_density import DensityFit

        return run_train_command(DensityFit(), args)
    from .flow_target import TargetFit

    return run_train_command(TargetFit(), args)
