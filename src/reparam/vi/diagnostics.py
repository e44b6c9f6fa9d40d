r"""Did the variational fit work? Pareto-smoothed importance sampling and summaries.

With S draws z_s ~ q and log weights log w_s = log p(x, z_s) − log q(z_s),

- the importance-sampling estimate of the evidence is
  log p̂(x) = log (1/S) Σ_s w_s, with the delta-method standard error
  sd(w) / (√S · mean(w));
- PSIS (Vehtari, Simpson, Gelman, Yao & Gabry 2015/2024) fits a generalized Pareto
  distribution (GPD) to the M = ⌈min(S/5, 3√S)⌉ largest weights; its shape k̂ tells how
  heavy the weights' tail is. Yao, Vehtari, Simpson & Gelman (2018, "Yes, but did it
  work?") read it as a diagnostic of q: k̂ < 0.5 good, 0.5 ≤ k̂ ≤ 0.7 ok, k̂ > 0.7
  unreliable (the importance weights, and q, should not be trusted).

The GPD is fitted by the empirical-Bayes method of Zhang & Stephens (2009): with exceedances
x_1..x_M over the threshold u, and the GPD written F(x) = 1 − (1 − θx)^{1/κ} (κ = −k),
the profile log-likelihood is ℓ(θ) = M [log(θ/κ̂(θ)) + κ̂(θ) − 1] with
κ̂(θ) = −(1/M) Σ log(1 − θ x_i); θ̂ is the ℓ-weighted mean of θ over the grid
θ_j = 1/x_(M) + (1 − √(m/(j − ½))) / (3 x*), j = 1..m, m = 20 + ⌊√M⌋, x* the first
quartile; then k̂ = (1/M) Σ log(1 − θ̂ x_i) and σ̂ = −k̂/θ̂. As in Vehtari et al., k̂ is
shrunk towards 0.5 by a weak prior: k̂ ← (M k̂ + 10 · 0.5) / (M + 10).

References:
    Zhang & Stephens, "A New and Efficient Estimation Method for the Generalized Pareto
    Distribution", Technometrics 51(3), 2009.
    Vehtari, Simpson, Gelman, Yao & Gabry, "Pareto Smoothed Importance Sampling", JMLR
    25, 2024, arXiv:1507.02646.
    Yao, Vehtari, Simpson & Gelman, "Yes, but Did It Work?: Evaluating Variational
    Inference", ICML 2018, arXiv:1802.02538.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from .._checks import check_int
from .fit import _seeded

if TYPE_CHECKING:
    from .layout import Layout

__all__ = [
    "summarize_draws",
    "K_HAT_OK",
    "K_HAT_GOOD",
    "gpd_fit",
    "importance_diagnostics",
    "k_hat_verdict",
    "psis",
    "summarize",
]

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


# --------------------------------------------------------------------------- sampling
def _as_distribution(q: Distribution | nn.Module | Callable[[], Distribution]) -> Distribution:
    if not isinstance(q, Distribution):
        if not callable(q):
            raise ValueError(
                f"q must be a Distribution or a guide returning one, got {type(q).__name__}"
            )
        q = q()
        if not isinstance(q, Distribution):
            raise ValueError(f"the guide must return a Distribution, got {type(q).__name__}")
    if len(q.event_shape) != 1 or len(q.batch_shape) != 0:
        raise ValueError(
            "q must have event shape (d,) and batch shape (); got event "
            f"{tuple(q.event_shape)}, batch {tuple(q.batch_shape)}"
        )
    return q


def _sample_with_log_q(q: Distribution, n: int) -> tuple[Tensor, Tensor]:
    shape = torch.Size((n,))
    if hasattr(q, "rsample_and_log_prob"):
        return q.rsample_and_log_prob(shape)
    z = q.sample(shape)
    return z, q.log_prob(z)


# --------------------------------------------------------------------------- diagnostics
def importance_diagnostics(
    log_joint: Callable[[Tensor], Tensor],
    q: Distribution | nn.Module,
    num_samples: int = 4000,
    *,
    seed: int | None = None,
) -> dict[str, float | str]:
    r"""PSIS k̂, the importance-sampling estimate of log p(x) and the ESS, for q.

    .. math::
        \log \hat p(x) = \log \frac1S \sum_s w_s, \quad
        \mathrm{se} = \frac{\mathrm{sd}(w)}{\sqrt S\,\overline{w}}, \quad
        \mathrm{ESS} = \frac{(\sum_s \tilde w_s)^2}{\sum_s \tilde w_s^2},

    with w_s = p(x, z_s)/q(z_s), z_s ~ q, and w̃ the Pareto-smoothed weights.

    Args:
        log_joint: z (S, d) ↦ log p(x, z) (S,) on the same space as q.
        q: the fitted distribution (event shape (d,)) or a guide returning it.
        num_samples: S ≥ 25.
        seed: seed for the draws (the global RNG is forked and left untouched).

    Returns:
        ``{"k_hat", "verdict", "log_evidence", "log_evidence_se", "ess", "num_samples"}``.

    Raises:
        ValueError: bad q or num_samples; log_joint returning the wrong shape, NaN or
            +inf; log q not finite.
    """
    q = _as_distribution(q)
    n = check_int("num_samples", num_samples, 25, noun="an int")
    with _seeded(seed), torch.no_grad():
        z, log_q = _sample_with_log_q(q, n)
        log_p = log_joint(z)
    if not isinstance(log_p, Tensor) or tuple(log_p.shape) != (n,):
        got = tuple(log_p.shape) if isinstance(log_p, Tensor) else type(log_p).__name__
        raise ValueError(f"log_joint must return shape (S,) = ({n},) for z of shape "
                         f"{tuple(z.shape)}; got {got}")  # fmt: skip
    if bool(torch.isnan(log_p).any()) or bool((log_p == math.inf).any()):
        raise ValueError("log_joint returned NaN or +inf on samples from q")
    if not bool(torch.isfinite(log_q).all()):
        raise ValueError("log q(z) is not finite on samples from q")
    lw = (log_p - log_q).to(torch.float64)
    smoothed, k_hat = psis(lw)
    lw_max = lw.max()
    w = torch.exp(lw - lw_max)
    mean_w = w.mean()
    log_evidence = float(torch.log(mean_w) + lw_max)
    se = float(w.std() / (math.sqrt(n) * mean_w))
    ws = torch.exp(smoothed - smoothed.max())
    ess = float(ws.sum() ** 2 / ws.pow(2).sum())
    return {
        "k_hat": k_hat,
        "verdict": k_hat_verdict(k_hat),
        "log_evidence": log_evidence,
        "log_evidence_se": se,
        "ess": ess,
        "num_samples": n,
    }


def _quantile_key(p: float) -> str:
    return f"{100 * p:g}%"


def summarize(
    q: Distribution | nn.Module,
    layout: Layout | None = None,
    num_samples: int = 4000,
    quantiles: Sequence[float] = (0.05, 0.5, 0.95),
    seed: int | None = None,
) -> dict[str, dict[str, float]]:
    """Posterior summary from S draws of q: mean, sd and quantiles per scalar parameter.

    Without a layout the parameters are the coordinates of z, named ``z[0]``, …; with one
    the draws are mapped to the constrained space (``layout.constrain``) and named by
    ``layout.flat_names()`` (e.g. ``theta[3]``).

    Args:
        q: the fitted distribution (event shape (d,)) or a guide returning it.
        layout: a :class:`~reparam.vi.Layout` with ``dim == d``, or None.
        num_samples: S ≥ 2.
        quantiles: probabilities in [0, 1]; keys ``"5%"``, ``"50%"``, … .
        seed: seed for the draws (the global RNG is forked and left untouched).

    Returns:
        ``{name: {"mean": …, "sd": …, "5%": …, "50%": …, "95%": …}}`` in parameter order.

    Raises:
        ValueError: bad q, num_samples or quantiles; a layout whose dim differs from d.
    """
    q = _as_distribution(q)
    n = check_int("num_samples", num_samples, 2, noun="an int")
    probs = [float(p) for p in quantiles]
    if any(not 0.0 <= p <= 1.0 for p in probs):
        raise ValueError(f"quantiles must lie in [0, 1], got {list(quantiles)}")
    d = q.event_shape[0]
    if layout is not None and layout.dim != d:
        raise ValueError(f"layout.dim = {layout.dim} but q has event shape ({d},)")
    with _seeded(seed), torch.no_grad():
        z = q.sample(torch.Size((n,)))
        if layout is None:
            names, draws = [f"z[{i}]" for i in range(d)], z
        else:
            params, _ = layout.constrain(z)
            names, draws = layout.flat_names(), layout.flatten(params)
    return summarize_draws(draws, names, probs)


def summarize_draws(
    draws: Tensor, names: Sequence[str], quantiles: Sequence[float] = (0.05, 0.5, 0.95)
) -> dict[str, dict[str, float]]:
    """Mean, sd and quantiles per column of ``draws`` (S, n), keyed by ``names`` (n).

    Returns:
        ``{name: {"mean": …, "sd": …, "5%": …, "50%": …, "95%": …}}`` in column order.
    """
    draws = draws.to(torch.float64)
    probs = [float(p) for p in quantiles]
    mean, sd = draws.mean(0), draws.std(0)
    qs = torch.quantile(draws, torch.tensor(probs, dtype=torch.float64), dim=0) if probs else None
    out: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        row = {"mean": float(mean[i]), "sd": float(sd[i])}
        for j, p in enumerate(probs):
            row[_quantile_key(p)] = float(qs[j, i])
        out[name] = row
    return out
