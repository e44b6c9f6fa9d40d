"""A flow distribution: base noise pushed through a stack of transforms.

.. math::
    x_0 = g_0(\\varepsilon), \\quad z = T_K \\circ \\dots \\circ T_1(x_0; c), \\quad
    \\log q(z) = \\log q_0(x_0) - \\sum_k \\log|\\det \\partial T_k / \\partial x_{k-1}|

ε is the base distribution's noise, so every noise strategy (``"mc"``,
``"antithetic"``, ``"qmc"``) works unchanged (Rezende & Mohamed 2015,
arXiv:1505.05770; Papamakarios et al., "Normalizing Flows for Probabilistic Modeling and
Inference", 2021, arXiv:1912.02762).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.func import functional_call
from torch.types import _size

from ..distributions.base import ReparamDistribution
from .base import Bijection

if TYPE_CHECKING:
    from ..noise import NoiseStrategy

__all__ = ["FlowDistribution"]

_EMPTY = torch.Size()


class FlowDistribution(ReparamDistribution):
    """z = T_K ∘ … ∘ T_1(g₀(ε); c) for a base q₀ with event shape (D,).

    Args:
        base: the base distribution q₀, event shape (D,), batch shape B.
        transforms: the transforms T_1, …, T_K in sampling order (each D features).
        context: c with shape B + (C,), required when any transform is conditional
            (C = its ``context_features``); it is expanded (not copied) to the leading
            dims of each input.
        validate_args: check samples passed to :meth:`log_prob` and noise shapes.

    Shapes: event (D,), batch B; ε has the base's noise shape. ``rsample_and_log_prob``
    and ``from_noise_and_log_prob`` make one forward pass; ``log_prob`` one inverse pass
    (the fast one for MAF / coupling, D network passes for IAF).

    Raises:
        ValueError: base is not a ReparamDistribution with event shape (D,), a
            transform has the wrong feature count, the context is missing, unexpected,
            or of the wrong shape.
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        base: ReparamDistribution,
        transforms: Sequence[Bijection],
        context: Tensor | None = None,
        *,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(base, ReparamDistribution):
            raise ValueError(
                f"FlowDistribution: base must be a ReparamDistribution, got {type(base).__name__}"
            )
        if len(base.event_shape) != 1:
            raise ValueError(
                f"FlowDistribution: base must have event shape (D,), got {tuple(base.event_shape)}"
            )
        d = base.event_shape[0]
        transforms = tuple(transforms)
        c = 0
        for i, t in enumerate(transforms):
            if not isinstance(t, Bijection):
                raise ValueError(
                    f"FlowDistribution: transforms[{i}] must be a Bijection, got "
                    f"{type(t).__name__}"
                )
            if t.features != d:
                raise ValueError(
                    f"FlowDistribution: transforms[{i}] ({type(t).__name__}) has "
                    f"{t.features} features but the base has event shape ({d},)"
                )
            if t.context_features:
                if c and t.context_features != c:
                    raise ValueError(
                        "FlowDistribution: the conditional transforms disagree on "
                        f"context_features ({c} and {t.context_features})"
                    )
                c = t.context_features
        if c and context is None:
            raise ValueError(
                f"FlowDistribution: context missing: the flow is conditional "
                f"(context_features={c})"
            )
        if context is not None:
            if not c:
                raise ValueError("FlowDistribution: got a context but no transform is conditional")
            if not isinstance(context, Tensor) or tuple(context.shape) != tuple(
                base.batch_shape
            ) + (c,):
                shape = tuple(context.shape) if isinstance(context, Tensor) else context
                raise ValueError(
                    "FlowDistribution: context must have shape batch_shape + "
                    f"(context_features,) = {tuple(base.batch_shape) + (c,)}, got {shape}"
                )
        self.base = base
        self.transforms = transforms
        self.context = context
        self.noise = base.noise
        self._stopped = False
        super().__init__(base.batch_shape, base.event_shape, validate_args=validate_args)

    # ----------------------------------------------------------------- helpers
    def _reference(self) -> Tensor:
        return self.base._reference()

    @property
    def noise_event_shape(self) -> torch.Size:
        return self.base.noise_event_shape

    def _context_for(self, lead: torch.Size) -> Tensor | None:
        ctx = self.context
        if ctx is None or ctx.shape[:-1] == lead:
            return ctx
        return ctx.expand(lead + ctx.shape[-1:])

    def _stop_module_params(self) -> None:
        """Evaluate the transforms with detached parameters from now on.

        Called by :func:`~reparam.distributions.detach_params` on its copy (sticking the
        landing, DReG): log q(z) then carries no gradient to the transforms' parameters,
        only through z.
        """
        self._stopped = True

    def _call(self, t: Bijection, method: str, x: Tensor, ctx: Tensor | None) -> tuple:
        """``t.forward`` or ``t.inverse`` with the parameters detached (buffers as they are)."""
        module = t if method == "forward" else _Inverse(t)
        prefix = "" if method == "forward" else "t."
        state = {prefix + k: v.detach() for k, v in t.named_parameters()}
        state.update({prefix + k: v for k, v in t.named_buffers()})
        return functional_call(module, state, (x, ctx))

    def _push(self, x: Tensor) -> tuple[Tensor, Tensor | int]:
        """Forward walk: (z, Σ log|det ∂T_k/∂x_{k−1}|)."""
        ctx = self._context_for(x.shape[:-1])
        total: Tensor | None = None
        stopped = self._stopped
        for t in self.transforms:
            c = ctx if t.context_features else None
            x, ladj = self._call(t, "forward", x, c) if stopped else t(x, c)
            total = ladj if total is None else total + ladj
        return x, 0 if total is None else total

    def _pull(self, z: Tensor) -> tuple[Tensor, Tensor | int]:
        """Inverse walk: (x₀, Σ log|det ∂T_k⁻¹/∂x_k|)."""
        ctx = self._context_for(z.shape[:-1])
        total: Tensor | None = None
        stopped = self._stopped
        for t in reversed(self.transforms):
            c = ctx if t.context_features else None
            z, ladj = self._call(t, "inverse", z, c) if stopped else t.inverse(z, c)
            total = ladj if total is None else total + ladj
        return z, 0 if total is None else total

    # ----------------------------------------------------------------- ε → z
    def sample_noise(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> Tensor:
        return self.base.sample_noise(sample_shape, noise=noise)

    def from_noise(self, eps: Tensor) -> Tensor:
        """z = T_K ∘ … ∘ T_1(base.from_noise(ε)); shape sample + batch + (D,)."""
        return self._push(self.base.from_noise(eps))[0]

    def from_noise_and_log_prob(self, eps: Tensor) -> tuple[Tensor, Tensor]:
        """(z, log q(z)) from ε in one forward pass."""
        if self._validate_args:
            self._check_noise(eps)
        x0 = self.base.from_noise(eps)
        z, ladj = self._push(x0)
        return z, self.base.log_prob_from_noise(eps, x0) - ladj

    def rsample_and_log_prob(
        self, sample_shape: torch.Size = _EMPTY, *, noise: str | NoiseStrategy = "mc"
    ) -> tuple[Tensor, Tensor]:
        """Draw ε, return (z, log q(z)) from ONE forward pass (no inverse)."""
        eps = self.base.sample_noise(sample_shape, noise=noise)
        x0 = self.base.from_noise(eps)
        z, ladj = self._push(x0)
        return z, self.base.log_prob_from_noise(eps, x0) - ladj

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        """log q(z) for z = from_noise(ε), recomputed from ε (one forward pass)."""
        x0 = self.base.from_noise(eps)
        _, ladj = self._push(x0)
        return self.base.log_prob_from_noise(eps, x0) - ladj

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        """log|det ∂z/∂ε| = base's + Σ_k log|det ∂T_k/∂x_{k−1}|; shape sample + batch."""
        x0 = self.base.from_noise(eps)
        _, ladj = self._push(x0)
        return self.base.log_abs_det_jacobian(eps, x0) + ladj

    # ----------------------------------------------------------------- density
    def log_prob(self, value: Tensor) -> Tensor:
        """log q(z) = log q₀(T⁻¹(z)) + Σ_k log|det ∂T_k⁻¹/∂x_k|; shape sample + batch.

        ``value`` has shape (*, D) whose leading dims broadcast with the batch shape.
        """
        if self._validate_args:
            self._validate_sample(value)
        lead = value.shape[:-1]
        if self.batch_shape and lead[len(lead) - len(self.batch_shape) :] != self.batch_shape:
            lead = torch.broadcast_shapes(lead, self.batch_shape)
            value = value.expand(lead + value.shape[-1:])
        x0, ladj = self._pull(value)
        return self.base.log_prob(x0) + ladj

    # ----------------------------------------------------------------- shapes
    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> FlowDistribution:
        """The same flow with a larger batch shape (base and context expanded, not copied)."""
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(FlowDistribution, _instance)
        new.base = self.base.expand(batch_shape)
        new.transforms = self.transforms
        new.context = (
            None
            if self.context is None
            else self.context.expand(batch_shape + self.context.shape[-1:])
        )
        new.noise = self.noise
        new._stopped = self._stopped
        ReparamDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def __repr__(self) -> str:
        names = ", ".join(type(t).__name__ for t in self.transforms)
        return (
            f"FlowDistribution(base={self.base!r}, transforms=[{names}], "
            f"batch_shape={tuple(self.batch_shape)}, event_shape={tuple(self.event_shape)})"
        )


class _Inverse(torch.nn.Module):
    """Calls ``t.inverse`` as ``forward`` so ``functional_call`` can run it."""

    def __init__(self, t: Bijection) -> None:
        super().__init__()
        self.t = t

    def forward(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self.t.inverse(y, context)
