"""Reparameterized distributions: every one exposes ε (``sample_noise``) and g (``from_noise``).

Three kinds of reparameterization (see DESIGN.md): explicit (closed-form g), implicit
(gradients through a standardizing function) and relaxed (continuous relaxations of
discrete variables). All subclass :class:`torch.distributions.Distribution`.
"""

from .base import ReparamDistribution
from .normal import Normal
from .standard import NoiseBase, StandardNormal, StandardUniform

__all__ = [
    "NoiseBase",
    "Normal",
    "ReparamDistribution",
    "StandardNormal",
    "StandardUniform",
]
