"""The estimator interface: :class:`Estimator`, the name registry and the input checks.

An estimator maps (f, q, N) to a surrogate tensor whose value is (1/N) Σ_i f(z_i) and
whose gradient is the estimator's ĝ of ∇θ E_q[f(z)]; f takes samples of shape
(N, *batch_shape, *event_shape) to values of shape (N, *S). The families are in
:mod:`~reparam.estimators.pathwise` and :mod:`~reparam.estimators.score`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from torch import Tensor
from torch.distributions import Distribution

from .._checks import check_int

__all__ = ["Estimator", "Function", "estimator_names", "register_estimator"]

Function = Callable[[Tensor], Tensor]


def _check_f(f: object) -> None:
    if not callable(f):
        raise TypeError(f"f must be callable (samples → values), got {type(f).__name__}")


def _check_q(q: object) -> None:
    if not isinstance(q, Distribution):
        raise TypeError(f"q must be a torch.distributions.Distribution, got {type(q).__name__}")


def _evaluate(f: Function, z: Tensor, num_samples: int) -> Tensor:
    """f(z), checked: a floating tensor whose first dimension is ``num_samples``."""
    fz = f(z)
    if not isinstance(fz, Tensor):
        raise ValueError(
            f"f must return a tensor; for samples of shape {tuple(z.shape)} it returned "
            f"{type(fz).__name__}"
        )
    if not fz.dtype.is_floating_point:
        raise ValueError(f"f must return a floating tensor, got dtype {fz.dtype}")
    if fz.dim() == 0 or fz.shape[0] != num_samples:
        raise ValueError(
            f"f must return values with leading dimension num_samples={num_samples}; for "
            f"samples of shape {tuple(z.shape)} it returned shape {tuple(fz.shape)}"
        )
    return fz


def _option(value: Any, kind: type, factories: Mapping[str, Callable[[], Any]], error: str) -> Any:
    """An estimator option: None or a ``kind`` instance as given, a registered name built
    by its factory, anything else ValueError(error)."""
    if value is None or isinstance(value, kind):
        return value
    if isinstance(value, str) and value in factories:
        return factories[value]()
    raise ValueError(error)


class Estimator(ABC):
    """A gradient estimator: ``estimator(f, q, num_samples)`` returns the surrogate.

    The base class validates the inputs and the values of f; a subclass writes
    ``check(q)`` (raise ValueError when q does not support it) and ``_surrogate``.
    Register a subclass with :func:`register_estimator` to make it available by name.
    """

    name: ClassVar[str] = "estimator"

    @property
    def label(self) -> str:
        """A short description for tables, e.g. ``score+loo``."""
        return self.name

    def check(self, q: Distribution) -> None:  # noqa: B027  (optional hook)
        """Raise ValueError if this estimator cannot be used with q (default: any q)."""

    def __call__(self, f: Function, q: Distribution, num_samples: int = 1) -> Tensor:
        """The surrogate of E_q[f(z)] from ``num_samples`` samples.

        Returns:
            a tensor with shape ``f(z).shape[1:]`` whose value is the mean of f over the
            samples and whose gradient is the estimator.
        """
        _check_f(f)
        _check_q(q)
        num_samples = check_int("num_samples", num_samples, noun="an int")
        self.check(q)
        return self._surrogate(f, q, num_samples)

    @abstractmethod
    def _surrogate(self, f: Function, q: Distribution, num_samples: int) -> Tensor: ...

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


_ESTIMATORS: dict[str, type[Estimator]] = {}


def register_estimator(cls: type[Estimator]) -> type[Estimator]:
    """Class decorator: make ``cls`` available as ``estimator=cls.name``."""
    _ESTIMATORS[cls.name] = cls
    return cls


def estimator_names() -> list[str]:
    """The names accepted by ``estimator=``."""
    return sorted(_ESTIMATORS)
