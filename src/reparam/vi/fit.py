r"""Fit a variational posterior by stochastic maximization of the ELBO.

Given an unnormalized log joint log p(x, z) on the unconstrained space z ∈ R^d and a guide
(an ``nn.Module`` whose call returns q(z; φ) with event shape (d,)), :func:`fit` runs Adam
on the negative ELBO surrogate

.. math::
    \mathcal L(\varphi) = \mathbb E_{q}[\log p(x, z)] + \mathbb H[q]
    \approx \frac1S \sum_{s=1}^S \log p(x, g(\varepsilon_s, \varphi)) + \mathbb H[q],
    \qquad \varepsilon_s \sim p(\varepsilon),

built by :func:`reparam.estimators.expectation`: the entropy in closed form when q has
one, ``"mc"`` (−log q(z_s) from the same noise) otherwise (flows), or "sticking the landing"
(``stl=True``, −log q(z_s) with φ stopped; Roeder et al. 2017); the noise ε drawn by
plain Monte Carlo, antithetic pairs or randomized quasi-Monte Carlo (Buchholz et al.
2018), and an optional Taylor control variate (Miller et al. 2017).

Convergence (as in Stan's ADVI, Kucukelbir et al. 2017): every ``window`` steps, once
at least two windows of ELBO values exist, the mean ELBO of the last window ``b`` and of
the window before ``a`` are compared; the fit stops when |b − a| / |a| < tol.

References:
    Ranganath, Gerrish & Blei, "Black Box Variational Inference", AISTATS 2014.
    Kucukelbir, Tran, Ranganath, Gelman & Blei, "Automatic Differentiation Variational
    Inference", JMLR 2017, arXiv:1603.00788.
    Roeder, Wu & Duvenaud, "Sticking the Landing", NeurIPS 2017, arXiv:1703.09194.
    Miller, Foti, D'Amour & Adams, "Reducing Reparameterization Gradient Variance",
    NeurIPS 2017, arXiv:1705.07880.
    Buchholz, Wenzel & Mandt, "Quasi-Monte Carlo Variational Inference", ICML 2018,
    arXiv:1807.01985.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeGuard, cast

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from .._signals import Terminated
from ..estimators import ControlVariate
from ..noise import NoiseStrategy, get_noise
from ..objectives import log_joint_elbo
from ..training import TrainConfig, TrainResult, train

__all__ = ["VIResult", "elbo_converged", "elbo_estimate", "entropy_mode", "fit"]

LogJoint = Callable[[Tensor], Tensor]


@dataclass
class VIResult:
    """What :func:`fit` returns.

    Attributes:
        guide: the fitted guide (the same module that was passed in, trained in place).
        elbo: the ELBO estimate at every step (before that step's update), length ``steps``.
        converged: the relative-change rule stopped the fit before ``steps`` ran out.
        steps: the number of optimizer steps taken.
        seconds: wall time of the optimization loop.
    """

    guide: nn.Module
    elbo: list[float] = field(repr=False)
    converged: bool
    steps: int
    seconds: float


# --------------------------------------------------------------------------- helpers
def entropy_mode(q: Distribution, stl: bool = False) -> str:
    """The ``entropy=`` option of :func:`~reparam.estimators.expectation` for q.

    ``"stl"`` when asked for; ``"analytic"`` when ``q.entropy()`` exists (Gaussian
    guides); ``"mc"`` otherwise (flows: −log q(z) from ``rsample_and_log_prob``).
    """
    if stl:
        return "stl"
    try:
        q.entropy()
    except NotImplementedError:
        return "mc"
    return "analytic"


def elbo_estimate(
    log_joint: LogJoint,
    q: Distribution,
    num_particles: int = 1,
    *,
    noise: str | NoiseStrategy = "mc",
    stl: bool = False,
    control_variate: str | ControlVariate | None = None,
    entropy: str | None = None,
) -> Tensor:
    r"""The ELBO surrogate used by :func:`fit`: a scalar whose value estimates
    E_q[log p(x, z)] + H[q] and whose gradient is the chosen pathwise estimator.

    Args:
        log_joint: z of shape (S, d) ↦ log p(x, z) of shape (S,).
        q: the variational distribution, event shape (d,).
        num_particles: S.
        noise: as in :func:`fit`.
        stl: as in :func:`fit`.
        control_variate: as in :func:`fit`.
        entropy: the :func:`entropy_mode` of q when already known (a loop over steps
            resolves it once); None resolves it here.

    Returns:
        a scalar tensor.
    """
    return log_joint_elbo(
        log_joint,
        q,
        num_samples=num_particles,
        noise=noise,
        control_variate=control_variate,
        entropy=entropy_mode(q, stl) if entropy is None else entropy,
    )


def elbo_converged(elbo: Sequence[float], window: int, tol: float) -> bool:
    r"""The convergence rule: relative change of the mean ELBO over the last two windows.

    .. math:: a = \operatorname{mean}(\mathcal L_{t-2w+1..t-w}),\quad
              b = \operatorname{mean}(\mathcal L_{t-w+1..t}),\quad
              |b - a| / |a| < \mathrm{tol}

    False while fewer than 2·window values exist (and when a = 0 = b is not the case).
    """
    if window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    if len(elbo) < 2 * window:
        return False
    a = math.fsum(elbo[-2 * window : -window]) / window
    b = math.fsum(elbo[-window:]) / window
    if a == 0.0:
        return b == 0.0
    return abs(b - a) / abs(a) < tol


def _check_args(
    num_particles: object,
    steps: object,
    lr: object,
    tol: object,
    window: object,
    noise: object,
    stl: object,
) -> None:
    def is_int(v: object) -> TypeGuard[int]:
        return isinstance(v, int) and not isinstance(v, bool)

    if not is_int(num_particles) or num_particles < 1:
        raise ValueError(f"num_particles must be an int >= 1, got {num_particles!r}")
    if not is_int(steps) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if not is_int(window) or window < 1:
        raise ValueError(f"window must be an int >= 1, got {window!r}")
    for name, v in (("lr", lr), ("tol", tol)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    lr, tol = cast(float, lr), cast(float, tol)  # numbers, checked just above
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    if tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol!r}")
    if not isinstance(stl, bool):
        raise ValueError(f"stl must be True or False, got {stl!r}")
    get_noise(cast("str | NoiseStrategy", noise))  # raises ValueError naming the valid strategies
    if noise == "antithetic" and num_particles % 2:
        raise ValueError(
            f"noise='antithetic' needs an even num_particles (pairs ε, −ε); got {num_particles}"
        )


def _check_guide(guide: object) -> Distribution:
    if not callable(guide):
        raise ValueError(f"guide must be a callable nn.Module, got {type(guide).__name__}")
    q = guide()
    if not isinstance(q, Distribution):
        raise ValueError(f"guide() must return a torch Distribution, got {type(q).__name__}")
    if not q.has_rsample:
        raise ValueError(
            f"guide() returned {type(q).__name__}, which has no rsample; fit needs a "
            "reparameterized distribution"
        )
    if len(q.event_shape) != 1 or len(q.batch_shape) != 0:
        raise ValueError(
            "guide() must return a distribution with event shape (d,) and batch shape (); "
            f"got event {tuple(q.event_shape)}, batch {tuple(q.batch_shape)}"
        )
    dim = getattr(guide, "dim", None)
    if isinstance(dim, int) and dim != q.event_shape[0]:
        raise ValueError(f"guide.dim = {dim} but guide() has event shape {tuple(q.event_shape)}")
    return q


class _CheckedLogJoint:
    """log_joint with its output checked: a floating tensor of shape (S,), kept for
    diagnosis (finiteness is tested once per step on the loss, the one host sync)."""

    def __init__(self, log_joint: LogJoint) -> None:
        self.log_joint = log_joint
        self.last: Tensor | None = None

    def __call__(self, z: Tensor) -> Tensor:
        out = self.log_joint(z)
        s, d = z.shape[0], z.shape[-1]
        if not isinstance(out, Tensor) or not out.dtype.is_floating_point:
            what = f"dtype {out.dtype}" if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                f"log_joint must return a floating tensor of shape (S,) = ({s},); got {what}"
            )
        if tuple(out.shape) != (s,):
            raise ValueError(
                f"log_joint must map z of shape (S, d) = ({s}, {d}) to shape (S,) = ({s},); "
                f"got shape {tuple(out.shape)} (sum over data points and parameters, keep "
                "the sample dimension)"
            )
        self.last = out.detach()
        return out


def _nonfinite_message(step: int, value: float, checked: _CheckedLogJoint) -> str:
    last = checked.last
    if last is not None and not bool(torch.isfinite(last).all()):
        bad = last[~torch.isfinite(last)]
        kinds = sorted({"nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
                        for v in bad.tolist()})  # fmt: skip
        return (
            f"log_joint returned {'/'.join(kinds)} for {bad.numel()} of {last.numel()} "
            f"samples at step {step}; check the log density for invalid operations (log of "
            "a non-positive number, exp overflow, division by zero), that constrained "
            "parameters are mapped from z (e.g. Layout.log_joint_from), and the data; a "
            "smaller lr or init_scale helps when q drifted to extreme values"
        )
    return (
        f"the ELBO estimate is {value} at step {step} although log_joint was finite: q's "
        "parameters diverged; try a smaller lr, a smaller init_scale or more particles"
    )


def _seeded(seed: int | None) -> contextlib.AbstractContextManager:
    """Nothing for seed=None; otherwise a forked global RNG seeded with ``seed``."""
    if seed is None:
        return contextlib.nullcontext()
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be None or an int, got {seed!r}")

    @contextlib.contextmanager
    def forked() -> Iterator[None]:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            yield

    return forked()


# --------------------------------------------------------------------------- fit
def fit(
    log_joint: LogJoint,
    guide: nn.Module,
    *,
    num_particles: int = 1,
    noise: str | NoiseStrategy = "mc",
    stl: bool = False,
    control_variate: str | ControlVariate | None = None,
    steps: int = 5000,
    lr: float = 1e-2,
    optimizer: torch.optim.Optimizer | Callable[..., torch.optim.Optimizer] | None = None,
    tol: float = 1e-4,
    window: int = 100,
    progress: bool = True,
    seed: int | None = None,
) -> VIResult:
    r"""Fit ``guide`` to the posterior p(z | x) ∝ exp(log_joint(z)) by maximizing the ELBO.

    Each step draws S = ``num_particles`` samples z_s = g(ε_s, φ) from q = ``guide()``,
    evaluates the surrogate of :func:`elbo_estimate` (value: the ELBO estimate
    (1/S) Σ_s log p(x, z_s) + H[q]) and takes an optimizer step on its negative.

    Args:
        log_joint: z with shape (S, d) ↦ log p(x, z) with shape (S,), unnormalized, on
            the unconstrained space (see :meth:`reparam.vi.Layout.log_joint_from`).
        guide: an ``nn.Module`` whose call returns a reparameterized distribution with
            event shape (d,) and batch shape () (see :mod:`reparam.vi.guides`).
        num_particles: S ≥ 1 (even for ``noise="antithetic"``).
        noise: ``"mc"``, ``"antithetic"``, ``"qmc"`` or a
            :class:`~reparam.noise.NoiseStrategy`.
        stl: sticking the landing: drop the zero-mean score term of the entropy.
        control_variate: None, ``"linear"`` or ``"quadratic"`` (Taylor expansion of
            log_joint around E_q[z]; needs q's mean and covariance).
        steps: the most optimizer steps.
        lr: Adam's learning rate (ignored when ``optimizer`` is an instance).
        optimizer: None (Adam), an optimizer already built on the guide's parameters,
            or a factory ``optimizer(params, lr=lr)`` such as ``torch.optim.SGD``.
        tol: relative ELBO change for convergence (0 disables the check).
        window: steps per convergence window (see :func:`elbo_converged`).
        progress: show a tqdm bar with the running ELBO.
        seed: seed for the noise (the global RNG is forked, so it is left untouched).

    Returns:
        :class:`VIResult` (the guide is trained in place).

    Raises:
        ValueError: bad arguments; a guide that is not callable, returns something
            other than a reparameterized distribution with event shape (d,), or has no
            parameters; log_joint returning the wrong shape (expected (S,)) or NaN/inf
            (the message names the step); a non-finite ELBO (diverged guide).

    Example:
        >>> from reparam import DiagonalNormal
        >>> class Guide(nn.Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.loc = nn.Parameter(torch.zeros(2))
        ...         self.rho = nn.Parameter(torch.zeros(2))
        ...     def forward(self):
        ...         return DiagonalNormal(self.loc, nn.functional.softplus(self.rho))
        >>> res = fit(lambda z: -0.5 * (z - 1).pow(2).sum(-1), Guide(), steps=50,
        ...           progress=False, seed=0)
        >>> len(res.elbo), res.steps
        (50, 50)
    """
    if not callable(log_joint):
        raise ValueError(f"log_joint must be callable, got {type(log_joint).__name__}")
    _check_args(num_particles, steps, lr, tol, window, noise, stl)
    q0 = _check_guide(guide)
    opt = _optimizer(guide, optimizer, lr)
    objective = _Objective(guide, _CheckedLogJoint(log_joint), num_particles, noise,
                           control_variate, entropy_mode(q0, stl))  # fmt: skip
    start = time.perf_counter()
    with _seeded(seed):
        result = _train(objective, opt, steps, lr, tol, window, progress)
    return _result(objective, result, time.perf_counter() - start)


def _result(objective: _Objective, result: TrainResult, seconds: float) -> VIResult:
    """The :class:`VIResult` of a run of the shared loop; a Ctrl-C or SIGTERM raised again,
    a non-finite ELBO as the ValueError naming the step."""
    if result.stopped == "interrupted":
        raise Terminated() if result.signal == "SIGTERM" else KeyboardInterrupt()
    if result.stopped == "nan":
        last = objective.values[-1].item() if objective.values else math.nan
        raise ValueError(_nonfinite_message(result.step, last, objective.checked))
    trace = objective.flush()
    return VIResult(objective.guide, trace, result.stopped == "stop", len(trace), seconds)


def _optimizer(
    guide: nn.Module,
    optimizer: torch.optim.Optimizer | Callable[..., torch.optim.Optimizer] | None,
    lr: float,
) -> torch.optim.Optimizer:
    """The optimizer of :func:`fit`: the instance given, or the factory on the guide's
    trainable parameters (Adam by default)."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    params = [p for p in guide.parameters() if p.requires_grad] if isinstance(
        guide, nn.Module) else []  # fmt: skip
    if not params:
        raise ValueError("the guide has no trainable parameters (an nn.Module is needed)")
    factory = torch.optim.Adam if optimizer is None else optimizer
    if not callable(factory):
        raise ValueError(
            "optimizer must be None, a torch.optim.Optimizer or a factory "
            f"optimizer(params, lr=...), got {type(optimizer).__name__}"
        )
    return factory(params, lr=lr)


class _Objective(nn.Module):
    """The guide as a data-free model of :func:`reparam.training.train`: a step's loss is
    the negative ELBO surrogate; the ELBO values wait in ``values`` until :meth:`flush`."""

    def __init__(
        self,
        guide: nn.Module,
        checked: _CheckedLogJoint,
        num_particles: int,
        noise: str | NoiseStrategy,
        control_variate: str | ControlVariate | None,
        entropy: str,
    ) -> None:
        super().__init__()
        self.guide, self.checked, self.num_particles = guide, checked, num_particles
        self.noise, self.control_variate, self.entropy = noise, control_variate, entropy
        self.values: list[Tensor] = []  # ELBO estimates (detached) not yet in ``trace``
        self.trace: list[float] = []

    def training_step(self, batch: None, step: int) -> dict[str, Tensor]:
        q = self.guide()
        surrogate = elbo_estimate(
            self.checked,
            q,
            self.num_particles,
            noise=self.noise,
            control_variate=self.control_variate,
            entropy=self.entropy,
        )
        self.values.append(surrogate.detach())
        return {"loss": -surrogate}

    def flush(self) -> list[float]:
        """The ELBO trace so far (one host transfer per call, not per step)."""
        if self.values:
            self.trace.extend(torch.stack(self.values).tolist())
            self.values.clear()
        return self.trace


def _device_name(module: nn.Module) -> str:
    """The :class:`~reparam.training.TrainConfig` device of the module's parameters."""
    param = next(iter(module.parameters()), None)
    if param is None or param.device.type != "cuda":
        return "cpu"
    return f"cuda:{param.device.index if param.device.index is not None else 0}"


def _train(
    objective: _Objective,
    opt: torch.optim.Optimizer,
    steps: int,
    lr: float,
    tol: float,
    window: int,
    progress: bool,
) -> TrainResult:
    """``steps`` steps of ``objective`` through the shared loop, an epoch per ``window``
    steps, in memory; stopped by :func:`elbo_converged` when ``tol`` > 0."""

    def converged(history: list[dict[str, float]]) -> bool:
        trace = objective.flush()
        return len(trace) % window == 0 and elbo_converged(trace, window, tol)

    config = TrainConfig(
        epochs=-(-steps // window), batch_size=1, lr=lr, device=_device_name(objective),
        progress=progress, max_steps=steps, divergence=None,
    )  # fmt: skip
    return train(
        objective, None, config, None, steps_per_epoch=window, optimizer=lambda _p, lr: opt,
        stop=converged if tol > 0 else None, postfix=lambda loss: f"elbo={-loss:.4g}",
        echo=False, seed_globals=False,
    )  # fmt: skip
