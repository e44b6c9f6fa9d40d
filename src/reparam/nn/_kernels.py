"""Fused autograd kernels of the Gaussian Bayesian layers (:mod:`reparam.nn.layers`).

σ = softplus(ρ) and its slope sigmoid(ρ) come in as constants computed once per step by the
layer; each kernel carries ∂σ/∂ρ = sigmoid(ρ) itself, so a step allocates one tensor per
gradient instead of autograd's chain through softplus. Flipout's random signs are drawn
from one bit per element.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable


def _signs(shape: tuple[int, ...], like: Tensor) -> Tensor:
    """Independent uniform ±1 of the given shape (Rademacher), 62 bits per random integer.

    Unpacking the bits of random int64s is several times faster on CPU than
    ``bernoulli_`` or ``random_``, which draw one random number per element.
    """
    n = math.prod(shape)
    words = torch.randint(0, 2**62, ((n + 61) // 62, 1), device=like.device)
    bits = (words >> torch.arange(62, device=like.device)) & 1
    return bits.view(-1)[:n].view(shape).to(like.dtype).mul_(2).sub_(1)


class _ScaledNoise(torch.autograd.Function):
    """(μ + σ∘ε, ε) with σ = softplus(ρ) and its slope sigmoid(ρ) given, ε ~ N(0, I) drawn
    here; μ may be None.

    Backward: ∂/∂μ = g, ∂/∂ρ = g∘ε∘sigmoid(ρ), with one allocation each.
    """

    @staticmethod
    def forward(ctx: Any, mu: Tensor | None, rho: Tensor, sigma: Tensor, slope: Tensor) -> Tensor:
        eps = torch.randn_like(sigma)
        ctx.save_for_backward(slope, eps)
        ctx.has_mu = mu is not None
        out = eps * sigma
        return out.add_(mu) if mu is not None else out

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor | None, Tensor, None, None]:
        slope, eps = ctx.saved_tensors
        return (g if ctx.has_mu else None), (slope * eps).mul_(g), None, None


class _SquaredSoftplus(torch.autograd.Function):
    """σ² with σ = softplus(ρ) and sigmoid(ρ) given; backward g·2σ·sigmoid(ρ)."""

    @staticmethod
    def forward(ctx: Any, rho: Tensor, sigma: Tensor, slope: Tensor) -> Tensor:
        ctx.save_for_backward(sigma, slope)
        return sigma * sigma

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, None, None]:
        sigma, slope = ctx.saved_tensors
        return (slope * sigma).mul_(g).mul_(2.0), None, None


class _GaussianKL(torch.autograd.Function):
    r"""Σ KL(N(μ, σ²) ‖ N(0, s²)), σ = softplus(ρ) and sigmoid(ρ) given, with a fused
    backward: ∂/∂μ = μ/s², ∂/∂ρ = (σ/s² − 1/σ)·sigmoid(ρ)."""

    @staticmethod
    def forward(
        ctx: Any, mu: Tensor, rho: Tensor, sigma: Tensor, slope: Tensor, scale: float
    ) -> Tensor:
        ctx.save_for_backward(mu, sigma, slope)
        ctx.scale = scale
        s, m = sigma.reshape(-1), mu.reshape(-1)
        return (
            (torch.dot(s, s) + torch.dot(m, m)) * (0.5 / scale**2)
            - sigma.log().sum()
            + mu.numel() * (math.log(scale) - 0.5)
        )

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor, None, None, None]:
        mu, sigma, slope = ctx.saved_tensors
        inv_s2 = 1.0 / ctx.scale**2
        g_mu = mu * (g * inv_s2)
        g_rho = sigma.reciprocal().sub_(sigma * inv_s2).neg_().mul_(slope).mul_(g)
        return g_mu, g_rho, None, None, None
