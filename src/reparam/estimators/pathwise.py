r"""The pathwise (reparameterization) estimator and the draw it shares with the objectives.

.. math:: \hat g = \frac1N \sum_i \nabla_\theta f(g(\varepsilon_i, \theta)),
          \qquad \varepsilon_i \sim p(\varepsilon)

:func:`pathwise_draw` is the one place z = g(ε, θ) is drawn for an estimate: a torch
distribution is wrapped when a noise strategy needs ε, then ``rsample`` or
``rsample_and_log_prob`` runs with that strategy. :class:`Pathwise` and every objective
of :mod:`reparam.objectives` call it.

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.
    Roeder, Wu & Duvenaud, "Sticking the Landing", NeurIPS 2017, arXiv:1703.09194.
    Buchholz, Wenzel & Mandt, "Quasi-Monte Carlo Variational Inference", ICML 2018,
    arXiv:1807.01985.
"""

from __future__ import annotations

from typing import Literal, overload

import torch
from torch import Tensor
from torch.distributions import Distribution

from ..distributions import ReparamDistribution, detach_params, wrap
from ..noise import Antithetic, MonteCarlo, NoiseStrategy, get_noise
from .base import Estimator, Function, _evaluate, register_estimator
from .control_variates import ControlVariate, _as_control_variate

__all__ = ["ENTROPY_MODES", "Pathwise", "pathwise_draw"]


#: the values accepted by ``entropy=`` (besides None).
ENTROPY_MODES = ("analytic", "mc", "stl")


def _check_entropy(entropy: str | None) -> str | None:
    if entropy is None or (isinstance(entropy, str) and entropy in ENTROPY_MODES):
        return entropy
    raise ValueError(f"unknown entropy {entropy!r}; use None or one of {', '.join(ENTROPY_MODES)}")


@overload
def pathwise_draw(
    q: Distribution,
    num_samples: int,
    noise: str | NoiseStrategy = ...,
    *,
    with_log_prob: Literal[False] = ...,
) -> tuple[Tensor, None]: ...
@overload
def pathwise_draw(
    q: Distribution,
    num_samples: int,
    noise: str | NoiseStrategy = ...,
    *,
    with_log_prob: Literal[True],
) -> tuple[Tensor, Tensor]: ...
@overload
def pathwise_draw(
    q: Distribution,
    num_samples: int,
    noise: str | NoiseStrategy = ...,
    *,
    with_log_prob: bool,
) -> tuple[Tensor, Tensor | None]: ...
def pathwise_draw(
    q: Distribution,
    num_samples: int,
    noise: str | NoiseStrategy = "mc",
    *,
    with_log_prob: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """N reparameterized samples z = g(ε, θ) and, when asked, log q(z) from the same ε.

    Plain Monte Carlo uses q's own ``rsample`` (any torch distribution with one, and
    ``rsample_and_log_prob`` for a :class:`~reparam.distributions.ReparamDistribution`).
    Any other strategy needs ε, so a torch distribution is first converted with
    :func:`~reparam.distributions.wrap`.

    Args:
        q: a distribution with ``has_rsample``.
        num_samples: N, the leading sample dimension.
        noise: ``"mc"``, ``"antithetic"`` (N even), ``"qmc"`` or a
            :class:`~reparam.noise.NoiseStrategy`.
        with_log_prob: also return log q(z).

    Returns:
        z with shape ``(N, *batch_shape, *event_shape)`` and log q(z) with shape
        ``(N, *batch_shape)`` (None unless ``with_log_prob``).

    Raises:
        ValueError: an unknown noise, antithetic with an odd N, or a strategy that does
            not apply to q (see :mod:`reparam.noise`).

    Example:
        >>> from reparam import Normal
        >>> q = Normal(torch.zeros(3), 1.0)
        >>> z, log_q = pathwise_draw(q, 4, "antithetic", with_log_prob=True)
        >>> z.shape, log_q.shape, bool(torch.equal(z[2:], -z[:2]))
        (torch.Size([4, 3]), torch.Size([4, 3]), True)
    """
    strategy = get_noise(noise)
    shape = torch.Size((num_samples,))
    if isinstance(strategy, MonteCarlo):
        if with_log_prob and isinstance(q, ReparamDistribution):
            return q.rsample_and_log_prob(shape)
        z = q.rsample(shape)
        return z, (q.log_prob(z) if with_log_prob else None)
    if isinstance(strategy, Antithetic) and num_samples % 2:
        raise ValueError(
            f"noise='antithetic' needs an even num_samples (pairs ε, r(ε)); got {num_samples}"
        )
    rq = wrap(q)
    if with_log_prob:
        return rq.rsample_and_log_prob(shape, noise=strategy)
    return rq.rsample(shape, noise=strategy), None


@register_estimator
class Pathwise(Estimator):
    r"""Pathwise (reparameterization) estimator; needs ``q.has_rsample``.

    .. math::
        \nabla_\theta \mathbb E_q[f(z)] \approx \frac1N \sum_{i=1}^N
        \nabla_\theta f(g(\varepsilon_i, \theta)), \qquad \varepsilon_i \sim p(\varepsilon)

    With the defaults the surrogate is simply (1/N) Σ f(q.rsample()). Options (all keep
    the value and the gradient unbiased; see the module docstring for the formulas):

    Args:
        noise: how ε is drawn: ``"mc"`` (default), ``"antithetic"`` (needs an even
            number of samples), ``"qmc"`` or a :class:`~reparam.noise.NoiseStrategy`.
            A torch distribution is first converted with
            :func:`~reparam.distributions.wrap`; q's noise must be an elementwise base
            (not the opaque seed of a :class:`~reparam.WrappedRSample`).
        control_variate: None, ``"linear"`` or ``"quadratic"`` (a
            :class:`TaylorControlVariate` of order 1 or 2 around E_q[z]) or a
            :class:`ControlVariate`. The surrogate's value is then the control-variate
            estimate, no longer the plain sample mean (same expectation).
        entropy: None, or add H[q] to the target: ``"mc"`` (−log q(z) from the noise,
            ``rsample_and_log_prob``), ``"analytic"`` (``q.entropy()``) or ``"stl"``
            (−log q(z) with q's parameters stopped, :func:`detach_params`). f must then
            return shape (N,) (log q summed over the batch) or (N, *batch_shape)
            (elementwise). The control variate acts on f only.

    Raises:
        ValueError: an unknown noise, control variate or entropy; at use: antithetic
            with an odd number of samples, and what the control variate raises.

    References:
        Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.
        Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient
        Variance", NeurIPS 2017, arXiv:1705.07880.
        Roeder, Wu & Duvenaud, "Sticking the Landing", NeurIPS 2017, arXiv:1703.09194.
        Buchholz, Wenzel & Mandt, "Quasi-Monte Carlo Variational Inference", ICML 2018,
        arXiv:1807.01985.

    Example:
        >>> from reparam import Normal
        >>> from reparam.estimators import expectation
        >>> loc = torch.tensor(1.0, requires_grad=True)
        >>> expectation(lambda z: z, Normal(loc, 2.0), 10, Pathwise()).backward()
        >>> round(loc.grad.item(), 6)  # ∂/∂μ E[z] = 1 for every sample
        1.0
        >>> Pathwise(noise="qmc", control_variate="linear", entropy="stl").label
        'pathwise+qmc+cv-linear+stl'
    """

    name = "pathwise"

    def __init__(
        self,
        noise: str | NoiseStrategy = "mc",
        control_variate: str | ControlVariate | None = None,
        entropy: str | None = None,
    ) -> None:
        self.noise = get_noise(noise)
        self.control_variate = _as_control_variate(control_variate)
        self.entropy = _check_entropy(entropy)

    @property
    def label(self) -> str:
        parts = [self.name]
        if not isinstance(self.noise, MonteCarlo):
            parts.append(self.noise.name)
        if self.control_variate is not None:
            parts.append(f"cv-{self.control_variate.name}")
        if self.entropy == "stl":
            parts.append("stl")
        elif self.entropy is not None:
            parts.append(f"entropy-{self.entropy}")
        return "+".join(parts)

    def check(self, q: Distribution) -> None:
        if not q.has_rsample:
            raise ValueError(
                f"the pathwise estimator needs a reparameterized distribution; "
                f"{type(q).__name__} has no rsample (use estimator='score')"
            )

    def _surrogate(self, f: Function, q: Distribution, num_samples: int) -> Tensor:
        z, log_q = pathwise_draw(q, num_samples, self.noise, with_log_prob=self.entropy == "mc")
        fz = _evaluate(f, z, num_samples)
        values = fz if self.control_variate is None else self.control_variate(f, q, z, fz)
        if self.entropy is None:
            return values.mean(0)
        if self.entropy == "analytic":
            try:
                h = q.entropy()
            except NotImplementedError as err:
                raise ValueError(
                    f"entropy='analytic' needs q.entropy(); {type(q).__name__} has none "
                    "(use entropy='mc' or 'stl')"
                ) from err
            return values.mean(0) + self._per_value(h.expand(q.batch_shape), fz, q, batch=True)
        if self.entropy == "stl":
            try:
                log_q = detach_params(q).log_prob(z)
            except NotImplementedError as err:
                raise ValueError(
                    f"entropy='stl' needs q.log_prob; {type(q).__name__} has none "
                    "(use entropy='mc')"
                ) from err
        assert log_q is not None
        return (values - self._per_value(log_q, fz, q, batch=False)).mean(0)

    @staticmethod
    def _per_value(term: Tensor, fz: Tensor, q: Distribution, *, batch: bool) -> Tensor:
        """Match an entropy term of shape ([N,] *batch) to f's values: sum or keep."""
        lead = 0 if batch else 1
        batch_shape = tuple(q.batch_shape)
        if fz.shape[1:] == batch_shape:
            return term
        if fz.dim() == 1:
            return term.reshape(term.shape[:lead] + (-1,)).sum(-1)
        raise ValueError(
            f"entropy= needs f to return shape (num_samples,) or (num_samples, *batch_shape) "
            f"= {(fz.shape[0], *batch_shape)}; got {tuple(fz.shape)}"
        )

    def __repr__(self) -> str:
        args = []
        if not isinstance(self.noise, MonteCarlo):
            args.append(f"noise={self.noise.name!r}")
        if self.control_variate is not None:
            args.append(f"control_variate={self.control_variate.name!r}")
        if self.entropy is not None:
            args.append(f"entropy={self.entropy!r}")
        return f"Pathwise({', '.join(args)})"
