"""What both modes of ``reparam flow fit`` share: the defaults and option keys, resolving
and resuming options, the memory bound, the flow of a run, the plots and :class:`FlowFit`
(the :class:`~reparam.cli._driver.TrainCommand` base of :mod:`.flow_density` and
:mod:`.flow_target`). The parser and the dispatch are in :mod:`.flow`.
"""

from __future__ import annotations

import abc
import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ._common import (
    CommandError,
    config_has,
    given_options,
    read_config,
    resume_options,
)
from ._driver import CHECKPOINT, CONFIG, TrainCommand, write_history

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
        derived = (
            options.get("target") is not None and isinstance(spe, int)
            and isinstance(epochs, int) and options.get("anneal_steps") == epochs * spe // 2
        )  # fmt: skip
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

    def read_config(self, out: Path) -> dict[str, Any]:
        return _read_config(out)

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
