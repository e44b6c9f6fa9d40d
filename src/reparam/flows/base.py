"""The protocol every flow layer follows (:class:`Bijection`), and the conditioner network.

A flow layer is a bijection y = T(x; c) on vectors of ``features`` numbers (the last
dimension), optionally conditioned on a context vector c of ``context_features``
numbers. Direction convention: **forward is the sampling direction** — a flow maps
base noise to samples, z = T_K ∘ … ∘ T_1(x₀) — and each direction returns its own
log-determinant, so log-densities add up along either walk:

.. math::
    \\log q(z) = \\log q_0(x_0) - \\sum_k \\log|\\det \\partial T_k/\\partial x_{k-1}|
              = \\log q_0(x_0) + \\sum_k \\log|\\det \\partial T_k^{-1}/\\partial x_k|
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import check_int

__all__ = ["MLP", "Bijection"]


class Bijection(nn.Module):
    """A bijection y = T(x; context) on the last dimension (``features`` wide).

    Not torch's ``torch.distributions.transforms.Transform`` (a stateless map that
    :class:`reparam.distributions.TransformedDistribution` takes): a Bijection is an
    ``nn.Module`` with parameters, an optional context, and both directions returning
    ``(y, log|det J|)``; :class:`~reparam.flows.FlowDistribution` pushes a base through
    a sequence of them. (Named ``Transform`` before; that name stays as a deprecated alias
    for one release.)

    Subclasses implement :meth:`_forward` and :meth:`_inverse` (same signatures as
    :meth:`forward` / :meth:`inverse`, inputs already checked) and set the class
    attribute ``fast`` to which directions cost one network pass: ``"both"``,
    ``"forward"`` (e.g. IAF) or ``"inverse"`` (e.g. MAF). ``has_inverse = False``
    marks a transform whose inverse is not implemented (``inverse`` raises).

    Attributes:
        features: D, the size of the last dimension of x and y.
        context_features: C, the size of the context vector (0: unconditional).
    """

    fast: str = "both"
    has_inverse: bool = True

    def __init__(self, features: int, context_features: int = 0) -> None:
        super().__init__()
        check_int("features", features, 1, owner=type(self).__name__)
        check_int("context_features", context_features, 0, owner=type(self).__name__)
        self.features = features
        self.context_features = context_features

    # ------------------------------------------------------------------ checks
    def _check(self, x: Tensor, context: Tensor | None, what: str) -> None:
        name = type(self).__name__
        if not isinstance(x, Tensor) or x.dim() < 1 or x.shape[-1] != self.features:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(
                f"{name}: {what} must have {self.features} features in its last dimension, "
                f"got shape {shape}"
            )
        if self.context_features == 0:
            if context is not None:
                raise ValueError(
                    f"{name}: got a context but the transform is unconditional "
                    "(context_features=0)"
                )
            return
        if context is None:
            raise ValueError(
                f"{name}: context missing: this transform is conditional "
                f"(context_features={self.context_features})"
            )
        if context.shape[-1] != self.context_features or context.shape[:-1] != x.shape[:-1]:
            raise ValueError(
                f"{name}: context must have shape {tuple(x.shape[:-1])} + "
                f"({self.context_features},) to match {what}, got {tuple(context.shape)}"
            )

    # ------------------------------------------------------------------ API
    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """y = T(x; c) and log|det ∂y/∂x|.

        Args:
            x: shape (*, D).
            context: shape (*, C) with the same leading dims as x (conditional only).

        Returns:
            y with shape (*, D) and the log-determinant with shape (*).
        """
        self._check(x, context, "x")
        return self._forward(x, context)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """x = T⁻¹(y; c) and log|det ∂x/∂y| (= −log|det ∂y/∂x| at that x).

        Args:
            y: shape (*, D).
            context: shape (*, C) with the same leading dims as y (conditional only).

        Returns:
            x with shape (*, D) and the log-determinant with shape (*).
        """
        if not self.has_inverse:
            raise NotImplementedError(f"{type(self).__name__} has no inverse")
        self._check(y, context, "y")
        return self._inverse(y, context)

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def extra_repr(self) -> str:
        ctx = f", context_features={self.context_features}" if self.context_features else ""
        return f"features={self.features}{ctx}"


class MLP(nn.Sequential):
    """A plain multilayer perceptron: Linear → ReLU → … → Linear.

    The last layer starts at zero (weights and bias), so a transform whose parameters
    it outputs starts as a fixed, data-independent map (the identity for the affine and
    spline transforms), as in Glow (Kingma & Dhariwal 2018).

    Args:
        in_features: input width.
        out_features: output width.
        hidden_features: widths of the hidden layers.
        activation: the nonlinearity module class. ``nn.ReLU`` is applied in place (on
            the Linear layer's fresh output, which no backward needs): one activation
            tensor less per hidden layer, the same values and gradients.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: Sequence[int] = (64, 64),
        activation: type[nn.Module] = nn.ReLU,
    ) -> None:
        sizes = [in_features, *hidden_features, out_features]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            act = nn.ReLU(inplace=True) if activation is nn.ReLU else activation()
            layers += [nn.Linear(a, b), act]
        super().__init__(*layers[:-1])
        last = layers[-2]
        assert isinstance(last, nn.Linear)
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()


def __getattr__(name: str) -> object:
    if name == "Transform":  # the old name of Bijection
        import warnings

        warnings.warn(
            "reparam.flows.Transform is deprecated; it is reparam.flows.Bijection",
            DeprecationWarning,
            stacklevel=2,
        )
        return Bijection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
