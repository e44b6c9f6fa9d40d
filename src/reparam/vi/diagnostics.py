r"""Did the variational fit work? Pareto-smoothed importance sampling and summaries.

With S draws z_s ~ q and log weights log w_s = log p(x, z_s) − log q(z_s),
:func:`importance_diagnostics` reports the importance-sampling estimate of the evidence
log p̂(x) = log (1/S) Σ_s w_s with its delta-method standard error, the PSIS k̂ (Vehtari
et al. 2024) with the verdict of Yao et al. (2018) and the ESS of the smoothed weights;
the estimators live in :mod:`reparam.importance` (``psis``, ``gpd_fit``, ``k_hat_verdict``
are re-exported here). :func:`summarize` gives posterior means, sds and quantiles.

References:
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
from ..importance import (
    K_HAT_GOOD,
    K_HAT_OK,
    _draw_from,
    ess,
    gpd_fit,
    k_hat_verdict,
    log_evidence,
    log_weights,
    psis,
)
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
    draw = _draw_from(q)

    def checked_draw(c: int) -> tuple[Tensor, Tensor]:
        z, log_q = draw(c)
        if not bool(torch.isfinite(log_q).all()):
            raise ValueError("log q(z) is not finite on samples from q")
        return z, log_q

    def checked_joint(z: Tensor) -> Tensor:
        log_p = log_joint(z)
        if not isinstance(log_p, Tensor) or tuple(log_p.shape) != (n,):
            got = tuple(log_p.shape) if isinstance(log_p, Tensor) else type(log_p).__name__
            raise ValueError(f"log_joint must return shape (S,) = ({n},) for z of shape "
                             f"{tuple(z.shape)}; got {got}")  # fmt: skip
        if bool(torch.isnan(log_p).any()) or bool((log_p == math.inf).any()):
            raise ValueError("log_joint returned NaN or +inf on samples from q")
        return log_p

    with _seeded(seed):
        lw = log_weights(checked_joint, checked_draw, n)
    smoothed, k_hat = psis(lw)
    log_z, se = log_evidence(lw)
    return {
        "k_hat": k_hat,
        "verdict": k_hat_verdict(k_hat),
        "log_evidence": float(log_z),
        "log_evidence_se": float(se),
        "ess": float(ess(smoothed)),
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
            assert qs is not None  # computed whenever there are probs
            row[_quantile_key(p)] = float(qs[j, i])
        out[name] = row
    return out
