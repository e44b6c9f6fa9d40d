r"""Exact discrete distributions: Bernoulli and Categorical, with clear parameter errors.

.. math::
    P(z = 1) = p = \sigma(\ell) \quad\text{(Bernoulli)}, \qquad
    P(z = k) = p_k = \frac{e^{\ell_k}}{\sum_j e^{\ell_j}} \quad\text{(Categorical)}

They have no reparameterization (``has_rsample`` is False): their gradients are estimated
with the score function, ∇θ E[f(z)] = E[f(z) ∇θ log p(z)] (Williams 1992), which is
what ``reparam.expectation(f, q, n, "score")`` does. They are thin subclasses of
:class:`torch.distributions.Bernoulli` / :class:`~torch.distributions.Categorical`, so
they work wherever torch's do — e.g. as the mixing distribution of a
``MixtureSameFamily`` — and are the exact counterparts of
:class:`~reparam.distributions.relaxed.RelaxedBernoulli` and
:class:`~reparam.distributions.relaxed.RelaxedOneHotCategorical`.

The helpers :func:`select_parameter`, :func:`check_probs`, :func:`check_logits` and
:func:`validating` are shared with the relaxed families.
"""

from __future__ import annotations

from numbers import Number
from typing import SupportsFloat, cast

import torch
from torch import Tensor
from torch.distributions import Distribution
from torch.types import _size

__all__ = ["Bernoulli", "Categorical"]


def validating(validate_args: bool | None) -> bool:
    """Whether parameters are checked: ``validate_args``, or torch's global default."""
    return Distribution._validate_args if validate_args is None else bool(validate_args)


def _as_tensor(owner: str, name: str, value: object) -> Tensor:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, Number) and not isinstance(value, bool):
        # a Number need not define __float__ (complex does not); float() says so
        return torch.tensor(float(cast(SupportsFloat, value)), dtype=torch.get_default_dtype())
    raise TypeError(
        f"{owner}: parameter {name!r} must be a number or a tensor, got {type(value).__name__}"
    )


def select_parameter(
    owner: str, probs: Tensor | float | None, logits: Tensor | float | None
) -> tuple[Tensor | None, Tensor | None]:
    """Check that exactly one of ``probs`` / ``logits`` is given; numbers become tensors.

    Raises:
        ValueError: both or neither are given.
        TypeError: the given one is neither a number nor a tensor.
    """
    if (probs is None) == (logits is None):
        got = "both" if probs is not None else "neither"
        raise ValueError(f"{owner}: pass exactly one of `probs` or `logits`; got {got}")
    if probs is not None:
        return _as_tensor(owner, "probs", probs), None
    return None, _as_tensor(owner, "logits", logits)


def _first_index(mask: Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in mask.nonzero()[0])


def check_probs(owner: str, probs: Tensor, *, simplex: bool) -> None:
    """Raise ValueError unless every probability is in [0, 1] or, for ``simplex`` (the
    weights of K categories, normalized afterwards as torch does), finite and ≥ 0 with a
    positive sum over the last dimension.

    The message names ``probs``, one offending value and its index.
    """
    p = probs.detach()
    if simplex and p.dim() < 1:
        raise ValueError(
            f"{owner}: parameter 'probs' must have at least one dimension (the categories), "
            f"got a scalar {p.item()}"
        )
    if simplex:
        bad, need = ~((p >= 0) & (p < torch.inf)), "be finite and >= 0"  # also catches NaN
    else:
        bad, need = ~((p >= 0) & (p <= 1)), "lie in [0, 1]"
    if bool(bad.any()):
        idx = _first_index(bad)
        raise ValueError(
            f"{owner}: parameter 'probs' must {need}; found {p[idx].item()} at index "
            f"{idx} ({int(bad.sum())} invalid value(s) in a tensor of shape {tuple(p.shape)})"
        )
    if simplex:
        empty = p.sum(-1) <= 0
        if bool(empty.any()):
            idx = _first_index(empty)
            raise ValueError(
                f"{owner}: parameter 'probs' must have a positive sum over its last "
                f"dimension (the categories; it is normalized to sum to 1); found a row of "
                f"zeros at batch index {idx}"
            )


def check_logits(
    owner: str, logits: Tensor, *, event_dim: int, allow_posinf: bool, allow_neginf: bool
) -> None:
    """Raise ValueError for NaN logits, for ±inf ones unless allowed, or for a scalar
    where ``event_dim`` = 1 needs a category dimension. The message names ``logits``
    and one offending value with its index."""
    x = logits.detach()
    if event_dim and x.dim() < 1:
        raise ValueError(
            f"{owner}: parameter 'logits' must have at least one dimension (the categories), "
            f"got a scalar {x.item()}"
        )
    bad = torch.isnan(x)
    if not allow_posinf:
        bad |= x == torch.inf
    if not allow_neginf:
        bad |= x == -torch.inf
    if bool(bad.any()):
        idx = _first_index(bad)
        banned = ["NaN"] + [
            s for s, ok in (("+inf", allow_posinf), ("-inf", allow_neginf)) if not ok
        ]
        need = "must be finite" if len(banned) == 3 else f"must not be {' or '.join(banned)}"
        raise ValueError(
            f"{owner}: parameter 'logits' {need}; found {x[idx].item()} at index {idx} "
            f"(tensor of shape {tuple(x.shape)})"
        )


class Bernoulli(torch.distributions.Bernoulli):
    """The exact Bernoulli distribution on {0, 1}: P(z = 1) = p = σ(logits).

    Not reparameterizable (``has_rsample`` is False): use it with the score-function
    estimator, e.g. to compare with the pathwise gradient of its relaxation
    :class:`~reparam.distributions.relaxed.RelaxedBernoulli`. Behaves exactly like
    :class:`torch.distributions.Bernoulli`, with clearer parameter errors.

    Args:
        probs: p ∈ [0, 1], with shape (*) (give this or ``logits``).
        logits: log p − log(1 − p), not NaN (+inf and −inf mean p = 1 and p = 0).
        validate_args: check the parameter (and the values given to ``log_prob``).

    Raises:
        ValueError: both or neither of ``probs`` and ``logits`` are given; a probability
            is outside [0, 1] or NaN; a logit is NaN. The message names the parameter and
            a bad value.

    Example:
        >>> q = Bernoulli(probs=torch.tensor([0.2, 0.9]))
        >>> q.sample((4,)).shape, q.has_rsample
        (torch.Size([4, 2]), False)
        >>> q.log_prob(torch.tensor([1.0, 1.0])).exp()
        tensor([0.2000, 0.9000])
    """

    def __init__(
        self,
        probs: Tensor | float | None = None,
        logits: Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        probs, logits = select_parameter("Bernoulli", probs, logits)
        if validating(validate_args):
            if probs is not None:
                check_probs("Bernoulli", probs, simplex=False)
            else:
                assert logits is not None  # select_parameter returned exactly one
                check_logits(
                    "Bernoulli", logits, event_dim=0, allow_posinf=True, allow_neginf=True
                )
        super().__init__(probs=probs, logits=logits, validate_args=validate_args)

    def expand(self, batch_shape: _size, _instance: Bernoulli | None = None) -> Bernoulli:
        new = self._get_checked_instance(Bernoulli, _instance)
        return super().expand(batch_shape, _instance=new)


class Categorical(torch.distributions.Categorical):
    """The exact categorical distribution on {0, …, K − 1}: P(z = k) = softmax(logits)ₖ.

    Not reparameterizable (``has_rsample`` is False): use it with the score-function
    estimator, for comparison with its relaxation
    :class:`~reparam.distributions.relaxed.RelaxedOneHotCategorical`, and as the mixing
    distribution of a ``MixtureSameFamily``. Behaves exactly like
    :class:`torch.distributions.Categorical` (``probs`` are normalized over the last
    dimension, as torch does), except that errors name the bad parameter.

    Args:
        probs: nonnegative weights with shape (*, K), not all 0 in a row, normalized to
            sum to 1 over the last dimension (give this or ``logits``).
        logits: unnormalized log-probabilities with shape (*, K), not NaN or +inf
            (−inf means probability 0).
        validate_args: check the parameter (and the values given to ``log_prob``).

    Raises:
        ValueError: both or neither of ``probs`` and ``logits`` are given; the parameter
            is a scalar; a weight is negative, NaN or inf, or a row is all 0; a logit is
            NaN or +inf. The message names the parameter and a bad value.

    Example:
        >>> q = Categorical(probs=torch.tensor([0.2, 0.5, 0.3]))
        >>> q.sample((4,)).shape, q.has_rsample
        (torch.Size([4]), False)
        >>> q.log_prob(torch.tensor(1)).exp()
        tensor(0.5000)
    """

    def __init__(
        self,
        probs: Tensor | float | None = None,
        logits: Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        probs, logits = select_parameter("Categorical", probs, logits)
        if validating(validate_args):
            if probs is not None:
                check_probs("Categorical", probs, simplex=True)
            else:
                assert logits is not None  # select_parameter returned exactly one
                check_logits(
                    "Categorical", logits, event_dim=1, allow_posinf=False, allow_neginf=True
                )
                if bool((logits.detach() == -torch.inf).all(-1).any()):
                    raise ValueError(
                        "Categorical: parameter 'logits' has a row that is all -inf "
                        "(every category would have probability 0)"
                    )
        super().__init__(probs=probs, logits=logits, validate_args=validate_args)

    def expand(self, batch_shape: _size, _instance: Categorical | None = None) -> Categorical:
        new = self._get_checked_instance(Categorical, _instance)
        return super().expand(batch_shape, _instance=new)
