"""Reparameterized distributions: every one exposes ε (``sample_noise``) and g (``from_noise``).

Three kinds of reparameterization (see DESIGN.md): explicit (closed-form g), implicit
(gradients through a standardizing function) and relaxed (continuous relaxations of
discrete variables). All subclass :class:`torch.distributions.Distribution`.
"""

# Importing gaussian_kl, then kl, registers the KL divergences (the Gaussian ones first).
from . import gaussian_kl, kl  # noqa: F401
from .base import ReparamDistribution
from .beta import Beta
from .cauchy import Cauchy
from .chi import Chi
from .continuous_bernoulli import ContinuousBernoulli
from .declared import Reparameterized, reparameterize
from .detach import detach_params
from .diagonal_normal import DiagonalNormal
from .dirichlet import Dirichlet
from .discrete import Bernoulli, Categorical
from .exponential import Exponential
from .fisher_snedecor import FisherSnedecor
from .gamma import Chi2, Gamma
from .generalized_normal import GeneralizedNormal
from .generalized_pareto import GeneralizedPareto
from .gumbel import Gumbel
from .half_cauchy import HalfCauchy
from .half_normal import HalfNormal
from .horseshoe import Horseshoe
from .implicit import ImplicitReparamDistribution, ImplicitReparameterized
from .independent import Independent
from .inverse_gamma import InverseGamma
from .kumaraswamy import Kumaraswamy
from .laplace import Laplace
from .log_normal import LogNormal
from .logistic import Logistic
from .logistic_normal import LogisticNormal
from .lowrank_multivariate_normal import LowRankMultivariateNormal
from .mixture import MixtureSameFamily
from .multivariate_normal import MultivariateNormal
from .normal import Normal
from .pareto import Pareto
from .pert import PERT
from .relaxed import RelaxedBernoulli, RelaxedOneHotCategorical
from .stable import Stable
from .standard import NoiseBase, StandardNormal, StandardUniform
from .student_t import StudentT
from .transformed import TransformedDistribution
from .truncated_normal import TruncatedNormal
from .uniform import Uniform
from .von_mises import VonMises
from .weibull import Weibull
from .wrapped import SeedNoise, WrappedRSample, wrap

__all__ = [
    "Bernoulli",
    "Beta",
    "Categorical",
    "Cauchy",
    "Chi",
    "Chi2",
    "ContinuousBernoulli",
    "DiagonalNormal",
    "Dirichlet",
    "Exponential",
    "FisherSnedecor",
    "Gamma",
    "GeneralizedNormal",
    "GeneralizedPareto",
    "Gumbel",
    "HalfCauchy",
    "HalfNormal",
    "Horseshoe",
    "ImplicitReparamDistribution",
    "ImplicitReparameterized",
    "Independent",
    "InverseGamma",
    "Kumaraswamy",
    "Laplace",
    "LogNormal",
    "Logistic",
    "LogisticNormal",
    "LowRankMultivariateNormal",
    "MixtureSameFamily",
    "MultivariateNormal",
    "NoiseBase",
    "Normal",
    "PERT",
    "Pareto",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "ReparamDistribution",
    "Reparameterized",
    "SeedNoise",
    "Stable",
    "StandardNormal",
    "StandardUniform",
    "StudentT",
    "TransformedDistribution",
    "TruncatedNormal",
    "Uniform",
    "VonMises",
    "Weibull",
    "WrappedRSample",
    "detach_params",
    "reparameterize",
    "wrap",
]
