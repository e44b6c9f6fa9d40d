r"""The fused training losses of :class:`reparam.vae.VAE` for its most common configuration.

A diagonal Gaussian q(z|x) = N(μ, diag σ²), a Bernoulli p(x|z) with logits ℓ(z), the
prior N(0, I) and plain Monte Carlo noise: the ELBO with its analytic KL, and IWAE(k),
written out as the few tensor operations they are, with no distribution objects, no
argument or shape checks and no per-data-point reconstruction where only a batch mean is
needed. They compute what :func:`reparam.objectives.elbo` and
:func:`reparam.objectives.iwae` compute for that model (same noise draw, same formulas,
equal up to floating-point rounding; ``tests/test_vae_fast.py`` compares both after
training steps):

.. math::
    z_{ib} = \mu_b + \sigma_b \odot \varepsilon_{ib}, \qquad
    \log p(x_b \mid z) = -\sum_j \mathrm{BCE}(\ell_j(z), x_{bj}),

    \mathcal L_\beta = \frac1B \sum_b \Big[\frac1k \sum_i \log p(x_b \mid z_{ib})
        - \beta\,\mathrm{KL}_b\Big], \qquad
    \mathrm{KL}_b = \tfrac12 \sum_l \big(\sigma_{bl}^2 + \mu_{bl}^2 - 1
        - \log \sigma_{bl}^2\big),

    \mathcal L_k = \frac1B \sum_b \Big[\log \frac1k \sum_i w_{ib}\Big], \qquad
    \log w_{ib} = \log p(x_b \mid z_{ib}) - \tfrac12 \lVert z_{ib} \rVert^2
        + \tfrac12 \lVert \varepsilon_{ib} \rVert^2 + \textstyle\sum_l \log \sigma_{bl}

(the ½ log 2π terms of log p(z) and log q(z) cancel in log w). The ELBO's
reconstruction term is one summed ``binary_cross_entropy_with_logits`` over the batch,
the form a hand-written VAE uses.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["encode_params", "fused_elbo_metrics", "fused_iwae_metrics", "fused_metrics"]


def fused_metrics(vae: Any, x: Tensor, step: int, min_scale: float) -> dict[str, Tensor] | None:
    """The training metrics by the fused loss when ``vae`` is in the configuration it
    covers (``vae.fused`` set; diagonal q, Bernoulli likelihood, Monte Carlo noise; the
    ELBO with ``kl="auto"`` or IWAE), else None (the caller takes the general path)."""
    if not (
        vae.fused
        and vae.posterior == "normal"
        and vae.likelihood == "bernoulli"
        and vae.noise == "mc"
    ):
        return None
    if vae.objective_name == "elbo" and vae.kl == "auto":
        return fused_elbo_metrics(vae, x, vae.k, vae.beta(step), min_scale)
    if vae.objective_name == "iwae":
        return fused_iwae_metrics(vae, x, vae.k, min_scale)
    return None


def encode_params(vae: Any, x: Tensor, min_scale: float) -> tuple[Tensor, Tensor, Tensor]:
    """(μ, σ, h) of the diagonal q(z|x): σ = softplus(·) + min_scale; h the encoder's output."""
    h = vae.encoder_net(x)
    mu, rest = vae.encoder_head(h).split(vae.latent_dim, dim=-1)
    # softplus of a strided column slice takes torch's slow elementwise path (5x on CPU)
    return mu, F.softplus(rest.contiguous()) + min_scale, h


def _draw(vae: Any, mu: Tensor, scale: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """(ε, z, logits): ε ~ N(0, I) of shape (k, B, d) ((B, d) for k = 1; the numbers
    ``q.rsample((k,))`` draws), z = μ + σ ε, and the decoder's logits of shape (k·B, *out)
    in its own layout ((k·B, C·H·W) for the MLP, (k·B, C, H, W) for the conv decoder)."""
    # for k = 1, ε of shape (B, d) holds the same numbers as (1, B, d), and z needs no
    # reduction over a broadcast sample dimension in the backward pass.
    shape = mu.shape if k == 1 else (k, *mu.shape)
    eps = torch.randn(shape, dtype=mu.dtype, device=mu.device)
    z = torch.addcmul(mu, scale, eps)
    return eps, z, vae.decoder_net(z.reshape(-1, vae.latent_dim))


def _target(x: Tensor, logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """(logits, x) in matching shapes: (B, *out) for k = 1, else (k, B, *out) with x
    broadcast over the k samples (a view, not a copy)."""
    n = x.shape[0]
    target = x.to(logits.dtype).reshape(n, *logits.shape[1:])
    if k == 1:
        return logits, target
    logits = logits.view(k, n, *logits.shape[1:])
    return logits, target.expand_as(logits)


def _kl_terms(mu: Tensor, scale: Tensor) -> Tensor:
    """Σ (σ² + μ² − log σ²) over the whole batch (a scalar): 2 Σ_b KL(N(μ_b, σ_b²) ‖ N(0, I))
    + B·d. The constant is left to the caller, to be folded into its last operation."""
    var = scale * scale
    return (torch.addcmul(var, mu, mu) - var.log()).sum()


def fused_elbo_metrics(
    vae: Any, x: Tensor, k: int, beta: float, min_scale: float
) -> dict[str, Tensor]:
    """The VAE's ELBO training metrics: loss = −(mean recon − β mean KL), and the
    detached "bound", "kl", "recon" and "elbo" (batch means, as the general path logs).

    loss = (Σ BCE / k + ½β Σ (σ² + μ² − log σ²)) / B − ½βd: one summed BCE over the batch
    and the k samples, the hand-written form. Every scalar operation counts at this size
    (an operation with a Python number costs about as much as one on a 128 × 20 tensor), so
    the constants are folded and the logged values are derived from detached tensors.
    """
    mu, scale, _ = encode_params(vae, x, min_scale)
    _, _, logits = _draw(vae, mu, scale, k)
    logits, target = _target(x, logits, k)
    n, d = x.shape[0], vae.latent_dim
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    if k != 1:
        bce = bce / k
    terms = _kl_terms(mu, scale)
    loss = torch.add(bce, terms, alpha=0.5 * beta) / n - 0.5 * beta * d
    # the logged values, without a no_grad block (itself as costly as two operations)
    loss_d = loss.detach()
    recon = bce.detach() / -n
    # at β = 1, loss = KL − recon: the KL is the sum of two tensors already there
    kl = loss_d + recon if beta == 1.0 else terms.detach() * (0.5 / n) - 0.5 * d
    return {"loss": loss, "bound": -loss_d, "kl": kl, "recon": recon, "elbo": recon - kl}


def fused_iwae_metrics(vae: Any, x: Tensor, k: int, min_scale: float) -> dict[str, Tensor]:
    """The VAE's IWAE(k) training metrics: loss = −mean IWAE bound, "bound" and the
    analytic "kl" (no gradient), as the general path logs them."""
    mu, scale, _ = encode_params(vae, x, min_scale)
    eps, z, logits = _draw(vae, mu, scale, k)
    logits = logits.view(k, x.shape[0], -1)
    target = x.to(logits.dtype).reshape(1, x.shape[0], -1).expand_as(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    log_lik = -bce.sum(-1)  # (k, B)
    log_w = log_lik + 0.5 * (eps * eps - z * z).sum(-1) + scale.log().sum(-1)
    value = (torch.logsumexp(log_w, dim=0) - math.log(k)).mean()
    kl = _kl_terms(mu.detach(), scale.detach()) * (0.5 / x.shape[0]) - 0.5 * vae.latent_dim
    return {"loss": -value, "bound": value.detach(), "kl": kl}
