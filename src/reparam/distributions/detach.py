"""Stop-gradient copies of a distribution: log q(z) with q's parameters held constant.

Sticking the landing (Roeder, Wu & Duvenaud 2017, arXiv:1703.09194) and DReG (Tucker,
Lawson, Gu & Maddison 2019, arXiv:1810.04152) evaluate log q(z) at a live z = g(ε, φ)
with φ stopped in the density, so the zero-mean score term ∇φ log q(z)|_z drops out of
the gradient. :func:`detach_params` gives that copy of any distribution.
"""

from __future__ import annotations

import copy
from typing import cast

from torch import Tensor
from torch.distributions import Distribution
from torch.distributions.transforms import Transform

__all__ = ["detach_params"]


def detach_params(q: Distribution) -> Distribution:
    """A shallow copy of q whose tensors are detached: log q(z) with θ stopped, z still live.

    Every tensor reachable through the instance's attributes is replaced by its
    ``detach()``: the parameters, cached derived tensors (e.g. the Cholesky factor and
    the lazily computed ``covariance_matrix`` of a multivariate normal), tensors in
    lists, tuples and dicts, and, recursively, nested distributions (``base_dist``) and
    torch ``Transform`` objects (whose inverse and cache are reset). q itself is left
    untouched. A distribution that holds ``nn.Module`` s (a
    :class:`~reparam.flows.FlowDistribution`) defines ``_stop_module_params()``, called
    on the copy, which makes the copy evaluate its modules with detached parameters.
    Tensors captured elsewhere (closures) are not reached; for sticking the landing that
    only keeps part of the zero-mean score term.

    Args:
        q: any :class:`torch.distributions.Distribution`.

    Returns:
        a distribution of the same type and values, with no graph back to q's
        parameters.

    Example:
        >>> import torch
        >>> from reparam import Normal
        >>> loc = torch.tensor(0.5, requires_grad=True)
        >>> q = Normal(loc, 1.0)
        >>> z = q.rsample()
        >>> detach_params(q).loc.requires_grad, detach_params(q).log_prob(z).requires_grad
        (False, True)
    """
    if not isinstance(q, Distribution):
        raise TypeError(f"q must be a torch.distributions.Distribution, got {type(q).__name__}")
    return cast(Distribution, _detached(q, {}))  # a Distribution comes back as one


def _detached(obj: object, memo: dict[int, object]) -> object:
    if isinstance(obj, Tensor):
        return obj.detach()
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, (Distribution, Transform)):
        new = copy.copy(obj)
        memo[id(obj)] = new
        for name, value in vars(obj).items():
            out = _detached(value, memo)
            if out is not value:
                new.__dict__[name] = out
        stop_modules = getattr(new, "_stop_module_params", None)
        if callable(stop_modules):  # e.g. a flow: its nn.Module parameters are not attributes
            stop_modules()
        if isinstance(new, Transform):
            new._inv = None  # the cached inverse refers to the original
            if "_cached_x_y" in new.__dict__:
                new._cached_x_y = (None, None)
        return new
    if isinstance(obj, (list, tuple)) and type(obj) in (list, tuple):  # not torch.Size
        items = [_detached(v, memo) for v in obj]
        changed = any(a is not b for a, b in zip(items, obj, strict=True))
        return type(obj)(items) if changed else obj
    if isinstance(obj, dict) and type(obj) is dict:
        entries = {k: _detached(v, memo) for k, v in obj.items()}
        return entries if any(entries[k] is not v for k, v in obj.items()) else obj
    return obj
