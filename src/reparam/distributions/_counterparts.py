"""The one table of same-named families: a torch class name → its constructor arguments.

The reparam family and the torch family of one name take these arguments under the same
names and expose them as attributes under those names, so either is rebuilt from the
other's tensors (gradients reach them): :func:`~reparam.distributions.wrap` goes from
torch to reparam, :mod:`~reparam.distributions.kl` from reparam to torch.
"""

from __future__ import annotations

__all__ = ["TORCH_ARGUMENTS"]

# torch class name → the attributes holding the arguments of the reparam family of the
# same name (an attribute may differ from what the user passed: MultivariateNormal built
# from a covariance exposes its Cholesky factor as ``scale_tril``).
TORCH_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "Normal": ("loc", "scale"),
    "LogNormal": ("loc", "scale"),
    "Laplace": ("loc", "scale"),
    "Logistic": ("loc", "scale"),
    "Cauchy": ("loc", "scale"),
    "Gumbel": ("loc", "scale"),
    "Exponential": ("rate",),
    "Uniform": ("low", "high"),
    "Weibull": ("scale", "concentration"),
    "HalfNormal": ("scale",),
    "HalfCauchy": ("scale",),
    "Pareto": ("scale", "alpha"),
    "GeneralizedPareto": ("loc", "scale", "concentration"),
    "ContinuousBernoulli": ("logits",),
    "Kumaraswamy": ("concentration1", "concentration0"),
    "MultivariateNormal": ("loc", "scale_tril"),
    "Wishart": ("df", "scale_tril"),
    "LKJCholesky": ("dim", "concentration"),
    "LowRankMultivariateNormal": ("loc", "cov_factor", "cov_diag"),
    "Gamma": ("concentration", "rate"),
    "Chi2": ("df",),
    "InverseGamma": ("concentration", "rate"),
    "LogisticNormal": ("loc", "scale"),
    "FisherSnedecor": ("df1", "df2"),
    "Beta": ("concentration1", "concentration0"),
    "Dirichlet": ("concentration",),
    "StudentT": ("df", "loc", "scale"),
    "VonMises": ("loc", "concentration"),
    "RelaxedBernoulli": ("temperature", "logits"),
    "RelaxedOneHotCategorical": ("temperature", "logits"),
    "OneHotCategoricalStraightThrough": ("logits",),
    "MixtureSameFamily": ("mixture_distribution", "component_distribution"),
}
