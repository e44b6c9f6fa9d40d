r"""Bayesian neural networks trained by Bayes by Backprop.

A mean-field Gaussian posterior q(w) = N(μ, σ²) over every weight (the layers of
:mod:`reparam.nn`) is fitted by maximizing the evidence lower bound, estimated on a
minibatch B of a training set of N examples (Blundell et al. 2015):

.. math::
    \mathcal L(\mu, \sigma) = \frac{1}{|B|} \sum_{i \in B} -\log p(y_i \mid x_i, w)
    + \beta(t)\,\frac{\mathrm{KL}(q(w)\,\|\,p(w))}{N}, \qquad w = \mu + \sigma \odot \varepsilon,

i.e. the negative ELBO divided by N, with β(t) an optional linear KL warm-up
(:class:`~reparam.objectives.BetaSchedule`). How ε enters — one weight sample per
minibatch, the local reparameterization trick (Kingma, Salimans & Welling 2015) or Flipout
(Wen et al. 2018) — is the layers' ``estimator``.

Prediction averages S weight samples: p(y|x) ≈ (1/S) Σ_s p(y|x, w_s). The metrics
(accuracy, NLL, ECE, RMSE, test log-likelihood, AUROC) live in :mod:`reparam.metrics` and
are re-exported here.

Training batches are one tensor (what :func:`reparam.training.train` slices): the flattened
inputs with the label / target as the last column (:meth:`BNNClassifier.pack`).

References:
    Blundell, Cornebise, Kavukcuoglu & Wierstra, "Weight Uncertainty in Neural Networks",
    ICML 2015.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypedDict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_int
from .metrics import (
    ECE_BINS,
    accuracy,
    auroc,
    classification_metrics,
    expected_calibration_error,
    gaussian_log_likelihood,
    negative_log_likelihood,
    regression_metrics,
    reliability_diagram,
    rmse,
)
from .nn import BayesConv2d, BayesLinear, GaussianPrior, ScaleMixturePrior, kl_divergence
from .objectives import BetaSchedule

__all__ = [
    "ARCHS",
    "ESTIMATORS",
    "PRIORS",
    "BNNClassifier",
    "BNNRegressor",
    "accuracy",
    "auroc",
    "classification_metrics",
    "expected_calibration_error",
    "gaussian_log_likelihood",
    "make_prior",
    "negative_log_likelihood",
    "regression_metrics",
    "reliability_diagram",
    "rmse",
]

ESTIMATORS = ("weight", "local", "flipout")
PRIORS = ("gaussian", "mixture")
ARCHS = ("mlp", "conv")


# --------------------------------------------------------------------------- priors
def make_prior(
    name: str = "gaussian",
    scale: float = 1.0,
    *,
    pi: float = 0.5,
    scale2: float = math.exp(-6),
) -> GaussianPrior | ScaleMixturePrior:
    """The prior named ``name``: ``"gaussian"`` N(0, scale²) or ``"mixture"``
    π N(0, scale²) + (1 − π) N(0, scale2²) (Blundell et al. 2015).

    Raises:
        ValueError: an unknown name or a non-positive scale (naming it).

    Example:
        >>> make_prior("mixture", 1.0)
        ScaleMixturePrior(pi=0.5, scale1=1, scale2=0.00247875)
    """
    if name == "gaussian":
        return GaussianPrior(scale)
    if name == "mixture":
        return ScaleMixturePrior(pi=pi, scale1=scale, scale2=scale2)
    raise ValueError(f"prior must be one of {', '.join(PRIORS)}; got {name!r}")


def _prior_config(prior: Any) -> dict[str, Any]:
    if isinstance(prior, GaussianPrior):
        return {"prior": "gaussian", "prior_scale": prior.scale}
    if isinstance(prior, ScaleMixturePrior):
        return {"prior": "mixture", "prior_scale": prior.scale1, "prior_pi": prior.pi,
                "prior_scale2": prior.scale2}  # fmt: skip
    raise ValueError(f"prior must be a GaussianPrior or ScaleMixturePrior, got {prior!r}")


def _prior_from_config(config: dict[str, Any]) -> GaussianPrior | ScaleMixturePrior:
    return make_prior(
        config.get("prior", "gaussian"),
        float(config.get("prior_scale", 1.0)),
        pi=float(config.get("prior_pi", 0.5)),
        scale2=float(config.get("prior_scale2", math.exp(-6))),
    )


class _LayerKwargs(TypedDict):  # the keywords of every Bayesian layer of a network
    prior: GaussianPrior | ScaleMixturePrior
    estimator: str
    init_scale: float


def _resolve_prior(prior: Any) -> GaussianPrior | ScaleMixturePrior:
    if prior is None:
        return GaussianPrior(1.0)
    if isinstance(prior, str):
        return make_prior(prior)
    _prior_config(prior)  # type check
    return prior


def _choice(owner: str, name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _beta(kl_weight: BetaSchedule | float | None) -> BetaSchedule:
    if isinstance(kl_weight, BetaSchedule):
        return kl_weight
    return BetaSchedule(1.0 if kl_weight is None else float(kl_weight))


def _hidden(owner: str, hidden: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(int(h) for h in hidden)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{owner}: hidden must be positive layer widths; got {tuple(hidden)}")
    return sizes


# --------------------------------------------------------------------------- classification
class BNNClassifier(nn.Module):
    r"""A Bayesian classifier (MLP or small CNN of :mod:`reparam.nn` layers), softmax outputs.

    Args:
        in_shape: the shape of one input, e.g. (1, 8, 8) or (784,).
        num_classes: C ≥ 2.
        hidden: hidden widths (MLP ``D-h1-…-C``; conv: the width of the linear layer after
            two 3×3 convolutions of 32 and 64 channels, each followed by 2×2 max pooling).
        estimator: ``"weight"``, ``"local"`` or ``"flipout"`` (see :mod:`reparam.nn`).
        prior: a prior object, or ``"gaussian"`` / ``"mixture"`` (scale 1).
        arch: ``"mlp"`` or ``"conv"`` (needs ``in_shape`` = (C, H, W) with H, W ≥ 4).
        dataset_size: N, the number of training examples (the KL is divided by it).
        kl_weight: a :class:`~reparam.objectives.BetaSchedule` (KL annealing) or a number.
        init_scale: the posterior standard deviation at initialization.

    Raises:
        ValueError: an unknown estimator / prior / arch, bad sizes (naming them).

    Example:
        >>> model = BNNClassifier((1, 8, 8), 10, hidden=(16,), dataset_size=100)
        >>> model(torch.rand(5, 1, 8, 8)).shape
        torch.Size([5, 10])
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        num_classes: int,
        hidden: Sequence[int] = (400, 400),
        *,
        estimator: str = "local",
        prior: Any = None,
        arch: str = "mlp",
        dataset_size: int,
        kl_weight: BetaSchedule | float | None = None,
        init_scale: float = 1e-3,
    ) -> None:
        super().__init__()
        owner = "BNNClassifier"
        self.in_shape = tuple(int(s) for s in in_shape)
        if not self.in_shape or min(self.in_shape) < 1:
            raise ValueError(f"{owner}: in_shape must be positive sizes; got {tuple(in_shape)}")
        self.num_classes = check_int(
            "num_classes", num_classes, owner=owner, sep="; ", integral=True
        )
        if self.num_classes < 2:
            raise ValueError(f"{owner}: num_classes must be >= 2; got {num_classes}")
        self.hidden = _hidden(owner, hidden)
        self.estimator = _choice(owner, "estimator", estimator, ESTIMATORS)
        self.arch = _choice(owner, "arch", arch, ARCHS)
        self.prior = _resolve_prior(prior)
        self.dataset_size = check_int(
            "dataset_size", dataset_size, owner=owner, sep="; ", integral=True
        )
        self.kl_weight = _beta(kl_weight)
        self.init_scale = float(init_scale)
        kw = _LayerKwargs(prior=self.prior, estimator=self.estimator, init_scale=self.init_scale)
        layers: list[nn.Module] = []
        if arch == "mlp":
            sizes = (math.prod(self.in_shape), *self.hidden)
            layers.append(nn.Flatten())
            for a, b in zip(sizes[:-1], sizes[1:], strict=True):
                layers += [BayesLinear(a, b, **kw), nn.ReLU()]
            layers.append(BayesLinear(sizes[-1], self.num_classes, **kw))
        else:
            if len(self.in_shape) != 3 or min(self.in_shape[1:]) < 4:
                raise ValueError(
                    f"{owner}: arch 'conv' needs in_shape (C, H, W) with H, W >= 4; "
                    f"got {self.in_shape}"
                )
            c, h, w = self.in_shape
            layers += [
                BayesConv2d(c, 32, 3, padding=1, **kw), nn.ReLU(), nn.MaxPool2d(2),
                BayesConv2d(32, 64, 3, padding=1, **kw), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(),
                BayesLinear(64 * (h // 4) * (w // 4), self.hidden[0], **kw), nn.ReLU(),
                BayesLinear(self.hidden[0], self.num_classes, **kw),
            ]  # fmt: skip
        self.net = nn.Sequential(*layers)

    # ----------------------------------------------------------------- config
    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-serializable dict (see :meth:`from_config`)."""
        return {
            "in_shape": list(self.in_shape),
            "num_classes": self.num_classes,
            "hidden": list(self.hidden),
            "estimator": self.estimator,
            "arch": self.arch,
            "dataset_size": self.dataset_size,
            "kl_weight": self.kl_weight.beta,
            "warmup_steps": self.kl_weight.warmup_steps,
            "init_scale": self.init_scale,
            **_prior_config(self.prior),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BNNClassifier:
        """Build a classifier from :attr:`config` (extra keys are ignored)."""
        return cls(
            config["in_shape"],
            config["num_classes"],
            config["hidden"],
            estimator=config.get("estimator", "local"),
            prior=_prior_from_config(config),
            arch=config.get("arch", "mlp"),
            dataset_size=config["dataset_size"],
            kl_weight=BetaSchedule(
                float(config.get("kl_weight", 1.0)), int(config.get("warmup_steps", 0))
            ),
            init_scale=float(config.get("init_scale", 1e-3)),
        )

    # ----------------------------------------------------------------- batches
    def pack(self, x: Tensor, labels: Tensor) -> Tensor:
        """One float tensor (N, D + 1): flattened inputs, then the label as the last column."""
        return torch.cat([x.reshape(len(x), -1).float(), labels.reshape(-1, 1).float()], 1)

    def unpack(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """The inverse of :meth:`pack`: inputs of shape (N, *in_shape) and int64 labels."""
        return batch[:, :-1].reshape(len(batch), *self.in_shape), batch[:, -1].round().long()

    # ----------------------------------------------------------------- model
    def forward(self, x: Tensor) -> Tensor:
        """Logits (N, C) under one draw of the weights (per the estimator)."""
        return self.net(x)

    def kl(self) -> Tensor:
        """KL(q(w) ‖ p(w)) summed over the layers (after a forward pass for an MC prior)."""
        return kl_divergence(self)

    def _loss(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        x, y = self.unpack(batch)
        logits = self(x)
        nll = F.cross_entropy(logits, y)
        kl = self.kl()
        loss = nll + self.kl_weight(step) * kl / self.dataset_size
        acc = (logits.argmax(-1) == y).float().mean()
        return {"loss": loss, "nll": nll.detach(), "kl": kl.detach(), "accuracy": acc}

    def training_step(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        """The minibatch loss: mean NLL + β(step)·KL/N (one weight draw), with metrics."""
        return self._loss(batch, step)

    def validation_step(self, batch: Tensor) -> dict[str, Tensor]:
        """The same loss at full KL weight (β = the final weight), one weight draw."""
        return self._loss(batch, self.kl_weight.warmup_steps)

    @torch.no_grad()
    def predict_proba(self, x: Tensor, num_samples: int = 100, batch_size: int = 500) -> Tensor:
        """The Monte Carlo predictive p(y|x) ≈ (1/S) Σ_s softmax(f_{w_s}(x)), shape (N, C)."""
        from .nn import predictive

        check_int("num_samples", num_samples, owner="predict_proba", sep="; ", integral=True)
        was_training = self.training
        self.eval()
        try:
            out = [
                predictive(self, x[i : i + batch_size], num_samples=num_samples).mean
                for i in range(0, len(x), batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(out)

    def evaluate(
        self, x: Tensor, labels: Tensor, num_samples: int = 100, num_bins: int = ECE_BINS
    ) -> dict[str, float]:
        """Accuracy, NLL and ECE (``num_bins`` bins) of the S-sample predictive on (x, labels)."""
        return classification_metrics(self.predict_proba(x, num_samples), labels, num_bins)


# --------------------------------------------------------------------------- regression
class BNNRegressor(nn.Module):
    r"""A Bayesian MLP regressor y = f_w(x) + σ_y ε with Gaussian noise, ReLU hidden layers.

    Args:
        in_features: D, the number of inputs.
        hidden: hidden widths (default one layer of 50 units, the UCI protocol).
        estimator: ``"weight"``, ``"local"`` or ``"flipout"``.
        prior: a prior object or ``"gaussian"`` / ``"mixture"``.
        dataset_size: N, the number of training examples.
        noise: ``"learned"`` (σ_y a parameter, log σ_y starts at ``log(noise_init)``) or a
            fixed σ_y > 0.
        kl_weight: a :class:`~reparam.objectives.BetaSchedule` or a number.
        init_scale: the posterior standard deviation at initialization.
        noise_init: the starting σ_y when learned.

    Raises:
        ValueError: bad sizes, an unknown estimator / prior, a non-positive noise.

    Example:
        >>> model = BNNRegressor(3, dataset_size=100)
        >>> model(torch.randn(7, 3)).shape, model.noise_std.item() > 0
        (torch.Size([7]), True)
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (50,),
        *,
        estimator: str = "local",
        prior: Any = None,
        dataset_size: int,
        noise: str | float = "learned",
        kl_weight: BetaSchedule | float | None = None,
        init_scale: float = 1e-3,
        noise_init: float = 1.0,
    ) -> None:
        super().__init__()
        owner = "BNNRegressor"
        self.in_features = check_int(
            "in_features", in_features, owner=owner, sep="; ", integral=True
        )
        self.hidden = _hidden(owner, hidden)
        self.estimator = _choice(owner, "estimator", estimator, ESTIMATORS)
        self.prior = _resolve_prior(prior)
        self.dataset_size = check_int(
            "dataset_size", dataset_size, owner=owner, sep="; ", integral=True
        )
        self.kl_weight = _beta(kl_weight)
        self.init_scale = float(init_scale)
        if not (math.isfinite(noise_init) and noise_init > 0):
            raise ValueError(f"{owner}: noise_init must be > 0; got {noise_init!r}")
        self.noise_init = float(noise_init)
        self.noise: str | float
        if noise == "learned":
            self.noise = "learned"
            self.log_noise = nn.Parameter(torch.tensor(math.log(self.noise_init)))
        else:
            try:
                value = float(noise)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{owner}: noise must be 'learned' or a number > 0; got {noise!r}"
                ) from None
            if not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"{owner}: noise must be 'learned' or a number > 0; got {noise!r}"
                )
            self.noise = value
            self.register_buffer("log_noise", torch.tensor(math.log(value)))
        kw = _LayerKwargs(prior=self.prior, estimator=self.estimator, init_scale=self.init_scale)
        sizes = (self.in_features, *self.hidden)
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [BayesLinear(a, b, **kw), nn.ReLU()]
        layers.append(BayesLinear(sizes[-1], 1, **kw))
        self.net = nn.Sequential(*layers)

    @property
    def noise_std(self) -> Tensor:
        """σ_y, the standard deviation of the Gaussian noise."""
        return self.log_noise.exp()

    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-serializable dict (see :meth:`from_config`)."""
        return {
            "in_features": self.in_features,
            "hidden": list(self.hidden),
            "estimator": self.estimator,
            "dataset_size": self.dataset_size,
            "noise": self.noise,
            "kl_weight": self.kl_weight.beta,
            "warmup_steps": self.kl_weight.warmup_steps,
            "init_scale": self.init_scale,
            "noise_init": self.noise_init,
            **_prior_config(self.prior),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BNNRegressor:
        """Build a regressor from :attr:`config` (extra keys are ignored)."""
        return cls(
            config["in_features"],
            config["hidden"],
            estimator=config.get("estimator", "local"),
            prior=_prior_from_config(config),
            dataset_size=config["dataset_size"],
            noise=config.get("noise", "learned"),
            kl_weight=BetaSchedule(
                float(config.get("kl_weight", 1.0)), int(config.get("warmup_steps", 0))
            ),
            init_scale=float(config.get("init_scale", 1e-3)),
            noise_init=float(config.get("noise_init", 1.0)),
        )

    def pack(self, x: Tensor, y: Tensor) -> Tensor:
        """One float tensor (N, D + 1): inputs, then the target as the last column."""
        return torch.cat([x.reshape(len(x), -1).float(), y.reshape(-1, 1).float()], 1)

    def unpack(self, batch: Tensor) -> tuple[Tensor, Tensor]:
        """The inverse of :meth:`pack`: inputs (N, D) and targets (N,)."""
        return batch[:, :-1], batch[:, -1]

    def forward(self, x: Tensor) -> Tensor:
        """The regression function f_w(x), shape (N,), under one draw of the weights."""
        return self.net(x).squeeze(-1)

    def kl(self) -> Tensor:
        """KL(q(w) ‖ p(w)) summed over the layers."""
        return kl_divergence(self)

    def _loss(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        x, y = self.unpack(batch)
        mean = self(x)
        log_sigma = self.log_noise
        nll = (0.5 * ((y - mean) / log_sigma.exp()) ** 2 + log_sigma).mean() + 0.5 * math.log(
            2 * math.pi
        )
        kl = self.kl()
        loss = nll + self.kl_weight(step) * kl / self.dataset_size
        return {"loss": loss, "nll": nll.detach(), "kl": kl.detach(),
                "noise_std": log_sigma.detach().exp()}  # fmt: skip

    def training_step(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        """The minibatch loss: mean Gaussian NLL + β(step)·KL/N, with metrics."""
        return self._loss(batch, step)

    def validation_step(self, batch: Tensor) -> dict[str, Tensor]:
        """The same loss at the final KL weight, one weight draw."""
        return self._loss(batch, self.kl_weight.warmup_steps)

    @torch.no_grad()
    def predict_samples(self, x: Tensor, num_samples: int = 100) -> Tensor:
        """f_{w_s}(x) for S weight draws, shape (S, N)."""
        check_int("num_samples", num_samples, owner="predict_samples", sep="; ", integral=True)
        was_training = self.training
        self.eval()
        try:
            return torch.stack([self(x) for _ in range(num_samples)])
        finally:
            self.train(was_training)

    def evaluate(
        self, x: Tensor, y: Tensor, num_samples: int = 100, y_std: float = 1.0
    ) -> dict[str, float]:
        """RMSE and test log-likelihood of the S-sample predictive, in units of y × ``y_std``
        (pass the training target's std to report normalised targets in original units)."""
        means = self.predict_samples(x, num_samples)
        return regression_metrics(means, self.noise_std.detach(), y, y_std=y_std)
