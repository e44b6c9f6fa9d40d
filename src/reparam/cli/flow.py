"""``reparam flow fit``: fit a normalizing flow to data (density estimation) or to a target
density (variational inference).

Density estimation (``--data``, the default ``--data moons``): a 2-D toy of
:data:`reparam.data.TOY_DATA` (``--n-train`` training points; validation and test sets of
:data:`TOY_EVAL` points each drawn with other seeds), or an (N, D) matrix from a ``.csv`` /
``.npy`` file, split 80/10/10 into train / validation / test with ``--seed`` and
standardized with the training mean and standard deviation. The loss is the NLL
−mean log q(x). Default flow: ``maf``.

Variational inference (``--target``, one of :data:`reparam.data.TARGETS`): minimize
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

``reparam flow fit`` with no options (moons, MAF) runs in seconds on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from ._common import (
    CommandError,
    check_resume,
    check_train_out,
    checker,
    claim_out,
    config_has,
    device_name,
    finish_run,
    finite_or_none,
    given_options,
    hidden_sizes,
    nonnegative_int,
    positive_float,
    positive_int,
    random_seed,
    read_config,
    reported,
    resume_options,
    write_json,
)

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
    from ..data.toy2d import TARGETS, TOY_DATA

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
    fit.add_argument("--out", type=Path, default=Path("runs/flow"), help="output directory")
    fit.add_argument(
        "--resume", action="store_true", help="continue from OUT/checkpoint.pt (saved config)"
    )
    fit.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    fit.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
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


def _seed(seed: int, stream: int) -> int:
    import numpy as np

    return int(np.random.SeedSequence([seed, stream]).generate_state(1, np.uint64)[0] >> 1)


def load_data(options: dict[str, Any]) -> dict[str, Any]:
    """The train / valid / test tensors of a density run (toy draws or a split file)."""
    import torch

    from ..data import load_tabular, sample_toy, split_tabular, standardize

    name = options["data"]
    if name in _toys():
        parts = []
        for stream, n in ((0, options["n_train"]), (1, TOY_EVAL), (2, TOY_EVAL)):
            g = torch.Generator().manual_seed(_seed(options["seed"], stream))
            parts.append(sample_toy(name, n, generator=g))
        train, valid, test = parts
    else:
        x = load_tabular(name)
        try:
            train, valid, test = standardize(*split_tabular(x, options["seed"]))
        except ValueError as exc:
            raise CommandError(f"{name}: {exc}") from None
    return {"train": train, "valid": valid, "test": test}


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


def _log_z(target: str) -> tuple[float, str]:
    from ..data.toy2d import (
        log_normalizer_2d,
        target_bounds,
        target_log_normalizer,
        target_log_prob,
    )

    exact = target_log_normalizer(target)
    if exact is not None:
        return exact, "closed form"
    return log_normalizer_2d(target_log_prob(target), target_bounds(target), 1000), "quadrature"


# --------------------------------------------------------------------------- results


def _nll(model: Any, x: Any, chunk: int = 4096) -> tuple[float, float]:
    """Mean NLL per point and its standard error."""
    import torch

    with torch.no_grad():
        lp = torch.cat([model.log_prob(x[i : i + chunk]) for i in range(0, len(x), chunk)])
    lp = lp.double()
    se = (lp.std() / math.sqrt(len(lp))).item() if len(lp) > 1 else float("nan")
    return -lp.mean().item(), se


def density_result(model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Train / valid / test NLL per point (± s.e.) and the full-covariance Gaussian's."""
    from ..density import gaussian_nll

    out: dict[str, Any] = {"features": int(data["train"].shape[1])}
    for part in ("train", "valid", "test"):
        out[f"{part}_nll"], out[f"{part}_nll_se"] = _nll(model, data[part])
        out[f"n_{part}"] = len(data[part])
    out["gaussian_test_nll"] = gaussian_nll(data["train"], data["test"])
    out["gaussian_train_nll"] = gaussian_nll(data["train"], data["train"])
    return out


def vi_result(model: Any, target: str) -> dict[str, Any]:
    """ELBO, KL(q‖p) with its standard error, log Z and the ESS of the weights p̃/q."""
    from ..vi import target_diagnostics

    log_z, source = _log_z(target)
    out = target_diagnostics(model.flow, model.log_target, VI_EVAL, log_z=log_z)
    out.update(n=out["num_samples"], log_z_is=out["log_evidence"], log_z_source=source)
    return out


def _grid(bounds: tuple[float, float, float, float], n: int = 200) -> Any:
    import torch

    xmin, xmax, ymin, ymax = bounds
    xs = torch.linspace(xmin, xmax, n)
    ys = torch.linspace(ymin, ymax, n)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")  # rows: y, columns: x
    return torch.stack([xx, yy], -1)


def write_plots(model: Any, options: dict[str, Any], out: Path, data: Any = None) -> list[str]:
    """Write loss.png, samples.png and, for 2-D problems, density.png; return the names."""
    import torch

    from ..data.toy2d import target_bounds, target_log_prob
    from ..plots import save_figure
    from ..plots.density import density_panels, flow_loss_curves, sample_panels

    vi = options["target"] is not None
    name = options["target"] if vi else Path(options["data"]).name
    what = f"{options['flow']} on {name}"
    history = []
    metrics = out / "metrics.jsonl"
    if metrics.is_file():
        history = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]
    ylabel = "−ELBO (nats)" if vi else "NLL (nats / point)"
    save_figure(flow_loss_curves(history, ylabel=ylabel, title=what), out / "loss.png")
    written = ["loss.png"]
    q = model.flow()
    with torch.no_grad():
        samples = q.sample(torch.Size([2000]))
        ref = None if vi else data["test"]
        fig = sample_panels(samples, ref, reference_title="test data", title=what)
        save_figure(fig, out / "samples.png")
        written.append("samples.png")
        if samples.shape[-1] == 2:
            if vi:
                bounds = target_bounds(options["target"])
            else:
                pts = torch.cat([data["train"], data["test"]])
                lo, hi = pts.min(0).values, pts.max(0).values
                pad = 0.05 * (hi - lo) + 1e-3
                bounds = (
                    (lo[0] - pad[0]).item(),
                    (hi[0] + pad[0]).item(),
                    (lo[1] - pad[1]).item(),
                    (hi[1] + pad[1]).item(),
                )
            grid = _grid(bounds)
            log_q = q.log_prob(grid.reshape(-1, 2)).reshape(grid.shape[:2])
            if vi:
                ref_lp = target_log_prob(options["target"])(grid)
                fig = density_panels(log_q, bounds, reference_log_p=ref_lp, title=what)
            else:
                fig = density_panels(
                    log_q,
                    bounds,
                    reference_points=data["train"],
                    reference_title="training data (histogram)",
                    title=what,
                )
            save_figure(fig, out / "density.png")
            written.append("density.png")
    return written


# --------------------------------------------------------------------------- fit
def fit_flow(args: argparse.Namespace) -> int:
    """Run ``reparam flow fit`` with parsed ``args``; return the exit status."""
    import torch

    from .. import __version__
    from ..density import DensityEstimator
    from ..training import TrainConfig, select_device, train

    start = time.perf_counter()
    out: Path = args.out
    if args.resume:
        saved = _read_config(out)
        options = resume_options(
            _given(args),
            saved["options"],
            RESUME_MAY_CHANGE,
            out / CONFIG,
            " (only --epochs and --device may change)",
        )
        _check_derived_defaults(args, saved, options)
    else:
        options = resolve_options(args)
    vi = options["target"] is not None
    # Everything that can fail on bad input happens before the first file is written.
    if vi:
        from ..vi.targets import target_log_prob

        data = train_data = None
        features = 2
        batch_size = 1  # unused: every VI step draws its own samples
    else:
        data = load_data(options)
        features = int(data["train"].shape[1])
        train_data = data["train"]
        batch_size = options["batch_size"]
        if len(train_data) < batch_size:
            raise CommandError(
                f"--batch-size {batch_size} exceeds the {len(train_data)} training points"
            )
    _check_memory(options, features)
    threads = args.threads or (1 if features <= 2 else None)
    if threads is not None:
        torch.set_num_threads(threads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"])
        flow = make_flow(options, features)
    if vi:
        model: Any = torch.nn.ModuleDict({"flow": flow})
        model.log_target = target_log_prob(options["target"])
    else:
        model = DensityEstimator(flow)
    if args.resume:  # before anything is written: intact, enough epochs, fits the model
        check_resume(out, CHECKPOINT, options["epochs"], model)
    config = TrainConfig(
        epochs=options["epochs"],
        batch_size=batch_size,
        lr=options["lr"],
        seed=options["seed"],
        device=options["device"],
        progress=args.progress,
    )
    device = select_device(config.device)
    doc = {"reparam_version": __version__, "options": options, "features": features,
           "derived": _derived(args, saved if args.resume else None)}  # fmt: skip
    run = claim_out(args, COMMAND, OUTPUTS, resumable=True, legacy_ok=LEGACY)
    write_json(out / CONFIG, doc)
    problem = (
        f"target {options['target']} (VI, {options['samples']} samples/step)"
        if vi
        else f"{Path(options['data']).name} ({len(data['train'])} train / "
        f"{len(data['valid'])} valid / {len(data['test'])} test points, D={features})"
    )
    print(
        f"fitting {options['flow']} ({options['layers']} layers) to {problem}, "
        f"{options['epochs']} epochs, device {device}",
        file=sys.stderr,
    )
    if vi:
        from ._flow_target import fit_target

        result = fit_target(model.to(device), options, out, args.resume, args.progress)
    else:
        result = train(model, train_data, config, out, valid_data=data["valid"],
                       resume=args.resume, resume_hint="--resume")  # fmt: skip
    code = finish_run(run, result, args.resume)
    if code == 1 or not result.checkpoint.is_file():  # failed, or nothing was kept
        return code
    model = model.cpu().eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"])
        res = vi_result(model, options["target"]) if vi else density_result(model, data)
        res["epochs"] = result.epoch
        res["steps"] = result.step
        res["seconds"] = time.perf_counter() - start
        write_json(out / RESULT, {k: finite_or_none(v) for k, v in res.items()})
        written = write_plots(model, options, out, data)
    if vi:
        kl = "" if res["kl"] is None else (
            f", KL(q‖p) {res['kl']:.4f} ± {res['kl_se']:.4f} (log Z {res['log_z']:.4f}, "
            f"{res['log_z_source']})"
        )  # fmt: skip
        print(
            f"ELBO {res['elbo']:.4f} ± {res['elbo_se']:.4f}{kl}, ESS "
            f"{100 * res['ess_fraction']:.1f}% of {res['n']} samples"
        )
    else:
        print(
            f"test NLL {res['test_nll']:.4f} ± {res['test_nll_se']:.4f} nats/point "
            f"(full-covariance Gaussian: {res['gaussian_test_nll']:.4f}); train "
            f"{res['train_nll']:.4f}, valid {res['valid_nll']:.4f}"
        )
    print(
        f"wrote config.json, checkpoint.pt, metrics.jsonl, result.json, {', '.join(written)} "
        f"to {out} ({time.perf_counter() - start:.1f} s)"
    )
    return code
