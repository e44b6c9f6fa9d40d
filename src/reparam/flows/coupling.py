r"""Coupling transforms: half of the vector conditions an elementwise map of the other half.

Split x = [x_a, x_b] with x_a the first ⌊D/2⌋ features. x_a passes through unchanged and
parameterizes an invertible elementwise map of x_b, θ = NN([x_a, c]):

.. math::
    y_a = x_a, \qquad y_b = g(x_b; \theta(x_a, c)), \qquad
    \log|\det \partial y/\partial x| = \sum_j \log|g'(x_{b,j})|

Both directions are one network pass (``fast = "both"``). Stack them with permutations,
or alternate ``reverse`` (x_a = the last ⌊D/2⌋ features, x_b the rest), so every feature
gets transformed.

References:
    Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017,
    arXiv:1605.08803 (affine g). Durkan, Bekasov, Murray & Papamakarios, "Neural Spline
    Flows", NeurIPS 2019, arXiv:1906.04032 (rational-quadratic spline g).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .affine import bounded_affine
from .base import MLP, Bijection
from .splines import check_spline_config, packed_spline, spline_params_per_feature

__all__ = ["AffineCoupling", "SplineCoupling"]


class _Coupling(Bijection):
    """Shared split / conditioner / merge; subclasses map x_b given raw parameters."""

    fast = "both"

    def __init__(
        self,
        features: int,
        context_features: int,
        hidden_features: Sequence[int],
        params_per_feature: int,
        reverse: bool = False,
    ) -> None:
        super().__init__(features, context_features)
        if features < 2:
            raise ValueError(
                f"{type(self).__name__}: coupling needs at least 2 features, got {features}"
            )
        self.split = features // 2
        self.reverse = bool(reverse)
        self.params_per_feature = params_per_feature
        self.conditioner = MLP(
            self.split + context_features,
            (features - self.split) * params_per_feature,
            hidden_features,
        )

    def _params(self, xa: Tensor, context: Tensor | None) -> Tensor:
        """(*, D − ⌊D/2⌋, P) raw parameters from the unchanged half (and the context)."""
        h = xa if context is None else torch.cat((xa, context), dim=-1)
        return self.conditioner(h).unflatten(-1, (self.features - self.split, -1))

    def _map(self, xb: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _couple(self, x: Tensor, context: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        if self.reverse:  # x_a is the last ⌊D/2⌋ features, x_b the first D − ⌊D/2⌋
            xb, xa = x[..., : self.features - self.split], x[..., self.features - self.split :]
            yb, ladj = self._map(xb, self._params(xa, context), inverse)
            return torch.cat((yb, xa), dim=-1), ladj
        xa, xb = x[..., : self.split], x[..., self.split :]
        yb, ladj = self._map(xb, self._params(xa, context), inverse)
        return torch.cat((xa, yb), dim=-1), ladj

    def _forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._couple(x, context, inverse=False)

    def _inverse(self, y: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        return self._couple(y, context, inverse=True)


class AffineCoupling(_Coupling):
    r"""RealNVP affine coupling: y_b = x_b · exp(s) + t, (s, t) = MLP([x_a, c]).

    The log-scale is soft-clamped, s = c_max · tanh(ŝ / c_max), so exp(s) stays in
    [e^{−c_max}, e^{c_max}]; log|det| = Σ s. Starts at the identity (zero last layer).

    Args:
        features: D ≥ 2.
        context_features: C (0: unconditional).
        hidden_features: hidden widths of the conditioner MLP.
        max_log_scale: c_max > 0.
        reverse: condition on the last ⌊D/2⌋ features and map the first ones.

    Raises:
        ValueError: D < 2 or c_max ≤ 0.
    """

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        hidden_features: Sequence[int] = (64, 64),
        max_log_scale: float = 3.0,
        reverse: bool = False,
    ) -> None:
        super().__init__(features, context_features, hidden_features, 2, reverse)
        if not max_log_scale > 0:
            raise ValueError(f"AffineCoupling: max_log_scale must be > 0, got {max_log_scale!r}")
        self.max_log_scale = float(max_log_scale)

    def _map(self, xb: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        return bounded_affine(xb, params, self.max_log_scale, inverse)


class SplineCoupling(_Coupling):
    """Neural-spline coupling: x_b through K-bin rational-quadratic splines on [−B, B].

    The 3K − 1 spline parameters per transformed feature come from MLP([x_a, c]); the
    spline is the identity outside [−B, B] (see :mod:`reparam.flows.splines`). Starts at
    the identity (zero last layer).

    Args:
        features: D ≥ 2.
        context_features: C (0: unconditional).
        hidden_features: hidden widths of the conditioner MLP.
        bins: K ≥ 1.
        bound: B > 0.
        reverse: condition on the last ⌊D/2⌋ features and map the first ones.

    Raises:
        ValueError: D < 2, K < 1 or B ≤ 0.
    """

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        hidden_features: Sequence[int] = (64, 64),
        bins: int = 8,
        bound: float = 5.0,
        reverse: bool = False,
    ) -> None:
        check_spline_config(type(self).__name__, bins, bound)
        super().__init__(
            features, context_features, hidden_features, spline_params_per_feature(bins), reverse
        )
        self.bins = bins
        self.bound = float(bound)

    def _map(self, xb: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        y, ladj = packed_spline(xb, params, self.bins, self.bound, inverse)
        return y, ladj.sum(-1)
