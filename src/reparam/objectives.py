r"""Variational objectives shared by every model: ELBO, IWAE, DReG, sticking the landing.

Every objective is a function of ``log_likelihood`` (z ↦ log p(x | z), or the full log
joint log p(x, z) when no prior is given), the approximate posterior q(z | x) and an
optional prior p(z). Each returns a *per data point* bound, a tensor of shape
``q.batch_shape``, whose value is the Monte Carlo estimate and whose gradient is the
estimator (take ``-bound.mean()`` as the loss). With z_i = g(ε_i, φ), ε_i ~ p(ε), and
log weights log w_i = log p(x, z_i) − log q(z_i):

- **ELBO** (Kingma & Welling 2014), β-weighted (Higgins et al. 2017):

  .. math:: \mathcal L_\beta = \frac1S \sum_{i=1}^S \log p(x \mid z_i)
            - \beta\, \mathrm{KL}(q \,\|\, p),

  the KL in closed form when one is registered with ``torch.distributions.kl`` and
  (1/S) Σ_i [log q(z_i) − log p(z_i)] otherwise. *Sticking the landing* (Roeder, Wu &
  Duvenaud 2017) evaluates log q(z_i) with q's parameters stopped: the score term
  ∇φ log q(z)|_z, of mean zero, is dropped, so the gradient vanishes sample by sample
  when q is the exact posterior.

- **IWAE** (Burda, Grosse & Salakhutdinov 2016), tighter with k and → log p(x):

  .. math:: \mathcal L_k = \log \frac1k \sum_{i=1}^k w_i, \qquad
            \mathcal L_1 = \text{ELBO} \le \mathcal L_k \le \mathcal L_{k+1} \le \log p(x).

- **DReG** (Tucker, Lawson, Gu & Maddison 2019): the value of 𝓛_k, with the
  doubly-reparameterized gradient for q's parameters φ and the ordinary IWAE gradient
  for the model's parameters θ (those of ``log_likelihood`` and the prior),

  .. math:: \hat\nabla_\varphi = \sum_i \tilde w_i^{2}\,
            \frac{\partial \log w_i}{\partial z_i}\frac{\partial z_i}{\partial \varphi},
            \qquad
            \hat\nabla_\theta = \sum_i \tilde w_i\, \nabla_\theta \log p(x, z_i),
            \qquad \tilde w_i = w_i / \textstyle\sum_j w_j,

  with log q's parameters stopped in log w_i. Its encoder gradient is unbiased for the
  IWAE one and its signal-to-noise ratio does not decay with k.

- **log-joint ELBO** (black-box VI, Ranganath et al. 2014; :func:`log_joint_elbo`):
  E_q[log p(x, z)] + H[q] with the entropy in closed form, from the noise, or with φ
  stopped (STL), and an optional Taylor control variate (Miller et al. 2017).

All take ``(log_likelihood, q, prior=None, *, num_samples=1, noise="mc", …)`` (IWAE's
and DReG's ``k`` is an alias of ``num_samples``), and all draw z through
:func:`~reparam.estimators.pathwise.pathwise_draw`, the draw of the pathwise estimator.
:data:`OBJECTIVES` maps names to elbo, iwae and dreg. Split off to keep this module to
the bounds: the argument checks of that signature (:mod:`reparam._objective_args`) and
:class:`BetaSchedule`, β(step) with a linear warm-up (KL annealing, Bowman et al. 2016;
:mod:`reparam.schedules`, re-exported here).

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014, arXiv:1312.6114.
    Higgins et al., "β-VAE: Learning Basic Visual Concepts with a Constrained
    Variational Framework", ICLR 2017.
    Bowman et al., "Generating Sentences from a Continuous Space", CoNLL 2016,
    arXiv:1511.06349.
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016,
    arXiv:1509.00519.
    Roeder, Wu & Duvenaud, "Sticking the Landing: Simple, Lower-Variance Gradient
    Estimators for Variational Inference", NeurIPS 2017, arXiv:1703.09194.
    Tucker, Lawson, Gu & Maddison, "Doubly Reparameterized Gradient Estimators for
    Monte Carlo Objectives", ICLR 2019, arXiv:1810.04152.
    Ranganath, Gerrish & Blei, "Black Box Variational Inference", AISTATS 2014.
    Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient Variance",
    NeurIPS 2017, arXiv:1705.07880.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

from ._objective_args import (
    DEFAULT_NUM_SAMPLES,
    KL_MODES,
    check_inputs,
    check_kl_mode,
    check_values,
    num_samples_or_k,
)
from .distributions import detach_params
from .estimators.control_variates import ControlVariate
from .estimators.pathwise import ENTROPY_MODES, Pathwise, pathwise_draw
from .noise import NoiseStrategy
from .schedules import BetaSchedule, check_beta

__all__ = [
    "KL_MODES",
    "OBJECTIVES",
    "BetaSchedule",
    "dreg",
    "elbo",
    "elbo_terms",
    "get_objective",
    "iwae",
    "log_joint_elbo",
]

LogLikelihood = Callable[[Tensor], Tensor]


def _log_terms(
    log_likelihood: LogLikelihood, q: Distribution, prior: Distribution | None, z: Tensor
) -> tuple[Tensor, Tensor | None]:
    """log_likelihood(z) and prior.log_prob(z), both checked to be (n, *q.batch_shape)."""
    expected = z.shape[:1] + q.batch_shape
    ll = check_values(log_likelihood(z), expected, "log_likelihood", z)
    if prior is None:
        return ll, None
    log_p = check_values(prior.log_prob(z), expected, "prior.log_prob", z)
    return ll, log_p


def _log_weights(
    log_likelihood: LogLikelihood,
    q: Distribution,
    prior: Distribution | None,
    z: Tensor,
    log_q: Tensor,
) -> Tensor:
    ll, log_p = _log_terms(log_likelihood, q, prior, z)
    # the same expression as elbo's ll − β (log q − log p) at β = 1, so that IWAE(k=1)
    # and the Monte Carlo ELBO agree bit for bit.
    return ll - (log_q if log_p is None else log_q - log_p)


def _analytic_kl(q: Distribution, prior: Distribution) -> Tensor | None:
    """KL(q ‖ prior) with shape q.batch_shape, or None when no KL is registered."""
    p = prior if prior.batch_shape == q.batch_shape else prior.expand(q.batch_shape)
    try:
        kl = kl_divergence(q, p)
    except NotImplementedError:
        return None
    return kl.expand(q.batch_shape) if kl.shape != q.batch_shape else kl


# --------------------------------------------------------------------------- objectives
def elbo(
    log_likelihood: LogLikelihood,
    q: Distribution,
    prior: Distribution | None = None,
    *,
    num_samples: int = 1,
    beta: float = 1.0,
    kl: str = "auto",
    stl: bool = False,
    noise: str | NoiseStrategy = "mc",
) -> Tensor:
    r"""The (β-weighted) evidence lower bound per data point.

    .. math:: \frac1S \sum_{i=1}^S \log p(x \mid z_i) - \beta\,\mathrm{KL}(q \,\|\, p),
              \qquad z_i = g(\varepsilon_i, \varphi)

    Args:
        log_likelihood: maps z of shape ``(S, *q.batch_shape, *q.event_shape)`` to
            log p(x | z) of shape ``(S, *q.batch_shape)``; the full log joint
            log p(x, z) when ``prior`` is None.
        q: the reparameterized approximate posterior (batch = data points, event =
            latent dimensions).
        prior: p(z) with event shape ``q.event_shape`` and a batch shape that broadcasts
            to ``q.batch_shape``; None when ``log_likelihood`` is the log joint.
        num_samples: S, the number of samples per data point.
        beta: β ≥ 0, the weight of the KL term (1: the ELBO; see :class:`BetaSchedule`).
        kl: ``"auto"`` (closed form when ``kl_divergence(q, prior)`` is registered, Monte
            Carlo otherwise), ``"analytic"`` or ``"mc"`` (forced).
        stl: sticking the landing: Monte Carlo KL with q's parameters stopped in log q
            (its gradient drops the zero-mean score term).
        noise: how ε is drawn: ``"mc"``, ``"antithetic"`` (S even), ``"qmc"`` or a
            :class:`~reparam.noise.NoiseStrategy`.

    Returns:
        the bound with shape ``q.batch_shape``; its gradient is the estimator.

    Raises:
        ValueError: num_samples < 1, β < 0, an unknown ``kl`` or ``noise``,
            ``kl="analytic"`` without a registered KL or with ``stl=True`` or without a
            prior, β ≠ 1 without a prior, mismatched prior shapes, or ``log_likelihood``
            returning a shape other than ``(S, *q.batch_shape)``.

    Example:
        >>> import reparam
        >>> x = torch.tensor([[0.5, -1.0]])
        >>> q = reparam.DiagonalNormal(torch.zeros(1, 2), torch.ones(1, 2))
        >>> prior = reparam.DiagonalNormal(torch.zeros(2), torch.ones(2))
        >>> ll = lambda z: torch.distributions.Normal(z, 1.0).log_prob(x).sum(-1)
        >>> elbo(ll, q, prior, num_samples=4).shape
        torch.Size([1])
    """
    check_inputs(log_likelihood, q, prior)
    n = num_samples_or_k(num_samples)
    beta = check_beta(beta)
    check_kl_mode(kl, prior, stl)
    if prior is None and beta != 1.0:
        raise ValueError(
            f"beta={beta} needs a prior: without one, log_likelihood is the log joint "
            "and the KL term cannot be weighted separately"
        )

    recon, kl_value = _elbo_terms(log_likelihood, q, prior, n, kl, stl, noise)
    return recon - beta * kl_value


def elbo_terms(
    log_likelihood: LogLikelihood,
    q: Distribution,
    prior: Distribution | None = None,
    *,
    num_samples: int = 1,
    kl: str = "auto",
    stl: bool = False,
    noise: str | NoiseStrategy = "mc",
) -> tuple[Tensor, Tensor]:
    r"""The two terms of the ELBO, (E_q[log p(x|z)], KL(q‖p)), each of shape ``q.batch_shape``.

    ``elbo(..., beta=β) == recon − β·kl`` for the same samples; models that log both terms
    (e.g. the VAE) call this once instead of computing the KL again. Without a prior,
    ``recon`` is E_q[log p(x, z)] and ``kl`` is E_q[log q(z)] (both Monte Carlo). The
    arguments are those of :func:`elbo`.

    Example:
        >>> import reparam
        >>> q = reparam.DiagonalNormal(torch.zeros(3, 2), torch.ones(3, 2))
        >>> prior = reparam.DiagonalNormal(torch.zeros(2), torch.ones(2))
        >>> recon, kl = elbo_terms(lambda z: -(z**2).sum(-1), q, prior)
        >>> recon.shape, kl.shape, bool((kl == 0).all())
        (torch.Size([3]), torch.Size([3]), True)
    """
    check_inputs(log_likelihood, q, prior)
    n = num_samples_or_k(num_samples)
    check_kl_mode(kl, prior, stl)
    return _elbo_terms(log_likelihood, q, prior, n, kl, stl, noise)


def _elbo_terms(
    log_likelihood: LogLikelihood,
    q: Distribution,
    prior: Distribution | None,
    n: int,
    kl: str,
    stl: bool,
    noise: str | NoiseStrategy,
) -> tuple[Tensor, Tensor]:
    """(E_q[log p(x|z)], KL) per data point for checked arguments."""
    kl_value = None
    if prior is not None and not stl and kl != "mc":
        kl_value = _analytic_kl(q, prior)
        if kl_value is None and kl == "analytic":
            raise ValueError(
                f"kl='analytic': no KL divergence is registered for "
                f"({type(q).__name__}, {type(prior).__name__}); use kl='mc' or 'auto'"
            )
    if kl_value is not None:
        z, _ = pathwise_draw(q, n, noise)
        ll, _ = _log_terms(log_likelihood, q, None, z)
        return ll.mean(0), kl_value
    if stl:
        z, _ = pathwise_draw(q, n, noise)
        log_q = detach_params(q).log_prob(z)
    else:
        z, log_q = pathwise_draw(q, n, noise, with_log_prob=True)
    ll, log_p = _log_terms(log_likelihood, q, prior, z)
    kl_terms = log_q if log_p is None else log_q - log_p
    return ll.mean(0), kl_terms.mean(0)


def iwae(
    log_likelihood: LogLikelihood,
    q: Distribution,
    prior: Distribution | None = None,
    *,
    num_samples: int = DEFAULT_NUM_SAMPLES,
    noise: str | NoiseStrategy = "mc",
    k: int | None = None,
) -> Tensor:
    r"""The importance-weighted bound IWAE(k) per data point (Burda et al. 2016).

    .. math:: \mathcal L_k = \log \frac1k \sum_{i=1}^k
              \frac{p(x, z_i)}{q(z_i)}, \qquad z_i = g(\varepsilon_i, \varphi)

    k = 1 gives the Monte Carlo ELBO of :func:`elbo` (``kl="mc"``) from the same samples.
    The gradient is the ordinary reparameterized IWAE gradient.

    Args:
        log_likelihood: as in :func:`elbo` (with k samples).
        q: the reparameterized approximate posterior.
        prior: p(z), or None when ``log_likelihood`` is the log joint.
        num_samples: k, the number of importance samples per data point.
        noise: how ε is drawn (as in :func:`elbo`).
        k: an alias of ``num_samples`` (the name of Burda et al.).

    Returns:
        the bound with shape ``q.batch_shape``.

    Raises:
        ValueError: k < 1, ``num_samples`` and ``k`` given with different values, an
            unknown noise, mismatched prior shapes, or ``log_likelihood`` returning a
            shape other than ``(k, *q.batch_shape)``.

    Example:
        >>> import reparam
        >>> q = reparam.Normal(torch.zeros(3), torch.ones(3))
        >>> log_joint = lambda z: torch.distributions.Normal(0.0, 1.0).log_prob(z)
        >>> iwae(log_joint, q, num_samples=8)  # q is the exact posterior: log p(x) = 0 exactly
        tensor([0., 0., 0.])
    """
    check_inputs(log_likelihood, q, prior)
    k = num_samples_or_k(num_samples, k)
    z, log_q = pathwise_draw(q, k, noise, with_log_prob=True)
    log_w = _log_weights(log_likelihood, q, prior, z, log_q)
    return torch.logsumexp(log_w, dim=0) - math.log(k)


def dreg(
    log_likelihood: LogLikelihood,
    q: Distribution,
    prior: Distribution | None = None,
    *,
    num_samples: int = DEFAULT_NUM_SAMPLES,
    noise: str | NoiseStrategy = "mc",
    k: int | None = None,
) -> Tensor:
    r"""IWAE(k) with the doubly-reparameterized gradient (Tucker et al. 2019).

    The value is the IWAE bound. The gradient for q's parameters φ is
    Σ_i w̃_i² (∂log w_i/∂z_i)(∂z_i/∂φ) with log q's parameters stopped; for the
    parameters of ``log_likelihood`` and the prior it is the IWAE gradient
    Σ_i w̃_i ∇θ log p(x, z_i). Both come from one surrogate Σ_i w̃_i log w_i (w̃
    held constant, one evaluation of the model) whose backward pass multiplies the
    gradient reaching z_i by a second factor w̃_i (a hook on z).

    Args:
        log_likelihood: as in :func:`elbo` (with k samples).
        q: the reparameterized approximate posterior; its parameters must be reachable
            from the instance (as for :func:`~reparam.distributions.detach_params`).
        prior: p(z), or None when ``log_likelihood`` is the log joint.
        num_samples: k, the number of importance samples per data point.
        noise: how ε is drawn (as in :func:`elbo`).
        k: an alias of ``num_samples`` (the name of Burda et al.).

    Returns:
        the IWAE bound with shape ``q.batch_shape``, carrying the DReG gradient.

    Raises:
        ValueError: as :func:`iwae`.

    Example:
        >>> import reparam
        >>> mu = torch.zeros(2, requires_grad=True)
        >>> q = reparam.Normal(mu, torch.ones(2))
        >>> log_joint = lambda z: torch.distributions.Normal(0.0, 1.0).log_prob(z)
        >>> dreg(log_joint, q, k=4).sum().backward()
        >>> mu.grad  # exact posterior: log w is constant in z, the gradient vanishes
        tensor([0., 0.])
    """
    check_inputs(log_likelihood, q, prior)
    k = num_samples_or_k(num_samples, k)
    z, _ = pathwise_draw(q, k, noise)
    q_stopped = detach_params(q)
    z_in = z.view_as(z) if z.requires_grad else z  # its own node, for the gradient hook
    log_w = _log_weights(log_likelihood, q, prior, z_in, q_stopped.log_prob(z_in))
    w_tilde = torch.softmax(log_w.detach(), dim=0)
    if z_in.requires_grad:
        scale = w_tilde.reshape(w_tilde.shape + (1,) * len(q.event_shape))
        z_in.register_hook(lambda grad: grad * scale)  # ∂/∂z_i gets a second factor w̃_i
    surrogate = (w_tilde * log_w).sum(0)
    bound = torch.logsumexp(log_w.detach(), dim=0) - math.log(k)
    return bound + (surrogate - surrogate.detach())


def log_joint_elbo(
    log_joint: LogLikelihood,
    q: Distribution,
    *,
    num_samples: int = 1,
    noise: str | NoiseStrategy = "mc",
    entropy: str = "analytic",
    control_variate: str | ControlVariate | None = None,
) -> Tensor:
    r"""The entropy-form ELBO of an unnormalized log joint (black-box VI).

    .. math:: \mathcal L = \mathbb E_q[\log p(x, z)] + \mathbb H[q]
              \approx \frac1S \sum_{s=1}^S \log p(x, g(\varepsilon_s, \varphi)) + \mathbb H[q]

    the :class:`~reparam.estimators.Pathwise` estimator with ``entropy=``: H[q] in closed
    form (``"analytic"``, ``q.entropy()``), −(1/S) Σ_s log q(z_s) from the same noise
    (``"mc"``: flows), or that with φ stopped in log q (``"stl"``, sticking the landing;
    Roeder et al. 2017). A Taylor ``control_variate`` (Miller et al. 2017) acts on
    log p(x, z) only.

    Args:
        log_joint: z of shape ``(S, *q.batch_shape, *q.event_shape)`` ↦ log p(x, z) of
            shape ``(S,)`` (the batch summed) or ``(S, *q.batch_shape)``.
        q: the reparameterized variational distribution.
        num_samples: S.
        noise: how ε is drawn (as in :func:`elbo`).
        entropy: ``"analytic"``, ``"mc"`` or ``"stl"``.
        control_variate: None, ``"linear"``, ``"quadratic"`` or a
            :class:`~reparam.estimators.ControlVariate`.

    Returns:
        the bound, a scalar (or ``q.batch_shape`` when ``log_joint`` keeps the batch);
        its gradient is the estimator.

    Raises:
        ValueError: an unknown ``entropy``, noise or control variate, ``num_samples`` < 1,
            ``entropy="analytic"`` for a q without ``entropy()``, and what
            :class:`~reparam.estimators.Pathwise` raises.

    Example:
        >>> import reparam
        >>> q = reparam.Normal(torch.zeros(2), torch.ones(2))
        >>> log_joint = lambda z: torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        >>> bound = log_joint_elbo(log_joint, q, num_samples=4, entropy="mc")
        >>> abs(bound.item()) < 1e-6  # q is the exact posterior: log Z = 0 for every draw
        True
    """
    if not (isinstance(entropy, str) and entropy in ENTROPY_MODES):
        raise ValueError(f"unknown entropy {entropy!r}; use one of {', '.join(ENTROPY_MODES)}")
    n = num_samples_or_k(num_samples)
    estimator = Pathwise(noise=noise, control_variate=control_variate, entropy=entropy)
    return estimator(log_joint, q, n)


#: the objectives by name.
OBJECTIVES: dict[str, Callable[..., Tensor]] = {"elbo": elbo, "iwae": iwae, "dreg": dreg}


def get_objective(name: str) -> Callable[..., Tensor]:
    """The objective function registered under ``name``.

    Args:
        name: one of ``"elbo"``, ``"iwae"``, ``"dreg"``.

    Returns:
        the function (:func:`elbo`, :func:`iwae` or :func:`dreg`).

    Raises:
        ValueError: an unknown name, listing the valid ones.

    Example:
        >>> get_objective("iwae").__name__
        'iwae'
    """
    if not isinstance(name, str) or name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; valid: {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]
