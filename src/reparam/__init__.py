"""reparam: the reparameterization trick as a first-class, measurable tool.

ε ~ p(ε) free of θ, z = g(ε, θ), so ∇θ E_q[f(z)] = E_p(ε)[∇θ f(g(ε, θ))].
Distributions expose both halves (``sample_noise`` / ``from_noise``); how ε is drawn
is a choice (``noise=``: plain Monte Carlo, antithetic, randomized QMC; :mod:`reparam.noise`);
estimators turn an expectation into a surrogate whose gradient is the estimator.
"""

__version__ = "0.1.0"

from . import _aliases  # noqa: E402

_aliases.install()  # the old module paths (reparam.vae_cli, …), deprecated

from .diagnostics import GradientStats, gradient_stats  # noqa: E402
from .distributions import *  # noqa: E402, F403
from .distributions import __all__ as _distributions_all  # noqa: E402
from .estimators import (  # noqa: E402
    Baseline,
    ControlVariate,
    Estimator,
    LeaveOneOut,
    Pathwise,
    RunningMean,
    ScoreFunction,
    TaylorControlVariate,
    detach_params,
    expectation,
)
from .noise import NoiseStrategy, draw_noise  # noqa: E402
from .objectives import (  # noqa: E402
    OBJECTIVES,
    BetaSchedule,
    dreg,
    elbo,
    get_objective,
    iwae,
)
from .training import TrainConfig, TrainResult, load_checkpoint, select_device, train  # noqa: E402
from .vae import VAE  # noqa: E402

__all__ = [
    "__version__",
    *_distributions_all,
    "OBJECTIVES",
    "Baseline",
    "BetaSchedule",
    "ControlVariate",
    "Estimator",
    "GradientStats",
    "LeaveOneOut",
    "NoiseStrategy",
    "Pathwise",
    "RunningMean",
    "ScoreFunction",
    "TaylorControlVariate",
    "TrainConfig",
    "TrainResult",
    "VAE",
    "detach_params",
    "dreg",
    "draw_noise",
    "elbo",
    "expectation",
    "get_objective",
    "gradient_stats",
    "iwae",
    "load_checkpoint",
    "select_device",
    "train",
]
