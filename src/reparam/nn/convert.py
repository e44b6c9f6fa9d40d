"""Turn an ordinary network into a Bayesian one: :func:`bayesianize`.

Every ``nn.Linear``, ``nn.Conv1d`` and ``nn.Conv2d`` of a deep copy of the module is
replaced by :class:`~reparam.nn.BayesLinear` / :class:`~reparam.nn.BayesConv1d` /
:class:`~reparam.nn.BayesConv2d` with the same shapes and options, the posterior means
set to the given weights and biases and the posterior scales to ``init_scale``. With a
small ``init_scale`` the converted network computes (nearly) the same function, which
makes a trained deterministic network a starting point for variational training; in
``deterministic`` mode it computes exactly the same function.

Layers are matched by exact type (a subclass may change ``forward``). Any other module
that holds parameters of its own (``nn.LSTM``, ``nn.BatchNorm2d``, ``nn.Embedding``, …)
raises a ``ValueError`` naming its type, or is kept as it is (deterministic) with
``skip_unsupported=True``. Modules without parameters (activations, pooling, dropout,
flatten) are kept.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TypedDict, cast

import torch
from torch import nn

from .layers import BayesConv1d, BayesConv2d, BayesLayer, BayesLinear
from .priors import Prior

__all__ = ["SUPPORTED", "bayesianize"]

#: the deterministic layers :func:`bayesianize` converts, and their counterparts.
SUPPORTED: dict[type[nn.Module], type[BayesLayer]] = {
    nn.Linear: BayesLinear,
    nn.Conv1d: BayesConv1d,
    nn.Conv2d: BayesConv2d,
}


class _Options(TypedDict):
    prior: Prior | None
    estimator: str
    init_scale: float
    device: torch.device
    dtype: torch.dtype


def _convert_layer(
    m: nn.Module, prior: Prior | None, estimator: str, init_scale: float
) -> BayesLayer:
    assert isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))
    kw = _Options(
        prior=prior,
        estimator=estimator,
        init_scale=init_scale,
        device=m.weight.device,
        dtype=m.weight.dtype,
    )
    if isinstance(m, nn.Linear):
        new: BayesLayer = BayesLinear(m.in_features, m.out_features, m.bias is not None, **kw)
    else:
        # a BayesConvNd, which takes nn.ConvNd's arguments (not BayesLayer's own)
        make = cast(Callable[..., BayesLayer], SUPPORTED[type(m)])
        new = make(
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            m.stride,
            m.padding,
            m.dilation,
            m.groups,
            m.bias is not None,
            m.padding_mode,
            **kw,
        )
    with torch.no_grad():
        new.weight_mu.copy_(m.weight)
        if m.bias is not None:
            new.bias_mu.copy_(m.bias)
    new.weight_mu.requires_grad_(m.weight.requires_grad)
    if m.bias is not None:
        new.bias_mu.requires_grad_(m.bias.requires_grad)
    new.train(m.training)
    return new


def _convert(
    m: nn.Module, prior: Prior | None, estimator: str, init_scale: float, skip: bool
) -> nn.Module:
    if type(m) in SUPPORTED:
        return _convert_layer(m, prior, estimator, init_scale)
    if isinstance(m, BayesLayer):
        return m
    if not skip and next(m.parameters(recurse=False), None) is not None:
        raise ValueError(
            f"bayesianize: cannot convert {type(m).__name__} (it holds parameters and only "
            f"{', '.join(t.__name__ for t in SUPPORTED)} are supported); pass "
            "skip_unsupported=True to keep it deterministic"
        )
    for name, child in m.named_children():
        new = _convert(child, prior, estimator, init_scale, skip)
        if new is not child:
            setattr(m, name, new)
    return m


def bayesianize(
    module: nn.Module,
    *,
    prior: Prior | None = None,
    estimator: str = "weight",
    init_scale: float = 1e-3,
    skip_unsupported: bool = False,
) -> nn.Module:
    """A deep copy of ``module`` with its Linear / Conv1d / Conv2d layers made Bayesian.

    ``prior`` (default ``GaussianPrior(1.0)``), ``estimator`` and ``init_scale`` are
    passed to every new layer; the posterior means are the module's weights. The input
    module is left unchanged.

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> bnn = bayesianize(net, estimator="flipout")
    >>> type(bnn[0]).__name__, torch.equal(bnn[0].weight_mu, net[0].weight)
    ('BayesLinear', True)
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"bayesianize: module must be an nn.Module; got {type(module).__name__}")
    # validate the options once, with the layer's own messages, before copying anything
    BayesLinear(1, 1, prior=prior, estimator=estimator, init_scale=init_scale)
    return _convert(copy.deepcopy(module), prior, estimator, init_scale, skip_unsupported)
