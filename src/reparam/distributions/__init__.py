"""Reparameterized distributions: every one exposes ε (``sample_noise``) and g (``from_noise``).

Three kinds of reparameterization (see DESIGN.md): explicit (closed-form g), implicit
(gradients through a standardizing function) and relaxed (continuous relaxations of
discrete variables). All subclass :class:`torch.distributions.Distribution`.
"""

from . import gaussian_kl  # noqa: F401  (registers the Gaussian KLs)
from .base import ReparamDistribution
from .cauchy import Cauchy
from .declared import Reparameterized, reparameterize
from .diagonal_normal import DiagonalNormal
from .exponential import Exponential
from .gumbel import Gumbel
from .half_normal import HalfNormal
from .implicit import ImplicitReparamDistribution, ImplicitReparameterized
from .independent import Independent
from .kumaraswamy import Kumaraswamy
from .laplace import Laplace
from .log_normal import LogNormal
from .logistic import Logistic
from .lowrank_multivariate_normal import LowRankMultivariateNormal
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .standard import NoiseBase, StandardNormal, StandardUniform
from .transformed import TransformedDistribution
from .uniform import Uniform
from .weibull import Weibull
from .wrapped import SeedNoise, WrappedRSample, wrap

__all__ = [
    "Cauchy",
    "DiagonalNormal",
    "Exponential",
    "Gumbel",
    "HalfNormal",
    "ImplicitReparamDistribution",
    "ImplicitReparameterized",
    "Independent",
    "Kumaraswamy",
    "Laplace",
    "LogNormal",
    "Logistic",
    "LowRankMultivariateNormal",
    "MultivariateNormal",
    "NoiseBase",
    "Normal",
    "ReparamDistribution",
    "Reparameterized",
    "SeedNoise",
    "StandardNormal",
    "StandardUniform",
    "TransformedDistribution",
    "Uniform",
    "Weibull",
    "WrappedRSample",
    "reparameterize",
    "wrap",
]
