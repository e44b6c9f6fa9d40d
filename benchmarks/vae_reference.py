"""Hand-written reference VAEs (plain PyTorch and Pyro) for ``bench_vae.py``.

The model is the one of the official PyTorch VAE example (pytorch/examples, ``vae/main.py``)
with configurable sizes (one or more hidden layers): encoder x → ReLU(W₁x + b₁) → … →
(μ, log σ²) from two linear heads; decoder z → ReLU(W₃z + b₃) → … → W₄h + b₄ = logits
of p(x|z) = Π_j Bernoulli(x_j; sigmoid(ℓ_j));
prior N(0, I); q(z|x) = N(μ, diag σ²), z = μ + σ ⊙ ε with one ε ~ N(0, I) per data point.
The loss is the negative ELBO per data point (Kingma & Welling 2014), with the analytic KL

    KL(q ‖ p) = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²),

in two forms of the reconstruction term, −log p(x|z):

- ``"logits"``: ``binary_cross_entropy_with_logits(ℓ, x)`` (numerically stable, fused);
- ``"official"``: ``binary_cross_entropy(sigmoid(ℓ), x)`` as in the official example.

and, with ``objective="iwae"``, the IWAE(k) bound of Burda et al. (2016) instead,
log (1/k) Σᵢ p(x|zᵢ) p(zᵢ) / q(zᵢ|x) with k samples zᵢ = μ + σ ⊙ εᵢ, by ``logsumexp``.

Nothing here is part of the library: it is the baseline the library is measured against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

try:  # Pyro is a peer for comparison only.
    import pyro
    import pyro.distributions as pdist
    from pyro.infer import SVI, Trace_ELBO
    from pyro.optim import Adam as PyroAdam
except ImportError:  # pragma: no cover - depends on the environment
    pyro = None

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _widths(hidden: int | Sequence[int]) -> tuple[int, ...]:
    return (hidden,) if isinstance(hidden, int) else tuple(hidden)


class Encoder(nn.Module):
    """x (B, *) → (μ, log σ²), each (B, latent_dim); ReLU hidden layers of widths ``hidden``
    (``fc1``, ``fc1b``, … in order), then the two linear heads ``fc21`` and ``fc22``."""

    def __init__(
        self, data_dim: int = 784, hidden: int | Sequence[int] = 400, latent_dim: int = 20
    ) -> None:
        super().__init__()
        widths = _widths(hidden)
        sizes = (data_dim, *widths)
        self.body = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.fc21 = nn.Linear(widths[-1], latent_dim)
        self.fc22 = nn.Linear(widths[-1], latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = x.flatten(1)
        for layer in self.body:
            h = F.relu(layer(h))
        return self.fc21(h), self.fc22(h)


class Decoder(nn.Module):
    """z (*, latent_dim) → Bernoulli logits (*, data_dim); ReLU hidden layers of the widths
    ``hidden`` reversed (the encoder mirrored), then the linear output layer ``out``."""

    def __init__(
        self, data_dim: int = 784, hidden: int | Sequence[int] = 400, latent_dim: int = 20
    ) -> None:
        super().__init__()
        widths = _widths(hidden)[::-1]
        sizes = (latent_dim, *widths)
        self.body = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.out = nn.Linear(widths[-1], data_dim)

    def forward(self, z: Tensor) -> Tensor:
        for layer in self.body:
            z = F.relu(layer(z))
        return self.out(z)


class HandVAE(nn.Module):
    """The hand-written VAE; ``loss(x)`` is the negative bound averaged over the batch.

    Args:
        data_dim, hidden, latent_dim: layer sizes (784-400-20 by default; ``hidden`` an int
            or the widths of several hidden layers, e.g. (200, 200)).
        form: ``"logits"`` (BCE with logits) or ``"official"`` (sigmoid, then BCE).
        objective: ``"elbo"`` (analytic KL, one sample) or ``"iwae"`` (k samples,
            log (1/k) Σᵢ p(x, zᵢ)/q(zᵢ|x) by ``logsumexp``; logits form only).
        k: IWAE's number of samples.
    """

    def __init__(
        self,
        data_dim: int = 784,
        hidden: int | Sequence[int] = 400,
        latent_dim: int = 20,
        form: str = "logits",
        objective: str = "elbo",
        k: int = 1,
    ) -> None:
        super().__init__()
        if form not in ("logits", "official"):
            raise ValueError(f"form must be 'logits' or 'official', got {form!r}")
        if objective not in ("elbo", "iwae") or (objective == "iwae" and form != "logits"):
            raise ValueError(f"objective must be 'elbo' or 'iwae' (logits), got {objective!r}")
        self.form, self.objective, self.k = form, objective, k
        self.encoder = Encoder(data_dim, hidden, latent_dim)
        self.decoder = Decoder(data_dim, hidden, latent_dim)

    def loss(self, x: Tensor) -> Tensor:
        if self.objective == "iwae":
            return self.iwae_loss(x)
        x = x.flatten(1)
        mu, logvar = self.encoder(x)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn_like(std)
        logits = self.decoder(z)
        if self.form == "logits":
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        else:
            rec = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (rec + kl) / x.shape[0]

    def iwae_loss(self, x: Tensor) -> Tensor:
        """−(1/B) Σ_b log (1/k) Σᵢ p(x_b|zᵢ) p(zᵢ) / q(zᵢ|x_b), zᵢ = μ + σ εᵢ."""
        x = x.flatten(1)
        mu, logvar = self.encoder(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((self.k, *std.shape), dtype=std.dtype, device=std.device)
        z = mu + std * eps
        logits = self.decoder(z)
        log_lik = -F.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).sum(-1)
        log_pz = (-0.5 * z.pow(2) - HALF_LOG_2PI).sum(-1)
        log_qz = (-0.5 * eps.pow(2) - 0.5 * logvar - HALF_LOG_2PI).sum(-1)
        bound = torch.logsumexp(log_lik + log_pz - log_qz, dim=0) - math.log(self.k)
        return -bound.mean()

    @torch.no_grad()
    def log_likelihood(self, x: Tensor, k: int = 5000, chunk: int = 500) -> Tensor:
        """Importance-sampled log p(x) per data point with k samples from q (Burda et al.)."""
        x = x.flatten(1)
        mu, logvar = self.encoder(x)

        def log_lik(z: Tensor) -> Tensor:
            logits = self.decoder(z)
            return -F.binary_cross_entropy_with_logits(
                logits, x.expand_as(logits), reduction="none"
            ).sum(-1)

        return importance_log_likelihood(mu, torch.exp(0.5 * logvar), log_lik, k, chunk)


def importance_log_likelihood(
    loc: Tensor, scale: Tensor, log_lik: Callable[[Tensor], Tensor], k: int, chunk: int = 500
) -> Tensor:
    """log (1/k) Σᵢ p(x|zᵢ) p(zᵢ) / q(zᵢ|x), zᵢ ~ q = N(loc, diag scale²), chunked over i.

    Args:
        loc, scale: q's parameters, shape (B, L).
        log_lik: maps z of shape (S, B, L) to log p(x|z) of shape (S, B).
        k: number of importance samples; chunk: samples per chunk (bounds memory).

    Returns:
        Tensor of shape (B,), accumulated in float64.
    """
    parts = []
    done = 0
    while done < k:
        s = min(chunk, k - done)
        eps = torch.randn((s, *loc.shape), dtype=loc.dtype, device=loc.device)
        z = loc + scale * eps
        log_q = (-0.5 * eps.pow(2) - scale.log() - HALF_LOG_2PI).sum(-1)
        log_p = (-0.5 * z.pow(2) - HALF_LOG_2PI).sum(-1)
        log_w = log_lik(z) + log_p - log_q
        parts.append(torch.logsumexp(log_w.double(), dim=0))
        done += s
    return torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)


class PyroVAE(nn.Module):
    """The same encoder/decoder driven by Pyro: ``model``/``guide`` for SVI with Trace_ELBO.

    Trace_ELBO estimates the KL by Monte Carlo (log p(z) − log q(z) at the sample); its
    loss is the batch sum of the negative ELBO. Pyro's validation is left at its default.
    """

    def __init__(
        self, data_dim: int = 784, hidden: int | Sequence[int] = 400, latent_dim: int = 20
    ) -> None:
        super().__init__()
        if pyro is None:
            raise ImportError("pyro is not installed")
        self.latent_dim = latent_dim
        self.encoder = Encoder(data_dim, hidden, latent_dim)
        self.decoder = Decoder(data_dim, hidden, latent_dim)

    def model(self, x: Tensor) -> None:
        pyro.module("decoder", self.decoder)
        x = x.flatten(1)
        with pyro.plate("data", x.shape[0]):
            zeros = x.new_zeros(x.shape[0], self.latent_dim)
            z = pyro.sample("z", pdist.Normal(zeros, torch.ones_like(zeros)).to_event(1))
            pyro.sample("x", pdist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=x)

    def guide(self, x: Tensor) -> None:
        pyro.module("encoder", self.encoder)
        x = x.flatten(1)
        with pyro.plate("data", x.shape[0]):
            mu, logvar = self.encoder(x)
            pyro.sample("z", pdist.Normal(mu, torch.exp(0.5 * logvar)).to_event(1))

    def make_svi(self, lr: float = 1e-3) -> SVI:
        pyro.clear_param_store()
        return SVI(self.model, self.guide, PyroAdam({"lr": lr}), loss=Trace_ELBO())
