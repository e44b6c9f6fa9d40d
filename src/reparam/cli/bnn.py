"""``reparam bnn train|eval|uci``: Bayesian neural networks by Bayes by Backprop.

``train`` fits a :class:`reparam.bnn.BNNClassifier` (digits, MNIST, Fashion-MNIST) or a
:class:`reparam.bnn.BNNRegressor` (``uci:NAME``, one split) with the shared training loop
and writes, into ``--out``: ``config.json`` (at the start, atomically), ``metrics.jsonl`` (a
line each epoch) and ``checkpoint.pt`` (``--checkpoint-every``), ``loss.png``, and for
classification ``reliability.png``
(reliability diagram of the test set) and ``entropy.png`` (histogram of the predictive
entropy in vs. out of distribution, with the AUROC of the entropy as OOD score).
Out-of-distribution sets: Fashion-MNIST's test set for MNIST (and MNIST's for
Fashion-MNIST), and for the 8×8 digits their test images rotated by 180° (flipped
horizontally and vertically). ``--resume`` continues with the saved configuration.

``eval DIR`` prints accuracy / NLL / ECE (/ OOD AUROC) or RMSE / test log-likelihood and
writes ``eval.json``. ``uci NAME`` runs the protocol of Hernández-Lobato & Adams (2015) on
the published splits (one hidden layer of 50 ReLU units, inputs and targets normalised on
the training split, metrics in original units) and prints mean ± standard error over splits,
writing ``uci.json`` (:mod:`.bnn_uci`). Data, memory bound and model: :mod:`._bnn_run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from .._checkpoint import restore_state
from ._bnn_run import build_model, check_run_memory, load_run_data, model_from_config
from ._common import (
    CommandError,
    check_run_dir,
    check_train_out,
    check_writable,
    checker,
    config_has,
    device_name,
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
    set_threads,
    write_json,
)
from ._driver import (
    CHECKPOINT,
    CONFIG,
    TrainCommand,
    add_run_arguments,
    run_train_command,
    write_history,
)

__all__ = ["DATA_DEFAULTS", "DEFAULTS", "add_bnn_parser"]

ESTIMATOR_CHOICES = ("weight", "local", "flipout")
PRIOR_CHOICES = ("gaussian", "mixture")
IMAGE_DATA = ("digits", "mnist", "fashion-mnist")

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
TRAIN = "bnn train"
#: what ``bnn train`` (and ``eval`` on its directory) writes into a run.
OUTPUTS = (CONFIG, CHECKPOINT, "metrics.jsonl", "loss.png", "reliability.png", "entropy.png",
           "eval.json")  # fmt: skip
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


def add_bnn_parser(sub: Any) -> Any:
    """Add ``bnn`` with its ``train`` and ``eval`` subcommands to ``sub``; return its
    ``add_subparsers()`` object (``uci`` is added on it by :func:`.bnn_uci.add_uci_parser`)."""

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
    add_run_arguments(train, Path("runs/bnn"), "continue from OUT/checkpoint.pt")
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
    return bsub


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


def _default_threads(data: str) -> int | None:
    """1 for the digits and UCI sets (tiny batches: thread start-up costs more than it
    saves), else torch's default (None)."""
    return 1 if data == "digits" or data.startswith("uci:") else None


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
    from ..plots.history import BOUND_PANELS

    written = [write_history(out, BOUND_PANELS, f"BNN on {options['data']}")]
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


class BnnTrain(TrainCommand):
    """``reparam bnn train`` for :func:`run_train_command`; data: a dict of
    :func:`load_run_data`."""

    command, outputs, legacy_ok = TRAIN, OUTPUTS, staticmethod(LEGACY)
    rows, state_key = "training rows", "bnn_config"

    def read_config(self, out: Path) -> dict[str, Any]:
        return _read_config(out)

    resolve_options = staticmethod(resolve_options)
    resume_options = staticmethod(_resume_options)

    def load(self, options: dict[str, Any]) -> Any:
        data = load_run_data(options)
        check_run_memory(options, data, options["samples"])
        return data

    def threads(self, options: dict[str, Any], data: Any) -> int | None:
        return _default_threads(options["data"])

    def build_model(self, options: dict[str, Any], data: Any) -> Any:
        return build_model(options, data)

    def train_config(self, options: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
        return {"batch_size": options["batch_size"]}

    def datasets(self, options: dict[str, Any], model: Any, data: Any) -> tuple[Any, Any]:
        valid = model.pack(data["x_valid"], data["y_valid"]) if "x_valid" in data else None
        return model.pack(data["x_train"], data["y_train"]), valid

    def config_doc(
        self, args: argparse.Namespace, options: dict[str, Any], model: Any, data: Any,
        saved: dict[str, Any] | None,
    ) -> dict[str, Any]:  # fmt: skip
        return {"kind": data["kind"], "options": options, "model": model.config}

    def banner(self, options: dict[str, Any], data: Any, device: Any) -> str:
        return (
            f"training a BNN ({data['kind']}, estimator {options['estimator']}, prior "
            f"{options['prior']}) on {options['data']} ({len(data['x_train'])} train rows), "
            f"{options['epochs']} epochs, device {device}"
        )

    def evaluate(self, model: Any, data: Any, options: dict[str, Any]) -> dict[str, Any]:
        return evaluate_run(model, data, options["samples"])

    def write_plots(
        self, model: Any, data: Any, evaluated: dict[str, Any], options: dict[str, Any], out: Path
    ) -> list[str]:
        return write_plots(data, evaluated, options, out)

    def summary(self, evaluated: dict[str, Any]) -> str:
        return _table(evaluated["metrics"])


def _train(args: argparse.Namespace) -> int:
    return run_train_command(BnnTrain(), args)


# --------------------------------------------------------------------------- eval
def _eval(args: argparse.Namespace) -> int:
    import torch

    from ..training import load_checkpoint

    start = time.perf_counter()
    check_writable(args.dir)
    doc = _read_config(args.dir)
    options = doc["options"]
    set_threads(_default_threads(options["data"]))
    data = load_run_data(options, args.data_dir)
    check_run_memory(options, data, args.samples or options["samples"], trained=False)
    model = model_from_config(doc)
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
