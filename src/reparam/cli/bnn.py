"""``reparam bnn train|eval|uci``: Bayesian neural networks by Bayes by Backprop.

``train`` fits a :class:`reparam.bnn.BNNClassifier` (digits, MNIST, Fashion-MNIST) or a
:class:`reparam.bnn.BNNRegressor` (``uci:NAME``, one split) with the shared training loop
and writes, into ``--out``: ``config.json`` (at the start, atomically), ``checkpoint.pt`` and
``metrics.jsonl`` (each epoch), ``loss.png``, and for classification ``reliability.png``
(reliability diagram of the test set) and ``entropy.png`` (histogram of the predictive
entropy in vs. out of distribution, with the AUROC of the entropy as OOD score).
Out-of-distribution sets: Fashion-MNIST's test set for MNIST (and MNIST's for
Fashion-MNIST), and for the 8×8 digits their test images rotated by 180° (flipped
horizontally and vertically). ``--resume`` continues with the saved configuration.

``eval DIR`` prints accuracy / NLL / ECE (/ OOD AUROC) or RMSE / test log-likelihood and
writes ``eval.json``. ``uci NAME`` runs the protocol of Hernández-Lobato & Adams (2015) on
the published splits (one hidden layer of 50 ReLU units, inputs and targets normalised on
the training split, metrics in original units) and prints mean ± standard error over splits,
writing ``uci.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._checkpoint import restore_state
from ._common import (
    CommandError,
    check_out,
    check_resume,
    check_run_dir,
    check_train_out,
    check_writable,
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
from ._resources import FLOAT, TRAINED, check_memory, mlp_params

__all__ = ["DATA_DEFAULTS", "DEFAULTS", "add_bnn_parser"]

CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
ESTIMATOR_CHOICES = ("weight", "local", "flipout")
PRIOR_CHOICES = ("gaussian", "mixture")
IMAGE_DATA = ("digits", "mnist", "fashion-mnist")
#: the OOD test set of each image set ("flipped": the test images rotated by 180°).
OOD = {"digits": "flipped", "mnist": "fashion-mnist", "fashion-mnist": "mnist"}

DEFAULTS: dict[str, Any] = {
    "data": "digits",
    "split": 0,
    "estimator": "local",
    "prior": "gaussian",
    "prior_scale": 1.0,
    "arch": "mlp",
    "kl_weight": 1.0,
    "warmup_steps": 0,
    "init_scale": 1e-3,
    "noise": "learned",
    "samples": 100,
    "seed": 0,
    "device": "auto",
}

#: per-data-set defaults (``uci`` = every ``uci:NAME``).
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"hidden": [100], "epochs": 500, "batch_size": 128, "lr": 3e-3},
    "mnist": {"hidden": [400, 400], "epochs": 10, "batch_size": 128, "lr": 1e-3},
    "fashion-mnist": {"hidden": [400, 400], "epochs": 10, "batch_size": 128, "lr": 1e-3},
    "uci": {"hidden": [50], "epochs": 400, "batch_size": 32, "lr": 1e-2},
}

RESUME_MAY_CHANGE = ("epochs", "device", "samples")
TRAIN, UCI = "bnn train", "bnn uci"
#: what ``bnn train`` (and ``eval`` on its directory) writes into a run.
OUTPUTS = (CONFIG, CHECKPOINT, "metrics.jsonl", "loss.png", "reliability.png", "entropy.png",
           "eval.json")  # fmt: skip
#: what ``bnn uci`` writes: its config, one directory per split, the summary.
UCI_OUTPUTS = (CONFIG, "split-*", "uci.json")
UCI_RESULT = "result.json"
#: a BNN run written before run records: its config names the kind of task.
LEGACY = config_has("options", "model", "kind")
OPTION_KEYS = (
    "data", "data_dir", "split", "estimator", "prior", "prior_scale", "hidden", "arch",
    "kl_weight", "warmup_steps", "init_scale", "noise", "epochs", "batch_size", "lr",
    "samples", "seed", "device",
)  # fmt: skip


def _data_name(text: str) -> str:
    from ..data.uci import UCI_DATASETS

    if text in IMAGE_DATA:
        return text
    if text.startswith("uci:") and text[4:] in UCI_DATASETS:
        return text
    raise argparse.ArgumentTypeError(
        f"expected one of {', '.join(IMAGE_DATA)} or uci:NAME with NAME one of "
        f"{', '.join(UCI_DATASETS)}; got {text!r}"
    )


def _noise(text: str) -> str | float:
    if text == "learned":
        return text
    try:
        return positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected 'learned' or a number > 0; got {text!r}"
        ) from None


def _group(data: str) -> str:
    return "uci" if data.startswith("uci:") else data


# --------------------------------------------------------------------------- parser
def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--estimator", choices=ESTIMATOR_CHOICES, help="gradient estimator")
    p.add_argument("--prior", choices=PRIOR_CHOICES, help="weight prior")
    p.add_argument(
        "--prior-scale", type=positive_float, help="prior std (mixture: the wide component)"
    )
    p.add_argument("--hidden", type=hidden_sizes, metavar="H1,H2,...", help="hidden widths")
    p.add_argument("--kl-weight", type=positive_float, help="final KL weight β")
    p.add_argument("--warmup-steps", type=nonnegative_int, help="linear KL warm-up steps")
    p.add_argument("--init-scale", type=positive_float, help="initial posterior std")
    p.add_argument("--epochs", type=positive_int("--epochs"), help="passes over the data")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), help="batch size")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate")
    p.add_argument("--samples", type=positive_int("--samples"), help="predictive samples S")
    p.add_argument("--seed", type=random_seed, help="random seed")
    p.add_argument("--device", type=device_name, help="auto, cpu, cuda or cuda:N")
    p.add_argument("--data-dir", type=Path, help="directory with the data files")
    p.add_argument("--threads", type=positive_int("--threads"), help="CPU threads for torch")


def add_bnn_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``bnn`` with its ``train``, ``eval`` and ``uci`` subcommands to ``sub``."""
    from ..data.uci import UCI_DATASETS

    bnn = sub.add_parser(
        "bnn",
        help="Bayesian neural networks (Bayes by Backprop, local reparameterization, Flipout)",
        description="Bayesian neural networks: train, eval, uci.",
    )
    bsub = bnn.add_subparsers(dest="bnn_command", metavar="BNN_COMMAND", required=True)
    g = DATA_DEFAULTS
    train = bsub.add_parser(
        "train",
        help="train a BNN (default: bundled 8×8 digits, MLP 64-100-10)",
        description=(
            "Train a BNN and write config.json, checkpoint.pt, metrics.jsonl, loss.png and, "
            "for classification, reliability.png and entropy.png to --out. Defaults: "
            "--data digits --estimator local --prior gaussian --prior-scale 1 "
            "--init-scale 1e-3 --samples 100; digits: --hidden {d[hidden][0]} --epochs "
            "{d[epochs]} --lr {d[lr]} (OOD: the test digits rotated by 180°); MNIST sets: "
            "--hidden 400,400 --epochs 10 (OOD: the other set); uci:NAME: split 0, "
            "--hidden 50 --epochs {u[epochs]} --batch-size 32 --lr {u[lr]}, learned noise."
        ).format(d=g["digits"], u=g["uci"]),
    )
    train.add_argument(
        "--data", type=_data_name, metavar="{digits,mnist,fashion-mnist,uci:NAME}",
        help="the data set",
    )  # fmt: skip
    train.add_argument("--split", type=nonnegative_int, help="the UCI split (default 0)")
    train.add_argument("--arch", choices=("mlp", "conv"), help="classifier architecture")
    train.add_argument("--noise", type=_noise, help="regression noise: learned or a fixed std")
    _model_options(train)
    train.add_argument("--out", type=Path, default=Path("runs/bnn"), help="output directory")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    train.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    train.set_defaults(run=reported("bnn train", _train), check=checker(train, _check_train))

    ev = bsub.add_parser(
        "eval",
        help="accuracy / NLL / ECE (/ OOD AUROC) or RMSE / log-likelihood of a trained BNN",
        description="Evaluate the BNN in DIR on its test set; print a table, write eval.json.",
    )
    ev.add_argument("dir", type=Path, metavar="DIR", help="a directory written by bnn train")
    ev.add_argument("--samples", type=positive_int("--samples"), help="predictive samples")
    ev.add_argument("--seed", type=random_seed, default=0, help="random seed")
    ev.add_argument("--data-dir", type=Path, help="override the saved data directory")
    ev.set_defaults(run=reported("bnn eval", _eval), check=checker(ev, _check_dir))

    uci = bsub.add_parser(
        "uci",
        help="the UCI regression protocol over the published splits (mean ± s.e.)",
        description=(
            "Train and test a BNN regressor on each split of a UCI set (Hernández-Lobato & "
            "Adams 2015: one hidden layer of 50 ReLU units, inputs and targets normalised on "
            "the training split); print RMSE and test log-likelihood (original units), "
            "mean ± standard error over splits, and write OUT/uci.json. Each split trains "
            "in OUT/split-NN (checkpoint, metrics, result.json), so an interrupted run "
            "continues with --resume where it stopped."
        ),
    )
    uci.add_argument("name", choices=UCI_DATASETS, metavar="NAME", help=", ".join(UCI_DATASETS))
    uci.add_argument(
        "--splits", type=positive_int("--splits"), help="use the first N splits (default all)"
    )
    uci.add_argument("--noise", type=_noise, help="learned or a fixed std (normalised units)")
    _model_options(uci)
    uci.add_argument("--out", type=Path, default=Path("runs/bnn-uci"), help="output directory")
    uci.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    uci.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    uci.set_defaults(run=reported("bnn uci", _uci), check=checker(uci, _check_uci))
    return bnn


def _check_data_dir(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"argument --data-dir: {str(args.data_dir)!r} is not a directory")


def _check_train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_train_out(parser, args, TRAIN, CONFIG, CHECKPOINT, LEGACY)
    _check_data_dir(parser, args)
    if args.resume:
        return
    data = args.data or DEFAULTS["data"]
    uci = data.startswith("uci:")
    wrong = {
        "--split": (args.split is not None and not uci, "a uci:NAME data set"),
        "--arch": (args.arch is not None and uci, "classification (not uci:NAME)"),
        "--noise": (args.noise is not None and not uci, "regression (uci:NAME)"),
        "--data-dir": (args.data_dir is not None and data == "digits",
                       "mnist, fashion-mnist and uci:NAME (the digits ship with "
                       "scikit-learn)"),
    }  # fmt: skip
    for flag, (bad, where) in wrong.items():
        if bad:
            parser.error(f"argument {flag}: applies only to {where}, not --data {data}")


def _check_uci(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.resume and args.overwrite:
        parser.error("--resume and --overwrite exclude each other: continue a run or replace it")
    if args.resume and not (args.out / CONFIG).is_file():
        parser.error(
            f"--resume: {str(args.out)!r} has no {CONFIG} to resume from; run first without "
            "--resume"
        )
    check_out(parser, args, UCI)
    _check_data_dir(parser, args)


def _saved_data(parser: argparse.ArgumentParser, d: Path) -> Any:
    try:
        return _read_config(d)["options"].get("data")
    except CommandError as exc:
        parser.error(f"argument DIR: {exc}")


def _check_dir(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_run_dir(parser, args.dir, (CONFIG, CHECKPOINT), "bnn", LEGACY)
    _check_data_dir(parser, args)
    if args.data_dir is not None and _saved_data(parser, args.dir) == "digits":
        parser.error(
            "argument --data-dir: the run is on the digits, which ship with scikit-learn "
            "and read no files"
        )


# --------------------------------------------------------------------------- options
def _given(args: argparse.Namespace) -> dict[str, Any]:
    return given_options(args, OPTION_KEYS)


def resolve_options(args: argparse.Namespace, data: str | None = None) -> dict[str, Any]:
    """The full option set of a new run: given values, then data-set and global defaults."""
    options = dict(DEFAULTS)
    given = _given(args)
    if data is not None:
        given["data"] = data
    options.update(DATA_DEFAULTS[_group(given.get("data", DEFAULTS["data"]))])
    options["data_dir"] = None
    options.update(given)
    return {k: options[k] for k in OPTION_KEYS}


def _resume_options(args: argparse.Namespace, saved: dict[str, Any]) -> dict[str, Any]:
    return resume_options(_given(args), saved["options"], RESUME_MAY_CHANGE, args.out / CONFIG)


def _set_threads(threads: int | None, data: str) -> None:
    import torch

    if threads is None and (data == "digits" or data.startswith("uci:")):
        threads = 1  # tiny batches: thread start-up costs more than it saves
    if threads is not None:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- data
def _load(options: dict[str, Any], data_dir: Any = None) -> dict[str, Any]:
    """Train / valid / test tensors (and the OOD inputs) of the configured data set."""
    import torch

    directory = data_dir if data_dir is not None else options.get("data_dir")
    name = options["data"]
    if name.startswith("uci:"):
        from ..data.uci import load_uci

        d = load_uci(name[4:], options["split"], directory)
        return {"kind": "regression", "uci": d, "x_train": d.x_train, "y_train": d.y_train,
                "x_test": d.x_test, "y_test": d.y_test, "y_std": d.y_std}  # fmt: skip
    from ..data import default_data_dir, load_images

    if directory is None and name != "digits" and default_data_dir(name) is None:
        raise CommandError(
            f"--data {name}: no data directory found (looked in $REPARAM_DATA_DIR, "
            "../shared/data and /work/shared/data); pass --data-dir DIR with the files"
        )
    d = load_images(name, directory, seed=options["seed"])
    ood_name = OOD[name]
    ood_dir = None
    if ood_name == "flipped":
        ood = torch.flip(d.test, dims=(-2, -1))
    else:
        ood, ood_dir = _ood_images(ood_name, directory, options["seed"])
    return {"kind": "classification", "images": d, "x_train": d.train, "y_train": d.train_labels,
            "x_valid": d.valid, "y_valid": d.valid_labels, "x_test": d.test,
            "y_test": d.test_labels, "ood": ood, "ood_name": ood_name,
            "ood_dir": None if ood_dir is None else str(ood_dir)}  # fmt: skip


def _ood_images(name: str, data_dir: Any, seed: int) -> tuple[Any, Path | None]:
    """The OOD test images and where they were read: with the default data directories the
    OOD set's own default; with a custom --data-dir its sibling folder (``fashion_mnist``
    or ``mnist``) only, never another place. (None, None) with a note when absent."""
    from ..data import default_data_dir, load_images

    if data_dir is None:
        where = default_data_dir(name)
    else:
        where = Path(data_dir).resolve().parent / ("fashion_mnist" if name == "fashion-mnist"
                                                    else "mnist")  # fmt: skip
    if where is None or not where.is_dir():
        looked = "the default data directories" if where is None else str(where)
        print(f"note: no out-of-distribution set ({name} not found in {looked}); OOD AUROC "
              "is not computed", file=sys.stderr)  # fmt: skip
        return None, None
    return load_images(name, where, seed=seed, valid_size=0).test, where  # only its test set


def memory_needed(
    options: dict[str, Any], data: dict[str, Any], samples: int, trained: bool = True
) -> float:
    """A lower bound of the peak memory (bytes, see :mod:`reparam._resources`): the
    layers' μ and ρ trained with Adam, a minibatch's activations, and the predictive's
    S stacked softmax outputs of a batch of up to 500 test rows."""
    x = data["x_train"]
    features = math.prod(x.shape[1:])
    hidden = [int(h) for h in options["hidden"]]
    outputs = 1 if data["kind"] == "regression" else int(data["y_train"].max()) + 1
    params = 2 * mlp_params([features, *hidden, outputs])
    batch = min(int(options["batch_size"]), len(x))
    need = params * (TRAINED if trained else FLOAT) + samples * min(500, len(data["x_test"])) * (
        outputs + sum(hidden)) * FLOAT  # fmt: skip
    return need + (batch * (features + 3 * sum(hidden)) * FLOAT if trained else 0)


def _check_memory(
    options: dict[str, Any], data: dict[str, Any], samples: int, trained: bool = True
) -> None:
    hidden = ",".join(map(str, options["hidden"]))
    flags = [f"--hidden {hidden}", f"--samples {samples}"]
    if trained:
        flags.append(f"--batch-size {options['batch_size']}")
    check_memory(memory_needed(options, data, samples, trained), flags)


def _build_model(options: dict[str, Any], data: dict[str, Any]) -> Any:
    from ..bnn import BNNClassifier, BNNRegressor, make_prior
    from ..objectives import BetaSchedule

    prior = make_prior(options["prior"], float(options["prior_scale"]))
    beta = BetaSchedule(float(options["kl_weight"]), int(options["warmup_steps"]))
    n = len(data["x_train"])
    if data["kind"] == "regression":
        return BNNRegressor(
            data["x_train"].shape[1], options["hidden"], estimator=options["estimator"],
            prior=prior, dataset_size=n, noise=options["noise"], kl_weight=beta,
            init_scale=float(options["init_scale"]),
        )  # fmt: skip
    # every label seen anywhere is a class: a test label the training split lacks is a
    # class the model predicts (with low probability), not an index error
    classes = max(int(data[k].max()) for k in ("y_train", "y_valid", "y_test") if k in data) + 1
    return BNNClassifier(
        tuple(data["x_train"].shape[1:]), classes, options["hidden"],
        estimator=options["estimator"], prior=prior, arch=options["arch"], dataset_size=n,
        kl_weight=beta, init_scale=float(options["init_scale"]),
    )  # fmt: skip


def _model_from_config(config: dict[str, Any]) -> Any:
    from ..bnn import BNNClassifier, BNNRegressor

    kind = config.get("kind")
    cls = BNNRegressor if kind == "regression" else BNNClassifier
    return cls.from_config(config["model"])


# --------------------------------------------------------------------------- evaluation
def evaluate_run(model: Any, data: dict[str, Any], samples: int) -> dict[str, Any]:
    """Test metrics (and the arrays the plots need) of a trained model."""
    import torch

    from ..bnn import auroc, classification_metrics

    model = model.cpu().eval()
    if data["kind"] == "regression":
        result = model.evaluate(data["x_test"], data["y_test"], samples, y_std=data["y_std"])
        result["noise_std"] = model.noise_std.item() * data["y_std"]
        result["n_test"] = len(data["x_test"])
        return {"metrics": result}
    top = int(data["y_test"].max()) if len(data["y_test"]) else 0
    if top >= model.num_classes:
        raise CommandError(
            f"the test labels reach {top}, outside the model's {model.num_classes} classes "
            f"(0-{model.num_classes - 1}): the data is not the data the model was trained on"
        )
    probs = model.predict_proba(data["x_test"], samples)
    result = classification_metrics(probs, data["y_test"])
    result["n_test"] = len(data["x_test"])
    extra: dict[str, Any] = {"probs": probs}
    entropy = _entropy(probs)
    extra["entropy_in"] = entropy
    if data.get("ood") is not None:
        ood_entropy = _entropy(model.predict_proba(data["ood"], samples))
        labels = torch.cat([torch.zeros(len(entropy)), torch.ones(len(ood_entropy))])
        result["ood_auroc"] = auroc(labels, torch.cat([entropy, ood_entropy]))
        result["ood_set"] = data["ood_name"]
        if data.get("ood_dir"):
            result["ood_dir"] = data["ood_dir"]
        extra["entropy_out"] = ood_entropy
    return {"metrics": result, **extra}


def _entropy(probs: Any) -> Any:
    return -(probs * probs.clamp_min(1e-12).log()).sum(-1)


def write_plots(data: dict[str, Any], evaluated: dict[str, Any], options: dict[str, Any],
                out: Path) -> list[str]:  # fmt: skip
    """Write loss.png, and for classification reliability.png and entropy.png."""
    from ..bnn import reliability_diagram
    from ..plots import save_figure
    from ..plots.bnn import entropy_histogram, reliability_plot
    from ..plots.vae import loss_curves

    history = []
    metrics = out / "metrics.jsonl"
    if metrics.is_file():
        history = [json.loads(x) for x in metrics.read_text().splitlines() if x.strip()]
    save_figure(loss_curves(history, title=f"BNN on {options['data']}"), out / "loss.png")
    written = ["loss.png"]
    if data["kind"] == "classification":
        stats = reliability_diagram(evaluated["probs"], data["y_test"])
        save_figure(reliability_plot(stats, title=f"test set of {options['data']}"),
                    out / "reliability.png")  # fmt: skip
        m = evaluated["metrics"]
        save_figure(
            entropy_histogram(
                evaluated["entropy_in"], evaluated.get("entropy_out"),
                in_label=f"{options['data']} (test)", out_label=m.get("ood_set", "OOD"),
                auroc=m.get("ood_auroc"),
            ),
            out / "entropy.png",
        )  # fmt: skip
        written += ["reliability.png", "entropy.png"]
    return written


def _table(metrics: dict[str, Any]) -> str:
    names = [("accuracy", "accuracy"), ("nll", "NLL (nats)"), ("ece", "ECE (15 bins)"),
             ("ood_auroc", "OOD AUROC (entropy)"), ("rmse", "RMSE"),
             ("log_likelihood", "test log-likelihood"), ("noise_std", "noise std")]  # fmt: skip
    rows = [(label, metrics[k]) for k, label in names if metrics.get(k) is not None]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'metric'.ljust(width)}  {'value':>10}", f"{'-' * width}  {'-' * 10}"]
    lines += [f"{label.ljust(width)}  {value:>10.4f}" for label, value in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------- train
def _read_config(d: Path) -> dict[str, Any]:
    return read_config(d / CONFIG, "bnn", ("options", "model", "kind"))


def _train(args: argparse.Namespace) -> int:
    import torch

    from .. import __version__
    from ..training import TrainConfig, select_device, train

    start = time.perf_counter()
    out: Path = args.out
    options = _resume_options(args, _read_config(out)) if args.resume else resolve_options(args)
    _set_threads(args.threads, options["data"])
    # Everything that can fail on bad input happens before the first file is written.
    data = _load(options)
    _check_memory(options, data, options["samples"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"])
        model = _build_model(options, data)
    if args.resume:  # before anything is written: intact, enough epochs, fits the model
        check_resume(out, CHECKPOINT, options["epochs"], model)
    config = TrainConfig(
        epochs=options["epochs"], batch_size=options["batch_size"], lr=options["lr"],
        seed=options["seed"], device=options["device"], progress=args.progress,
        checkpoint_every=10 if options["data"] == "digits" else 1,
    )  # fmt: skip
    if len(data["x_train"]) < config.batch_size:
        raise CommandError(
            f"--batch-size {config.batch_size} exceeds the {len(data['x_train'])} training rows"
        )
    device = select_device(config.device)
    train_set = model.pack(data["x_train"], data["y_train"])
    valid_set = model.pack(data["x_valid"], data["y_valid"]) if "x_valid" in data else None
    doc = {"reparam_version": __version__, "kind": data["kind"], "options": options,
           "model": model.config}  # fmt: skip
    run = claim_out(args, TRAIN, OUTPUTS, resumable=True, legacy_ok=LEGACY)
    write_json(out / CONFIG, doc)
    print(
        f"training a BNN ({data['kind']}, estimator {options['estimator']}, prior "
        f"{options['prior']}) on {options['data']} ({len(data['x_train'])} train rows), "
        f"{options['epochs']} epochs, device {device}",
        file=sys.stderr,
    )
    result = train(model, train_set, config, out, valid_data=valid_set, resume=args.resume,
                   extra_state={"bnn_config": model.config}, resume_hint="--resume")  # fmt: skip
    code = finish_run(run, result, args.resume)
    if code == 1 or not result.checkpoint.is_file():  # failed, or nothing was kept
        return code
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options["seed"])
        evaluated = evaluate_run(model, data, options["samples"])
    written = write_plots(data, evaluated, options, out)
    print(_table(evaluated["metrics"]))
    print(
        f"wrote config.json, checkpoint.pt, metrics.jsonl, {', '.join(written)} to {out} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return code


# --------------------------------------------------------------------------- eval
def _eval(args: argparse.Namespace) -> int:
    import torch

    from ..training import load_checkpoint

    start = time.perf_counter()
    check_writable(args.dir)
    doc = _read_config(args.dir)
    options = doc["options"]
    _set_threads(None, options["data"])
    data = _load(options, args.data_dir)
    _check_memory(options, data, args.samples or options["samples"], trained=False)
    model = _model_from_config(doc)
    restore_state(model, load_checkpoint(args.dir / CHECKPOINT)["model"], args.dir / CHECKPOINT)
    samples = args.samples or options["samples"]
    print(f"evaluating the BNN in {args.dir} on {len(data['x_test'])} {options['data']} test "
          f"rows (S={samples})", file=sys.stderr)  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        evaluated = evaluate_run(model, data, samples)
    result = dict(evaluated["metrics"])
    result.update(data=options["data"], samples=samples, seconds=time.perf_counter() - start)
    write_json(args.dir / "eval.json", {k: finite_or_none(v) for k, v in result.items()})
    print(f"BNN in {args.dir} on the {options['data']} test set ({result['n_test']} rows, "
          f"S={samples} weight samples)")  # fmt: skip
    print(_table(result))
    print(f"wrote eval.json to {args.dir} ({result['seconds']:.1f} s)")
    return 0


# --------------------------------------------------------------------------- uci
class SplitStopped(Exception):
    """A split's training stopped early (NaN, divergence, a failed write)."""


def _split_data(d: Any) -> dict[str, Any]:
    return {"kind": "regression", "x_train": d.x_train, "y_train": d.y_train,
            "x_test": d.x_test, "y_test": d.y_test, "y_std": d.y_std}  # fmt: skip


def run_split(d: Any, options: dict[str, Any], split_dir: Path) -> dict[str, Any]:
    """Train and test on one split in ``split_dir`` (resuming a checkpoint found there),
    write its ``result.json`` and return its metrics; a split already done is read back.

    Raises:
        KeyboardInterrupt: training was interrupted (its last completed epoch is saved).
        SplitStopped: training stopped on NaN, divergence or a failed write.
    """
    import torch

    from .._signals import Terminated
    from ..training import TrainConfig, train

    done = split_dir / UCI_RESULT
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    data = _split_data(d)
    seed = options["seed"] + d.split
    epochs = options["epochs"]
    split_dir.mkdir(exist_ok=True)
    resume = (split_dir / CHECKPOINT).is_file()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _build_model(options, data)
        config = TrainConfig(
            epochs=epochs, batch_size=min(options["batch_size"], len(d.x_train)),
            lr=options["lr"], seed=seed, device=options["device"], progress=False,
            checkpoint_every=max(1, epochs // 10),
        )  # fmt: skip
        result = train(model, model.pack(d.x_train, d.y_train), config, split_dir,
                       resume=resume)  # fmt: skip
        if result.stopped == "interrupted":
            raise Terminated() if result.signal == "SIGTERM" else KeyboardInterrupt()
        if result.stopped is not None:
            raise SplitStopped(f"split {d.split}: {result.message}")
        torch.manual_seed(seed)
        metrics = evaluate_run(model, data, options["samples"])["metrics"]
    metrics.update(split=d.split, seconds=time.perf_counter() - t0)
    write_json(done, _clean(metrics))
    return metrics


def summarize_splits(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and standard error over splits of the RMSE and the test log-likelihood."""
    summary = {}
    for key in ("rmse", "log_likelihood"):
        values = [r[key] for r in rows]
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) if len(values) > 1 else 0
        summary[key] = {"mean": mean, "se": math.sqrt(var / len(values))}
    return summary


def load_splits(name: str, options: dict[str, Any], splits: int | None = None) -> list[Any]:
    """The first ``splits`` published splits of ``name`` (all by default), every file read
    and checked before any training.

    Raises:
        CommandError: more splits asked for than the data set has.
    """
    from ..data.uci import load_uci, uci_num_splits

    directory = options.get("data_dir")
    available = uci_num_splits(name, directory)
    splits = available if splits is None else splits
    if splits > available:
        raise CommandError(f"--splits {splits}: {name} has {available} splits")
    return [load_uci(name, i, directory) for i in range(splits)]


def uci_protocol(
    datasets: list[Any], options: dict[str, Any], out: Path,
    progress: Callable[..., Any] = print,
) -> dict[str, Any]:  # fmt: skip
    """Train and test on each split of ``datasets`` (:func:`load_splits`), split ``i`` in
    ``out/split-ii`` (resumable: done splits are read back, a split with a checkpoint
    continues from it)."""
    rows = []
    for d in datasets:
        split_dir = out / f"split-{d.split:02d}"
        was_done = (split_dir / UCI_RESULT).is_file()
        metrics = run_split(d, options, split_dir)
        rows.append(metrics)
        note = "done earlier" if was_done else f"{metrics['seconds']:.1f} s"
        progress(f"split {d.split:2d}: RMSE {metrics['rmse']:.3f}  test LL "
                 f"{metrics['log_likelihood']:.3f}  ({note})")  # fmt: skip
    name = datasets[0].name if datasets else ""
    return {"name": name, "splits": len(datasets), "summary": summarize_splits(rows),
            "per_split": rows}  # fmt: skip


def _clean(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return finite_or_none(obj)


def _uci(args: argparse.Namespace) -> int:
    from .. import __version__
    from .._signals import exit_code, signal_name

    start = time.perf_counter()
    out: Path = args.out
    if args.resume:
        saved = read_config(out / CONFIG, "bnn uci", ("options", "name"))
        if saved["name"] != args.name:
            raise CommandError(f"--resume: {out} holds a run on {saved['name']}, not {args.name}")
        options = resume_options(_given(args), saved["options"], ("device",), out / CONFIG,
                                 " (only --device and --splits may change)")  # fmt: skip
    else:
        options = resolve_options(args, data=f"uci:{args.name}")
    _set_threads(args.threads, options["data"])
    datasets = load_splits(args.name, options, args.splits)
    _check_memory(options, _split_data(datasets[0]), options["samples"])
    claim_out(args, UCI, UCI_OUTPUTS, resumable=True)
    write_json(out / CONFIG, {"reparam_version": __version__, "name": args.name,
                              "options": options})  # fmt: skip
    try:
        result = uci_protocol(datasets, options, out,
                              progress=lambda m: print(m, file=sys.stderr))  # fmt: skip
    except KeyboardInterrupt as exc:
        done = len(list(out.glob(f"split-*/{UCI_RESULT}")))
        print(
            f"reparam bnn uci: interrupted by {signal_name(exc)}: {done} split(s) done, the "
            f"split in progress saved at its last checkpoint, no uci.json written; rerun with "
            f"--resume (same --out) to continue",
            file=sys.stderr,
        )
        return exit_code(exc)
    except SplitStopped as exc:
        print(f"reparam bnn uci: stopped: {exc}; no uci.json written", file=sys.stderr)
        return 1
    result["options"] = options
    result["reparam_version"] = __version__
    result["seconds"] = time.perf_counter() - start
    write_json(out / "uci.json", _clean(result))
    s = result["summary"]
    print(
        f"{args.name}: {result['splits']} split(s), {options['epochs']} epochs, estimator "
        f"{options['estimator']}, hidden {options['hidden']} (mean ± standard error)"
    )
    print(f"{'metric':<20}  {'mean':>9}  {'± s.e.':>7}")
    print(f"{'-' * 20}  {'-' * 9}  {'-' * 7}")
    print(f"{'RMSE':<20}  {s['rmse']['mean']:>9.3f}  {s['rmse']['se']:>7.3f}")
    print(f"{'test log-likelihood':<20}  {s['log_likelihood']['mean']:>9.3f}  "
          f"{s['log_likelihood']['se']:>7.3f}")  # fmt: skip
    print(f"wrote uci.json to {out} ({result['seconds']:.1f} s)")
    return 0
