"""A Bayesian neural network on a UCI regression set, with the published train/test splits.

One hidden layer of 50 ReLU units with a mean-field Gaussian posterior on every weight
(:class:`reparam.bnn.BNNRegressor`, local reparameterization by default), a learned noise
std, inputs and targets normalised on the training rows (Hernández-Lobato & Adams 2015),
trained by :func:`reparam.train`. Prints the test RMSE and the test log-likelihood of the
100-sample predictive in the target's original units, per split and as mean ± standard
error over the splits.

The data are read from local files (``reparam.data.load_uci``): ``--data PATH``, a folder
holding ``<name>/data.txt`` and the split index files, by default ``../shared/data/uci``
next to the repository. Without them the script stops with one line (exit status 77).

    python examples/bnn_uci.py                  # concrete, 3 splits x 400 epochs (~50 s CPU)
    python examples/bnn_uci.py --name yacht --splits 20 --estimator flipout
    python examples/bnn_uci.py --fast           # a smoke run: split 0, 10 epochs
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

import reparam
from reparam.bnn import BNNRegressor
from reparam.data import UCI_DATASETS, load_uci
from reparam.data.uci import uci_num_splits

#: ../shared/data/uci relative to the repository root (this file is examples/bnn_uci.py).
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "uci"
#: the exit status of a run that cannot start for want of its data (automake's "skip").
EXIT_NO_DATA = 77


def train_split(name: str, split: int, data_dir: Path, args: argparse.Namespace) -> dict:
    """Train on one split; its test metrics in original units."""
    d = load_uci(name, split, data_dir)
    model = BNNRegressor(d.num_features, (50,), estimator=args.estimator,
                         dataset_size=len(d.x_train))  # fmt: skip
    config = reparam.TrainConfig(
        epochs=args.epochs, batch_size=min(32, len(d.x_train)), lr=1e-2, seed=split,
        device="cpu", progress=False, checkpoint_every=None,
    )  # fmt: skip
    result = reparam.train(model, model.pack(d.x_train, d.y_train), config, None)
    if result.stopped is not None:
        raise SystemExit(f"bnn_uci: split {split} stopped early: {result.message}")
    torch.manual_seed(10_000 + split)
    return model.evaluate(d.x_test, d.y_test, num_samples=100, y_std=d.y_std)


def mean_se(values: list[float]) -> str:
    """``mean ± standard error`` (just the value for one split, which has no se)."""
    t = torch.tensor(values, dtype=torch.float64)
    if len(t) == 1:
        return f"{t.item():.3f}"
    return f"{t.mean().item():.3f} ± {t.std().item() / math.sqrt(len(t)):.3f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--name", default="concrete", choices=UCI_DATASETS, metavar="NAME",
                        help="the UCI set: " + ", ".join(UCI_DATASETS))  # fmt: skip
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="folder holding NAME/ with the UCI files (default %(default)s)",
    )
    parser.add_argument("--splits", type=int, help="the first N splits (default 3; fast 1)")
    parser.add_argument("--epochs", type=int, help="epochs per split (default 400; fast 10)")
    parser.add_argument("--estimator", default="local", choices=("weight", "local", "flipout"))
    args = parser.parse_args(argv)
    args.epochs = args.epochs or (10 if args.fast else 400)
    if not (args.data / args.name / "data.txt").is_file():
        print(f"bnn_uci: no UCI data at {args.data / args.name} (needs data.txt and the split "
              "index files); pass --data PATH", file=sys.stderr)  # fmt: skip
        raise SystemExit(EXIT_NO_DATA)

    torch.set_num_threads(1)
    available = uci_num_splits(args.name, args.data)
    splits = min(args.splits or (1 if args.fast else 3), available)
    print(f"{args.name}: {splits} split(s), {args.epochs} epochs, estimator {args.estimator}")
    rmse, ll = [], []
    start = time.process_time()
    for split in range(splits):
        m = train_split(args.name, split, args.data, args)
        rmse.append(m["rmse"])
        ll.append(m["log_likelihood"])
        print(f"split {split:2d}  test RMSE {m['rmse']:.3f}  test log-likelihood "
              f"{m['log_likelihood']:.3f}")  # fmt: skip
    print(f"mean ± se over {splits} split(s): RMSE {mean_se(rmse)}, "
          f"log-likelihood {mean_se(ll)} ({time.process_time() - start:.1f} s CPU)")  # fmt: skip


if __name__ == "__main__":
    main()
