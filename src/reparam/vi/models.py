r"""Example models for black-box VI: unnormalized log joints on an unconstrained space.

Every builder returns a :class:`Model` whose ``log_joint`` maps unconstrained draws
z with shape (S, d) to log p(x, θ(z)) + log|det ∂θ/∂z| with shape (S,), the target of
:func:`reparam.vi.fit`. The constrained parameters θ are named blocks of a
:class:`~reparam.vi.layout.Layout`; ``log_density`` is the same log joint on θ (a dict
of tensors with a leading sample dimension S), without the Jacobian.

- :func:`linear_regression`: Bayesian linear regression with known noise, conjugate, so
  the posterior N(m, Σ) and the evidence p(y) are exact (Bishop 2006, §3.3).
- :func:`logistic_regression`: Bayesian logistic regression on scikit-learn's bundled
  Wisconsin breast-cancer data (569 × 30, standardized, plus an intercept).
- :func:`eight_schools`: the hierarchical eight-schools model (Rubin 1981; Gelman et al.,
  *Bayesian Data Analysis*, §5.5), centred or non-centred (Papaspiliopoulos, Roberts &
  Sköld 2007).
- :func:`funnel`: Neal's funnel (Neal 2003, "Slice sampling", §8), a normalized density
  with known moments and log p(x) = 0.
- :func:`target`: the unnormalized 2-D targets of :mod:`reparam.vi.targets` (banana,
  rings, u1–u4 of Rezende & Mohamed 2015; the funnel is ``funnel(d=2)``), with log Z.

``exact`` (when known) holds ``"mean"`` (n,) and ``"cov"`` (n, n) of the posterior of the
flat constrained parameters (``layout.flat_names()`` order), ``"gaussian"`` (whether the
posterior is exactly N(mean, cov)) and ``"log_evidence"`` (log p(x)); for the linear
model also ``"meanfield_var"`` (n,), the variances 1 / diag(Σ⁻¹) of the optimal
mean-field Gaussian (the KL(q‖p) optimum, Bishop 2006 §10.1.2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from .._checks import check_int
from .layout import Layout
from .targets import (
    TARGETS,
    funnel_log_prob,
    moments_2d,
    target_bounds,
    target_log_normalizer,
    target_log_prob,
)

__all__ = [
    "EIGHT_SCHOOLS_SIGMA",
    "EIGHT_SCHOOLS_Y",
    "MODELS",
    "Model",
    "eight_schools",
    "funnel",
    "get_model",
    "linear_regression",
    "logistic_regression",
    "target",
]

LogDensity = Callable[[dict[str, Tensor]], Tensor]

#: the eight schools' estimated coaching effects and their standard errors (Rubin 1981).
EIGHT_SCHOOLS_Y = (28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0)
EIGHT_SCHOOLS_SIGMA = (15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0)

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class Model:
    """A model for :func:`reparam.vi.fit`.

    Attributes:
        name: the model's name (a key of :data:`MODELS` for the shipped ones).
        layout: the named, constrained parameter blocks; ``layout.dim`` is d.
        log_joint: unconstrained z (S, d) ↦ log p(x, θ(z)) + log|det ∂θ/∂z|, shape (S,).
        description: one line for humans.
        log_density: constrained θ (dict of (S, *shape) tensors) ↦ log p(x, θ), shape (S,).
        exact: the exact posterior's moments when known (see the module docstring).
        data: the observed data and fixed quantities (tensors and numbers).
    """

    name: str
    layout: Layout
    log_joint: Callable[[Tensor], Tensor]
    description: str
    log_density: LogDensity | None = None
    exact: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """d, the dimension of the unconstrained space."""
        return self.layout.dim


def _model(
    name: str,
    layout: Layout,
    log_density: LogDensity,
    description: str,
    exact: dict[str, Any] | None = None,
    data: dict[str, Any] | None = None,
) -> Model:
    return Model(
        name=name,
        layout=layout,
        log_joint=layout.log_joint_from(log_density),
        description=description,
        log_density=log_density,
        exact=exact,
        data=data or {},
    )


def _normal_log_prob(x: Tensor, loc: Tensor | float, scale: Tensor | float) -> Tensor:
    """log N(x; loc, scale²) elementwise."""
    scale = torch.as_tensor(scale, dtype=x.dtype)
    return -0.5 * ((x - loc) / scale) ** 2 - torch.log(scale) - _HALF_LOG_2PI


def _check_positive(what: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{what} must be a finite number > 0, got {value!r}")


# --------------------------------------------------------------------------- linear
def linear_regression(
    n: int = 100, d: int = 5, noise: float = 0.5, prior_scale: float = 1.0, seed: int = 0
) -> Model:
    r"""Bayesian linear regression with known noise (conjugate: the posterior is exact).

    .. math::
        w \sim \mathcal N(0, s^2 I_d), \qquad y \mid X, w \sim \mathcal N(Xw, \sigma^2 I_n),

    with X (n, d) i.i.d. N(0, 1) and y drawn from a w of the prior (``seed``). The
    posterior is N(m, Σ) with precision Σ⁻¹ = I/s² + XᵀX/σ² and m = Σ Xᵀy/σ²; the
    evidence is y ~ N(0, σ²I + s² XXᵀ) (Bishop 2006, §3.3 and eq. 3.86). The optimal
    mean-field Gaussian has the exact means and variances 1/diag(Σ⁻¹) (Bishop 2006,
    §10.1.2).

    Args:
        n: number of observations (>= 1).
        d: number of weights (>= 1); the layout is one real block ``w`` of d entries.
        noise: σ > 0, the known observation noise.
        prior_scale: s > 0.
        seed: the seed of the design, the true weights and the noise.
    """
    check_int("n", n)
    check_int("d", d)
    _check_positive("noise", noise)
    _check_positive("prior_scale", prior_scale)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w_true = prior_scale * torch.randn(d, generator=g, dtype=torch.float64)
    y = x @ w_true + noise * torch.randn(n, generator=g, dtype=torch.float64)

    precision = torch.eye(d, dtype=torch.float64) / prior_scale**2 + x.T @ x / noise**2
    cov = torch.linalg.inv(precision)
    cov = 0.5 * (cov + cov.T)
    mean = cov @ (x.T @ y) / noise**2
    marginal = noise**2 * torch.eye(n, dtype=torch.float64) + prior_scale**2 * x @ x.T
    log_evidence = torch.distributions.MultivariateNormal(
        torch.zeros(n, dtype=torch.float64), covariance_matrix=marginal
    ).log_prob(y)

    def log_density(params: dict[str, Tensor]) -> Tensor:
        w = params["w"]  # (S, d)
        xs, ys = x.to(w.dtype), y.to(w.dtype)
        prior = _normal_log_prob(w, 0.0, prior_scale).sum(-1)
        lik = _normal_log_prob(ys, w @ xs.T, noise).sum(-1)  # (S, n) → (S,)
        return prior + lik

    exact = {
        "mean": mean,
        "cov": cov,
        "gaussian": True,
        "log_evidence": log_evidence.item(),
        "meanfield_var": 1.0 / torch.diagonal(precision),
    }
    data = {"x": x, "y": y, "w_true": w_true, "noise": noise, "prior_scale": prior_scale}
    description = (
        f"Bayesian linear regression, n={n}, d={d}, noise σ={noise:g}, prior N(0, "
        f"{prior_scale:g}²) (conjugate: exact posterior)"
    )
    return _model("linear", Layout({"w": (d, "real")}), log_density, description, exact, data)


# --------------------------------------------------------------------------- logistic
def logistic_regression(prior_scale: float = 1.0) -> Model:
    r"""Bayesian logistic regression on scikit-learn's breast-cancer data.

    .. math::
        \alpha \sim \mathcal N(0, s^2), \quad \beta_j \sim \mathcal N(0, s^2), \qquad
        y_i \sim \mathrm{Bernoulli}(\operatorname{sigmoid}(\alpha + x_i^\top\beta)),

    with the 30 features of ``sklearn.datasets.load_breast_cancer`` (569 tumours, y = 1
    benign) standardized to mean 0 and standard deviation 1. The data are nearly
    separable, so the prior scale (default 1) keeps the posterior proper and compact.
    Layout: ``alpha`` (scalar) and ``beta`` (30), d = 31.

    Args:
        prior_scale: s > 0.
    """
    _check_positive("prior_scale", prior_scale)
    from sklearn.datasets import load_breast_cancer

    raw = load_breast_cancer()
    x = torch.as_tensor(raw.data, dtype=torch.float64)
    x = (x - x.mean(0)) / x.std(0)
    y = torch.as_tensor(raw.target, dtype=torch.float64)
    p = x.shape[1]

    def log_density(params: dict[str, Tensor]) -> Tensor:
        alpha, beta = params["alpha"], params["beta"]  # (S,), (S, p)
        xs, ys = x.to(beta.dtype), y.to(beta.dtype)
        logits = alpha.unsqueeze(-1) + beta @ xs.T  # (S, n)
        # log Bernoulli(y; sigmoid(l)) = y·l − softplus(l)
        lik = (ys * logits - torch.nn.functional.softplus(logits)).sum(-1)
        prior = _normal_log_prob(alpha, 0.0, prior_scale) + _normal_log_prob(
            beta, 0.0, prior_scale
        ).sum(-1)
        return prior + lik

    layout = Layout({"alpha": ((), "real"), "beta": (p, "real")})
    description = (
        f"Bayesian logistic regression, breast cancer (n={len(y)}, {p} standardized "
        f"features + intercept), prior N(0, {prior_scale:g}²)"
    )
    data = {"x": x, "y": y, "feature_names": list(raw.feature_names), "prior_scale": prior_scale}
    return _model("logistic", layout, log_density, description, None, data)


# --------------------------------------------------------------------------- eight schools
def _half_cauchy_log_prob(x: Tensor, scale: float) -> Tensor:
    """log HalfCauchy(x; scale) for x > 0: log 2 − log(π s) − log(1 + (x/s)²)."""
    return math.log(2 / (math.pi * scale)) - torch.log1p((x / scale) ** 2)


def eight_schools(centered: bool = True) -> Model:
    r"""The eight-schools hierarchical model, centred or non-centred.

    .. math::
        \mu \sim \mathcal N(0, 5^2), \quad \tau \sim \mathrm{HalfCauchy}(5), \quad
        \theta_j \sim \mathcal N(\mu, \tau^2), \quad y_j \sim \mathcal N(\theta_j, \sigma_j^2)

    for the J = 8 schools of :data:`EIGHT_SCHOOLS_Y` / :data:`EIGHT_SCHOOLS_SIGMA`.
    Centred: parameters ``mu``, ``tau`` (positive: τ = exp(z)) and ``theta`` (8).
    Non-centred: ``mu``, ``tau`` and ``eta`` (8) with η_j ~ N(0, 1) and θ_j = μ + τ η_j,
    which removes the funnel between τ and θ (Papaspiliopoulos et al. 2007). The two
    log joints differ by the Jacobian of θ = μ + τη:
    log p_c(μ, τ, μ + τη) = log p_nc(μ, τ, η) − J log τ. d = 10 in both.
    """
    y = torch.tensor(EIGHT_SCHOOLS_Y, dtype=torch.float64)
    sigma = torch.tensor(EIGHT_SCHOOLS_SIGMA, dtype=torch.float64)
    local = "theta" if centered else "eta"

    def log_density(params: dict[str, Tensor]) -> Tensor:
        mu, tau, u = params["mu"], params["tau"], params[local]  # (S,), (S,), (S, 8)
        ys, ss = y.to(u.dtype), sigma.to(u.dtype)
        mu1, tau1 = mu.unsqueeze(-1), tau.unsqueeze(-1)
        if centered:
            theta = u
            prior_local = _normal_log_prob(theta, mu1, tau1).sum(-1)
        else:
            theta = mu1 + tau1 * u
            prior_local = _normal_log_prob(u, 0.0, 1.0).sum(-1)
        lik = _normal_log_prob(ys, theta, ss).sum(-1)
        return _normal_log_prob(mu, 0.0, 5.0) + _half_cauchy_log_prob(tau, 5.0) + prior_local + lik

    layout = Layout({"mu": ((), "real"), "tau": ((), "positive"), local: (len(y), "real")})
    kind = "centred" if centered else "non-centred"
    description = f"eight schools ({kind}): mu ~ N(0, 5²), tau ~ HalfCauchy(5), J = 8"
    data = {"y": y, "sigma": sigma, "centered": centered}
    name = "eight-schools" if centered else "eight-schools-nc"
    return _model(name, layout, log_density, description, None, data)


# --------------------------------------------------------------------------- funnel
def funnel(d: int = 10) -> Model:
    r"""Neal's funnel in d dimensions: v and d − 1 coordinates x whose scale is e^{v/2}.

    .. math:: v \sim \mathcal N(0, 3^2), \qquad x_i \mid v \sim \mathcal N(0, e^{v})
        \quad (i = 1, \dots, d - 1)

    (Neal 2003, §8). The density is normalized (log p(x) = 0) and its moments are known:
    E = 0, Var v = 9, Var x_i = E[e^v] = e^{9/2}, all covariances 0, but it is far from
    Gaussian: a mean-field Gaussian fit concentrates in the funnel's wide mouth or neck
    and its importance weights have heavy tails (large k̂). Layout: ``v`` (scalar) and
    ``x`` (d − 1).

    Args:
        d: the total dimension (>= 2).
    """
    check_int("d", d, 2)

    def log_density(params: dict[str, Tensor]) -> Tensor:
        return funnel_log_prob(params["v"], params["x"])  # (S,), (S, d − 1) → (S,)

    var = torch.full((d,), math.exp(4.5), dtype=torch.float64)
    var[0] = 9.0
    exact = {
        "mean": torch.zeros(d, dtype=torch.float64),
        "cov": torch.diag(var),
        "gaussian": False,
        "log_evidence": 0.0,
    }
    layout = Layout({"v": ((), "real"), "x": (d - 1, "real")})
    description = f"Neal's funnel, d={d}: v ~ N(0, 3²), x_i ~ N(0, e^v) (normalized)"
    return _model("funnel", layout, log_density, description, exact, {"d": d})


# --------------------------------------------------------------------------- 2-D targets
def target(name: str, n: int = 1000) -> Model:
    r"""The 2-D target ``name`` of :data:`reparam.vi.targets.TARGETS` as a model on z ∈ R².

    Layout: one real block ``z`` of 2 entries (no Jacobian). ``exact`` holds
    ``"log_evidence"`` = log Z (closed form for banana, quadrature on an n × n grid over
    :func:`~reparam.vi.targets.target_bounds` otherwise) and the ``"mean"`` / ``"cov"`` by
    the same quadrature. The funnel is :func:`funnel` with d = 2 (exact moments).

    Args:
        name: ``banana``, ``funnel``, ``rings``, ``u1``, ``u2``, ``u3`` or ``u4``.
        n: quadrature points per axis (>= 2).
    """
    if name == "funnel":
        return funnel(d=2)
    log_p, box = target_log_prob(name), target_bounds(name)
    log_z = target_log_normalizer(name)
    quadrature, mean, cov = moments_2d(log_p, box, n)
    exact = {
        "mean": mean,
        "cov": cov,
        "gaussian": False,
        "log_evidence": quadrature if log_z is None else log_z,
    }
    description = f"2-D target {name!r} (unnormalized; log Z = {exact['log_evidence']:.4f})"
    layout = Layout({"z": (2, "real")})
    return _model(name, layout, lambda params: log_p(params["z"]), description, exact, {})


#: the shipped models by name (builders called with their defaults by :func:`get_model`).
MODELS: dict[str, Callable[..., Model]] = {
    "linear": linear_regression,
    "logistic": logistic_regression,
    "eight-schools": lambda: eight_schools(centered=True),
    "eight-schools-nc": lambda: eight_schools(centered=False),
    "funnel": funnel,
    **{name: (lambda name=name, **kw: target(name, **kw)) for name in TARGETS if name != "funnel"},
}


def get_model(name: str, **kwargs: Any) -> Model:
    """Build the model ``name`` of :data:`MODELS`, passing ``kwargs`` to its builder.

    Raises:
        ValueError: an unknown name.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)}")
    return MODELS[name](**kwargs)
