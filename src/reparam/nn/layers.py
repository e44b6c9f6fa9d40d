r"""Mean-field Gaussian Bayesian layers: BayesLinear, BayesConv1d, BayesConv2d.

Every weight and bias has the posterior q(w) = N(μ, σ²) with σ = softplus(ρ) (parameters
``weight_mu``, ``weight_rho``, ``bias_mu``, ``bias_rho``); the means start like
``nn.Linear`` / ``nn.Conv*d`` (uniform on ±1/√fan_in) and σ starts at ``init_scale``
(ρ = softplus⁻¹(init_scale)). For a layer a = op(x, W) + b (a matmul or a convolution), a
forward pass draws a Monte Carlo sample of the pre-activations with one of three
gradient estimators, chosen by ``estimator``:

- ``"weight"`` — Bayes by Backprop (Blundell et al. 2015): one sample
  W = μ + σ ∘ ε, ε ~ N(0, I), per forward pass, shared by the whole minibatch. One
  matmul / convolution, but the examples of a minibatch see the same weights, so the
  gradient's variance does not fall as 1/B.
- ``"local"`` — the local reparameterization trick (Kingma, Salimans & Welling 2015):
  since a = x·W is Gaussian given x, sample it directly,

  .. math:: a = x\,\mu_W + \mu_b + \sqrt{x^2\,\sigma_W^2 + \sigma_b^2}\;\odot\;\zeta,
            \qquad \zeta \sim \mathcal N(0, I),

  one independent draw per example (and per output unit): two matmuls / convolutions.
  For a linear layer this is exact: each example's pre-activations have the
  distribution they would have with its own weight sample. For a convolution the
  outputs at different positions share weights and are correlated; ``"local"`` keeps
  each unit's marginal N(mean, var) but samples the positions independently, so only
  losses that are sums of per-unit terms keep the same expectation as ``"weight"``
  (Kingma et al. 2015, Molchanov et al. 2017 use it this way).
- ``"flipout"`` (Wen et al. 2018): one shared perturbation ΔW = σ ∘ ε, decorrelated
  across the minibatch by random signs s (inputs) and r (outputs) per example,

  .. math:: a_n = x_n\,\mu_W + \mu_b + \big((x_n \circ s_n)\,\Delta W + \Delta b\big) \circ r_n,

  i.e. example n uses the weights μ + ΔW ∘ (r_n s_nᵀ), each distributed exactly as
  q(W) since ε is symmetric, and pseudo-independent across examples. Two matmuls /
  convolutions. For a convolution the signs are per example and per channel, shared
  over positions, so each example sees one consistent kernel (exact for any loss).

The three estimators have the same expected gradient for a linear layer (and for any
per-unit loss), and ``"local"`` / ``"flipout"`` lower the variance on a minibatch.
:attr:`BayesLayer.deterministic` (or the :func:`deterministic` context) uses the means.

:meth:`BayesLayer.kl` is KL(q ‖ p) for the layer's weights and biases: in closed form for
:class:`~reparam.nn.GaussianPrior`, and otherwise (:class:`~reparam.nn.ScaleMixturePrior`)
the unbiased one-sample estimate

.. math:: \widehat{\mathrm{KL}} = -\mathcal H[q] - \textstyle\sum_i \log p(w_i),
          \qquad w = \mu + \sigma \circ \varepsilon,

with the Gaussian entropy ℋ[q] = Σ (½ log 2πe + log σ) in closed form and a fresh sample
w drawn by ``kl()`` itself (not the forward pass's: ``"local"`` never forms the weights,
and holding a forward sample would keep its graph alive). Its gradient equals that of
the full estimate log q(w) − log p(w) of Blundell et al.; its value has less variance
when σ is small against the prior.

References:
    Blundell, Cornebise, Kavukcuoglu & Wierstra, "Weight Uncertainty in Neural Networks",
    ICML 2015, arXiv:1505.05424.
    Kingma, Salimans & Welling, "Variational Dropout and the Local Reparameterization
    Trick", NeurIPS 2015, arXiv:1506.02557.
    Wen, Vicol, Ba, Tran & Grosse, "Flipout: Efficient Pseudo-Independent Weight
    Perturbations on Mini-Batches", ICLR 2018, arXiv:1803.04386.
    Molchanov, Ashukha & Vetrov, "Variational Dropout Sparsifies Deep Neural Networks",
    ICML 2017, arXiv:1701.05369.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.modules.utils import _pair, _single

from .._checks import check_positive_int
from ._kernels import _GaussianKL, _ScaledNoise, _signs, _SquaredSoftplus
from .priors import GaussianPrior, Prior

__all__ = [
    "ESTIMATORS",
    "BayesConv1d",
    "BayesConv2d",
    "BayesLayer",
    "BayesLinear",
    "deterministic",
    "kl_divergence",
]

#: the gradient estimators a layer can use.
ESTIMATORS = ("weight", "local", "flipout")
#: padding modes of the convolutions (as in ``nn.Conv2d``).
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

_HALF_LOG_2PI_E = 0.5 * math.log(2.0 * math.pi * math.e)
# floor of the local-reparameterization variance: sqrt has an infinite slope at 0 (an
# input that is zero over a whole receptive field, no bias); the clamp zeroes that gradient.
_VAR_FLOOR = 1e-30


def softplus_inverse(sigma: float) -> float:
    """ρ with softplus(ρ) = σ, stable for small and large σ: σ + log(−expm1(−σ))."""
    return sigma + math.log(-math.expm1(-sigma))


class BayesLayer(nn.Module):
    r"""Shared machinery: the posterior parameters, the three estimators and the KL.

    Subclasses set ``_spatial_dims`` (0 for linear, 1 / 2 for convolutions) and
    implement :meth:`_op` (the deterministic op(x, W, b)).
    """

    _spatial_dims: int = 0

    def __init__(
        self,
        weight_shape: tuple[int, ...],
        bias_size: int | None,
        fan_in: int,
        *,
        prior: Prior | None,
        estimator: str,
        init_scale: float,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if estimator not in ESTIMATORS:
            raise ValueError(
                f"{name}: estimator must be one of {', '.join(ESTIMATORS)}; got {estimator!r}"
            )
        if prior is None:
            prior = GaussianPrior()
        if not isinstance(prior, Prior):
            raise ValueError(
                f"{name}: prior must be a GaussianPrior or ScaleMixturePrior; got {prior!r}"
            )
        try:
            s = float(init_scale)
        except (TypeError, ValueError):
            s = float("nan")
        if not (math.isfinite(s) and s > 0):
            raise ValueError(
                f"{name}: init_scale must be a positive finite number; got {init_scale!r}"
            )
        self.estimator = estimator
        self.prior = prior
        self.init_scale = s
        self.fan_in = fan_in
        #: use the posterior means (no sampling) in ``forward``.
        self.deterministic = False
        self._scale_cache: dict[str, tuple[Tensor, Tensor, Tensor]] = {}

        def empty(*shape: int) -> nn.Parameter:
            return nn.Parameter(torch.empty(shape, device=device, dtype=dtype))

        self.weight_mu, self.weight_rho = empty(*weight_shape), empty(*weight_shape)
        if bias_size is not None:
            self.bias_mu, self.bias_rho = empty(bias_size), empty(bias_size)
        else:
            self.register_parameter("bias_mu", None)
            self.register_parameter("bias_rho", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Means uniform on ±1/√fan_in (as ``nn.Linear`` / ``nn.Conv*d``); σ = init_scale."""
        bound = 1.0 / math.sqrt(self.fan_in)
        rho = softplus_inverse(self.init_scale)
        with torch.no_grad():
            self.weight_mu.uniform_(-bound, bound)
            self.weight_rho.fill_(rho)
            if self.bias_mu is not None:
                self.bias_mu.uniform_(-bound, bound)
                self.bias_rho.fill_(rho)

    @property
    def weight_sigma(self) -> Tensor:
        """σ_W = softplus(ρ_W)."""
        return F.softplus(self.weight_rho)

    @property
    def bias_sigma(self) -> Tensor | None:
        """σ_b = softplus(ρ_b), or ``None`` without a bias."""
        return None if self.bias_rho is None else F.softplus(self.bias_rho)

    def _op(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        raise NotImplementedError

    def _scales(self, rho: Tensor, name: str) -> tuple[Tensor, Tensor]:
        """(σ, sigmoid(ρ)) = (softplus(ρ), ∂σ/∂ρ) without a graph.

        The forward pass and ``kl()`` of one step share them; they are reused only while ρ
        holds exactly the values they were computed from, compared by value against a
        copy (no version counter or pointer sees every update: fused optimizers and
        ``.data`` edits change neither). The comparison reads ρ once, several times
        cheaper than the softplus and sigmoid it saves.
        """
        entry = self._scale_cache.get(name)
        with torch.no_grad():
            if entry is not None:
                saved, sigma, slope = entry
                if (
                    saved.shape == rho.shape
                    and saved.dtype == rho.dtype
                    and saved.device == rho.device
                    and torch.equal(saved, rho)
                ):
                    return sigma, slope
            sigma, slope = F.softplus(rho), torch.sigmoid(rho)
            self._scale_cache[name] = (rho.detach().clone(), sigma, slope)
        return sigma, slope

    def _sigma(self, rho: Tensor, name: str = "weight") -> Tensor:
        """σ = softplus(ρ) as the layer uses it (see :meth:`_scales`)."""
        return self._scales(rho, name)[0]

    def forward(self, x: Tensor) -> Tensor:
        mu, b_mu = self.weight_mu, self.bias_mu
        if self.deterministic:
            return self._op(x, mu, b_mu)
        rho, b_rho = self.weight_rho, self.bias_rho
        sigma, slope = self._scales(rho, "weight")
        b_sigma, b_slope = (None, None) if b_rho is None else self._scales(b_rho, "bias")
        estimator = self.estimator
        if estimator == "weight":
            w = _ScaledNoise.apply(mu, rho, sigma, slope)
            b = None if b_mu is None else _ScaledNoise.apply(b_mu, b_rho, b_sigma, b_slope)
            return self._op(x, w, b)
        mean = self._op(x, mu, b_mu)
        if estimator == "local":
            var_b = None if b_rho is None else _SquaredSoftplus.apply(b_rho, b_sigma, b_slope)
            var = self._op(x * x, _SquaredSoftplus.apply(rho, sigma, slope), var_b)
            return torch.addcmul(mean, var.clamp_min(_VAR_FLOOR).sqrt(), torch.randn_like(mean))
        # flipout: signs per example (and per channel, shared over positions)
        k = self._spatial_dims
        s = _signs(x.shape[: x.dim() - k] + (1,) * k, x)
        delta = _ScaledNoise.apply(None, rho, sigma, slope)
        delta_b = None if b_rho is None else _ScaledNoise.apply(None, b_rho, b_sigma, b_slope)
        perturbation = self._op(x * s, delta, delta_b)
        r = _signs(perturbation.shape[: perturbation.dim() - k] + (1,) * k, perturbation)
        return torch.addcmul(mean, perturbation, r)

    def kl(self) -> Tensor:
        """KL(q ‖ p) of the layer's weights and biases, a scalar (see the module docstring)."""
        terms = [("weight", self.weight_mu, self.weight_rho)]
        if self.bias_mu is not None:
            terms.append(("bias", self.bias_mu, self.bias_rho))
        prior = self.prior
        total: Tensor | None = None
        for name, mu, rho in terms:
            if isinstance(prior, GaussianPrior):
                kl = _GaussianKL.apply(mu, rho, *self._scales(rho, name), prior.scale)
            else:
                kl = self._mc_kl(mu, F.softplus(rho))
            total = kl if total is None else total + kl
        assert total is not None
        return total

    def _mc_kl(self, mu: Tensor, sigma: Tensor) -> Tensor:
        w = torch.addcmul(mu, sigma, torch.randn_like(sigma))
        neg_entropy = -sigma.log().sum() - mu.numel() * _HALF_LOG_2PI_E
        return neg_entropy - self.prior.log_prob(w).sum()

    def extra_repr(self) -> str:
        return (
            f"{self._shape_repr()}, bias={self.bias_mu is not None}, "
            f"estimator={self.estimator!r}, prior={self.prior!r}"
        )

    def _shape_repr(self) -> str:
        return ""


class BayesLinear(BayesLayer):
    r"""a = x Wᵀ + b with W ~ N(μ_W, σ_W²), b ~ N(μ_b, σ_b²) (see :mod:`reparam.nn.layers`).

    >>> layer = BayesLinear(3, 2, estimator="local")
    >>> layer(torch.randn(5, 3)).shape
    torch.Size([5, 2])
    """

    _spatial_dims = 0

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        prior: Prior | None = None,
        estimator: str = "weight",
        init_scale: float = 1e-3,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.in_features = check_positive_int("in_features", in_features, owner="BayesLinear")
        self.out_features = check_positive_int("out_features", out_features, owner="BayesLinear")
        super().__init__(
            (out_features, in_features),
            out_features if bias else None,
            in_features,
            prior=prior,
            estimator=estimator,
            init_scale=init_scale,
            device=device,
            dtype=dtype,
        )

    def _op(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return F.linear(x, weight, bias)

    def _shape_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


class _BayesConvNd(BayesLayer):
    _tuple = staticmethod(_pair)
    _conv = staticmethod(F.conv2d)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        prior: Prior | None = None,
        estimator: str = "weight",
        init_scale: float = 1e-3,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        name = type(self).__name__
        self.in_channels = check_positive_int("in_channels", in_channels, owner=name)
        self.out_channels = check_positive_int("out_channels", out_channels, owner=name)
        self.groups = check_positive_int("groups", groups, owner=name)
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                f"must be divisible by groups ({groups})"
            )
        self.kernel_size = self._tuple(kernel_size)
        self.stride = self._tuple(stride)
        self.dilation = self._tuple(dilation)
        for label, values, minimum in (
            ("kernel_size", self.kernel_size, 1),
            ("stride", self.stride, 1),
            ("dilation", self.dilation, 1),
        ):
            if any(isinstance(v, bool) or not isinstance(v, int) or v < minimum for v in values):
                raise ValueError(f"{name}: {label} must be positive integers; got {values!r}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {', '.join(PADDING_MODES)}; "
                f"got {padding_mode!r}"
            )
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: padding must be 'same', 'valid' or integers; got {padding!r}"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' needs stride 1; got {self.stride!r}")
            if padding == "same" and padding_mode != "zeros":
                raise ValueError(
                    f"{name}: padding='same' is supported with padding_mode='zeros' only"
                )
            self.padding: tuple[int, ...] | str = padding
        else:
            self.padding = self._tuple(padding)
            if any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in self.padding):
                raise ValueError(f"{name}: padding must be non-negative; got {padding!r}")
        # F.pad wants the last dimension first, each side given.
        self._pad = (
            tuple(p for p in reversed(self.padding) for _ in range(2))
            if isinstance(self.padding, tuple)
            else ()
        )
        fan_in = (in_channels // groups) * math.prod(self.kernel_size)
        super().__init__(
            (out_channels, in_channels // groups, *self.kernel_size),
            out_channels if bias else None,
            fan_in,
            prior=prior,
            estimator=estimator,
            init_scale=init_scale,
            device=device,
            dtype=dtype,
        )

    def _op(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self.padding_mode != "zeros":
            x = F.pad(x, self._pad, mode=self.padding_mode)
            padding: tuple[int, ...] | str | int = 0
        else:
            padding = self.padding
        # F.conv*d take padding as ints or "same"/"valid"; torch's stubs list the ints only
        return self._conv(
            x,
            weight,
            bias,
            self.stride,
            padding,  # type: ignore[arg-type]
            self.dilation,
            self.groups,
        )

    def _shape_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )
        if any(d != 1 for d in self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class BayesConv1d(_BayesConvNd):
    """A 1-d convolution with a mean-field Gaussian posterior (arguments of ``nn.Conv1d``).

    >>> BayesConv1d(2, 4, 3, padding=1, estimator="flipout")(torch.randn(5, 2, 7)).shape
    torch.Size([5, 4, 7])
    """

    _spatial_dims = 1
    _tuple = staticmethod(_single)
    _conv = staticmethod(F.conv1d)


class BayesConv2d(_BayesConvNd):
    """A 2-d convolution with a mean-field Gaussian posterior (arguments of ``nn.Conv2d``).

    >>> BayesConv2d(1, 3, 3, stride=2, estimator="local")(torch.randn(4, 1, 9, 9)).shape
    torch.Size([4, 3, 4, 4])
    """

    _spatial_dims = 2
    _tuple = staticmethod(_pair)
    _conv = staticmethod(F.conv2d)


def _bayes_layers(module: nn.Module) -> Iterator[BayesLayer]:
    return (m for m in module.modules() if isinstance(m, BayesLayer))


def kl_divergence(model: nn.Module) -> Tensor:
    """Σ of :meth:`BayesLayer.kl` over every Bayesian layer of ``model`` (0 if none).

    >>> model = nn.Sequential(BayesLinear(3, 4), nn.ReLU(), BayesLinear(4, 2))
    >>> bool(torch.isclose(kl_divergence(model), model[0].kl() + model[2].kl()))
    True
    """
    total: Tensor | None = None
    for layer in _bayes_layers(model):
        kl = layer.kl()
        total = kl if total is None else total + kl
    if total is None:
        p = next(model.parameters(), None)
        return torch.zeros((), device=None if p is None else p.device)
    return total


@contextmanager
def deterministic(model: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Within the block every Bayesian layer of ``model`` uses its posterior means.

    The previous per-layer settings are restored on exit.

    >>> model = nn.Sequential(BayesLinear(3, 2))
    >>> x = torch.randn(4, 3)
    >>> with deterministic(model):
    ...     torch.equal(model(x), model(x))
    True
    """
    layers = list(_bayes_layers(model))
    before = [layer.deterministic for layer in layers]
    for layer in layers:
        layer.deterministic = enabled
    try:
        yield model
    finally:
        for layer, flag in zip(layers, before, strict=True):
            layer.deterministic = flag
