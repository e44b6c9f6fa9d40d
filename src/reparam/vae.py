r"""The variational autoencoder: an amortized q(z|x) trained by a reparameterized bound.

.. math::
    \log p(x) \ge \mathbb E_{q(z|x)}[\log p(x|z)] - \beta\,\mathrm{KL}(q(z|x)\,\|\,p(z)),
    \qquad z = g(\varepsilon, \phi(x)),\ \varepsilon \sim \mathcal N(0, I)

with prior p(z) = N(0, I), an encoder giving the parameters φ(x) of q(z|x) (a diagonal,
low-rank or full-covariance Gaussian, or a diagonal Gaussian pushed through K amortized
flow steps) and a decoder giving p(x|z) (Bernoulli logits, continuous Bernoulli or
Gaussian). The bound is any of :mod:`reparam.objectives`
(ELBO, IWAE(k), DReG). Evaluation follows Burda et al. (2016): the importance-sampled
log-likelihood

.. math::
    \log p(x) \approx \log \frac1k \sum_{i=1}^k \frac{p(x|z_i)\,p(z_i)}{q(z_i|x)},
    \qquad z_i \sim q(z|x),

computed in chunks of samples with a running log-sum-exp so memory stays bounded, and
the number of active units, the latent dimensions j with Cov_x(E_q[z_j]) > 0.01.

Flow posteriors (``posterior="planar"`` or ``"iaf"``): z = T_K ∘ … ∘ T_1(z₀),
z₀ ~ N(μ(x), σ(x)²), every step conditioned on the encoder's last hidden activation h(x),

.. math::
    \log q(z|x) = \log \mathcal N(z_0; \mu, \sigma^2)
                 - \sum_k \log\left|\det \partial T_k / \partial z_{k-1}\right|,

computed in the same pass that draws z. There is no closed-form KL, so the ELBO uses the
Monte Carlo KL (1/S) Σ_i [log q(z_i|x) − log p(z_i)].

Hyperspherical posteriors (``posterior="vmf"`` or ``"power-spherical"``): z on the unit
sphere S^{d−1} ⊂ R^d, the prior uniform on it, the KL analytic (see
:mod:`reparam._vae_posteriors`).

References:
    Kingma & Welling, "Auto-Encoding Variational Bayes", 2014, arXiv:1312.6114.
    Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", 2016,
    arXiv:1509.00519.
    Rezende & Mohamed, "Variational Inference with Normalizing Flows", ICML 2015,
    arXiv:1505.05770 (planar flows, amortized).
    Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, "Improved Variational
    Inference with Inverse Autoregressive Flow", NeurIPS 2016, arXiv:1606.04934.
    Davidson, Falorsi, De Cao, Kipf & Tomczak, "Hyperspherical Variational
    Auto-Encoders", UAI 2018, arXiv:1804.00891.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributions as td
import torch.nn.functional as F
from torch import Tensor, nn

from ._checks import check_int
from ._vae_fast import fused_metrics
from ._vae_nets import encoder_decoder, flow_steps
from ._vae_options import (
    FLOW_POSTERIORS,
    check_choice,
    check_flow_length,
    check_noise,
    check_sizes,
    vae_option,
)
from ._vae_posteriors import LOWRANK_RANK as LOWRANK_RANK  # kept importable from here
from ._vae_posteriors import MIN_SCALE, POSTERIORS, SPHERE_POSTERIORS, head_size
from ._vae_posteriors import posterior as posterior_from_head
from ._vae_posteriors import prior as prior_of
from .distributions import DiagonalNormal, SphericalUniform
from .importance import log_mean_exp, log_weights
from .objectives import OBJECTIVES, BetaSchedule, elbo_terms, get_objective
from .schedules import check_beta

__all__ = ["ARCHS", "FLOW_POSTERIORS", "LIKELIHOODS", "POSTERIORS", "SPHERE_POSTERIORS", "VAE"]

LIKELIHOODS = ("bernoulli", "continuous-bernoulli", "gaussian")
ARCHS = ("mlp", "conv")

#: Monte Carlo samples for E_q[z|x] of a flow posterior (active units, latent plots).
FLOW_MEAN_SAMPLES = 64


class VAE(nn.Module):
    r"""Variational autoencoder with a reparameterized q(z|x): Gaussian (prior N(0, I)),
    a flow, or on the sphere (prior uniform on it).

    Args:
        data_shape: (C, H, W) of one image.
        latent_dim: dimension d of z.
        hidden: widths of the hidden layers (MLP: encoder ``D-h1-h2-…-d``, decoder
            mirrored; conv: the first width is the linear layer after the convolutions).
        arch: ``"mlp"`` or ``"conv"`` (2 stride-2 convolutions, transposed convolutions
            in the decoder; H and W must be divisible by 4).
        posterior: ``"normal"`` (diagonal, :class:`~reparam.DiagonalNormal`),
            ``"lowrank"`` (:class:`~reparam.LowRankMultivariateNormal`, rank 2) or
            ``"fullrank"`` (:class:`~reparam.MultivariateNormal` with a Cholesky factor),
            ``"planar"`` (K planar flows on a diagonal Gaussian, their parameters a linear
            function of the encoder's last hidden activation h; Rezende & Mohamed 2015) or
            ``"iaf"`` (K inverse autoregressive flows, MADE conditioners with two hidden
            layers as wide as h and h as context, reversed order between steps; Kingma
            et al. 2016). Both are :class:`~reparam.flows.FlowDistribution`. On the
            sphere S^{d−1} ⊂ R^d with a uniform prior and the analytic KL: ``"vmf"``
            (:class:`~reparam.VonMisesFisher`; Davidson et al. 2018) or
            ``"power-spherical"`` (:class:`~reparam.PowerSpherical`; De Cao & Aziz 2020).
        flow_length: K, the number of flow steps (flow posteriors only; None: 10 for
            ``"planar"``, as in Rezende & Mohamed's MNIST runs, and 2 for ``"iaf"``, each
            IAF step being a whole MADE).
        likelihood: ``"bernoulli"`` (logits; binary data), ``"continuous-bernoulli"``
            or ``"gaussian"`` (mean sigmoid(output), one learned global log-scale).
        objective: ``"elbo"``, ``"iwae"`` or ``"dreg"`` (:mod:`reparam.objectives`).
        k: samples per data point (the ELBO's ``num_samples``, the IWAE/DReG ``k``).
        beta: a :class:`~reparam.objectives.BetaSchedule` or a number, the KL weight
            (the ELBO only; IWAE and DReG have none).
        noise: how ε is drawn during training: ``"mc"``, ``"antithetic"``, ``"qmc"``.
        dynamic_binarize: resample x ~ Bernoulli(x) for each training batch
            (:meth:`prepare_batch`).
        kl: the ELBO's KL term: ``"auto"`` (closed form for the Gaussian posteriors) or
            ``"mc"`` (Monte Carlo, log q(z) − log p(z) at the samples — what a flow
            posterior always uses, so ``"mc"`` is the like-for-like baseline for one).

    Raises:
        ValueError: at construction, naming the option and the value: an unknown name
            (``arch``, ``posterior``, ``likelihood``, ``objective``, ``noise``, ``kl``),
            k or latent_dim not an int >= 1, an odd k with ``noise="antithetic"``, an
            empty or non-positive ``hidden``, a bad ``data_shape``, conv with H or W not
            divisible by 4, β negative or not a number, ``dynamic_binarize`` not a bool,
            or a ``flow_length`` < 1 or given for a posterior that is not a flow.

    Example:
        >>> vae = VAE((1, 8, 8), latent_dim=2, hidden=(16,))
        >>> q = vae.encode(torch.rand(5, 1, 8, 8))
        >>> q.batch_shape, q.event_shape
        (torch.Size([5]), torch.Size([2]))
        >>> vae.decode(q.rsample()).event_shape
        torch.Size([1, 8, 8])
    """

    #: the fused losses of :mod:`reparam._vae_fast` where they apply (False: the objectives)
    fused = True

    def __init__(
        self,
        data_shape: Sequence[int] = (1, 28, 28),
        latent_dim: int = 50,
        hidden: Sequence[int] = (200, 200),
        arch: str = "mlp",
        posterior: str = "normal",
        likelihood: str = "bernoulli",
        objective: str = "elbo",
        k: int = 1,
        beta: BetaSchedule | float | None = None,
        noise: str = "mc",
        *,
        dynamic_binarize: bool = False,
        flow_length: int | None = None,
        kl: str = "auto",
    ) -> None:
        super().__init__()
        shape = check_sizes(data_shape)
        if shape is None or len(shape) != 3:
            raise ValueError(f"VAE: data_shape must be (C, H, W) > 0; got {data_shape!r}")
        widths = check_sizes(hidden)
        if not widths:
            raise ValueError(f"VAE: hidden must be positive layer widths; got {hidden!r}")
        hidden = widths
        check_int("latent_dim", latent_dim, owner="VAE", sep="; ")
        check_int("k", k, owner="VAE", sep="; ")
        self.arch = check_choice("arch", arch, ARCHS)
        self.posterior = check_choice("posterior", posterior, POSTERIORS)
        self.likelihood = check_choice("likelihood", likelihood, LIKELIHOODS)
        self.objective_name = check_choice("objective", objective, tuple(OBJECTIVES))
        self.objective = get_objective(objective)
        check_noise(noise, k)
        if not isinstance(beta, BetaSchedule):
            beta = BetaSchedule(1.0 if beta is None else vae_option(check_beta, beta))
        if not isinstance(dynamic_binarize, bool):
            raise ValueError(
                f"VAE: dynamic_binarize must be True or False; got {dynamic_binarize!r}"
            )
        if arch == "conv" and (shape[1] % 4 or shape[2] % 4):
            raise ValueError(
                f"VAE: arch 'conv' needs H and W divisible by 4; got data_shape {shape}"
            )
        self.data_shape = shape
        self.latent_dim = d = int(latent_dim)
        self.hidden = hidden
        self.k = int(k)
        self.beta = beta
        self.noise = noise
        self.dynamic_binarize = bool(dynamic_binarize)
        self.flow_length = check_flow_length(posterior, flow_length)
        self.kl = check_choice("kl", kl, ("auto", "mc"))

        if posterior in SPHERE_POSTERIORS and d < 2:
            raise ValueError(f"VAE: posterior {posterior!r} needs latent_dim >= 2; got {d}")
        n_params = head_size(posterior, d)
        if posterior == "fullrank":
            self._tril: Tensor
            self._diag: Tensor
            self.register_buffer("_tril", torch.tril_indices(d, d), persistent=False)
            self.register_buffer(
                "_diag", (self._tril[0] == self._tril[1]).nonzero().squeeze(-1), persistent=False
            )
        self.encoder_net, self.decoder_net, context = encoder_decoder(arch, shape, d, hidden)
        self.encoder_head = nn.Linear(context, n_params)
        if self.flow_length is not None:
            self.flow = flow_steps(posterior, d, context, self.flow_length)
        if likelihood == "gaussian":
            self.log_scale = nn.Parameter(torch.zeros(()))
        self._zero: Tensor
        self.register_buffer("_zero", torch.zeros(()), persistent=False)

    # ----------------------------------------------------------------- config
    @property
    def config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-serializable dict (see :meth:`from_config`)."""
        return {
            "data_shape": list(self.data_shape),
            "latent_dim": self.latent_dim,
            "hidden": list(self.hidden),
            "arch": self.arch,
            "posterior": self.posterior,
            "likelihood": self.likelihood,
            "objective": self.objective_name,
            "k": self.k,
            "beta": float(getattr(self.beta, "beta", 1.0)),
            "warmup_steps": int(getattr(self.beta, "warmup_steps", 0)),
            "noise": self.noise,
            "dynamic_binarize": self.dynamic_binarize,
            "flow_length": self.flow_length,
            "kl": self.kl,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        """Build a VAE from :attr:`config` (extra keys are ignored)."""
        beta = BetaSchedule(float(config.get("beta", 1.0)), int(config.get("warmup_steps", 0)))
        return cls(
            config["data_shape"],
            latent_dim=config["latent_dim"],
            hidden=config["hidden"],
            arch=config.get("arch", "mlp"),
            posterior=config.get("posterior", "normal"),
            likelihood=config.get("likelihood", "bernoulli"),
            objective=config.get("objective", "elbo"),
            k=config.get("k", 1),
            beta=beta,
            noise=config.get("noise", "mc"),
            dynamic_binarize=config.get("dynamic_binarize", False),
            flow_length=config.get("flow_length"),
            kl=config.get("kl", "auto"),
        )

    # ----------------------------------------------------------------- model
    @property
    def prior(self) -> DiagonalNormal | SphericalUniform:
        """p(z) = N(0, I), or uniform on the sphere for a sphere posterior (event shape
        (latent_dim,))."""
        return prior_of(self)

    @property
    def is_flow(self) -> bool:
        """Whether q(z|x) is a flow (no closed-form KL, mean or analytic entropy)."""
        return self.flow_length is not None

    def encode(self, x: Tensor) -> Any:
        """q(z|x): batch shape (B,), event shape (latent_dim,) (the family of ``posterior``).

        Args:
            x: images with shape (B, C, H, W).
        """
        h = self.encoder_net(x)
        return posterior_from_head(self, h, self.encoder_head(h))

    def decoder_output(self, z: Tensor) -> Tensor:
        """The decoder's raw output (logits, or the mean before the sigmoid).

        Returns:
            shape ``(*z.shape[:-1], C, H, W)``.
        """
        lead = z.shape[:-1]
        out = self.decoder_net(z.reshape(-1, self.latent_dim))
        return out.reshape(*lead, *self.data_shape)

    def _likelihood(self, out: Tensor) -> td.Distribution:
        if self.likelihood == "bernoulli":
            base: td.Distribution = td.Bernoulli(logits=out, validate_args=False)
        elif self.likelihood == "continuous-bernoulli":
            base = td.ContinuousBernoulli(logits=out, validate_args=False)
        else:
            base = td.Normal(torch.sigmoid(out), self.log_scale.exp(), validate_args=False)
        return td.Independent(base, 3, validate_args=False)

    def decode(self, z: Tensor) -> td.Distribution:
        """p(x|z): batch shape ``z.shape[:-1]``, event shape (C, H, W) (logits form)."""
        return self._likelihood(self.decoder_output(z))

    def log_px_given_z(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) summed over pixels, for z of shape (*S, B, d) and x of shape (B, C, H, W).

        Returns:
            shape (*S, B).
        """
        out = self.decoder_output(z)
        if self.likelihood == "bernoulli":  # logits form: no sigmoid, no log of a probability
            target = x.to(out.dtype).expand_as(out)
            lp = -F.binary_cross_entropy_with_logits(out, target, reduction="none")
            return lp.flatten(-3).sum(-1)
        return self._likelihood(out).log_prob(x)

    def prepare_batch(self, batch: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Dynamic binarization x ~ Bernoulli(x) when configured; else the batch unchanged."""
        if not self.dynamic_binarize:
            return batch
        from .data import dynamic_binarize

        return dynamic_binarize(batch, generator)

    def _bound(self, x: Tensor, q: Any, step: int) -> Tensor:
        def log_lik(z: Tensor) -> Tensor:
            return self.log_px_given_z(x, z)

        return self.objective(
            log_lik, q, self.prior, num_samples=self.k, noise=self.noise, **self._own_options(step)
        )

    def _own_options(self, step: int) -> dict[str, Any]:
        """The objective's keywords beyond the shared signature: β(step) and the KL mode
        for the ELBO; IWAE and DReG take none."""
        return (
            {"beta": self.beta(step), "kl": self._kl_mode} if self.objective_name == "elbo" else {}
        )

    @property
    def _kl_mode(self) -> str:
        # a flow has no closed-form KL: say "mc" outright, so no registered KL of a
        # parent class (ReparamDistribution) could be picked up by mistake.
        return "mc" if self.is_flow else self.kl

    def bound(self, x: Tensor, step: int = 0) -> Tensor:
        """The training objective per data point (shape (B,)), differentiable."""
        return self._bound(x, self.encode(x), step)

    def _kl_estimate(self, q: Any) -> Tensor:
        """KL(q‖p) per data point: closed form, or one Monte Carlo sample for a flow."""
        if not self.is_flow:
            return td.kl_divergence(q, self.prior)
        z, log_q = q.rsample_and_log_prob()
        return log_q - self.prior.log_prob(z)

    def _metrics(self, x: Tensor, step: int) -> dict[str, Tensor]:
        fused = fused_metrics(self, x, step, MIN_SCALE)
        if fused is not None:  # the same values, without the general path's overhead
            return fused
        q = self.encode(x)
        if self.objective_name == "elbo":  # both terms from one pass: the KL is not redone

            def log_lik(z: Tensor) -> Tensor:
                return self.log_px_given_z(x, z)

            recon, kl_terms = elbo_terms(
                log_lik, q, self.prior, num_samples=self.k, noise=self.noise, kl=self._kl_mode
            )
            beta = self.beta(step)
            value = recon - beta * kl_terms if beta != 1.0 else recon - kl_terms
            recon_mean, kl = recon.detach().mean(), kl_terms.detach().mean()
            return {
                "loss": -value.mean(),
                "bound": value.detach().mean(),
                "kl": kl,
                "recon": recon_mean,
                "elbo": recon_mean - kl,
            }
        value = self._bound(x, q, step)
        with torch.no_grad():
            kl = self._kl_estimate(q).mean()
        return {"loss": -value.mean(), "bound": value.mean().detach(), "kl": kl}

    def training_step(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        """Loss = −mean bound; also logs "bound", "kl" and (ELBO) "recon", "elbo"."""
        return self._metrics(batch, step)

    def validation_step(self, batch: Tensor) -> dict[str, Tensor]:
        """The training metrics on a validation batch (β at its final value), no gradient."""
        with torch.no_grad():
            return self._metrics(batch, 1 << 62)

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def elbo(self, x: Tensor) -> Tensor:
        """ELBO per data point, E_q[log p(x|z)] − KL(q‖p) with one sample.

        The KL is analytic for the Gaussian posteriors; a flow posterior has none, so its
        ELBO is the one-sample estimate log p(x|z) + log p(z) − log q(z|x).
        """
        q = self.encode(x)
        if self.is_flow:
            z, log_q = q.rsample_and_log_prob()
            return self.log_px_given_z(x, z) + self.prior.log_prob(z) - log_q
        z = q.rsample()
        return self.log_px_given_z(x, z) - td.kl_divergence(q, self.prior)

    @torch.no_grad()
    def log_likelihood(self, x: Tensor, k: int = 5000, chunk: int = 500) -> Tensor:
        r"""Importance-sampled log p(x) with k samples from q(z|x), per data point.

        log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x), z_i ~ q(z|x), by
        :func:`reparam.importance.log_weights` in chunks of ``chunk`` samples, so memory is
        O(chunk · B · pixels), and :func:`~reparam.importance.log_mean_exp`. The noise is
        drawn one sample at a time, so the result for a given seed does not depend on
        ``chunk`` (a sphere posterior draws a chunk at once: Wood's sampler's draws are
        exact, where ε drawn one at a time would need the slower numerical inverse). As
        k grows the estimate increases on average towards log p(x).

        Args:
            x: images with shape (B, C, H, W).
            k: number of importance samples (>= 1).
            chunk: samples processed at once (>= 1).

        Returns:
            shape (B,).

        Raises:
            ValueError: k < 1 or chunk < 1.
        """
        if int(k) < 1:
            raise ValueError(f"log_likelihood: k must be >= 1; got {k}")
        if int(chunk) < 1:
            raise ValueError(f"log_likelihood: chunk must be >= 1; got {chunk}")
        q = self.encode(x)
        prior = self.prior

        def draw(c: int) -> tuple[Tensor, Tensor]:
            if self.posterior in SPHERE_POSTERIORS:  # a chunk's ε at once: its exact draw
                return q.rsample_and_log_prob(torch.Size((c,)))  # is reused, not inverted
            return q.from_noise_and_log_prob(torch.stack([q.sample_noise() for _ in range(c)]))

        def log_joint(z: Tensor) -> Tensor:
            return self.log_px_given_z(x, z) + prior.log_prob(z)

        log_w = log_weights(log_joint, draw, int(k), chunk=int(chunk), dtype=None)  # (k, B)
        return log_mean_exp(log_w, 0)

    @torch.no_grad()
    def active_units(self, x: Tensor, threshold: float = 0.01) -> int:
        """Number of latent dimensions j with Cov_x(E_q[z_j | x]) > threshold (Burda et al.).

        Args:
            x: images with shape (B, C, H, W), B >= 2.
            threshold: the variance threshold.
        """
        if x.shape[0] < 2:
            raise ValueError(f"active_units: needs at least 2 data points; got {x.shape[0]}")
        mean = self.posterior_mean(x)
        return int((mean.var(0) > threshold).sum())

    @torch.no_grad()
    def posterior_mean(self, x: Tensor, samples: int = FLOW_MEAN_SAMPLES) -> Tensor:
        """E_q[z|x], shape (B, latent_dim): closed form, or a Monte Carlo mean for a flow.

        Args:
            x: images with shape (B, C, H, W).
            samples: Monte Carlo samples per image (flow posteriors only).
        """
        q = self.encode(x)
        if not self.is_flow:
            return q.mean
        return q.sample(torch.Size((int(samples),))).mean(0)

    @torch.no_grad()
    def sample(self, n: int, *, mean: bool = True) -> Tensor:
        """n images from the model: z ~ p(z), then p(x|z)'s mean (or a sample).

        Returns:
            shape (n, C, H, W).
        """
        z = self.prior.sample(torch.Size((int(n),)))
        p = self.decode(z)
        return p.mean if mean else p.sample()

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """The mean of p(x | z = E_q[z|x]): shape (B, C, H, W) (see :meth:`posterior_mean`)."""
        return self.decode(self.posterior_mean(x)).mean
