"""Reparameterized distributions: every one exposes ε (``sample_noise``) and g (``from_noise``).

Three kinds of reparameterization (see DESIGN.md): explicit (closed-form g), implicit
(gradients through a standardizing function) and relaxed (continuous relaxations of
discrete variables). All subclass :class:`torch.distributions.Distribution`.
"""

# Importing gaussian_kl, then kl, registers the KL divergences (the Gaussian ones first).
from . import gaussian_kl, kl, kl_matrix, kl_sphere  # noqa: F401
from .asymmetric_laplace import AsymmetricLaplace
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
from .folded import FoldedDistribution
from .gamma import Chi2, Gamma
from .generalized_extreme_value import GeneralizedExtremeValue
from .generalized_normal import GeneralizedNormal
from .generalized_pareto import GeneralizedPareto
from .gumbel import Gumbel
from .half_cauchy import HalfCauchy
from .half_normal import HalfNormal
from .horseshoe import Horseshoe
from .implicit import ImplicitReparamDistribution, ImplicitReparameterized
from .independent import Independent
from .inverse_gamma import InverseGamma
from .johnson_su import JohnsonSU
from .kumaraswamy import Kumaraswamy
from .laplace import Laplace
from .lkj_cholesky import LKJCholesky
from .log_normal import LogNormal
from .logistic import Logistic
from .logistic_normal import LogisticNormal
from .logit_normal import LogitNormal
from .lowrank_multivariate_normal import LowRankMultivariateNormal
from .mixture import MixtureSameFamily
from .moyal import Moyal
from .multivariate_normal import MultivariateNormal
from .multivariate_student_t import MultivariateStudentT
from .normal import Normal
from .one_hot_categorical_straight_through import OneHotCategoricalStraightThrough
from .pareto import Pareto
from .pert import PERT
from .power_spherical import PowerSpherical
from .projected_normal import ProjectedNormal
from .rejection import RejectionReparameterized
from .relaxed import RelaxedBernoulli, RelaxedOneHotCategorical
from .sinh_arcsinh import SinhArcsinh
from .soft_laplace import SoftLaplace
from .spherical_uniform import SphericalUniform
from .stable import Stable
from .standard import NoiseBase, StandardNormal, StandardUniform
from .student_t import StudentT
from .transformed import TransformedDistribution
from .triangular import Triangular
from .truncated_normal import TruncatedNormal
from .two_piece_normal import TwoPieceNormal
from .uniform import Uniform
from .von_mises import VonMises
from .von_mises_fisher import VonMisesFisher
from .weibull import Weibull
from .wishart import Wishart
from .wrapped import SeedNoise, WrappedRSample, wrap

__all__ = [
    "AsymmetricLaplace",
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
    "FoldedDistribution",
    "Gamma",
    "GeneralizedExtremeValue",
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
    "JohnsonSU",
    "Kumaraswamy",
    "LKJCholesky",
    "Laplace",
    "LogNormal",
    "Logistic",
    "LogisticNormal",
    "LogitNormal",
    "LowRankMultivariateNormal",
    "MixtureSameFamily",
    "Moyal",
    "MultivariateNormal",
    "MultivariateStudentT",
    "NoiseBase",
    "Normal",
    "OneHotCategoricalStraightThrough",
    "PERT",
    "Pareto",
    "PowerSpherical",
    "ProjectedNormal",
    "RejectionReparameterized",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "ReparamDistribution",
    "Reparameterized",
    "SeedNoise",
    "SinhArcsinh",
    "SoftLaplace",
    "SphericalUniform",
    "Stable",
    "StandardNormal",
    "StandardUniform",
    "StudentT",
    "TransformedDistribution",
    "Triangular",
    "TruncatedNormal",
    "TwoPieceNormal",
    "Uniform",
    "VonMises",
    "VonMisesFisher",
    "Weibull",
    "Wishart",
    "WrappedRSample",
    "detach_params",
    "reparameterize",
    "wrap",
]
