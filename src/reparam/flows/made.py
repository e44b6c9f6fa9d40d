r"""MADE: a masked autoencoder whose outputs are autoregressive in its inputs.

Every unit gets a degree: input x_i has degree i (1-based; D + 1 − i with ``reverse``),
context inputs degree 0,
hidden units degrees in {1, …, D − 1} ({0, …, D − 1} with a context, or when D = 1),
output block i degree i. A
weight from a unit of degree m to a hidden unit of degree m' is kept iff m' ≥ m, to an
output of degree i iff i > m. So output block i is a function of x_{<i} and the whole
context only:

.. math::
    \mathrm{MADE}(x, c)_{i,:} = f_i(x_1, \dots, x_{i-1}, c), \qquad i = 1, \dots, D

and one pass gives all D blocks (the autoregressive conditioner of MAF, IAF and
autoregressive neural spline flows).

Reference: Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for
Distribution Estimation", ICML 2015, arXiv:1502.03509.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int

__all__ = ["MADE", "MaskedLinear"]


class MaskedLinear(nn.Linear):
    """y = x (W ⊙ M)ᵀ + b with a fixed 0/1 connectivity mask M (a buffer).

    A mask that keeps every connection (the hidden-to-hidden layers of a MADE on D = 2
    features) is skipped: y = x Wᵀ + b, the same numbers without the product W ⊙ M and
    its backward. Whether M is full is looked up again whenever the buffer is replaced
    or written to in place (``load_state_dict``, ``mask.fill_``).

    Args:
        in_features: input width.
        out_features: output width.
        mask: shape (out_features, in_features), nonzero = connection kept.
        bias: whether to learn a bias.

    Raises:
        ValueError: the mask has the wrong shape.
    """

    mask: Tensor

    def __init__(
        self, in_features: int, out_features: int, mask: Tensor, bias: bool = True
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        if tuple(mask.shape) != (out_features, in_features):
            raise ValueError(
                f"MaskedLinear: mask must have shape ({out_features}, {in_features}), "
                f"got {tuple(mask.shape)}"
            )
        self.register_buffer("mask", (mask != 0).to(self.weight.dtype))
        self._full_key: tuple[int, int] | None = None
        self._full = False

    def _mask_is_full(self) -> bool:
        """Whether M is all ones, cached on the buffer's identity and version counter."""
        mask = self.mask
        if mask.is_inference():  # no version counter: look at the values every call
            return bool((mask != 0).all())
        key = (id(mask), mask._version)
        if key != self._full_key:
            self._full = bool((mask != 0).all())
            self._full_key = key
        return self._full

    def forward(self, x: Tensor) -> Tensor:
        """Shape (*, in_features) → (*, out_features)."""
        weight = self.weight if self._mask_is_full() else self.weight * self.mask
        return F.linear(x, weight, self.bias)


class MADE(nn.Module):
    """Masked autoencoder: (*, D) inputs (+ (*, C) context) → (*, D, P) outputs.

    Output block ``[..., i, :]`` (P numbers, e.g. a shift and a log-scale) depends only on
    ``x[..., :i]`` and on all of the context. The last layer starts at zero, so the
    transforms it parameterizes start at the identity. Hidden degrees cycle through
    1, …, D − 1 (0, …, D − 1 with a context, so the first block sees it too): every
    degree is present when each hidden layer has ≥ D − 1 (with a context, D) units.

    Args:
        features: D, the number of inputs and of output blocks.
        params_per_feature: P, the size of each output block.
        context_features: C, context inputs (degree 0: connected to every output).
        hidden_features: widths of the hidden layers (ReLU between layers, in place on the
            masked layer's fresh output: one activation tensor less per layer).
        reverse: use the reversed order x_D, …, x_1 (block i depends on x_{>i}); stacking
            layers with alternating orders replaces a permutation between them.

    Raises:
        ValueError: a size is not a positive integer (C may be 0).
    """

    def __init__(
        self,
        features: int,
        params_per_feature: int,
        context_features: int = 0,
        hidden_features: Sequence[int] = (64, 64),
        reverse: bool = False,
    ) -> None:
        super().__init__()
        for what, value, low in (
            ("features", features, 1),
            ("params_per_feature", params_per_feature, 1),
            ("context_features", context_features, 0),
            *(("hidden_features", h, 1) for h in hidden_features),
        ):
            check_int(what, value, low, owner="MADE")
        self.features = features
        self.params_per_feature = params_per_feature
        self.context_features = context_features
        self.reverse = bool(reverse)

        order = torch.arange(1, features + 1)
        if self.reverse:
            order = order.flip(0)
        degree_in = torch.cat((order, torch.zeros(context_features, dtype=torch.long)))
        # Hidden degrees cycle through low, …, D − 1. Degree 0 (units that see only the
        # context) is needed for block 1 to see the context, and useless without one.
        low = 0 if context_features > 0 or features == 1 else 1
        degrees = [degree_in]
        for width in hidden_features:
            degrees.append(torch.arange(width) % (features - low) + low)
        degree_out = order.repeat_interleave(params_per_feature)

        layers: list[nn.Module] = []
        for d_in, d_out in zip(degrees[:-1], degrees[1:], strict=True):
            mask = d_out[:, None] >= d_in[None, :]
            layers += [MaskedLinear(len(d_in), len(d_out), mask), nn.ReLU(inplace=True)]
        last = MaskedLinear(len(degrees[-1]), len(degree_out), degree_out[:, None] > degrees[-1])
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
        layers.append(last)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """Shape (*, D) (+ context (*, C)) → (*, D, P)."""
        if context is not None:
            x = torch.cat((x, context), dim=-1)
        return self.net(x).unflatten(-1, (self.features, self.params_per_feature))

    def extra_repr(self) -> str:
        ctx = f", context_features={self.context_features}" if self.context_features else ""
        rev = ", reverse=True" if self.reverse else ""
        return f"features={self.features}, params_per_feature={self.params_per_feature}{ctx}{rev}"
