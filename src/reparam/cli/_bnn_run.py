"""What ``reparam bnn train``, ``eval`` and ``uci`` share about a run: its data (images
with an out-of-distribution set, or a UCI split), the lower bound of its memory, its model.

A run's data is a dict: ``kind`` ("classification" or "regression"), ``x_train``,
``y_train``, ``x_test``, ``y_test`` (and ``x_valid``, ``y_valid``, ``ood``, ``ood_name``,
``ood_dir`` for images; ``y_std`` for a UCI split).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from ._common import CommandError
from ._resources import FLOAT, TRAINED, check_memory, mlp_params

#: the OOD test set of each image set ("flipped": the test images rotated by 180°).
OOD = {"digits": "flipped", "mnist": "fashion-mnist", "fashion-mnist": "mnist"}


def load_run_data(options: dict[str, Any], data_dir: Any = None) -> dict[str, Any]:
    """Train / valid / test tensors (and the OOD inputs) of the configured data set."""
    import torch

    directory = data_dir if data_dir is not None else options.get("data_dir")
    name = options["data"]
    if name.startswith("uci:"):
        from ..data.uci import load_uci

        d = load_uci(name[4:], options["split"], directory)
        return {**split_data(d), "uci": d}
    from ..data import default_data_dir, load_images

    if directory is None and name != "digits" and default_data_dir(name) is None:
        raise CommandError(
            f"--data {name}: no data directory found (looked in $REPARAM_DATA_DIR, "
            "../shared/data and /work/shared/data); pass --data-dir DIR with the files"
        )
    images = load_images(name, directory, seed=options["seed"])
    ood_name = OOD[name]
    ood_dir = None
    if ood_name == "flipped":
        ood = torch.flip(images.test, dims=(-2, -1))
    else:
        ood, ood_dir = _ood_images(ood_name, directory, options["seed"])
    return {"kind": "classification", "images": images, "x_train": images.train,
            "y_train": images.train_labels, "x_valid": images.valid,
            "y_valid": images.valid_labels, "x_test": images.test,
            "y_test": images.test_labels, "ood": ood, "ood_name": ood_name,
            "ood_dir": None if ood_dir is None else str(ood_dir)}  # fmt: skip


def split_data(d: Any) -> dict[str, Any]:
    """One UCI split (:func:`reparam.data.uci.load_uci`) as a regression run's data."""
    return {"kind": "regression", "x_train": d.x_train, "y_train": d.y_train,
            "x_test": d.x_test, "y_test": d.y_test, "y_std": d.y_std}  # fmt: skip


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


def check_run_memory(
    options: dict[str, Any], data: dict[str, Any], samples: int, trained: bool = True
) -> None:
    hidden = ",".join(map(str, options["hidden"]))
    flags = [f"--hidden {hidden}", f"--samples {samples}"]
    if trained:
        flags.append(f"--batch-size {options['batch_size']}")
    check_memory(memory_needed(options, data, samples, trained), flags)


def build_model(options: dict[str, Any], data: dict[str, Any]) -> Any:
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


def model_from_config(config: dict[str, Any]) -> Any:
    from ..bnn import BNNClassifier, BNNRegressor

    kind = config.get("kind")
    cls = BNNRegressor if kind == "regression" else BNNClassifier
    return cls.from_config(config["model"])
