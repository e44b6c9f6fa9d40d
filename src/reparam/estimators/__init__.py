r"""Gradient estimators of ∇θ E_q[f(z)], each written as a surrogate objective.

An estimator turns the expectation E_{q(z; θ)}[f(z)] into a tensor whose *value* is the
Monte Carlo estimate (1/N) Σ_i f(z_i) and whose ``.backward()`` yields the estimator's
gradient. Two estimators are provided (Mohamed, Rosca, Figurnov & Mnih 2020):

- **pathwise** (reparameterization): z_i = g(ε_i, θ), ε_i ~ p(ε),

  .. math:: \hat g = \frac1N \sum_i \nabla_\theta f(g(\varepsilon_i, \theta));

- **score function** (REINFORCE, likelihood ratio): z_i ~ q, no gradient through z,

  .. math:: \hat g = \frac1N \sum_i \bigl(f(z_i) - b_i\bigr)\,\nabla_\theta \log q(z_i;\theta),

  with an optional baseline b_i that does not depend on z_i (so E[b_i ∇ log q(z_i)] = 0
  and the estimator stays unbiased): leave-one-out (``"loo"``) or a running mean.

The pathwise estimator takes three variance-reduction options, each unbiased:

- ``noise=``: how ε is drawn (``"mc"``, ``"antithetic"``, ``"qmc"``; :mod:`reparam.noise`);
- ``control_variate=``: a Taylor expansion c of f around z̄ = sg(E_q[z]) whose
  expectation E_q[c] is known in closed form (Miller et al. 2017),

  .. math::
      \hat g = \frac1N \sum_i \nabla_\theta\bigl[f(z_i) - c(z_i)\bigr]
      + \nabla_\theta \mathbb E_q[c],
      \quad c(z) = g^\top (z - \bar z) + \tfrac12 (z - \bar z)^\top H (z - \bar z),

  with g = ∇f(z̄), H = ∇²f(z̄) held constant (``"linear"`` drops the H term), and
  E_q[c] = gᵀ(m(θ) − z̄) + ½ tr(H Σ(θ)) + ½ (m − z̄)ᵀH(m − z̄), m = E_q[z], Σ = Cov_q[z];
- ``entropy=``: the target becomes E_q[f(z)] + H[q] = E_q[f(z) − log q(z)] (the ELBO
  when f = log p(x, z)), with −log q(z) from the noise (``"mc"``), in closed form
  (``"analytic"``) or with q's parameters stopped in log q (``"stl"``, sticking the
  landing: the score term ∇θ log q(z)|_z, of mean zero, is dropped; Roeder et al. 2017).

References:
    Williams, "Simple statistical gradient-following algorithms for connectionist
    reinforcement learning", Machine Learning 8, 1992.
    Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.
    Kool, van Hoof & Welling, "Buy 4 REINFORCE samples, get a baseline for free!",
    ICLR workshop 2019.
    Mohamed, Rosca, Figurnov & Mnih, "Monte Carlo Gradient Estimation in Machine
    Learning", JMLR 2020, arXiv:1906.10652.
    Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient Variance",
    NeurIPS 2017, arXiv:1705.07880.
    Roeder, Wu & Duvenaud, "Sticking the Landing: Simple, Lower-Variance Gradient
    Estimators for Variational Inference", NeurIPS 2017, arXiv:1703.09194.
"""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from ..distributions import detach_params
from ..noise import NoiseStrategy
from .base import _ESTIMATORS, Estimator, Function, estimator_names, register_estimator
from .control_variates import (
    QUADRATIC_MAX_DIM,
    ControlVariate,
    TaylorControlVariate,
    control_variate_names,
)
from .pathwise import ENTROPY_MODES, Pathwise, pathwise_draw
from .rejection import RejectionCorrected
from .score import Baseline, LeaveOneOut, RunningMean, ScoreFunction

__all__ = [
    "ENTROPY_MODES",
    "QUADRATIC_MAX_DIM",
    "Baseline",
    "ControlVariate",
    "Estimator",
    "LeaveOneOut",
    "Pathwise",
    "RejectionCorrected",
    "RunningMean",
    "ScoreFunction",
    "TaylorControlVariate",
    "control_variate_names",
    "detach_params",
    "estimator_names",
    "expectation",
    "get_estimator",
    "pathwise_draw",
    "register_estimator",
]


def get_estimator(
    estimator: str | Estimator,
    *,
    baseline: str | Baseline | None = None,
    noise: str | NoiseStrategy | None = None,
    control_variate: str | ControlVariate | None = None,
    entropy: str | None = None,
) -> Estimator:
    """Resolve a name (with its options) or pass an instance through.

    ``baseline`` applies to ``"score"`` and ``"rejection"``; ``noise``,
    ``control_variate`` and ``entropy`` to ``"pathwise"`` (``noise="mc"`` is accepted by
    all: it is what the score function draws; other strategies would break the
    independence its baselines rely on).

    Raises:
        ValueError: an unknown name, or an option given where it does not apply (with
            an instance: configure the instance instead).
        TypeError: ``estimator`` is neither a string nor an :class:`Estimator`.
    """
    options = {
        "baseline": baseline,
        "noise": noise,
        "control_variate": control_variate,
        "entropy": entropy,
    }
    given = {k: v for k, v in options.items() if v is not None}
    if isinstance(estimator, Estimator):
        if given:
            raise ValueError(
                f"{', '.join(f'{k}=' for k in given)} applies only with an estimator name; "
                "configure the instance instead, e.g. ScoreFunction(baseline=...) or "
                "Pathwise(noise=...)"
            )
        return estimator
    if not isinstance(estimator, str):
        raise TypeError(
            f"estimator must be a name or an Estimator, got {type(estimator).__name__}"
        )
    if estimator not in _ESTIMATORS:
        raise ValueError(
            f"unknown estimator {estimator!r}; valid names: {', '.join(estimator_names())}"
        )
    cls = _ESTIMATORS[estimator]
    if cls in (ScoreFunction, RejectionCorrected) and given.get("noise") == "mc":
        del given["noise"]
    allowed = {
        ScoreFunction: {"baseline"},
        RejectionCorrected: {"baseline"},
        Pathwise: {"noise", "control_variate", "entropy"},
    }
    wrong = sorted(set(given) - allowed.get(cls, set()))
    if wrong:
        raise ValueError(
            f"{', '.join(f'{k}={given[k]!r}' for k in wrong)} does not apply to the "
            f"{estimator!r} estimator"
        )
    return cls(**given)


def expectation(
    f: Function,
    q: Distribution,
    num_samples: int = 1,
    estimator: str | Estimator = "pathwise",
    *,
    baseline: str | Baseline | None = None,
    noise: str | NoiseStrategy | None = None,
    control_variate: str | ControlVariate | None = None,
    entropy: str | None = None,
) -> Tensor:
    r"""Surrogate of E_q[f(z)]: its value is the Monte Carlo mean, its gradient the estimator.

    .. math:: \mathbb E_{q(z;\theta)}[f(z)] \approx \frac1N \sum_{i=1}^N f(z_i)

    Args:
        f: maps samples with shape ``(N, *batch_shape, *event_shape)`` to values with
            shape ``(N, *S)``.
        q: the distribution (a :class:`torch.distributions.Distribution`).
        num_samples: N ≥ 1.
        estimator: ``"pathwise"``, ``"score"``, ``"rejection"`` (a
            :class:`~reparam.distributions.RejectionReparameterized` q) or an
            :class:`Estimator` instance.
        baseline: for ``"score"`` and ``"rejection"``: None, ``"loo"`` or a :class:`Baseline`
            (pass a :class:`RunningMean` instance and keep it, so its state persists).
        noise: for ``estimator="pathwise"``: how ε is drawn, ``"mc"`` (default),
            ``"antithetic"``, ``"qmc"`` or a :class:`~reparam.noise.NoiseStrategy`.
            The score function takes only ``"mc"``.
        control_variate: for ``"pathwise"``: None, ``"linear"`` or ``"quadratic"``
            (see :class:`TaylorControlVariate`).
        entropy: for ``"pathwise"``: None, or estimate E_q[f(z)] + H[q] with
            ``"mc"``, ``"analytic"`` or ``"stl"`` (see :class:`Pathwise`).

    Returns:
        a tensor with shape ``S`` (a scalar when f returns shape ``(N,)``).

    Raises:
        TypeError: f is not callable, or q is not a Distribution.
        ValueError: bad ``num_samples``, an unknown estimator or baseline, f returning
            something other than a floating tensor with leading dimension N, or an
            estimator that q does not support (pathwise without rsample, score without
            log_prob), an option given to the wrong estimator, or one that does not
            apply to q (see :class:`Pathwise`).

    Example:
        >>> import torch
        >>> from reparam import Normal
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> value = expectation(lambda z: z**2, Normal(loc, 2.0), num_samples=100)
        >>> value.backward()  # loc.grad ≈ 2 μ = 2
        >>> value = expectation(lambda z: z**2, Normal(loc, 2.0), 64, noise="qmc")
    """
    est = get_estimator(
        estimator,
        baseline=baseline,
        noise=noise,
        control_variate=control_variate,
        entropy=entropy,
    )
    return est(f, q, num_samples)
