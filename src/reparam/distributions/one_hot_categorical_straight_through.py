r"""The straight-through one-hot categorical: an exact Gumbel-max sample, a relaxed gradient.

With u ∈ (0, 1)^K uniform and Gumbel noise g_k = −log(−log u_k), the index
k* = argmax(ℓ + g) is exactly Categorical(softmax ℓ) (the Gumbel-max trick), and

.. math::
    z = \mathrm{onehot}(k^*) + \bigl(p - \mathrm{sg}(p)\bigr), \qquad
    p = \mathrm{softmax}(\ell),

whose value is the one-hot sample and whose gradient is ∂p/∂θ (Bengio, Léonard &
Courville 2013), as :class:`torch.distributions.OneHotCategoricalStraightThrough`. The
gradient is that of E[z] = p: unbiased for linear f(z), a biased heuristic otherwise.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.types import _size

from .base import ReparamDistribution
from .discrete import check_logits, check_probs, select_parameter, validating
from .standard import StandardUniform

__all__ = ["OneHotCategoricalStraightThrough"]


class OneHotCategoricalStraightThrough(ReparamDistribution):
    r"""One-hot categorical with the straight-through gradient, ε first-class.

    .. math::
        u_k \sim \mathcal U(0, 1), \quad g_k = -\log(-\log u_k), \quad
        z = \mathrm{onehot}\bigl(\arg\max_k (\ell_k + g_k)\bigr) + p - \mathrm{sg}(p),
        \quad \log q(z) = \textstyle\sum_k z_k \log p_k

    ``log_prob``, ``entropy``, ``mean`` (p), ``mode`` (the one-hot of argmax p) and
    ``variance`` (p(1 − p)) are those of :class:`torch.distributions.OneHotCategorical`.
    g is not a bijection (a discrete z), so ``log_prob_from_noise`` is the probability
    of the drawn category.

    Args:
        probs: nonnegative weights with shape (*, K), not all 0 in a row, normalized over
            the last dimension (give this or ``logits``).
        logits: unnormalized log-probabilities with shape (*, K), not NaN or +inf
            (−inf is probability 0); stored normalized (ℓ − logsumexp ℓ), as torch does.
        validate_args: check the parameter (and the values given to ``log_prob``).

    Raises:
        ValueError: both or neither of ``probs`` and ``logits``; a scalar parameter; a
            weight negative, NaN or inf, or a row all 0; a logit NaN or +inf, or a row
            all −inf.

    References:
        Bengio, Léonard & Courville, "Estimating or Propagating Gradients Through
        Stochastic Neurons for Conditional Computation", 2013, arXiv:1308.3432;
        Gumbel (1954) / Maddison, Tarlow & Minka, "A* Sampling", NeurIPS 2014 (Gumbel-max).

    Example:
        >>> logits = torch.tensor([0.2, -1.0, 0.5], requires_grad=True)
        >>> q = OneHotCategoricalStraightThrough(logits=logits)
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, bool((z.sum(-1) == 1).all())
        (torch.Size([4, 3]), True)
        >>> (z * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
        >>> logits.grad.shape
        torch.Size([3])
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.one_hot
    noise = StandardUniform()

    def __init__(
        self,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        *,
        validate_args: bool | None = None,
    ) -> None:
        owner = "OneHotCategoricalStraightThrough"
        probs, logits = select_parameter(owner, probs, logits)
        param = probs if probs is not None else logits
        assert param is not None  # select_parameter returned exactly one
        name = "probs" if probs is not None else "logits"
        if param.dim() < 1 or param.shape[-1] < 1:
            raise ValueError(
                f"{owner}: parameter {name!r} must have shape (*batch, K) with K >= 1 "
                f"categories in its last dimension; got shape {tuple(param.shape)}"
            )
        if not param.is_floating_point():
            param = param.to(torch.get_default_dtype())
        if validating(validate_args):
            if probs is not None:
                check_probs(owner, param, simplex=True)
            else:
                check_logits(owner, param, event_dim=1, allow_posinf=False, allow_neginf=True)
                if bool((param.detach() == -torch.inf).all(-1).any()):
                    raise ValueError(
                        f"{owner}: parameter 'logits' has a row that is all -inf "
                        "(every category would have probability 0)"
                    )
        if probs is not None:
            self._probs: Tensor | None = param / param.sum(-1, keepdim=True)
            eps = torch.finfo(param.dtype).eps
            self.logits = torch.log(self._probs.clamp(min=eps, max=1 - eps))
        else:
            self._probs = None
            self.logits = param
        self.logits = self.logits - self.logits.logsumexp(-1, keepdim=True)
        super().__init__(param.shape[:-1], param.shape[-1:], validate_args=validate_args)

    def _check_params(self) -> None:
        """Checked in ``__init__`` (a −inf logit is allowed, as torch's)."""

    @property
    def probs(self) -> Tensor:
        """The category probabilities (as given, normalized, or softmax of the logits)."""
        return self._probs if self._probs is not None else torch.softmax(self.logits, -1)

    def _gumbel_scores(self, u: Tensor) -> Tensor:
        return self.logits - torch.log(-torch.log(u))

    def from_noise(self, eps: Tensor) -> Tensor:
        index = self._gumbel_scores(eps).argmax(-1, keepdim=True)
        probs = self.probs
        shape = torch.broadcast_shapes(eps.shape, probs.shape)
        one_hot = torch.zeros(shape, dtype=probs.dtype, device=probs.device).scatter_(
            -1, index.expand(shape[:-1] + (1,)), 1.0
        )
        return one_hot + (probs - probs.detach())

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        return self.log_prob(z)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        index = value.max(-1, keepdim=True)[1]
        logits = self.logits.expand(torch.broadcast_shapes(value.shape, self.logits.shape))
        return logits.gather(-1, index.expand(logits.shape[:-1] + (1,))).squeeze(-1)

    def entropy(self) -> Tensor:
        min_real = torch.finfo(self.logits.dtype).min
        logits = self.logits.clamp(min=min_real)
        return -(logits * self.probs).sum(-1)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        probs = self.probs
        return torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs)

    @property
    def variance(self) -> Tensor:
        probs = self.probs
        return probs * (1 - probs)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        k = self.event_shape[0]
        values = torch.eye(k, dtype=self.logits.dtype, device=self.logits.device)
        values = values.view((k,) + (1,) * len(self.batch_shape) + (k,))
        return values.expand((k,) + self.batch_shape + (k,)) if expand else values

    def expand(
        self, batch_shape: _size, _instance: ReparamDistribution | None = None
    ) -> OneHotCategoricalStraightThrough:
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(OneHotCategoricalStraightThrough, _instance)
        shape = batch_shape + self.event_shape
        new.logits = self.logits.expand(shape)
        new._probs = None if self._probs is None else self._probs.expand(shape)
        ReparamDistribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new
