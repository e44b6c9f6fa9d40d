"""``reparam vae eval DIR`` and ``reparam vae sample DIR``: evaluate and draw from a VAE
trained by ``reparam vae train``.

``eval`` prints the test log-likelihood (importance sampling with k samples, Burda et al.
2016), the ELBO and the number of active units, and writes ``DIR/eval.json``; ``sample``
writes ``DIR/samples.png``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from .._checkpoint import restore_state
from ._common import (
    CommandError,
    check_run_dir,
    check_writable,
    checker,
    device_name,
    finite_or_none,
    positive_int,
    random_seed,
    reported,
    set_threads,
    write_json,
)
from ._resources import FLOAT, check_memory
from .vae import (
    _DIGITS_DATA_DIR,
    CHECKPOINT,
    CONFIG,
    EVAL_BATCH,
    LEGACY,
    _batched,
    _default_threads,
    _eval_set,
    _load_data,
    _read_config,
)

__all__ = ["add_eval_parsers", "evaluate"]


def add_eval_parsers(vsub: Any) -> None:
    """Add ``eval`` and ``sample`` to ``vsub``, the subparsers of ``reparam vae``."""
    ev = vsub.add_parser(
        "eval",
        help="test log-likelihood, ELBO and active units of a trained VAE",
        description=(
            "Evaluate the VAE in DIR on its test set: importance-sampled log-likelihood "
            "with k samples (Burda et al. 2016), the ELBO and the number of active units "
            "(Cov_x E_q[z_j] > 0.01). Prints a table and writes DIR/eval.json."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    ev.add_argument("dir", type=Path, metavar="DIR", help="a directory written by vae train")
    ev.add_argument("--k", type=positive_int("--k"), default=5000, help="importance samples")
    ev.add_argument("--chunk", type=positive_int("--chunk"), default=500, help="samples per chunk")
    ev.add_argument("--seed", type=random_seed, default=0, help="random seed")
    ev.add_argument("--device", type=device_name, default="auto", help="auto, cpu, cuda, cuda:N")
    ev.add_argument("--data-dir", type=Path, help="override the saved data directory")
    ev.add_argument(
        "--threads", type=positive_int("--threads"), help="CPU threads (default as train)"
    )
    ev.set_defaults(run=reported("vae eval", _eval), check=checker(ev, _check_dir))

    sa = vsub.add_parser(
        "sample",
        help="draw images from a trained VAE (DIR/samples.png)",
        description="Draw n images from the VAE in DIR and write DIR/samples.png.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sa.add_argument("dir", type=Path, metavar="DIR", help="a directory written by vae train")
    sa.add_argument("--n", type=positive_int("--n"), default=64, help="number of images")
    sa.add_argument("--seed", type=random_seed, default=0, help="random seed")
    sa.set_defaults(run=reported("vae sample", _sample), check=checker(sa, _check_dir))


def _check_dir(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    check_run_dir(parser, args.dir, (CONFIG, CHECKPOINT), "vae", LEGACY)
    if getattr(args, "data_dir", None) is not None:
        try:
            data = _read_config(args.dir)["options"].get("data")
        except CommandError as exc:
            parser.error(f"argument DIR: {exc}")
        if data == "digits":
            parser.error(_DIGITS_DATA_DIR)


def _load_model(d: Path) -> tuple[Any, dict[str, Any]]:
    from ..training import load_checkpoint
    from ..vae import VAE

    doc = _read_config(d)
    model = VAE.from_config(doc["model"])
    ckpt = load_checkpoint(d / CHECKPOINT)
    restore_state(model, ckpt["model"], d / CHECKPOINT)
    model.eval()
    return model, doc


def evaluate(
    model: Any, x: Any, *, k: int = 5000, chunk: int = 500, batch_size: int = EVAL_BATCH
) -> dict[str, float]:
    """Test log-likelihood (k importance samples), ELBO and active units of ``model`` on x."""
    ll = _batched(lambda b: model.log_likelihood(b, k=k, chunk=chunk), x, batch_size)
    elbo = _batched(model.elbo, x, batch_size)
    means = _batched(model.posterior_mean, x, batch_size)
    active = int((means.var(0) > 0.01).sum())
    n = len(x)
    return {
        "log_likelihood": ll.mean().item(),
        "log_likelihood_se": (ll.std() / math.sqrt(n)).item() if n > 1 else float("nan"),
        "elbo": elbo.mean().item(),
        "elbo_se": (elbo.std() / math.sqrt(n)).item() if n > 1 else float("nan"),
        "active_units": active,
        "latent_dim": model.latent_dim,
        "k": k,
        "n_test": n,
    }


def _eval(args: argparse.Namespace) -> int:
    import torch

    from ..training import select_device

    start = time.perf_counter()
    check_writable(args.dir)
    model, doc = _load_model(args.dir)
    options = doc["options"]
    set_threads(args.threads or _default_threads(options["data"]))
    data, mode = _load_data(options, args.data_dir)
    device = select_device(args.device)
    config = doc["model"]
    per_sample = math.prod(data.shape) + model.latent_dim + sum(config.get("hidden", [0]))
    check_memory(min(args.k, args.chunk) * EVAL_BATCH * per_sample * FLOAT * 2,
                 [f"--k {args.k}", f"--chunk {args.chunk}"], str(device))  # fmt: skip
    model = model.to(device)
    print(f"evaluating the VAE in {args.dir} on {len(data.test)} {options['data']} test "
          f"images (k={args.k}), device {device}", file=sys.stderr)  # fmt: skip
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(args.seed)
        test = _eval_set(data.test, mode == "dynamic", options["seed"]).to(device)
        with torch.no_grad():
            result = evaluate(model, test, k=args.k, chunk=args.chunk)
    result["data"] = options["data"]
    result["seconds"] = time.perf_counter() - start
    write_json(args.dir / "eval.json", {k: finite_or_none(v) for k, v in result.items()})
    ll_name = f"test log-likelihood (k={args.k})"
    rows = [
        (ll_name, result["log_likelihood"], result["log_likelihood_se"]),
        ("test ELBO", result["elbo"], result["elbo_se"]),
    ]
    width = max(len(r[0]) for r in rows + [("active units", 0, 0)])
    print(f"VAE in {args.dir} on {options['data']} test set ({result['n_test']} images)")
    print(f"{'metric'.ljust(width)}  {'value':>10}  {'± s.e.':>8}")
    print(f"{'-' * width}  {'-' * 10}  {'-' * 8}")
    for name, value, se in rows:
        print(f"{name.ljust(width)}  {value:>10.3f}  {se:>8.3f}")
    active = f"{result['active_units']}/{model.latent_dim}"
    print(f"{'active units'.ljust(width)}  {active:>10}")
    print(f"wrote eval.json to {args.dir} ({result['seconds']:.1f} s)")
    return 0


def _sample(args: argparse.Namespace) -> int:
    import torch

    from ..plots import save_figure
    from ..plots.vae import image_grid

    check_writable(args.dir)
    model, _ = _load_model(args.dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(args.seed)
        images = model.sample(args.n)
    save_figure(image_grid(images, title="samples (decoder means)"), args.dir / "samples.png")
    print(f"wrote samples.png ({args.n} images) to {args.dir}")
    return 0
