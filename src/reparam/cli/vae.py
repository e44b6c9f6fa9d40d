"""``reparam vae train|eval|sample``: train a VAE, evaluate it, draw from it.

``train`` fits :class:`reparam.VAE` with the shared training loop
(:func:`reparam.training.train`) and writes, into ``--out``: ``config.json`` (at the
start, atomically), ``metrics.jsonl`` (a line each epoch) and ``checkpoint.pt``
(``--checkpoint-every``), then
``loss.png``, ``reconstructions.png``, ``samples.png`` and, for a 2-D latent,
``latent.png`` (posterior means of the test set coloured by label). ``--resume``
continues from ``checkpoint.pt`` with the saved configuration. ``eval DIR`` prints the
test log-likelihood (importance sampling with k samples, Burda et al. 2016), the ELBO and
the number of active units, and writes ``eval.json``; ``sample DIR`` writes
``samples.png`` (both in :mod:`.vae_eval`).

The default (``reparam vae train`` with no options) trains on scikit-learn's bundled 8×8
digits, dynamically binarized, with a Bernoulli decoder, in about a minute on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import math
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
from ._driver import (
    CHECKPOINT,
    CONFIG,
    TrainCommand,
    add_run_arguments,
    run_train_command,
    write_history,
)
from ._resources import FLOAT, TRAINED, check_memory, mlp_params

__all__ = ["DATA_DEFAULTS", "DEFAULTS", "add_vae_parser"]

OBJECTIVE_CHOICES = ("elbo", "iwae", "dreg")
DATA_CHOICES = ("digits", "mnist", "fashion-mnist", "binarized-mnist")

#: defaults shared by every data set (None on the command line means "not given").
DEFAULTS: dict[str, Any] = {
    "data": "digits",
    "objective": "elbo",
    "k": 1,
    "arch": "mlp",
    "posterior": "normal",
    "flow_length": None,
    "likelihood": "bernoulli",
    "binarize": "auto",
    "beta": 1.0,
    "warmup_steps": 0,
    "batch_size": 128,
    "lr": 1e-3,
    "seed": 0,
    "device": "auto",
    "amp": False,
}

#: per-data-set defaults: the digits ones make ``reparam vae train`` take about a minute.
DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"latent_dim": 8, "hidden": [128, 128], "epochs": 800, "lr": 3e-3},
    "mnist": {"latent_dim": 50, "hidden": [200, 200], "epochs": 10},
    "fashion-mnist": {"latent_dim": 50, "hidden": [200, 200], "epochs": 10},
    "binarized-mnist": {"latent_dim": 50, "hidden": [200, 200], "epochs": 10},
}

#: options that may differ from the saved configuration on ``--resume``.
RESUME_MAY_CHANGE = ("epochs", "device", "progress")

#: the options stored in config.json (the resolved values).
OPTION_KEYS = (
    "data", "data_dir", "objective", "k", "latent_dim", "hidden", "arch", "posterior",
    "flow_length", "likelihood", "binarize", "beta", "warmup_steps", "epochs", "batch_size",
    "lr", "seed", "device", "amp",
)  # fmt: skip

EVAL_BATCH = 100
COMMAND = "vae train"
#: what ``vae train`` (and ``eval``/``sample`` on its directory) writes into a run.
OUTPUTS = (CONFIG, CHECKPOINT, "metrics.jsonl", "loss.png", "reconstructions.png",
           "samples.png", "latent.png", "eval.json")  # fmt: skip
#: a run written before run records: a config with options and a model, no BNN "kind".
LEGACY = config_has("options", "model", without=("kind", "features"))


# --------------------------------------------------------------------------- parser
def add_vae_parser(sub: Any) -> Any:
    """Add ``vae`` with its ``train`` subcommand to ``sub``; ``eval`` and ``sample`` are
    added by :func:`.vae_eval.add_eval_parsers` on what this returns.

    Args:
        sub: the ``add_subparsers()`` object of the ``reparam`` parser.

    Returns:
        the ``add_subparsers()`` object of ``reparam vae``.
    """
    vae = sub.add_parser(
        "vae",
        help="train, evaluate and sample variational autoencoders",
        description="Variational autoencoders: train, eval, sample.",
    )
    vsub = vae.add_subparsers(dest="vae_command", metavar="VAE_COMMAND", required=True)
    train = vsub.add_parser(
        "train",
        help="train a VAE (default: bundled 8×8 digits, about a minute on 2 CPU cores)",
        description=(
            "Train a VAE and write config.json, checkpoint.pt, metrics.jsonl, loss.png, "
            "reconstructions.png, samples.png and (2-D latent) latent.png to --out. "
            "Defaults: --data digits --objective elbo --k 1 --arch mlp --posterior normal "
            "--likelihood bernoulli --binarize auto (dynamic for grey data with a "
            "Bernoulli decoder) --batch-size 128 --seed 0 --device auto; digits: "
            "--latent-dim 8 --hidden 128,128 --epochs {e} --lr 3e-3; MNIST sets: "
            "--latent-dim 50 --hidden 200,200 --epochs 10 --lr 1e-3."
        ).format(e=DATA_DEFAULTS["digits"]["epochs"]),
    )
    _model_arguments(train)
    _loop_arguments(train)
    train.set_defaults(run=reported("vae train", _train), check=checker(train, _check_train))
    return vsub


def _model_arguments(train: argparse.ArgumentParser) -> None:
    """The data, the model and its objective."""
    from ..vae import ARCHS, LIKELIHOODS, POSTERIORS

    train.add_argument("--data", choices=DATA_CHOICES, help="the data set")
    train.add_argument(
        "--data-dir", type=Path, help="directory with the data files (default ../shared/data/…)"
    )
    train.add_argument("--objective", choices=OBJECTIVE_CHOICES, help="the training bound")
    train.add_argument(
        "--k", type=positive_int("--k"), help="samples per data point (IWAE/DReG k)"
    )
    train.add_argument("--latent-dim", type=positive_int("--latent-dim"), help="latent d")
    train.add_argument("--hidden", type=hidden_sizes, metavar="H1,H2,...", help="hidden widths")
    train.add_argument("--arch", choices=ARCHS, help="network architecture")
    train.add_argument(
        "--posterior",
        choices=POSTERIORS,
        help="the family of q(z|x): Gaussians (normal, lowrank, fullrank), a diagonal "
        "Gaussian through amortized flows (planar: Rezende & Mohamed 2015; iaf: Kingma et "
        "al. 2016), or on the sphere S^(d-1) with a uniform prior (vmf: Davidson et al. "
        "2018; power-spherical: De Cao & Aziz 2020)",
    )
    train.add_argument(
        "--flow-length",
        type=positive_int("--flow-length"),
        help="K flow steps of a planar or iaf posterior (default: planar 10, iaf 2)",
    )
    train.add_argument("--likelihood", choices=LIKELIHOODS, help="the decoder p(x|z)")
    train.add_argument(
        "--binarize",
        choices=("auto", "none", "dynamic"),
        help="dynamic binarization x ~ Bernoulli(x) per batch (auto: for grey data with "
        "a Bernoulli decoder)",
    )
    train.add_argument("--beta", type=positive_float, help="KL weight β (ELBO only)")
    train.add_argument(
        "--warmup-steps", type=nonnegative_int, help="linear KL warm-up from 0 to β"
    )


def _loop_arguments(train: argparse.ArgumentParser) -> None:
    """The training loop, the device and the run directory."""
    train.add_argument("--epochs", type=positive_int("--epochs"), help="passes over the data")
    train.add_argument("--batch-size", type=positive_int("--batch-size"), help="batch size")
    train.add_argument("--lr", type=positive_float, help="Adam learning rate")
    train.add_argument("--seed", type=random_seed, help="random seed")
    train.add_argument("--device", type=device_name, help="auto, cpu, cuda or cuda:N")
    train.add_argument(
        "--amp", action="store_true", default=None, help="mixed precision (CUDA only)"
    )
    add_run_arguments(train, Path("runs/vae"), "continue from OUT/checkpoint.pt (saved config)")
    train.add_argument(
        "--threads",
        type=positive_int("--threads"),
        help="CPU threads for torch (default: 1 for digits, whose tiny batches only lose "
        "time to thread start-up, else torch's default)",
    )


def _check_train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_train_out(parser, args, COMMAND, CONFIG, CHECKPOINT, LEGACY)
    if args.resume:
        return
    objective = args.objective or DEFAULTS["objective"]
    for flag, value in (("--beta", args.beta), ("--warmup-steps", args.warmup_steps)):
        if value is not None and objective != "elbo":
            parser.error(
                f"argument {flag}: applies only with --objective elbo (the KL weight of the "
                f"ELBO), not {objective}"
            )
    if args.data_dir is not None and (args.data or DEFAULTS["data"]) == "digits":
        parser.error(_DIGITS_DATA_DIR)
    if args.flow_length is not None and args.posterior not in ("planar", "iaf"):
        parser.error(
            "argument --flow-length: needs --posterior planar or iaf (got "
            f"{args.posterior or DEFAULTS['posterior']})"
        )
    data = args.data or DEFAULTS["data"]
    if data != "digits" and args.data_dir is None:
        from ..data import default_data_dir

        try:
            found = default_data_dir(data)
        except FileNotFoundError as exc:  # $REPARAM_DATA_DIR names no directory
            parser.error(str(exc))
        if found is None:
            parser.error(
                f"--data {data}: no data directory found (looked in $REPARAM_DATA_DIR, "
                "../shared/data and /work/shared/data); pass --data-dir DIR with the files"
            )
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"argument --data-dir: {str(args.data_dir)!r} is not a directory")


_DIGITS_DATA_DIR = (
    "argument --data-dir: the digits ship with scikit-learn and read no files; --data-dir "
    "applies to mnist, fashion-mnist and binarized-mnist"
)


# --------------------------------------------------------------------------- configuration
def _given(args: argparse.Namespace) -> dict[str, Any]:
    return given_options(args, OPTION_KEYS)


def resolve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The full option set of a new run: given values, then data-set and global defaults."""
    options = dict(DEFAULTS)
    given = _given(args)
    data = given.get("data", DEFAULTS["data"])
    options.update(DATA_DEFAULTS[data])
    options["data_dir"] = None
    options.update(given)
    if options["data_dir"] is None and data != "digits":
        from ..data import default_data_dir

        found = default_data_dir(data)
        options["data_dir"] = None if found is None else str(Path(found).resolve())
    return {k: options[k] for k in OPTION_KEYS}


def _resume_options(args: argparse.Namespace, saved: dict[str, Any]) -> dict[str, Any]:
    return resume_options(
        _given(args),
        saved["options"],
        RESUME_MAY_CHANGE,
        args.out / CONFIG,
        " (only --epochs and --device may change)",
    )


def _binarize_mode(options: dict[str, Any], binary: bool) -> str:
    mode = options["binarize"]
    if mode == "auto":
        return "dynamic" if options["likelihood"] == "bernoulli" and not binary else "none"
    if mode == "none" and options["likelihood"] == "bernoulli" and not binary:
        raise CommandError(
            f"--likelihood bernoulli needs binary data, and {options['data']} is grey-scale: "
            "use --binarize dynamic (or auto), or --likelihood continuous-bernoulli/gaussian"
        )
    return mode


def _load_data(options: dict[str, Any], data_dir: Any = None) -> Any:
    from ..data import load_images

    directory = data_dir if data_dir is not None else options.get("data_dir")
    first = load_images(options["data"], directory, seed=options["seed"])
    mode = _binarize_mode(options, first.binary)
    if mode == "dynamic":
        return load_images(options["data"], directory, seed=options["seed"], binarize=mode), mode
    return first, mode


def _eval_set(x: Any, dynamic: bool, seed: int) -> Any:
    """The test (or validation) images, binarized once with a fixed seed when dynamic."""
    import torch

    if not dynamic:
        return x
    from ..data import dynamic_binarize

    return dynamic_binarize(x, torch.Generator().manual_seed(seed + 12345))


def _batched(fn: Callable[[Any], Any], x: Any, batch: int = EVAL_BATCH) -> Any:
    import torch

    return torch.cat([fn(x[i : i + batch]) for i in range(0, len(x), batch)])


def _read_config(d: Path) -> dict[str, Any]:
    return read_config(d / CONFIG, "vae", ("options", "model"))


# --------------------------------------------------------------------------- outputs
def write_plots(model: Any, data: Any, options: dict[str, Any], out: Path) -> list[str]:
    """Write loss.png, reconstructions.png, samples.png (and latent.png for d = 2)."""
    import torch

    from ..plots import save_figure
    from ..plots.history import BOUND_PANELS
    from ..plots.vae import image_grid, latent_scatter, reconstructions

    written = [write_history(out, BOUND_PANELS, f"VAE on {options['data']}")]
    model = model.cpu().eval()
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(options["seed"])
        x = data.test[:32]
        save_figure(reconstructions(x, model.reconstruct(x)), out / "reconstructions.png")
        save_figure(
            image_grid(model.sample(64), title="samples (decoder means)"), out / "samples.png"
        )
        written += ["reconstructions.png", "samples.png"]
        if model.latent_dim == 2:
            z = _batched(model.posterior_mean, data.test)
            save_figure(latent_scatter(z, data.test_labels), out / "latent.png")
            written.append("latent.png")
    return written


# --------------------------------------------------------------------------- train
class VaeTrain(TrainCommand):
    """``reparam vae train`` for :func:`run_train_command`; data: (images, binarize mode)."""

    command, outputs, legacy_ok = COMMAND, OUTPUTS, staticmethod(LEGACY)
    rows, state_key = "training images", "vae_config"

    def read_config(self, out: Path) -> dict[str, Any]:
        return _read_config(out)

    resolve_options = staticmethod(resolve_options)
    resume_options = staticmethod(_resume_options)

    def load(self, options: dict[str, Any]) -> Any:
        data, mode = _load_data(options)
        check_memory(train_memory(options, data.shape), _size_flags(options), _device(options))
        return data, mode

    def threads(self, options: dict[str, Any], data: Any) -> int | None:
        return _default_threads(options["data"])

    def build_model(self, options: dict[str, Any], data: Any) -> Any:
        from ..vae import VAE

        images, mode = data
        return VAE(
            images.shape, latent_dim=options["latent_dim"], hidden=options["hidden"],
            arch=options["arch"], posterior=options["posterior"],
            flow_length=options.get("flow_length"),  # absent from configs of older runs
            likelihood=options["likelihood"], objective=options["objective"], k=options["k"],
            beta=_beta(options), dynamic_binarize=mode == "dynamic",
        )  # fmt: skip

    def train_config(self, options: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
        return {"batch_size": options["batch_size"], "amp": bool(options["amp"])}

    def datasets(self, options: dict[str, Any], model: Any, data: Any) -> tuple[Any, Any]:
        return data[0].train, data[0].valid

    def config_doc(
        self, args: argparse.Namespace, options: dict[str, Any], model: Any, data: Any,
        saved: dict[str, Any] | None,
    ) -> dict[str, Any]:  # fmt: skip
        return {"options": options, "model": model.config}

    def banner(self, options: dict[str, Any], data: Any, device: Any) -> str:
        images = data[0]
        return (
            f"training a VAE on {options['data']} ({len(images.train)} train / "
            f"{len(images.valid)} valid images, {'x'.join(map(str, images.shape))}), objective "
            f"{options['objective']} k={options['k']}, latent {options['latent_dim']}, "
            f"{options['epochs']} epochs, device {device}"
        )

    def evaluate(self, model: Any, data: Any, options: dict[str, Any]) -> dict[str, Any]:
        test = _eval_set(data[0].test, data[1] == "dynamic", options["seed"])
        return {"elbo": _batched(model.elbo, test).mean().item(), "n": len(test)}

    def write_plots(
        self, model: Any, data: Any, evaluated: dict[str, Any], options: dict[str, Any], out: Path
    ) -> list[str]:
        return write_plots(model, data[0], options, out)

    def summary(self, evaluated: dict[str, Any]) -> str:
        n = evaluated["n"]
        return f"test ELBO {evaluated['elbo']:.3f} nats ({n} images, 1 sample, analytic KL)"


def _train(args: argparse.Namespace) -> int:
    return run_train_command(VaeTrain(), args)


def _device(options: dict[str, Any]) -> str:
    from ..training import select_device

    return str(select_device(options.get("device") or "auto"))


def _size_flags(options: dict[str, Any], *extra: tuple[str, Any]) -> list[str]:
    hidden = ",".join(map(str, options["hidden"]))
    pairs = (("--latent-dim", options["latent_dim"]), ("--hidden", hidden),
             ("--k", options["k"]), ("--batch-size", options["batch_size"]), *extra)  # fmt: skip
    return [f"{flag} {value}" for flag, value in pairs if value is not None]


def train_memory(options: dict[str, Any], shape: Any) -> float:
    """A lower bound of a training run's peak memory (bytes), see :mod:`reparam._resources`:
    the encoder (D → hidden → 2d) and decoder (d → hidden → D) trained with Adam, and the
    float32 activations of B·k samples through the decoder."""
    d, hidden = int(options["latent_dim"]), [int(h) for h in options["hidden"]]
    pixels = math.prod(shape)
    if options.get("arch", "mlp") == "mlp":
        params = mlp_params([pixels, *hidden, 2 * d]) + mlp_params([d, *hidden[::-1], pixels])
    else:  # the convolutions are fixed; the latent layers alone bound it from below
        params = mlp_params([hidden[-1], 2 * d]) + mlp_params([d, hidden[-1]])
    samples = int(options["batch_size"]) * int(options["k"])
    return params * TRAINED + samples * (pixels + d + sum(hidden)) * FLOAT * 2


def _default_threads(data: str) -> int | None:
    """1 for the digits (tiny batches only lose time to thread start-up), else torch's."""
    return 1 if data == "digits" else None


def _beta(options: dict[str, Any]) -> Any:
    from ..objectives import BetaSchedule

    return BetaSchedule(float(options["beta"]), int(options["warmup_steps"]))
