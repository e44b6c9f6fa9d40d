r"""Importance sampling with a proposal q: log weights, log evidence, ESS and PSIS k̂.

With n draws z_i ~ q and an unnormalized target p̃ (a log joint log p(x, z), a VAE's
log p(x|z) + log p(z), a 2-D density), the log weights are

    log w_i = log p̃(z_i) − log q(z_i)                                  (n, *batch)

(:func:`log_weights`, drawn in chunks so that memory is O(chunk), not O(n)), and

- log Ẑ = log (1/n) Σ_i w_i, the importance-sampling estimate of log Z = log ∫ p̃
  (:func:`log_mean_exp`), with the delta-method standard error sd(w) / (√n · mean(w))
  (:func:`log_evidence`); E[log Ẑ] ≤ log Z and log Ẑ → log Z as n grows;
- ELBO = mean_i log w_i ≤ log Z, and KL(q‖p) = log Z − ELBO when log Z is known;
- ESS = (Σ w)² / Σ w² (Kong 1992; n when q = p), raw or on PSIS-smoothed weights;
- PSIS (Vehtari, Simpson, Gelman, Yao & Gabry 2015/2024) fits a generalized Pareto
  distribution (GPD) to the M = ⌈min(n/5, 3√n)⌉ largest weights; its shape k̂ tells how
  heavy the weights' tail is. Yao, Vehtari, Simpson & Gelman (2018, "Yes, but did it
  work?") read it as a diagnostic of q: k̂ < 0.5 good, 0.5 ≤ k̂ ≤ 0.7 ok, k̂ > 0.7
  unreliable (:func:`k_hat_verdict`).

:func:`importance_summary` returns all of these from one set of log weights.

The GPD is fitted by the empirical-Bayes method of Zhang & Stephens (2009): with exceedances
x_1..x_M over the threshold u, and the GPD written F(x) = 1 − (1 − θx)^{1/κ} (κ = −k),
the profile log-likelihood is ℓ(θ) = M [log(θ/κ̂(θ)) + κ̂(θ) − 1] with
κ̂(θ) = −(1/M) Σ log(1 − θ x_i); θ̂ is the ℓ-weighted mean of θ over the grid
θ_j = 1/x_(M) + (1 − √(m/(j − ½))) / (3 x*), j = 1..m, m = 20 + ⌊√M⌋, x* the first
quartile; then k̂ = (1/M) Σ log(1 − θ̂ x_i) and σ̂ = −k̂/θ̂. As in Vehtari et al., k̂ is
shrunk towards 0.5 by a weak prior: k̂ ← (M k̂ + 10 · 0.5) / (M + 10).

References:
    Kong, "A note on importance sampling using standardized weights", Tech. Rep. 348,
    University of Chicago, 1992.
    Zhang & Stephens, "A New and Efficient Estimation Method for the Generalized Pareto
    Distribution", Technometrics 51(3), 2009.
    Vehtari, Simpson, Gelman, Yao & Gabry, "Pareto Smoothed Importance Sampling", JMLR
    25, 2024, arXiv:1507.02646.
    Yao, Vehtari, Simpson & Gelman, "Yes, but Did It Work?: Evaluating Variational
    Inference", ICML 2018, arXiv:1802.02538.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

__all__ = [
    "K_HAT_GOOD",
    "K_HAT_OK",
    "ess",
    "gpd_fit",
    "importance_summary",
    "k_hat_verdict",
    "log_evidence",
    "log_mean_exp",
    "log_weights",
    "psis",
]

#: a sampler c ↦ (z, log q(z)) with leading dimension c (a proposal drawn c at a time).
Draw = Callable[[int], tuple[Tensor, Tensor]]

#: k̂ below this: q is good (Yao et al. 2018).
K_HAT_GOOD = 0.5
#: k̂ up to this: ok; above it the importance weights are unreliable.
K_HAT_OK = 0.7

#: the fewest tail points the GPD fit accepts (psis needs S ≥ 25).
_MIN_TAIL = 5
_MIN_WEIGHTS = 25


# --------------------------------------------------------------------------- GPD fit
def gpd_fit(x: Tensor, *, prior_weight: float = 10.0) -> tuple[float, float]:
    r"""Generalized Pareto fit (Zhang & Stephens 2009) of exceedances x > 0: (k̂, σ̂).

    The GPD has CDF F(x) = 1 − (1 + k x / σ)^{−1/k} (x ≥ 0, σ > 0; k > 0 heavy tail).
    See the module docstring for the estimator. ``prior_weight`` n₀ shrinks k̂ towards
    0.5 as (M k̂ + n₀ · 0.5) / (M + n₀) (Vehtari et al. 2024); 0 turns it off.

    Args:
        x: exceedances, shape (M,), M ≥ 5, non-negative with a positive maximum.

    Returns:
        (k̂, σ̂) as floats.

    Raises:
        ValueError: wrong shape, fewer than 5 values, negative / non-finite values, or
            all values zero.
    """
    if not isinstance(x, Tensor) or x.dim() != 1:
        raise ValueError(f"gpd_fit: x must be a 1-D tensor, got {getattr(x, 'shape', x)}")
    n = x.numel()
    if n < _MIN_TAIL:
        raise ValueError(f"gpd_fit: needs at least {_MIN_TAIL} exceedances, got {n}")
    x = x.detach().to(torch.float64).sort().values
    if not bool(torch.isfinite(x).all()) or bool((x < 0).any()):
        raise ValueError("gpd_fit: exceedances must be finite and non-negative")
    x_max = x[-1]
    if x_max <= 0:
        raise ValueError("gpd_fit: all exceedances are zero (no tail to fit)")
    x_star = x[int(math.floor(n / 4 + 0.5)) - 1]  # first quartile, 1-based order stat
    if x_star <= 0:
        x_star = x[x > 0][0]  # ties at the threshold: the smallest positive value
    m = 20 + int(math.floor(math.sqrt(n)))
    j = torch.arange(1, m + 1, dtype=torch.float64)
    theta = 1.0 / x_max + (1.0 - torch.sqrt(m / (j - 0.5))) / (3.0 * x_star)  # all < 1/x_max
    kappa = -torch.log1p(-theta[:, None] * x[None, :]).mean(1)  # κ̂(θ_j) (κ = −k)
    profile = n * (torch.log(theta / kappa) + kappa - 1.0)
    weights = torch.softmax(profile, 0)  # 1 / Σ_l exp(ℓ_l − ℓ_j)
    theta_hat = (weights * theta).sum()
    k = torch.log1p(-theta_hat * x).mean()  # k̂ = −κ̂(θ̂)
    sigma = -k / theta_hat
    k_hat = float(k)
    if prior_weight > 0:
        k_hat = (n * k_hat + prior_weight * 0.5) / (n + prior_weight)
    return k_hat, float(sigma)


def _gpd_quantile(p: Tensor, k: float, sigma: float) -> Tensor:
    """Quantiles of the GPD(k, σ) at probabilities p (threshold 0)."""
    if abs(k) < 1e-12:
        return -sigma * torch.log1p(-p)
    return sigma / k * (torch.expm1(-k * torch.log1p(-p)))


# --------------------------------------------------------------------------- PSIS
def psis(log_weights: Tensor) -> tuple[Tensor, float]:
    r"""Pareto-smoothed importance sampling: smoothed log weights and the tail shape k̂.

    The M = ⌈min(S/5, 3√S)⌉ largest weights are replaced by the expected order
    statistics of the GPD fitted to them, u + F⁻¹((i − ½)/M), i = 1..M, with u the
    largest weight outside the tail, and truncated at the largest raw weight
    (Vehtari et al. 2024). The weights are not normalized.

    Args:
        log_weights: log w, shape (S,), S ≥ 25; −inf (zero weight) is allowed.

    Returns:
        (smoothed log weights, shape (S,), same dtype; k̂). k̂ = −inf when the largest
        weights are all equal (no tail at all, e.g. q = p exactly); the log weights are
        then returned unchanged.

    Raises:
        ValueError: not a 1-D floating tensor, S < 25, NaN or +inf, all weights zero.

    Example:
        >>> lw = torch.distributions.Normal(0.0, 1.0).sample((1000,))
        >>> smoothed, k_hat = psis(lw)
        >>> smoothed.shape
        torch.Size([1000])
    """
    if not isinstance(log_weights, Tensor) or log_weights.dim() != 1:
        raise ValueError(
            "psis: log_weights must be a 1-D tensor of shape (S,), got "
            f"{tuple(log_weights.shape) if isinstance(log_weights, Tensor) else log_weights!r}"
        )
    if not log_weights.dtype.is_floating_point:
        raise ValueError(f"psis: log_weights must be floating, got dtype {log_weights.dtype}")
    s = log_weights.numel()
    if s < _MIN_WEIGHTS:
        raise ValueError(
            f"psis: needs at least {_MIN_WEIGHTS} log weights (a tail of {_MIN_TAIL}); got S = {s}"
        )
    tail = math.ceil(min(0.2 * s, 3.0 * math.sqrt(s)))
    lw = log_weights.detach().to(torch.float64)
    if bool(torch.isnan(lw).any()) or bool((lw == math.inf).any()):
        raise ValueError("psis: log_weights contain NaN or +inf")
    lw_max = lw.max()
    if lw_max == -math.inf:
        raise ValueError("psis: every weight is zero (all log weights are -inf)")
    w = torch.exp(lw - lw_max)  # in (0, 1], the largest is 1
    order = torch.argsort(w)
    tail_idx = order[-tail:]
    u = w[order[-tail - 1]]
    x = w[tail_idx] - u
    if bool((x <= 0).all()):
        return log_weights.clone(), -math.inf
    k_hat, sigma = gpd_fit(x)
    p = (torch.arange(1, tail + 1, dtype=torch.float64) - 0.5) / tail
    smoothed = (u + _gpd_quantile(p, k_hat, sigma)).clamp(max=1.0)
    out = lw.clone()  # the body is returned bit for bit
    out[tail_idx] = torch.log(smoothed) + lw_max  # tail_idx ascends, as do the quantiles
    return out.to(log_weights.dtype), k_hat


def k_hat_verdict(k_hat: float) -> str:
    """``"good"`` (k̂ < 0.5), ``"ok"`` (≤ 0.7) or ``"unreliable"`` (Yao et al. 2018)."""
    if math.isnan(k_hat):
        return "unreliable"
    if k_hat < K_HAT_GOOD:
        return "good"
    return "ok" if k_hat <= K_HAT_OK else "unreliable"


# --------------------------------------------------------------------------- weights
def _draw_from(q: Distribution) -> Draw:
    """c ↦ (z, log q(z)) for c draws of q, from one ``rsample_and_log_prob`` when q has it."""

    def draw(c: int) -> tuple[Tensor, Tensor]:
        shape = torch.Size((c,))
        if hasattr(q, "rsample_and_log_prob"):
            return q.rsample_and_log_prob(shape)
        z = q.sample(shape)
        return z, q.log_prob(z)

    return draw


@torch.no_grad()
def log_weights(
    log_target: Callable[[Tensor], Tensor],
    q: Distribution | Draw,
    num_samples: int,
    *,
    chunk: int | None = None,
    dtype: torch.dtype | None = torch.float64,
) -> Tensor:
    """log w_i = log p̃(z_i) − log q(z_i) for z_i ~ q, i = 1..n, drawn ``chunk`` at a time.

    Args:
        log_target: z (c, …) ↦ log p̃(z) (c, *batch).
        q: the proposal: a distribution (drawn with ``rsample_and_log_prob`` when it has
            one, else ``sample`` + ``log_prob``) or a sampler ``draw(c) -> (z, log q)``.
        num_samples: n ≥ 1.
        chunk: draws per call of q and log_target (None: all n at once). The draws come
            from the global torch RNG, chunk after chunk.
        dtype: the dtype of the result (None keeps log_target's).

    Returns:
        log w, shape (n, *batch), on log_target's device.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"log_weights: num_samples must be an int >= 1, got {num_samples!r}")
    step = num_samples if chunk is None else chunk
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"log_weights: chunk must be None or an int >= 1, got {chunk!r}")
    draw = _draw_from(q) if isinstance(q, Distribution) else q
    parts = []
    for start in range(0, num_samples, step):
        z, log_q = draw(min(step, num_samples - start))
        lw = log_target(z) - log_q
        parts.append(lw if dtype is None else lw.to(dtype))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def log_mean_exp(log_w: Tensor, dim: int = 0) -> Tensor:
    """log (1/n) Σ_i exp(log_w_i) along ``dim`` (n = log_w.shape[dim]), stably."""
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])


def log_evidence(log_w: Tensor) -> tuple[Tensor, Tensor]:
    """log Ẑ = log mean w and its delta-method standard error sd(w) / (√n · mean w).

    Args:
        log_w: log weights, shape (n, *batch), n ≥ 2.

    Returns:
        (log Ẑ, se), each of shape (*batch).
    """
    n = log_w.shape[0]
    lw_max = log_w.max(0).values
    w = torch.exp(log_w - lw_max)
    mean_w = w.mean(0)
    return torch.log(mean_w) + lw_max, w.std(0) / (math.sqrt(n) * mean_w)


def ess(log_w: Tensor) -> Tensor:
    """Effective sample size (Σ w)² / Σ w² = exp(2 logsumexp(log w) − logsumexp(2 log w)).

    Args:
        log_w: log weights, shape (n, *batch).

    Returns:
        shape (*batch), in [1, n].
    """
    return (2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)).exp()


def importance_summary(log_w: Tensor, log_z: float | None = None) -> dict[str, Any]:
    """Every number of this module from one vector of log weights (n,), n ≥ 2.

    Returns:
        ``num_samples`` n; ``elbo`` = mean log w ± ``elbo_se`` = sd(log w)/√n;
        ``log_evidence`` = log mean w ± ``log_evidence_se`` (delta method); ``ess`` (raw
        weights) and ``ess_psis`` (Pareto-smoothed); ``k_hat`` and ``verdict``; with
        ``log_z``, ``kl`` = log Z − ELBO ± ``kl_se`` = ``elbo_se`` (else None).
        Non-finite log weights make ``ess`` NaN, and ``ess_psis``/``k_hat`` NaN
        ("unreliable") as does n < 25, where PSIS has no tail to fit.
    """
    if log_w.dim() != 1 or log_w.numel() < 2:
        raise ValueError(f"importance_summary: log_w must have shape (n,), n >= 2, got "
                         f"{tuple(log_w.shape)}")  # fmt: skip
    lw = log_w.detach().to(torch.float64)
    n = lw.numel()
    finite = bool(torch.isfinite(lw).all())
    nan = float("nan")
    elbo, elbo_se = lw.mean().item(), (lw.std() / math.sqrt(n)).item()
    log_z_hat, log_z_se = (float(v) for v in log_evidence(lw))
    k_hat, ess_psis = nan, nan
    if finite and n >= _MIN_WEIGHTS:
        smoothed, k_hat = psis(lw)
        ess_psis = float(ess(smoothed))
    return {
        "num_samples": n,
        "elbo": elbo,
        "elbo_se": elbo_se,
        "log_evidence": log_z_hat,
        "log_evidence_se": log_z_se,
        "ess": float(ess(lw)) if finite else nan,
        "ess_psis": ess_psis,
        "k_hat": k_hat,
        "verdict": k_hat_verdict(k_hat),
        "kl": None if log_z is None else log_z - elbo,
        "kl_se": None if log_z is None else elbo_se,
    }
