"""Density estimation with flows and the shared training loop (:func:`reparam.training.train`).

:class:`DensityEstimator` wraps an unconditional :class:`~reparam.flows.flow.Flow` (called as
``flow()``) for maximum likelihood on data, loss = −(1/B) Σ_b log q(x_b) (Papamakarios et
al. 2017); log q by the inverse walk, so MAF-form flows are one pass. :func:`gaussian_nll`
is the full-covariance Gaussian baseline a fit is judged against.

Fitting a flow to an unnormalized target density (variational inference) is
:func:`reparam.vi.fit_flow_to_target`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["DensityEstimator", "gaussian_fit", "gaussian_nll"]


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
