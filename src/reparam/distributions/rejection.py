r"""Reparameterization through a user's acceptance–rejection sampler (Naesseth et al. 2017).

A rejection sampler proposes z = h(ε, θ), ε ~ s(ε) (θ-free), and accepts with probability
a(ε, θ) = q(h(ε, θ); θ) / (M r(h(ε, θ); θ)), r the proposal density of z. The accepted ε
have density π(ε; θ) = s(ε) q(h(ε, θ); θ)/r(h(ε, θ); θ), which depends on θ; so

.. math::
    \nabla_\theta \mathbb E_q[f(z)] =
    \underbrace{\mathbb E_\pi\bigl[\nabla_z f(h)\,\nabla_\theta h(\varepsilon,\theta)\bigr]}
      _{g_\mathrm{rep}}
    + \underbrace{\mathbb E_\pi\Bigl[f(h)\,\nabla_\theta
      \log\frac{q(h(\varepsilon,\theta);\theta)}{r(h(\varepsilon,\theta);\theta)}\Bigr]}
      _{g_\mathrm{cor}}

(M cancels). The pathwise term alone is biased; :class:`RejectionReparameterized` gives
z = h(ε, θ) *and* the log-ratio L = log q(h) − log r(h) (differentiable in θ, through h
too), and the surrogate f + sg(f)·(L − sg L) has the unbiased gradient g_rep + g_cor. The
estimator ``"rejection"`` of :mod:`reparam.estimators` (``expectation(f, q, n,
"rejection", baseline=...)``) builds that surrogate with the score-function machinery
(baselines included).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.types import _size

from ._params import as_tensors, check_params
from .declared import _as_noise
from .standard import NoiseBase

__all__ = ["RejectionReparameterized"]

_EMPTY = torch.Size()


class RejectionReparameterized(Distribution):
    r"""A distribution sampled by a user's rejection sampler, with the unbiased
    reparameterization gradient of Naesseth, Ruiz, Linderman & Blei (2017).

    .. math::
        \varepsilon \sim s, \quad z = h(\varepsilon, \theta), \quad
        \text{accept w.p. } a = \frac{q(z;\theta)}{M(\theta)\, r(z;\theta)}, \qquad
        \tilde f = f(z) + \mathrm{sg}(f(z))\,(L - \mathrm{sg}\,L), \quad
        L = \log q(z;\theta) - \log r(z;\theta)

    ``rsample`` alone would carry only g_rep (biased), so ``has_rsample`` is False: use
    :meth:`rsample_with_correction` and :meth:`surrogate`, or the ``"rejection"``
    estimator. ``sample_noise`` returns accepted ε (distributed as π(ε; θ), not s: noise
    strategies other than plain Monte Carlo do not apply).

    Args:
        proposal: ``h(eps, **params)`` → z, differentiable in the parameters.
        params: name → tensor (or number) θ; ``batch_shape`` is their broadcast shape.
        log_prob: ``log_prob(z, **params)`` → log q(z; θ), the *normalized* target density
            (NaN or −inf outside its support: such proposals are rejected).
        proposal_log_prob: ``proposal_log_prob(z, eps, **params)`` → log r(z; θ) at
            z = h(ε, θ) (= log s(ε) − log|det ∂h/∂ε|).
        log_bound: ``log_bound(**params)`` → log M(θ) with q ≤ M r (a number or tensor
            broadcastable to the batch); only the acceptance uses it.
        noise: ``"normal"``, ``"uniform"`` or a :class:`~reparam.distributions.NoiseBase`.
        event_shape: event shape of z (and of ε).
        support: support of z.
        arg_constraints: name → constraint for some parameters (others: finite reals).
        max_rounds: proposal rounds before giving up (RuntimeError).
        validate_args: check the parameters against their constraints.

    Raises:
        TypeError: a callable argument is not callable.
        ValueError: bad parameters (named), shapes that do not broadcast, or a noise
            strategy other than ``"mc"``.

    References:
        Naesseth, Ruiz, Linderman & Blei, "Reparameterization Gradients through
        Acceptance-Rejection Sampling Algorithms", AISTATS 2017, arXiv:1610.05683.

    Example:
        >>> # Exponential(rate) by proposing from Exponential(rate/2) (M = 2)
        >>> rate = torch.tensor(1.5, requires_grad=True)
        >>> q = RejectionReparameterized(
        ...     lambda u, rate: -2 * torch.log(u) / rate, {"rate": rate},
        ...     log_prob=lambda z, rate: torch.log(rate) - rate * z,
        ...     proposal_log_prob=lambda z, u, rate: torch.log(rate / 2) - rate * z / 2,
        ...     log_bound=lambda rate: torch.log(torch.tensor(2.0)), noise="uniform")
        >>> z, log_ratio = q.rsample_with_correction((1000,))
        >>> q.surrogate(z, log_ratio).mean().backward()  # E[z] = 1/rate: grad −1/rate²
        >>> rate.grad.shape
        torch.Size([])
    """

    has_rsample = False

    def __init__(
        self,
        proposal: Callable[..., Tensor],
        params: Mapping[str, Tensor | float],
        *,
        log_prob: Callable[..., Tensor],
        proposal_log_prob: Callable[..., Tensor],
        log_bound: Callable[..., Tensor | float],
        noise: str | NoiseBase = "normal",
        event_shape: Sequence[int] = (),
        support: constraints.Constraint = constraints.real,
        arg_constraints: Mapping[str, constraints.Constraint] | None = None,
        max_rounds: int = 1000,
        validate_args: bool | None = None,
    ) -> None:
        for name, fn in (
            ("proposal", proposal),
            ("log_prob", log_prob),
            ("proposal_log_prob", proposal_log_prob),
            ("log_bound", log_bound),
        ):
            if not callable(fn):
                raise TypeError(
                    f"RejectionReparameterized: {name} must be callable, got {type(fn).__name__}"
                )
        tensors = as_tensors("RejectionReparameterized", params)
        try:
            batch = torch.broadcast_shapes(*(t.shape for t in tensors))
        except RuntimeError:
            shapes = {n: tuple(t.shape) for n, t in zip(params, tensors, strict=True)}
            raise ValueError(
                f"RejectionReparameterized: parameter shapes do not broadcast: {shapes}"
            ) from None
        self._params = dict(zip(params, tensors, strict=True))
        given = dict(arg_constraints or {})
        self._arg_constraints = {n: given.get(n, constraints.real) for n in params}
        self._h, self._log_q, self._log_r, self._log_m = (
            proposal,
            log_prob,
            proposal_log_prob,
            log_bound,
        )
        self._noise = _as_noise(noise)
        self._support = support
        self.max_rounds = int(max_rounds)
        super().__init__(batch, torch.Size(event_shape), validate_args=False)
        if validate_args or (validate_args is None and Distribution._validate_args):
            check_params("RejectionReparameterized", self._params, self._arg_constraints)

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:
        return self._arg_constraints

    @property
    def support(self) -> constraints.Constraint:
        return self._support

    @property
    def noise(self) -> NoiseBase:
        return self._noise

    def _ref(self) -> Tensor:
        return next(iter(self._params.values()))

    def _log_accept(self, eps: Tensor, params: Mapping[str, Tensor]) -> Tensor:
        z = self._h(eps, **params)
        log_a = self._log_q(z, **params) - self._log_r(z, eps, **params)
        log_a = log_a - torch.as_tensor(self._log_m(**params), dtype=log_a.dtype)
        return torch.where(torch.isnan(log_a), -torch.inf, log_a)

    def sample_noise(self, sample_shape: _size = _EMPTY, *, noise: str = "mc") -> Tensor:
        """Accepted ε (no gradient): proposals redrawn where rejected, every round."""
        if noise != "mc":
            raise ValueError(
                f"RejectionReparameterized: noise={noise!r} does not apply (accepted noise "
                "is not distributed as the base); use 'mc'"
            )
        shape = torch.Size(sample_shape) + self.batch_shape + self.event_shape
        ref = self._ref()
        n_event = len(self.event_shape)
        params = {k: v.detach() for k, v in self._params.items()}
        with torch.no_grad():
            eps = self._noise.sample(shape, dtype=ref.dtype, device=ref.device)
            pending = torch.ones(shape[: len(shape) - n_event], dtype=torch.bool)
            for _ in range(self.max_rounds):
                new = self._noise.sample(shape, dtype=ref.dtype, device=ref.device)
                u = torch.rand(pending.shape, dtype=ref.dtype, device=ref.device)
                log_a = self._log_accept(new, params)
                ok = pending & (torch.log(u) < log_a)
                eps = torch.where(ok.reshape(ok.shape + (1,) * n_event), new, eps)
                pending = pending & ~ok
                if not bool(pending.any()):
                    return eps
        raise RuntimeError(
            f"RejectionReparameterized: {int(pending.sum())} proposals still rejected after "
            f"{self.max_rounds} rounds (is log_bound too large, or log_prob NaN?)"
        )

    def from_noise(self, eps: Tensor) -> Tensor:
        """z = h(ε, θ): the pathwise part only (see :meth:`rsample_with_correction`)."""
        return self._h(eps, **self._params)

    def log_ratio(self, eps: Tensor) -> Tensor:
        """L = log q(h(ε, θ); θ) − log r(h(ε, θ); θ), differentiable in θ (through h)."""
        z = self._h(eps, **self._params)
        return self._log_q(z, **self._params) - self._log_r(z, eps, **self._params)

    def rsample_with_correction(self, sample_shape: _size = _EMPTY) -> tuple[Tensor, Tensor]:
        """(z, L): z = h(ε, θ) for accepted ε, and the log-ratio of the correction term."""
        eps = self.sample_noise(sample_shape)
        z = self._h(eps, **self._params)
        return z, self._log_q(z, **self._params) - self._log_r(z, eps, **self._params)

    @staticmethod
    def surrogate(f_values: Tensor, log_ratio: Tensor) -> Tensor:
        """f + sg(f)·(L − sg L): the value of f, the gradient g_rep + g_cor (elementwise;
        ``log_ratio`` broadcast against ``f_values``)."""
        return f_values + f_values.detach() * (log_ratio - log_ratio.detach())

    def sample(self, sample_shape: _size = _EMPTY) -> Tensor:
        with torch.no_grad():
            return self._h(self.sample_noise(sample_shape), **self._params)

    def log_prob(self, value: Tensor) -> Tensor:
        return self._log_q(value, **self._params)
