"""reparam's distributions as Pyro distributions: each class mixed with Pyro's mixin.

Pyro's ``pyro.sample(name, fn)`` calls ``fn()`` and needs ``fn.expand``, ``fn.mask``,
``fn.to_event``: the methods of :class:`pyro.distributions.torch_distribution.
TorchDistributionMixin`. For every distribution class in
:data:`reparam.distributions.__all__` this module makes the subclass

    class Gamma(reparam.Gamma, TorchDistributionMixin)

(generated from ``__all__``, so a new family is adapted without a line here). The
reparam class comes first in the method order, so ``rsample`` (z = g(ε, θ)),
``log_prob``, ``has_rsample``, ``expand`` and the registered KL divergences are
reparam's; Pyro adds ``__call__`` (``rsample`` where ``has_rsample``, else ``sample``),
``mask``, ``to_event``, ``expand_by`` and ``score_parts`` (pathwise where
``has_rsample``, the score function otherwise). A family whose ``expand`` raises
``NotImplementedError`` falls back to Pyro's ``ExpandedDistribution``.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, TypeVar

import torch
from pyro.distributions.torch_distribution import TorchDistributionMixin
from torch import Tensor
from torch.distributions import Distribution
from torch.types import _size

from .. import distributions as _dists
from ..distributions import ReparamDistribution

__all__ = ["PYRO_DISTRIBUTIONS", "PyroAdapted", "pyro_class", "to_pyro"]

_D = TypeVar("_D", bound=Distribution)
_EMPTY = torch.Size()


class PyroAdapted:
    """What every adapted class adds (first in its MRO): the ``expand`` fallback and
    log q(z) kept from the draw.

    Pyro draws z with ``fn()`` and then asks ``fn.log_prob(z)``. Where the family is a
    :class:`~reparam.distributions.ReparamDistribution` with ``has_rsample``, ``rsample``
    goes through ``rsample_and_log_prob`` (log q from ε by the change of variables:
    one pass, no inverse; for an IAF flow the inverse would take D network passes) and
    keeps (z, log q(z)); ``log_prob(value)`` returns that log q when ``value`` *is* that z
    (the same tensor object) and computes it otherwise. The pair is kept only for a draw
    made with gradients enabled, on this distribution object, whose parameters do not
    change after construction, so it cannot go stale; Pyro builds a new one per step.
    """

    def expand(self, batch_shape: _size, _instance: Any = None) -> Any:
        """reparam's ``expand`` (the same class, parameters expanded, not copied), or
        Pyro's ``ExpandedDistribution`` where the family has none."""
        try:
            return super().expand(batch_shape, _instance)  # type: ignore[misc]
        except NotImplementedError:
            return TorchDistributionMixin.expand(self, batch_shape)  # type: ignore[arg-type]

    def rsample(self, sample_shape: _size = _EMPTY, **kwargs: Any) -> Tensor:
        """z = g(ε, θ), keeping log q(z) for :meth:`log_prob` (see the class)."""
        if not (isinstance(self, ReparamDistribution) and self.has_rsample):
            return super().rsample(sample_shape, **kwargs)  # type: ignore[misc]
        if not torch.is_grad_enabled():
            return ReparamDistribution.rsample(self, sample_shape, **kwargs)
        z, log_q = self.rsample_and_log_prob(torch.Size(sample_shape), **kwargs)
        self._drawn = (z, log_q)
        return z

    def from_noise_keeping_log_prob(self, eps: Tensor) -> Tensor:
        """``from_noise(eps)``, keeping log q(z) for :meth:`log_prob` as ``rsample`` does."""
        assert isinstance(self, ReparamDistribution)
        z, log_q = self.from_noise_and_log_prob(eps)
        if torch.is_grad_enabled():
            self._drawn = (z, log_q)
        return z

    def log_prob(self, value: Tensor) -> Tensor:
        """log q(value): kept from the draw if ``value`` is the drawn z, else computed."""
        drawn = self.__dict__.get("_drawn")
        if drawn is not None and drawn[0] is value:
            return drawn[1]
        return super().log_prob(value)  # type: ignore[misc]


def _doc(cls: type) -> str:
    """The adapted class's docstring: the original's summary and a pointer to the rest
    (its examples run in their own module, not here)."""
    summary = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0]
    return (
        f"{summary}\n\n"
        f"reparam's :class:`{cls.__module__}.{cls.__qualname__}` as a Pyro distribution: it "
        "mixes in Pyro's ``TorchDistributionMixin``, so it can be used in ``pyro.sample`` "
        "with ``expand``, ``mask``, ``to_event`` and plates. Parameters, shapes and "
        "examples: see the original class.\n"
    )


_CLASSES: dict[type, type] = {}


def pyro_class(cls: type[_D]) -> type[_D]:
    """The Pyro-ready subclass of a reparam (or any torch) distribution class (cached).

    Args:
        cls: a subclass of :class:`torch.distributions.Distribution`.

    Returns:
        ``cls`` itself if it already is a Pyro distribution, else the class
        ``(PyroAdapted, cls, TorchDistributionMixin)`` named as ``cls``, with module
        ``reparam.pyro`` and ``cls``'s docstring under a one-paragraph header.

    Raises:
        TypeError: ``cls`` is not a torch distribution class.
    """
    if not (isinstance(cls, type) and issubclass(cls, Distribution)):
        raise TypeError(
            f"pyro_class: expected a torch.distributions.Distribution subclass, got {cls!r}"
        )
    if issubclass(cls, TorchDistributionMixin):
        return cls

    if cls not in _CLASSES:

        def body(ns: dict[str, Any]) -> None:
            ns["__module__"] = "reparam.pyro"
            ns["__qualname__"] = cls.__name__
            ns["__doc__"] = _doc(cls)

        bases = (PyroAdapted, cls, TorchDistributionMixin)
        _CLASSES[cls] = types.new_class(cls.__name__, bases, exec_body=body)
    return _CLASSES[cls]


def to_pyro(q: _D) -> _D:
    """The same distribution object as an instance of its Pyro-ready class.

    The state (parameter tensors, a flow's transforms) is shared, not copied, so
    gradients reach the original parameters. Use it for a reparam distribution built
    elsewhere, e.g. ``to_pyro(flow())`` for a :class:`~reparam.flows.Flow`.

    Raises:
        TypeError: ``q`` is not a torch distribution.
    """
    if not isinstance(q, Distribution):
        raise TypeError(f"to_pyro: expected a torch distribution, got {type(q).__name__}")
    cls = pyro_class(type(q))
    if cls is type(q):
        return q
    new = object.__new__(cls)
    new.__dict__.update(q.__dict__)
    return new


def _adapt_all() -> dict[str, type]:
    out = {}
    for name in _dists.__all__:
        obj = getattr(_dists, name)
        if isinstance(obj, type) and issubclass(obj, Distribution):
            out[name] = pyro_class(obj)
    return out


#: name → Pyro-ready class, for every distribution class in ``reparam.distributions``.
PYRO_DISTRIBUTIONS: dict[str, type] = _adapt_all()
