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
atomically), ``checkpoint.pt`` and ``metrics.jsonl`` (the shared training loop, each
epoch), ``result.json`` (density: train / valid / test NLL per point and the test NLL of a
full-covariance Gaussian fit; VI: ELBO, reverse KL(q‖p) with its standard error — log Z in
closed form for banana and funnel, by grid quadrature for the other 2-D targets — and the
effective sample size of the importance weights p̃/q), ``loss.png``, ``samples.png`` and,
for 2-D problems, ``density.png``. ``--resume`` continues from ``checkpoint.pt`` with the
saved configuration (only ``--epochs`` and ``--device`` may change).

``reparam flow fit`` with no options (moons, MAF) runs in seconds on 2 CPU cores. This
module holds the parser, the options and what both modes share; the modes are
:mod:`.flow_density` and :mod:`.flow_target`.
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._common import (
    CommandError,
    check_train_out,
    checker,
    config_has,
    device_name,
    given_options,
    hidden_sizes,
    nonnegative_int,
    positive_float,
    positive_int,
    random_seed,
    read_config,
    reported,
    resume_options,
)
from ._driver import TrainCommand, add_run_arguments, run_train_command, write_history

__all__ = ["DEFAULTS", "FLOW_CHOICES", "add_flow_parser", "fit_flow"]

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
FLOW_CHOICES = ("maf", "iaf", "nsf", "realnvp", "planar", "radial")
#: flows with an MLP conditioner (``--hidden``).
CONDITIONED = ("maf", "iaf", "nsf", "realnvp")
#: validation and test points drawn for a toy data set.
TOY_EVAL = 2000
#: samples for the VI diagnostics (ELBO, KL, ESS) in result.json.
VI_EVAL = 20000

#: defaults; None on the command line means "not given".
DEFAULTS: dict[str, Any] = {
    "layers": 5,
    "hidden": [64, 64],
    "bins": 8,
    "seed": 0,
    "device": "auto",
}
DENSITY_DEFAULTS: dict[str, Any] = {
    "data": "moons",
    "flow": "maf",
    "epochs": 20,
    "batch_size": 256,
    "lr": 2e-3,
    "n_train": 10000,
}
VI_DEFAULTS: dict[str, Any] = {
    "flow": "iaf",
    "epochs": 20,
    "lr": 3e-3,
    "samples": 256,
    "steps_per_epoch": 100,
}

#: options that may differ from the saved configuration on ``--resume``.
RESUME_MAY_CHANGE = ("epochs", "device")
COMMAND = "flow fit"
OUTPUTS = (CONFIG, CHECKPOINT, "metrics.jsonl", RESULT, "loss.png", "samples.png",
           "density.png")  # fmt: skip
#: a flow run written before run records: its config names the number of features.
LEGACY = config_has("options", "features")

OPTION_KEYS = (
    "data", "target", "flow", "layers", "hidden", "bins", "epochs", "batch_size", "lr",
    "samples", "steps_per_epoch", "anneal_steps", "n_train", "seed", "device",
)  # fmt: skip


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


def _toys() -> tuple[str, ...]:
    from ..data.toy2d import TOY_DATA

    return TOY_DATA


# --------------------------------------------------------------------------- configuration
def _given(args: argparse.Namespace) -> dict[str, Any]:
    given = given_options(args, OPTION_KEYS)
    if "data" in given and given["data"] not in _toys():
        given["data"] = str(Path(given["data"]).resolve())
    return given


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The full option set of a new run: given values, then mode and global defaults.

    Options that do not apply to the run's mode are stored as None.
    """
    given = _given(args)
    vi = "target" in given
    options: dict[str, Any] = {k: None for k in OPTION_KEYS}
    options.update(DEFAULTS)
    options.update(VI_DEFAULTS if vi else DENSITY_DEFAULTS)
    options.update(given)
    if not vi and options["data"] not in _toys():
        options["n_train"] = None
    if vi and options["anneal_steps"] is None:
        options["anneal_steps"] = options["epochs"] * options["steps_per_epoch"] // 2
    if options["flow"] != "nsf":
        options["bins"] = None
    if options["flow"] not in CONDITIONED:
        options["hidden"] = None
    return {k: options[k] for k in OPTION_KEYS}


#: options whose default is computed from others (and from which), e.g. the annealing
#: length, half of the run's steps.
DERIVED_DEFAULTS = {"anneal_steps": ("epochs", "steps_per_epoch")}


def _derived(args: argparse.Namespace, saved: dict[str, Any] | None) -> list[str]:
    """The options of this run that took a derived default (not given at the start)."""
    if saved is not None:
        return list(saved.get("derived", ()))
    given = _given(args)
    return [k for k in DERIVED_DEFAULTS if k not in given and "target" in given]


def _check_derived_defaults(
    args: argparse.Namespace, saved: dict[str, Any], options: dict[str, Any]
) -> None:
    """A resume that changes what a derived default was computed from is refused: the
    same final command line run fresh would derive another value, so the two models would
    differ. Passing the saved value explicitly keeps the schedule and is accepted."""
    given = _given(args)
    old = saved["options"]
    for key in saved.get("derived", ()):
        sources = DERIVED_DEFAULTS.get(key, ())
        changed = [s for s in sources if options.get(s) != old.get(s)]
        if changed and key not in given:
            before = ", ".join(f"{_flag(c)} {old[c]}" for c in changed)
            now = ", ".join(f"{_flag(c)} {options[c]}" for c in changed)
            raise CommandError(
                f"--resume: {_flag(key)} took its default ({old[key]}) from {before}; a fresh "
                f"run with {now} would derive another value, so this resume cannot give that "
                f"model. Pass {_flag(key)} {old[key]} to keep the saved schedule, or start a "
                "new run"
            )


def memory_needed(options: dict[str, Any], features: int) -> float:
    """A lower bound of the peak memory (bytes, see :mod:`reparam._resources`): the
    conditioners (D → hidden → 2D per layer) trained with Adam, and each layer's float32
    activations for a batch (density) or the samples of q (VI)."""
    from ._resources import FLOAT, TRAINED, mlp_params

    layers = int(options["layers"])
    hidden = [int(h) for h in options.get("hidden") or []]
    params = layers * (mlp_params([features, *hidden, 2 * features]) if hidden else 4 * features)
    rows = options["samples"] if options["target"] is not None else options["batch_size"]
    return params * TRAINED + int(rows) * layers * (sum(hidden) + 3 * features) * FLOAT * 2


def _check_memory(options: dict[str, Any], features: int) -> None:
    from ._resources import check_memory

    pairs = (
        ("--layers", options["layers"]),
        ("--hidden", options.get("hidden")),
        ("--samples", options.get("samples")),
        ("--batch-size", options.get("batch_size")),
    )
    flags = [f"{k} {','.join(map(str, v)) if isinstance(v, list) else v}"
             for k, v in pairs if v is not None]  # fmt: skip
    check_memory(memory_needed(options, features), flags)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _read_config(d: Path) -> dict[str, Any]:
    path = d / CONFIG
    doc = read_config(path, "flow", ("options",))
    options = doc["options"]
    if not isinstance(options, dict) or not set(options) <= set(OPTION_KEYS):
        raise CommandError(f"{path} is not a reparam flow config (unexpected options)")
    # options added in later versions are absent from older runs: they take None
    doc["options"] = options = {k: options.get(k) for k in OPTION_KEYS}
    if "derived" not in doc:  # a run from before the record: its value tells
        spe, epochs = options.get("steps_per_epoch"), options.get("epochs")
        derived = options.get("target") is not None and isinstance(spe, int) and (
            options.get("anneal_steps") == epochs * spe // 2)  # fmt: skip
        doc["derived"] = ["anneal_steps"] if derived else []
    return doc


def make_flow(options: dict[str, Any], features: int) -> Any:
    """The flow of a run's options (IAF form for maf / nsf in VI, see the module docstring)."""
    from ..flows.flow import FLOWS

    name = options["flow"]
    vi = options["target"] is not None
    kw: dict[str, Any] = {}
    if name in CONDITIONED:
        kw["hidden_features"] = tuple(options["hidden"])
    if name == "nsf":
        kw["bins"] = options["bins"]
        kw["fast"] = "forward" if vi else "inverse"
    if vi and name == "maf":
        name = "iaf"
    return FLOWS[name](features, transforms=options["layers"], **kw)


# --------------------------------------------------------------------------- plots
def _grid(bounds: tuple[float, float, float, float], n: int = 200) -> Any:
    import torch

    xmin, xmax, ymin, ymax = bounds
    xs = torch.linspace(xmin, xmax, n)
    ys = torch.linspace(ymin, ymax, n)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # rows: y, columns: x
    return torch.stack([xx, yy], -1)


def write_fit_plots(
    model: Any, out: Path, what: str, ylabel: str, reference: Any = None,
    bounds: tuple[float, float, float, float] | None = None,
    density_reference: Callable[[Any], dict[str, Any]] | None = None,
) -> list[str]:  # fmt: skip
    """Write loss.png (``ylabel`` per epoch), samples.png (2000 samples of the flow beside
    ``reference`` points, or alone) and, given ``bounds`` of a 2-D problem, density.png
    (q on a grid beside ``density_reference(grid)``'s panel); return the names."""
    import torch

    from ..plots import save_figure
    from ..plots.density import density_panels, sample_panels

    written = [write_history(out, (("loss", ylabel),), what)]
    q = model.flow()
    with torch.no_grad():
        samples = q.sample(torch.Size([2000]))
        fig = sample_panels(samples, reference, reference_title="test data", title=what)
        save_figure(fig, out / "samples.png")
        written.append("samples.png")
        if bounds is not None and density_reference is not None:
            grid = _grid(bounds)
            log_q = q.log_prob(grid.reshape(-1, 2)).reshape(grid.shape[:2])
            fig = density_panels(log_q, bounds, title=what, **density_reference(grid))
            save_figure(fig, out / "density.png")
            written.append("density.png")
    return written


# --------------------------------------------------------------------------- fit
class FlowFit(TrainCommand):
    """What both modes of ``reparam flow fit`` share: options, config.json, the banner."""

    command, outputs, legacy_ok = COMMAND, OUTPUTS, staticmethod(LEGACY)
    rows, result_file = "training points", RESULT

    @abc.abstractmethod
    def features(self, data: Any) -> int:
        """D, the dimension of the problem."""

    @abc.abstractmethod
    def problem(self, options: dict[str, Any], data: Any) -> str:
        """What the flow is fitted to, for the banner."""

    read_config = staticmethod(_read_config)
    resolve_options = staticmethod(resolve_options)

    def resume_options(self, args: argparse.Namespace, saved: dict[str, Any]) -> dict[str, Any]:
        hint = " (only --epochs and --device may change)"
        options = resume_options(
            _given(args), saved["options"], RESUME_MAY_CHANGE, args.out / CONFIG, hint
        )
        _check_derived_defaults(args, saved, options)
        return options

    def threads(self, options: dict[str, Any], data: Any) -> int | None:
        return 1 if self.features(data) <= 2 else None

    def config_doc(
        self, args: argparse.Namespace, options: dict[str, Any], model: Any, data: Any,
        saved: dict[str, Any] | None,
    ) -> dict[str, Any]:  # fmt: skip
        return {"options": options, "features": self.features(data),
                "derived": _derived(args, saved)}  # fmt: skip

    def banner(self, options: dict[str, Any], data: Any, device: Any) -> str:
        return (
            f"fitting {options['flow']} ({options['layers']} layers) to "
            f"{self.problem(options, data)}, {options['epochs']} epochs, device {device}"
        )


def fit_flow(args: argparse.Namespace) -> int:
    """Run ``reparam flow fit`` with parsed ``args``; return the exit status."""
    target = _read_config(args.out)["options"]["target"] if args.resume else args.target
    if target is None:
        from .flow_density import DensityFit

        return run_train_command(DensityFit(), args)
    from .flow_target import TargetFit

    return run_train_command(TargetFit(), args)
