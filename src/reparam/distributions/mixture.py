r"""Mixtures of one family, reparameterized through the mixture CDF (implicit gradients).

A mixture q(z) = Σ_k w_k q_k(z) has no closed-form reparameterization: which component
a sample comes from is discrete. Its CDF F(z) = Σ_k w_k F_k(z) is continuous and
differentiable in every parameter, though, so z = F⁻¹(u; θ) with u ~ U(0, 1) is a valid
reparameterization whose gradient comes from the implicit function theorem
(Figurnov, Mohamed & Mnih 2018, arXiv:1805.08498):

.. math::
    \frac{\partial z}{\partial\theta} = -\frac{\partial F(z;\theta)/\partial\theta}{q(z;\theta)},
    \qquad \tilde z = z - \frac{F(z;\theta) - \mathrm{sg}\,F(z;\theta)}{\mathrm{sg}\,q(z;\theta)}

The surrogate z̃ has the value z and exactly this gradient for every tensor that built
the mixture weights and the components, found by autograd through F, so nothing needs
to know the parameters by name.

For vectors whose components have diagonal covariance (coordinates independent within a
component), Graves (2016, "Stochastic backpropagation through mixture density
distributions", arXiv:1607.05173) draws z coordinate by coordinate from the conditionals

.. math::
    p(z_d \mid z_{<d}) = \sum_k w_k^{(d)} q_{k,d}(z_d), \qquad
    w_k^{(d)} \propto w_k \prod_{j<d} q_{k,j}(z_j),

each by its own inverse CDF with its own u_d, and chains the one-dimensional surrogate:
z̃_d = z_d − (F_d(z_d; θ, z̃_{<d}) − sg F_d)/sg p_d, where the weights are computed from
the already-surrogated z̃_{<d} so that autograd carries the triangular dependence.
The map u ↦ z is the Rosenblatt transform, so log q(z) = Σ_d log p(z_d | z_{<d}) is the
mixture's log-density.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, constraints
from torch.types import _size

from .base import ReparamDistribution
from .implicit import (
    implicit_surrogate,
)
from .standard import StandardUniform

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

from ._mixture_math import (
    _coordinate_marginals,
    _has,
    _mixture_quantile,
    _Selected,
    _slice,
    _sliceable,
)

__all__ = ["MixtureSameFamily"]

_EMPTY = torch.Size()


class MixtureSameFamily(ReparamDistribution):
    r"""A mixture of K distributions of one family, with reparameterized samples.

    .. math::
        q(z) = \sum_{k=1}^K w_k\, q_k(z), \qquad u \sim \mathcal U(0,1)^D, \qquad
        z = F^{-1}(u;\theta), \qquad
        \frac{\partial z}{\partial\theta} = -\frac{\partial F/\partial\theta}{q(z)}

    The signature and semantics of :class:`torch.distributions.MixtureSameFamily`, plus
    ``rsample``/``from_noise`` by implicit reparameterization (torch's has none):

    - univariate components (event shape ``()``) with a differentiable ``cdf``: z solves
      Σ_k w_k F_k(z) = u (safeguarded Newton on the bracket [min_k F_k⁻¹(u),
      max_k F_k⁻¹(u)] when the components have ``icdf``, an expanding bracket otherwise);
    - components over vectors with independent coordinates (``Independent(univariate,
      1)``, :class:`DiagonalNormal`; event shape ``(D,)``): coordinate by coordinate from
      the conditionals p(z_d | z_{<d}) (Graves 2016), one u_d each (noise event shape
      ``(D,)``).

    Gradients flow to every tensor that built the mixing logits/probs and the
    components. ``log_prob`` is logsumexp_k(log w_k + log q_k(z)) as in torch. Other
    components (full covariance, e.g. ``MultivariateNormal``; no ``cdf``; more event
    dimensions) are accepted as torch accepts them: ``log_prob``, ``sample``
    (ancestral), ``mean`` and ``variance`` work, ``has_rsample`` is False, and
    ``rsample`` and the noise methods raise a ``NotImplementedError`` that says why.

    Args:
        mixture_distribution: a :class:`torch.distributions.Categorical` (or subclass)
            over K components, batch shape broadcastable to the components' ``B``.
        component_distribution: a distribution with batch shape ``(*B, K)`` and event
            shape ``()`` (with ``cdf``) or ``(D,)`` (independent coordinates with ``cdf``).
        validate_args: check the samples passed to ``log_prob``/``cdf``.

    Raises:
        ValueError: the mixing distribution is not a Categorical; the components are not
            a Distribution or have no batch dimension; the number of components or the
            batch shapes disagree.

    References:
        Figurnov, Mohamed & Mnih, "Implicit Reparameterization Gradients", NeurIPS 2018,
        arXiv:1805.08498. Graves, "Stochastic backpropagation through mixture density
        distributions", 2016, arXiv:1607.05173.

    Example:
        >>> from reparam import Normal
        >>> logits = torch.tensor([0.0, 1.0], requires_grad=True)
        >>> loc = torch.tensor([-2.0, 3.0], requires_grad=True)
        >>> q = MixtureSameFamily(torch.distributions.Categorical(logits=logits),
        ...                       Normal(loc, torch.ones(2)))
        >>> z, log_q = q.rsample_and_log_prob((5,))
        >>> z.shape, log_q.shape
        (torch.Size([5]), torch.Size([5]))
        >>> z.sum().backward()  # a pathwise gradient through the mixture CDF
        >>> bool(torch.allclose(loc.grad.sum(), torch.tensor(5.0)))  # shifting all locs
        True
    """

    arg_constraints: dict[str, constraints.Constraint] = {}
    noise = StandardUniform()

    def __init__(
        self,
        mixture_distribution: Categorical,
        component_distribution: Distribution,
        validate_args: bool | None = None,
    ) -> None:
        mix, comp = mixture_distribution, component_distribution
        if not isinstance(mix, Categorical):
            raise ValueError(
                "MixtureSameFamily: mixture_distribution must be a "
                "torch.distributions.Categorical (e.g. reparam.Categorical), got "
                f"{type(mix).__name__}"
            )
        if not isinstance(comp, Distribution):
            raise ValueError(
                "MixtureSameFamily: component_distribution must be a "
                f"torch.distributions.Distribution, got {type(comp).__name__}"
            )
        comp_batch = comp.batch_shape
        if len(comp_batch) == 0:
            raise ValueError(
                "MixtureSameFamily: component_distribution must have batch shape (*B, K) "
                "with the K components in the rightmost batch dimension; got batch_shape ()"
            )
        k_mix, k_comp = mix.param_shape[-1], comp_batch[-1]
        if k_mix != k_comp:
            raise ValueError(
                f"MixtureSameFamily: mixture_distribution has {k_mix} components (its "
                f"logits/probs end in {k_mix}) but component_distribution has {k_comp} "
                f"(its batch_shape {tuple(comp_batch)} ends in {k_comp})"
            )
        batch = comp_batch[:-1]
        try:
            fits = torch.broadcast_shapes(mix.batch_shape, batch) == batch
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"MixtureSameFamily: mixture_distribution batch_shape "
                f"{tuple(mix.batch_shape)} does not broadcast to the components' batch "
                f"shape {tuple(batch)} (component_distribution batch_shape "
                f"{tuple(comp_batch)} = (*B, K))"
            )
        event = comp.event_shape
        self._marginals: Distribution | None = None
        self._no_rsample: str | None = None  # why rsample is refused, if it is
        if len(event) > 1:
            self._no_rsample = (
                "component_distribution event_shape must be () or (D,) for rsample; got "
                f"{tuple(event)}"
            )
        elif len(event) == 0:
            if not _has(comp, "cdf"):
                self._no_rsample = (
                    f"component_distribution {type(comp).__name__} has no cdf, which the "
                    "implicit reparameterization gradients need"
                )
        else:
            try:
                self._marginals = _coordinate_marginals(comp)
            except ValueError as err:
                self._no_rsample = str(err).removeprefix("MixtureSameFamily: ")
        self._mixture_distribution = mix
        self._component_distribution = comp
        self._num_component = k_comp
        self._slice_ok: bool | None = None
        super().__init__(batch, event, validate_args=validate_args)

    # ----------------------------------------------------------------- properties
    @property
    def has_rsample(self) -> bool:  # type: ignore[override]  # per instance, as in torch
        """False where the components allow no implicit reparameterization (see
        ``rsample``); ``log_prob`` and ``sample`` work for every component family."""
        return self._no_rsample is None

    def _require_rsample(self) -> None:
        if self._no_rsample is not None:
            raise NotImplementedError(
                f"MixtureSameFamily: no rsample or noise (sample_noise, from_noise) for "
                f"these components: {self._no_rsample}; log_prob and sample still work"
            )

    @property
    def mixture_distribution(self) -> Categorical:
        return self._mixture_distribution

    @property
    def component_distribution(self) -> Distribution:
        return self._component_distribution

    @constraints.dependent_property
    def support(self) -> constraints.Constraint:
        """The components' support, checked against every component as torch does
        (``MixtureSameFamilyConstraint``, where this torch has it)."""
        # torch types support as Optional; a distribution's support is a Constraint
        base = cast(constraints.Constraint, self._component_distribution.support)
        mixture_constraint = getattr(constraints, "MixtureSameFamilyConstraint", None)
        return base if mixture_constraint is None else mixture_constraint(base)

    def _reference(self) -> Tensor:
        return self._mixture_distribution.logits

    def _weights(self) -> Tensor:
        """Mixing probabilities padded to broadcast against component moments."""
        probs = self._mixture_distribution.probs
        return probs.reshape(probs.shape + (1,) * len(self.event_shape))

    # ----------------------------------------------------------------- the map g
    def _coordinates(self) -> list:
        """Univariate distributions with batch ``(*B, K)``, one per coordinate."""
        if self._marginals is None:
            return [self._component_distribution]
        base = self._marginals
        if self._slice_ok is None:
            self._slice_ok = _sliceable(base)
        n = base.batch_shape[-1]
        if self._slice_ok:
            return [_slice(base, d) for d in range(n)]
        return [_Selected(base, d) for d in range(n)]

    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        self._require_rsample()
        return super().sample_noise(sample_shape, noise=noise)

    def sample(self, sample_shape: _size = _EMPTY) -> Tensor:
        """A sample with no gradient: through the mixture CDF where ``has_rsample``,
        otherwise ancestrally (a component index, then that component's sample)."""
        shape, batch, event = torch.Size(sample_shape), self.batch_shape, self.event_shape
        if self._no_rsample is None:
            return super().sample(shape)
        mix = self._mixture_distribution
        with torch.no_grad():
            index = mix.sample(shape)  # (*S, *mixing batch), broadcast to (*S, *B)
            pad = (1,) * (len(batch) - len(mix.batch_shape))
            index = index.reshape(shape + pad + mix.batch_shape).expand(shape + batch)
            index = index.reshape(shape + batch + (1,) * (1 + len(event)))
            draws = self._component_distribution.sample(shape)  # (*S, *B, K, *E)
            dim = len(shape) + len(batch)
            return draws.gather(dim, index.expand(shape + batch + (1,) + event)).squeeze(dim)

    def from_noise(self, eps: Tensor) -> Tensor:
        self._require_rsample()
        univariate = not self.event_shape
        u = eps.unsqueeze(-1) if univariate else eps
        coords = self._coordinates()
        log_w = self._mixture_distribution.logits  # normalized, live
        grad = torch.is_grad_enabled()
        acc: Tensor | None = None  # Σ_{j<d} log q_{k,j}(z̃_j), live
        out = []
        for d, comp in enumerate(coords):
            lw = log_w if acc is None else torch.log_softmax(log_w + acc, -1)
            with torch.no_grad():
                lw0 = lw.detach()
                z = _mixture_quantile(comp, lw0, u[..., d])
                log_comp = comp.log_prob(z.unsqueeze(-1))
                log_p = torch.logsumexp(lw0 + log_comp, -1)
            if grad:
                cdf_value = (lw.exp() * comp.cdf(z.unsqueeze(-1))).sum(-1)
                live = cdf_value.requires_grad
                z = implicit_surrogate(z, cdf_value, log_p)
                if live and d + 1 < len(coords):
                    log_comp = comp.log_prob(z.unsqueeze(-1))
            if d + 1 < len(coords):
                acc = log_comp if acc is None else acc + log_comp
            out.append(z)
        return out[0] if univariate else torch.stack(out, -1)

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        # u ↦ z is the (conditional) inverse CDF: |det ∂z/∂u| = 1/q(z).
        return self.log_prob(z)

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        return -self.log_prob(z)

    # ----------------------------------------------------------------- densities
    def _pad(self, value: Tensor) -> Tensor:
        return value.unsqueeze(-1 - len(self.event_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_comp = self._component_distribution.log_prob(self._pad(value))
        return torch.logsumexp(log_comp + self._mixture_distribution.logits, -1)

    def cdf(self, value: Tensor) -> Tensor:
        """F(z) = Σ_k w_k F_k(z) (univariate components only)."""
        if self.event_shape:
            raise NotImplementedError("MixtureSameFamily.cdf: univariate components only")
        if self._validate_args:
            self._validate_sample(value)
        comp_cdf = self._component_distribution.cdf(self._pad(value))
        return (comp_cdf * self._mixture_distribution.probs).sum(-1)

    def icdf(self, value: Tensor) -> Tensor:
        """F⁻¹(u), with the implicit gradients in θ (univariate components only)."""
        if self.event_shape:
            raise NotImplementedError("MixtureSameFamily.icdf: univariate components only")
        shape = torch.broadcast_shapes(value.shape, self.batch_shape)
        return self.from_noise(value.expand(shape))

    # ----------------------------------------------------------------- moments
    @property
    def mean(self) -> Tensor:
        w = self._weights()
        return (w * self._component_distribution.mean).sum(-1 - len(self.event_shape))

    @property
    def variance(self) -> Tensor:
        """Law of total variance: Σ w_k σ_k² + Σ w_k (μ_k − μ)² (per coordinate)."""
        w = self._weights()
        dim = -1 - len(self.event_shape)
        comp = self._component_distribution
        mean = (w * comp.mean).sum(dim, keepdim=True)
        within = (w * comp.variance).sum(dim)
        between = (w * (comp.mean - mean).pow(2)).sum(dim)
        return within + between

    # ----------------------------------------------------------------- shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> MixtureSameFamily:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(MixtureSameFamily, _instance)
        mix = self._mixture_distribution.expand(batch_shape)
        comp = self._component_distribution.expand(batch_shape + (self._num_component,))
        MixtureSameFamily.__init__(new, mix, comp, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(\n  {self._mixture_distribution},\n"
            f"  {self._component_distribution})"
        )
