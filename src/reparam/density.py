"""Fitting flows with the shared training loop (:func:`reparam.training.train`).

Two models wrap a :class:`~reparam.flows.flow.Flow` (unconditional, called as ``flow()``):

- :class:`DensityEstimator`: maximum likelihood on data, loss = −(1/B) Σ_b log q(x_b)
  (Papamakarios et al. 2017); log q by the inverse walk, so MAF-form flows are one pass.
- :class:`VariationalFit`: variational inference for an unnormalized target p̃, loss =
  (1/S) Σ_s [log q(z_s) − log p̃(z_s)] with z_s = g(ε_s), ε_s ~ p(ε) = −ELBO (Rezende &
  Mohamed 2015); z and log q come from ONE ``rsample_and_log_prob`` (the sampling walk),
  so IAF-form flows are one pass. The loop iterates over :meth:`VariationalFit.dummy_data`.

And the numbers a fit is judged by: :func:`gaussian_nll` (the full-covariance Gaussian
baseline), :func:`reverse_kl` and :func:`vi_diagnostics` (ELBO, KL(q‖p) = log Z − ELBO with
its standard error, effective sample size of the importance weights p̃/q).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "DensityEstimator",
    "VariationalFit",
    "gaussian_fit",
    "gaussian_nll",
    "reverse_kl",
    "vi_diagnostics",
]


class DensityEstimator(nn.Module):
    """Maximum-likelihood fit of ``flow`` to data, for :func:`reparam.training.train`.

    Args:
        flow: an unconditional flow (``flow()`` gives the distribution q).
    """

    def __init__(self, flow: nn.Module) -> None:
        super().__init__()
        self.flow = flow

    def log_prob(self, x: Tensor) -> Tensor:
        """log q(x), (B, D) → (B,)."""
        return self.flow().log_prob(x)

    def training_step(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        """loss = nll = −mean log q(batch)."""
        nll = -self.log_prob(batch).mean()
        return {"loss": nll, "nll": nll.detach()}

    def validation_step(self, batch: Tensor) -> dict[str, Tensor]:
        """nll = −mean log q(batch) (the loop logs it as ``valid_nll``)."""
        with torch.no_grad():
            nll = -self.log_prob(batch).mean()
        return {"loss": nll, "nll": nll}


class VariationalFit(nn.Module):
    """Variational fit of ``flow`` to an unnormalized log density, for the shared loop.

    Args:
        flow: an unconditional flow on the target's space.
        log_target: log p̃, (…, D) → (…).
        samples: S, samples of z per step (≥ 1).
        noise: how ε is drawn: ``"mc"``, ``"antithetic"``, ``"qmc"`` (see
            :mod:`reparam.noise`).
        anneal_steps: N ≥ 0; the loss at step t is E_q[log q − β_t log p̃] with
            β_t = min(1, 0.01 + t/N) (Rezende & Mohamed 2015, section 6.1): a flat target
            early lets q spread over every mode before it settles, where plain reverse
            KL tends to lock onto one. 0 = no annealing.
    """

    def __init__(
        self,
        flow: nn.Module,
        log_target: Callable[[Tensor], Tensor],
        samples: int = 256,
        noise: Any = "mc",
        anneal_steps: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(samples, int) or samples < 1:
            raise ValueError(f"VariationalFit: samples must be an integer >= 1, got {samples!r}")
        if isinstance(anneal_steps, bool) or not isinstance(anneal_steps, int) or anneal_steps < 0:
            raise ValueError(
                f"VariationalFit: anneal_steps must be an integer >= 0, got {anneal_steps!r}"
            )
        self.flow = flow
        self.log_target = log_target
        self.samples = samples
        self.noise = noise
        self.anneal_steps = anneal_steps

    def beta(self, step: int) -> float:
        """β_t = min(1, 0.01 + t/N), or 1 without annealing."""
        if not self.anneal_steps:
            return 1.0
        return min(1.0, 0.01 + step / self.anneal_steps)

    @staticmethod
    def dummy_data(steps_per_epoch: int) -> Tensor:
        """A (steps_per_epoch, 1) zero tensor: with ``batch_size=1`` one epoch is that many
        steps (the batches are ignored; every step draws fresh ε)."""
        if not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be an integer >= 1, got {steps_per_epoch!r}")
        return torch.zeros(steps_per_epoch, 1)

    def training_step(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        """loss = mean_s [log q(z_s) − β_t log p̃(z_s)]; at β = 1 it is −ELBO (log Z apart).

        Logs "elbo" = mean_s [log p̃(z_s) − log q(z_s)] (β = 1) and "beta".
        """
        q = self.flow()
        z, log_q = q.rsample_and_log_prob(torch.Size([self.samples]), noise=self.noise)
        log_p = self.log_target(z)
        beta = self.beta(step)
        loss = (log_q - log_p).mean() if beta == 1.0 else (log_q - beta * log_p).mean()
        elbo = (log_p - log_q).detach().mean()
        return {"loss": loss, "elbo": elbo, "beta": torch.tensor(beta)}


def gaussian_fit(train: Tensor) -> torch.distributions.MultivariateNormal:
    """The maximum-likelihood full-covariance Gaussian N(x̄, Σ̂) of ``train`` (N, D).

    Σ̂ = (1/N) Σ (x − x̄)(x − x̄)ᵀ, in float64, with 1e-9·tr(Σ̂)/D added to the diagonal so a
    degenerate data set still gives a valid (if very peaked) density.
    """
    x = train.double()
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / len(x)
    jitter = 1e-9 * cov.diagonal().mean().clamp(min=1e-12)
    cov = cov + jitter * torch.eye(x.shape[1], dtype=x.dtype)
    return torch.distributions.MultivariateNormal(mean, covariance_matrix=cov)


def gaussian_nll(train: Tensor, test: Tensor) -> float:
    """Mean negative log-likelihood per point of ``test`` under :func:`gaussian_fit` (train)."""
    return -gaussian_fit(train).log_prob(test.double()).mean().item()


@torch.no_grad()
def _log_weights(
    flow: nn.Module, log_target: Callable[[Tensor], Tensor], n: int, chunk: int
) -> Tensor:
    """log w = log p̃(z) − log q(z), z ~ q, for n samples (float64, on the CPU)."""
    q = flow()
    out = []
    for i in range(0, n, chunk):
        z, log_q = q.rsample_and_log_prob(torch.Size([min(chunk, n - i)]))
        out.append((log_target(z) - log_q).double().cpu())
    return torch.cat(out)


def vi_diagnostics(
    flow: nn.Module,
    log_target: Callable[[Tensor], Tensor],
    n: int = 10000,
    *,
    log_z: float | None = None,
    chunk: int = 4096,
) -> dict[str, Any]:
    """ELBO, reverse KL and importance-sampling quality of q = flow() for p = p̃ / Z.

    With log w_i = log p̃(z_i) − log q(z_i), z_i ~ q (i = 1..n):

    - ``elbo`` = mean log w (± ``elbo_se`` = std / √n), a lower bound on log Z;
    - ``kl`` = KL(q‖p) = log Z − ELBO (± the same standard error), None without log Z;
    - ``log_z_is`` = log mean w, the importance-sampling estimate of log Z;
    - ``ess`` = (Σ w)² / Σ w² and ``ess_fraction`` = ess / n (1 when q = p).

    Draws from the global torch RNG.
    """
    if n < 2:
        raise ValueError(f"vi_diagnostics: n must be >= 2, got {n}")
    log_w = _log_weights(flow, log_target, n, chunk)
    finite = torch.isfinite(log_w)
    elbo = log_w.mean().item()
    se = (log_w.std() / math.sqrt(n)).item()
    ess = (2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0)).exp().item()
    out: dict[str, Any] = {
        "n": n,
        "elbo": elbo,
        "elbo_se": se,
        "log_z_is": (torch.logsumexp(log_w, 0) - math.log(n)).item(),
        "log_z": log_z,
        "kl": None if log_z is None else log_z - elbo,
        "kl_se": None if log_z is None else se,
        "ess": ess if bool(finite.all()) else float("nan"),
        "ess_fraction": ess / n if bool(finite.all()) else float("nan"),
    }
    return out


def reverse_kl(
    flow: nn.Module,
    log_target: Callable[[Tensor], Tensor],
    log_z: float,
    n: int = 10000,
) -> tuple[float, float]:
    """KL(q‖p) = E_q[log q − log p̃] + log Z by n samples of q = flow(), with its standard error.

    Returns:
        (kl, standard error).
    """
    d = vi_diagnostics(flow, log_target, n, log_z=log_z)
    return d["kl"], d["kl_se"]
