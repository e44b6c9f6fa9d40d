"""Hand-written reference VAEs (plain PyTorch and Pyro) for ``bench_vae.py``.

The model is the one of the official PyTorch VAE example (pytorch/examples, ``vae/main.py``)
with configurable sizes: encoder x → ReLU(W₁x + b₁) → (μ, log σ²) from two linear heads;
decoder z → ReLU(W₃z + b₃) → W₄h + b₄ = logits of p(x|z) = Π_j Bernoulli(x_j; sigmoid(ℓ_j));
prior N(0, I); q(z|x) = N(μ, diag σ²), z = μ + σ ⊙ ε with one ε ~ N(0, I) per data point.
The loss is the negative ELBO per data point (Kingma & Welling 2014), with the analytic KL

    KL(q ‖ p) = −½ Σ_j (1 + log σ_j² − μ_j² − σ_j²),

in two forms of the reconstruction term, −log p(x|z):

- ``"logits"``: ``binary_cross_entropy_with_logits(ℓ, x)`` (numerically stable, fused);
- ``"official"``: ``binary_cross_entropy(sigmoid(ℓ), x)`` as in the official example.

Nothing here is part of the library: it is the baseline the library is measured against.
"""

from __future__ import annotations

import math
from collections.abc import Callable

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


class Encoder(nn.Module):
    """x (B, *) → (μ, log σ²), each (B, latent_dim); one hidden ReLU layer."""

    def __init__(self, data_dim: int = 784, hidden: int = 400, latent_dim: int = 20) -> None:
        super().__init__()
        self.fc1 = nn.Linear(data_dim, hidden)
        self.fc21 = nn.Linear(hidden, latent_dim)
        self.fc22 = nn.Linear(hidden, latent_dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(h), self.fc22(h)


class Decoder(nn.Module):
    """z (*, latent_dim) → Bernoulli logits (*, data_dim); one hidden ReLU layer."""

    def __init__(self, data_dim: int = 784, hidden: int = 400, latent_dim: int = 20) -> None:
        super().__init__()
        self.fc3 = nn.Linear(latent_dim, hidden)
        self.fc4 = nn.Linear(hidden, data_dim)

    def forward(self, z: Tensor) -> Tensor:
        return self.fc4(F.relu(self.fc3(z)))


class HandVAE(nn.Module):
    """The hand-written VAE; ``loss(x)`` is the negative ELBO averaged over the batch.

    Args:
        data_dim, hidden, latent_dim: layer sizes (784-400-20 by default).
        form: ``"logits"`` (BCE with logits) or ``"official"`` (sigmoid, then BCE).
    """

    def __init__(
        self, data_dim: int = 784, hidden: int = 400, latent_dim: int = 20, form: str = "logits"
    ) -> None:
        super().__init__()
        if form not in ("logits", "official"):
            raise ValueError(f"form must be 'logits' or 'official', got {form!r}")
        self.form = form
        self.encoder = Encoder(data_dim, hidden, latent_dim)
        self.decoder = Decoder(data_dim, hidden, latent_dim)

    def loss(self, x: Tensor) -> Tensor:
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

    def __init__(self, data_dim: int = 784, hidden: int = 400, latent_dim: int = 20) -> None:
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
