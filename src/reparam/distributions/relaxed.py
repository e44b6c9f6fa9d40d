r"""Continuous relaxations of discrete variables: binary Concrete and Gumbel-softmax.

With u ~ U(0, 1) noise, temperature λ > 0 and logits ℓ:

.. math::
    \text{RelaxedBernoulli:}\quad z = \sigma\!\left(\frac{\ell + \log u - \log(1-u)}{\lambda}
    \right), \qquad
    \text{RelaxedOneHotCategorical:}\quad g_k = -\log(-\log u_k), \quad
    z = \operatorname{softmax}\!\left(\frac{\ell + g}{\lambda}\right)

As λ → 0 the sample approaches the exact discrete one (the Gumbel-max trick:
argmax(ℓ + g) ~ Categorical(softmax ℓ), and ℓ + logit(u) > 0 with probability σ(ℓ)),
while for every λ > 0 z is a differentiable function of ℓ and λ, so the pathwise
estimator applies. Their densities (the Concrete densities) are

.. math::
    \log q(z) = \log\lambda + \ell - (\lambda+1)\log z + (\lambda-1)\log(1-z)
        - 2\log\!\bigl(1 + e^{\ell}\, z^{-\lambda} (1-z)^{\lambda}\bigr)

on (0, 1), and on the simplex (in the first K − 1 coordinates)

.. math::
    \log q(z) = \log (K-1)! + (K-1)\log\lambda
        + \sum_k \bigl(\ell_k - (\lambda+1)\log z_k\bigr)
        - K \log\sum_k e^{\ell_k - \lambda \log z_k}.

``hard=True`` is the straight-through variant: the forward value is the hard sample
(0/1, or the one-hot of the argmax) and the backward gradient is the relaxed one,
z_hard + (z_soft − stop_grad(z_soft)). That gradient is biased for E[f(z_hard)] (it is
the gradient of a different function); it is a heuristic, not an unbiased estimator.

References:
    Maddison, Mnih & Teh, "The Concrete Distribution: A Continuous Relaxation of
    Discrete Random Variables", ICLR 2017, arXiv:1611.00712.
    Jang, Gu & Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017,
    arXiv:1611.01144.
    Bengio, Léonard & Courville, "Estimating or Propagating Gradients Through Stochastic
    Neurons for Conditional Computation", 2013, arXiv:1308.3432 (straight-through).
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor
from torch.distributions import constraints
from torch.nn.functional import logsigmoid, softplus
from torch.types import _size

from ._params import as_params, as_tensors
from .base import ReparamDistribution
from .discrete import check_probs, select_parameter, validating
from .standard import StandardUniform

__all__ = ["RelaxedBernoulli", "RelaxedOneHotCategorical"]


def _clamp_probs(p: Tensor) -> Tensor:
    """Clamp probabilities into [eps, 1 − eps] of their dtype, so the logits are finite."""
    eps = torch.finfo(p.dtype).eps
    return p.clamp(min=eps, max=1 - eps)


def _straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    """Forward value exactly ``hard``, gradient that of ``soft``."""
    return hard + (soft - soft.detach())


class _Relaxed(ReparamDistribution):
    """Shared state of the relaxed families: ``temperature``, ``logits``, ``hard``, ``probs``."""

    _abstract = True
    noise = StandardUniform()
    temperature: Tensor
    logits: Tensor
    hard: bool
    _probs: Tensor | None

    @property
    def probs(self) -> Tensor:
        """The probabilities of the discrete variable being relaxed (as given, or from
        the logits)."""
        if self._probs is not None:
            return self._probs
        return self._probs_from_logits()

    def _probs_from_logits(self) -> Tensor:
        raise NotImplementedError

    def expand(self, batch_shape: _size, _instance: ReparamDistribution | None = None) -> _Relaxed:
        new = cast(_Relaxed, super().expand(torch.Size(batch_shape), _instance))  # type(self)
        new.hard = self.hard
        probs = self._probs
        shape = torch.Size(batch_shape) + self.event_shape
        new._probs = None if probs is None else probs.expand(shape)
        return new


class RelaxedBernoulli(_Relaxed):
    r"""Binary Concrete (relaxed Bernoulli) distribution on (0, 1).

    .. math::
        u \sim \mathcal U(0, 1), \quad x = \frac{\ell + \log u - \log(1 - u)}{\lambda},
        \quad z = \sigma(x), \quad
        \log q(z) = \log\lambda + \log u + \log(1-u) - \log\sigma(x) - \log\sigma(-x)

    The density is computed from x in log space (``logsigmoid``), so
    ``rsample_and_log_prob`` is finite even where z rounds to 0 or 1 (small λ or large
    |ℓ|). ``log_prob(value)`` is the same density written in z (it matches
    :class:`torch.distributions.RelaxedBernoulli`); at exactly 0 or 1 it returns the
    limit (±inf or finite, depending on λ), so prefer ``rsample_and_log_prob``.
    ``cdf`` (σ(λ logit z − ℓ)) and ``icdf`` are closed forms of the relaxed variable.

    Args:
        temperature: λ > 0, with shape broadcastable with the parameter.
        probs: P(z_hard = 1) ∈ [0, 1] (give this or ``logits``); clamped to
            [eps, 1 − eps] of its dtype to get finite logits.
        logits: ℓ = log p − log(1 − p), finite.
        hard: straight-through: ``from_noise``/``rsample`` return the hard value
            1[x > 0] ∈ {0, 1} in the forward pass and the relaxed gradient backward.
            Biased; ``log_prob_from_noise`` still returns the relaxed density of the
            soft sample (the hard value has no density).
        validate_args: check λ > 0, the parameter, and ``log_prob``'s values.

    Raises:
        ValueError: both or neither of ``probs`` and ``logits``; λ ≤ 0 or not finite; a
            probability outside [0, 1]; a non-finite logit; shapes that do not broadcast.

    Example:
        >>> q = RelaxedBernoulli(0.5, logits=torch.tensor([-1.0, 0.0, 2.0]))
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, log_q.shape, bool(((z >= 0) & (z <= 1)).all())
        (torch.Size([4, 3]), torch.Size([4, 3]), True)
        >>> hard = RelaxedBernoulli(0.5, probs=torch.tensor([0.3]), hard=True).rsample((5,))
        >>> bool(((hard == 0) | (hard == 1)).all())
        True
    """

    arg_constraints = {
        "temperature": constraints.positive,
        "logits": constraints.real,
        "probs": constraints.unit_interval,
    }
    support = constraints.unit_interval

    def __init__(
        self,
        temperature: Tensor | float,
        probs: Tensor | float | None = None,
        logits: Tensor | float | None = None,
        *,
        hard: bool = False,
        validate_args: bool | None = None,
    ) -> None:
        owner = "RelaxedBernoulli"
        probs, logits = select_parameter(owner, probs, logits)
        if probs is not None:
            if validating(validate_args):
                check_probs(owner, probs, simplex=False)
            temperature, probs = as_params(owner, temperature=temperature, probs=probs)
            p = _clamp_probs(probs)
            logits = torch.log(p) - torch.log1p(-p)
        else:
            temperature, logits = as_params(owner, temperature=temperature, logits=logits)
        self.temperature, self.logits = temperature, logits
        self._probs = probs
        self.hard = bool(hard)
        super().__init__(logits.shape, validate_args=validate_args)

    def _probs_from_logits(self) -> Tensor:
        return torch.sigmoid(self.logits)

    def _logit_z(self, u: Tensor) -> Tensor:
        """x = (ℓ + log u − log(1 − u)) / λ, the logit of the soft sample."""
        return (self.logits + torch.log(u) - torch.log1p(-u)) / self.temperature

    def from_noise(self, eps: Tensor) -> Tensor:
        x = self._logit_z(eps)
        soft = torch.sigmoid(x)
        if self.hard:
            return _straight_through((x > 0).to(soft.dtype), soft)
        return soft

    def log_abs_det_jacobian(self, eps: Tensor, z: Tensor) -> Tensor:
        """log dz/du of the soft map (computed from ε alone, also when ``hard``)."""
        x = self._logit_z(eps)
        return (
            logsigmoid(x)
            + logsigmoid(-x)
            - self.temperature.log()
            - torch.log(eps)
            - torch.log1p(-eps)
        )

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        lam, ell = self.temperature, self.logits
        # Inside (0, 1), with w = ℓ − λ logit(z), log q = log λ + w − 2 softplus(w) − log z
        # − log(1 − z), written through |w| so it never overflows. At z = 0 and z = 1 the
        # density behaves like λ e^{∓ℓ} t^{λ−1} (t = z or 1 − z), whose log is the limit
        # log λ ∓ ℓ + (λ − 1) log 0: +inf for λ < 1, ∓ℓ for λ = 1, −inf for λ > 1. The
        # branch not taken sees harmless stand-ins, so no NaN reaches values or gradients.
        inside = (value > 0) & (value < 1)
        v = torch.where(inside, value, torch.full_like(value, 0.5))
        log_v, log_1mv = torch.log(v), torch.log1p(-v)
        w = (ell - lam * (log_v - log_1mv)).abs()
        interior = -w - 2 * softplus(-w) - log_v - log_1mv
        at_zero = torch.where(inside, torch.ones_like(value), torch.zeros_like(value))
        edge = torch.where(value >= 1, ell, -ell) + torch.special.xlogy(lam - 1, at_zero)
        return lam.log() + torch.where(inside, interior, edge)

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return torch.sigmoid(self.temperature * torch.logit(value) - self.logits)

    def icdf(self, value: Tensor) -> Tensor:
        """The relaxed quantile σ((ℓ + logit u)/λ) (also when ``hard``)."""
        return torch.sigmoid(self._logit_z(value))


class RelaxedOneHotCategorical(_Relaxed):
    r"""Concrete / Gumbel-softmax distribution on the (K − 1)-simplex.

    .. math::
        u_k \sim \mathcal U(0, 1), \quad g_k = -\log(-\log u_k), \quad
        z = \operatorname{softmax}\!\left(\frac{\ell + g}{\lambda}\right)

    K noise values make K − 1 free coordinates, so g is not a bijection and
    ``log_prob_from_noise`` is written directly: with log z = log_softmax((ℓ + g)/λ),

    .. math::
        \log q(z) = \log (K-1)! + (K-1)\log\lambda - \sum_k g_k
            - K \log\sum_k e^{-g_k} - \sum_k \log z_k,

    exact and finite even where coordinates of z underflow to 0 (small λ).
    ``log_prob(value)`` is the Concrete density (the density of the first K − 1
    coordinates; it matches :class:`torch.distributions.RelaxedOneHotCategorical`);
    coordinates that are exactly 0 are read as the smallest normal number of the dtype
    so that it stays finite — prefer ``rsample_and_log_prob`` at low temperature.

    Args:
        temperature: λ > 0, with shape broadcastable with the batch shape of the
            parameter.
        probs: nonnegative weights with shape (*, K), K ≥ 2, not all 0 in a row (give
            this or ``logits``); normalized to sum to 1 (as torch does), then clamped to
            [eps, 1 − eps] to get finite logits.
        logits: finite unnormalized log-probabilities with shape (*, K); stored
            normalized (ℓ − logsumexp ℓ), as torch does.
        hard: straight-through: the forward value is the one-hot vector of
            argmax(ℓ + g), the gradient the relaxed one. Biased; ``log_prob_from_noise``
            returns the relaxed density of the soft sample.
        validate_args: check λ > 0, the parameter, and ``log_prob``'s values.

    Raises:
        ValueError: both or neither of ``probs`` and ``logits``; λ ≤ 0 or not finite; a
            scalar parameter or K < 2; a weight negative, NaN or inf, or a row all 0;
            a non-finite logit; a temperature shape that does not broadcast with the
            batch shape.

    Example:
        >>> q = RelaxedOneHotCategorical(0.5, logits=torch.zeros(2, 3))
        >>> z, log_q = q.rsample_and_log_prob((4,))
        >>> z.shape, log_q.shape
        (torch.Size([4, 2, 3]), torch.Size([4, 2]))
        >>> torch.allclose(z.sum(-1), torch.ones(4, 2))
        True
        >>> h = RelaxedOneHotCategorical(0.5, probs=torch.tensor([0.2, 0.8]), hard=True).rsample()
        >>> bool(((h == 0) | (h == 1)).all()), h.sum().item()
        (True, 1.0)
    """

    arg_constraints = {
        "temperature": constraints.positive,
        "logits": constraints.independent(constraints.real, 1),
        "probs": constraints.simplex,
    }
    support = constraints.simplex

    def __init__(
        self,
        temperature: Tensor | float,
        probs: Tensor | None = None,
        logits: Tensor | None = None,
        *,
        hard: bool = False,
        validate_args: bool | None = None,
    ) -> None:
        owner = "RelaxedOneHotCategorical"
        probs, logits = select_parameter(owner, probs, logits)
        if probs is not None:
            name, param = "probs", probs
        else:
            assert logits is not None  # select_parameter returned exactly one
            name, param = "logits", logits
        if param.dim() < 1 or param.shape[-1] < 2:
            raise ValueError(
                f"{owner}: parameter {name!r} must have shape (*batch, K) with K >= 2 "
                f"categories in its last dimension; got shape {tuple(param.shape)}"
            )
        if probs is not None and validating(validate_args):
            check_probs(owner, probs, simplex=True)
        temperature, param = as_tensors(owner, {"temperature": temperature, name: param})
        try:
            batch = torch.broadcast_shapes(temperature.shape, param.shape[:-1])
        except RuntimeError:
            raise ValueError(
                f"{owner}: the shape of 'temperature' {tuple(temperature.shape)} does not "
                f"broadcast with the batch shape {tuple(param.shape[:-1])} of {name!r} "
                f"(shape {tuple(param.shape)}; its last dimension is the K categories)"
            ) from None
        temperature = temperature.expand(batch)
        param = param.expand(batch + param.shape[-1:])
        if probs is not None:
            probs = param / param.sum(-1, keepdim=True)  # normalized, as torch does
            logits = torch.log(_clamp_probs(probs))
        else:
            logits = param
        self.temperature = temperature
        self.logits = logits - logits.logsumexp(-1, keepdim=True)
        self._probs = probs
        self.hard = bool(hard)
        super().__init__(batch, logits.shape[-1:], validate_args=validate_args)

    def _probs_from_logits(self) -> Tensor:
        return torch.softmax(self.logits, -1)

    def _scores(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """(g, y): the Gumbel noise and y = (ℓ + g)/λ."""
        g = -torch.log(-torch.log(u))
        return g, (self.logits + g) / self.temperature.unsqueeze(-1)

    def from_noise(self, eps: Tensor) -> Tensor:
        _, y = self._scores(eps)
        soft = torch.softmax(y, -1)
        if self.hard:
            one_hot = torch.zeros_like(soft).scatter_(-1, y.argmax(-1, keepdim=True), 1.0)
            return _straight_through(one_hot, soft)
        return soft

    def log_prob_from_noise(self, eps: Tensor, z: Tensor) -> Tensor:
        """The Concrete density of the soft sample, from ε alone (also when ``hard``)."""
        g, y = self._scores(eps)
        k = y.shape[-1]
        return (
            math.lgamma(k)
            + (k - 1) * self.temperature.log()
            - g.sum(-1)
            - k * torch.logsumexp(-g, -1)
            - torch.log_softmax(y, -1).sum(-1)
        )

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        k = self.logits.shape[-1]
        lam = self.temperature
        log_z = value.clamp(min=torch.finfo(value.dtype).tiny).log()
        scores = self.logits - lam.unsqueeze(-1) * log_z
        return (
            math.lgamma(k)
            + (k - 1) * lam.log()
            + torch.log_softmax(scores, -1).sum(-1)
            - log_z.sum(-1)
        )
