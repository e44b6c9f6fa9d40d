"""Bayesian neural network layers: mean-field Gaussian posteriors over weights.

- :mod:`~reparam.nn.priors` — :class:`GaussianPrior`, :class:`ScaleMixturePrior`
  (Blundell et al. 2015).
- :mod:`~reparam.nn.layers` — :class:`BayesLinear`, :class:`BayesConv1d`,
  :class:`BayesConv2d` with the ``"weight"`` (Bayes by Backprop), ``"local"`` (local
  reparameterization) and ``"flipout"`` estimators; :func:`kl_divergence` of a model;
  the :func:`deterministic` context (posterior means).
- :mod:`~reparam.nn.convert` — :func:`bayesianize` an ordinary network.
- :mod:`~reparam.nn.predictive` — Monte Carlo predictive: mean, entropy and its
  aleatoric / epistemic split; Gaussian mean and variance for regression.

Import it as ``import reparam.nn`` (it is not re-exported by ``reparam``, to keep it
apart from ``torch.nn``).
"""

from .convert import SUPPORTED, bayesianize
from .layers import (
    ESTIMATORS,
    BayesConv1d,
    BayesConv2d,
    BayesLayer,
    BayesLinear,
    deterministic,
    kl_divergence,
    softplus_inverse,
)
from .predictive import GaussianPredictive, Predictive, gaussian_predictive, predictive
from .priors import GaussianPrior, Prior, ScaleMixturePrior

__all__ = [
    "ESTIMATORS",
    "SUPPORTED",
    "BayesConv1d",
    "BayesConv2d",
    "BayesLayer",
    "BayesLinear",
    "GaussianPredictive",
    "GaussianPrior",
    "Predictive",
    "Prior",
    "ScaleMixturePrior",
    "bayesianize",
    "deterministic",
    "gaussian_predictive",
    "kl_divergence",
    "predictive",
    "softplus_inverse",
]
