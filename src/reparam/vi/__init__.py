"""Black-box variational inference for any differentiable log density (issue 7).

A model is an unnormalized log joint log p(x, z) on the unconstrained space z ∈ R^d
(:class:`Layout` builds one from named, constrained parameter blocks); a guide
(:data:`GUIDES`: mean-field, full-rank, low-rank, flow) is fitted to it by maximizing the
reparameterized ELBO (:func:`fit`), and checked with Pareto-smoothed importance sampling
(:func:`importance_diagnostics`, Yao et al. 2018). Example models: :data:`MODELS`.
"""

from .diagnostics import importance_diagnostics, psis, summarize
from .fit import VIResult, fit
from .flow_fit import FlowFit, fit_flow_to_target, target_diagnostics
from .guides import GUIDES, FlowGuide, FullRankGuide, LowRankGuide, MeanFieldGuide, make_guide
from .layout import CONSTRAINTS, Layout
from .models import (
    MODELS,
    Model,
    eight_schools,
    funnel,
    get_model,
    linear_regression,
    logistic_regression,
    target,
)
from .targets import TARGETS

__all__ = [
    "CONSTRAINTS",
    "GUIDES",
    "MODELS",
    "TARGETS",
    "FlowFit",
    "FlowGuide",
    "FullRankGuide",
    "Layout",
    "LowRankGuide",
    "MeanFieldGuide",
    "Model",
    "VIResult",
    "eight_schools",
    "fit",
    "fit_flow_to_target",
    "funnel",
    "get_model",
    "importance_diagnostics",
    "linear_regression",
    "logistic_regression",
    "make_guide",
    "psis",
    "summarize",
    "target",
    "target_diagnostics",
]
