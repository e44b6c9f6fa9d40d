r"""Benchmark: black-box VI (reparam.vi.fit) against Pyro SVI, with a NUTS reference.

Run it in the peer environment (Pyro is a peer for comparison only, never a dependency of
reparam):

    /work/bench-venv/bin/python benchmarks/bench_vi.py [--quick] [--threads 1]
        [--models logistic eight-schools-nc] [--seeds 3] [--steps 5000] [--particles 8]
        [--lr 0.01] [--tol 1e-3] [--window 100] [--json out.json]

Models (the reparam side from ``reparam.vi.models.get_model``; the Pyro side written here to
the same densities — the benchmark checks this, see below):

    logistic          Bayesian logistic regression on scikit-learn's bundled breast-cancer
                      data (569 x 30, standardized features plus an intercept), the priors
                      of reparam.vi.models.logistic_regression;
    eight-schools-nc  eight schools, non-centred: mu ~ N(0, 5²), tau ~ HalfCauchy(5),
                      eta_j ~ N(0, 1), y_j ~ N(mu + tau eta_j, sigma_j).

Same log joint: both libraries must optimise the same unnormalized log p(x, z) on the same
unconstrained space (positive parameters through exp, with the log-Jacobian). At 32 random
points z the benchmark evaluates reparam's ``model.log_joint(z)`` and Pyro's
``-potential_fn`` (``pyro.infer.mcmc.util.initialize_model``, the density NUTS samples) at
the same point and prints the largest absolute difference (PASS below 1e-6 x |log p|, with
Pyro's unconstrained sites equal to reparam's blocks of z). A second PASS line checks that
the fitted Pyro guides are read correctly as distributions over z: Pyro's own Trace_ELBO of
each final guide agrees with the benchmark's ELBO estimate within 5 standard errors. The
run ends with "overall: PASS" when both checks pass on every model (exit code 0, else 1).

Methods, each for ``--seeds`` seeds, with the same particles S, Adam and learning rate, the
same maximum of steps, initial location 0 and initial scale 0.1 on the unconstrained space:

    reparam meanfield   reparam.vi.fit(model.log_joint, make_guide("meanfield", d))
    reparam fullrank    reparam.vi.fit(model.log_joint, make_guide("fullrank", d))
    pyro AutoNormal     SVI(model, AutoNormal(init_loc_fn=init_to_feasible), Adam,
                        Trace_ELBO(num_particles=S, vectorize_particles=True))
    pyro AutoMVN        the same with AutoMultivariateNormal(init_loc_fn=init_to_feasible)

Differences that are part of each library's design and are kept: reparam's ELBO surrogate
uses the closed-form entropy of the Gaussian guide, Pyro's Trace_ELBO the Monte Carlo
log q; reparam's scales are softplus-parameterized, Pyro's through exp (AutoNormal) or an
unconstrained Cholesky factor with a positive diagonal (AutoMultivariateNormal).

Convergence rule, the same for both libraries and applied to the per-step ELBO trace:
checked every ``--window`` steps once 2 windows exist (as reparam.vi.fit and Stan's ADVI
do), stop at the first such step t where the mean ELBO of the last
``--window`` steps, m_t, and that of the window before it, m_{t-w}, satisfy
|m_t - m_{t-w}| / |m_{t-w}| < ``--tol``. reparam.vi.fit applies this rule itself (its
``tol``/``window``); the Pyro loop applies it online. Reported per method (median over
seeds): steps to convergence, wall seconds to convergence (the whole optimisation,
``time.perf_counter``), the fraction of converged runs and seconds per step. The default
tol 1e-3 is looser than reparam.vi.fit's own default (1e-4): with S = 8 the window means of
Pyro's noisier trace (Monte Carlo entropy) seldom settle to 1e-4. A loose rule sometimes
stops a run before its ELBO has settled (a few tenths of a nat below the other seeds) — in
either library; the ELBO comparison therefore carries the spread over seeds in its SE and
is reported as information, not as PASS/FAIL.

Quality, estimated identically for every method from the final guide as a distribution
over the unconstrained z: the ELBO E_q[log p(x, z) - log q(z)] with ``--elbo-samples``
(10 000) samples under reparam's log joint (+- its standard error), and the posterior
error against NUTS in the constrained space — max_i |mean_q,i - mean_NUTS,i| / sd_NUTS,i
and the range of sd_q,i / sd_NUTS,i over the parameters (mean-field VI is known to shrink
the sds of correlated posteriors; a full-rank Gaussian can match them).

NUTS reference: ``pyro.infer.MCMC(NUTS(potential_fn=..., full_mass=..., jit_compile=True))``
on the potential -log p(x, z) of reparam's log joint (identical to the Pyro model's, which
the log-joint check prints; sampling the Pyro model itself, through its tracing, was 3-7x
slower per iteration on this machine), run as ``--chains`` independent single-chain runs
in one process (one core, no worker processes), ``--warmup`` warmup + ``--samples`` draws
each, every chain started from z ~ Uniform(-2, 2)^d. Default 4 x (500 + 1000): about 2-3
minutes on one core for logistic (dense mass matrix: its posterior is strongly
correlated), well under one for eight schools (diagonal mass). Split R-hat and the bulk
ESS (minimum over the parameters) are printed with it, and the Monte Carlo resolution of
the mean error (about 1/sqrt(ESS) in units of sd).

``--quick``: 1 seed, 1500 steps, 2000-sample ELBO, NUTS 2 chains x (200 + 300): a smoke run.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable

import torch

import reparam

try:  # the peer, for comparison only
    import pyro
    import pyro.distributions as pdist
    from pyro.infer import MCMC, NUTS, SVI, Trace_ELBO
    from pyro.infer.autoguide import AutoMultivariateNormal, AutoNormal, init_to_feasible
    from pyro.infer.mcmc.util import initialize_model
    from pyro.ops.stats import effective_sample_size, split_gelman_rubin

    PYRO_VERSION: str | None = pyro.__version__
except ImportError:  # pragma: no cover - depends on the environment
    pyro = None
    PYRO_VERSION = None

from _harness import cpu_model, loadavg
from reparam.vi import make_guide
from reparam.vi.fit import fit
from reparam.vi.models import get_model

MODELS = ("logistic", "eight-schools-nc")
METHODS = (
    ("reparam", "meanfield"),
    ("reparam", "fullrank"),
    ("pyro", "AutoNormal"),
    ("pyro", "AutoMVN"),
)
LOGJOINT_RTOL = 1e-6


# --------------------------------------------------------------------------- Pyro models
def _tensor(value: object, dtype: torch.dtype) -> torch.Tensor:
    return torch.as_tensor(value, dtype=dtype)


def _scalar(model: object, key: str, default: float) -> float:
    data = getattr(model, "data", None) or {}
    value = data.get(key, default)
    return float(value.item() if torch.is_tensor(value) else value)


def pyro_logistic(model: object) -> Callable[[], None]:
    """alpha ~ N(0, s²), beta_j ~ N(0, s²) (s = model.data["prior_scale"]),
    y_i ~ Bernoulli(sigmoid(alpha + x_iᵀbeta)) on the reparam model's standardized x."""
    x = model.data["x"]
    y = model.data["y"].to(x.dtype)
    s = _scalar(model, "prior_scale", 1.0)
    zero = torch.zeros(x.shape[-1], dtype=x.dtype)

    def pyro_model() -> None:
        alpha = pyro.sample("alpha", pdist.Normal(zero[0], s))
        beta = pyro.sample("beta", pdist.Normal(zero, s).to_event(1))
        # under vectorize_particles alpha is (S, 1) and beta (S, 1, p): the size-1 dim is
        # the data plate's slot, so the linear predictor is squeezed there to (S, n)
        lin = beta @ x.T
        logits = alpha + (lin.squeeze(-2) if lin.dim() > 1 else lin)
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("y", pdist.Bernoulli(logits=logits), obs=y)

    return pyro_model


def pyro_eight_schools_nc(model: object) -> Callable[[], None]:
    """mu ~ N(0, 5), tau ~ HalfCauchy(5), eta_j ~ N(0, 1), y_j ~ N(mu + tau eta_j, sigma_j)."""
    y = model.data["y"]
    sigma = model.data["sigma"].to(y.dtype)
    mu_scale = tau_scale = 5.0  # as in reparam.vi.models.eight_schools
    one = torch.ones((), dtype=y.dtype)

    def pyro_model() -> None:
        mu = pyro.sample("mu", pdist.Normal(0 * one, mu_scale * one))
        tau = pyro.sample("tau", pdist.HalfCauchy(tau_scale * one))
        with pyro.plate("schools", y.shape[0], dim=-1):
            eta = pyro.sample("eta", pdist.Normal(0 * one, one))
            pyro.sample("y", pdist.Normal(mu + tau * eta, sigma), obs=y)

    return pyro_model


PYRO_MODELS = {"logistic": pyro_logistic, "eight-schools-nc": pyro_eight_schools_nc}
FULL_MASS = {"logistic": True, "eight-schools-nc": False}


# --------------------------------------------------------------------------- z <-> sites
def _block_sizes(layout: object) -> list[tuple[str, tuple[int, ...], int]]:
    out = []
    for name in layout.names:
        if layout.constraints[name] not in ("real", "positive"):
            raise ValueError(f"block {name!r}: only real and positive blocks are supported here")
        shape = tuple(layout.shapes[name])
        out.append((name, shape, math.prod(shape)))
    return out


def split_z(layout: object, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """The unconstrained vector z (*, d) cut into the layout's blocks, reshaped."""
    out, i = {}, 0
    for name, shape, n in _block_sizes(layout):
        out[name] = z[..., i : i + n].reshape(tuple(z.shape[:-1]) + shape)
        i += n
    return out


def compare_log_joints(model: object, pyro_model: Callable, points: int, seed: int) -> dict:
    """max |log p_reparam(z) - log p_pyro(z)| over random z ~ N(0, I) (and z ~ N(0, 2² I))
    on the unconstrained space; Pyro's value is -potential_fn at the unconstrained sites
    obtained from reparam's constrained θ(z) through Pyro's own bijections."""
    g = torch.Generator().manual_seed(seed)
    d = model.layout.dim
    dtype = model.data["y"].dtype
    z = torch.randn(points, d, generator=g, dtype=dtype)
    z[points // 2 :] *= 2.0
    _, potential_fn, transforms, _ = initialize_model(pyro_model, max_plate_nesting=1)
    with torch.no_grad():
        ours = model.log_joint(z)
        theta, _ = model.layout.constrain(z)
        theirs, max_dz = [], 0.0
        for i in range(points):
            sites = {}
            for name, value in theta.items():
                t = transforms.get(name)
                sites[name] = (
                    t(value[i]) if t is not None else value[i]
                )  # constrained → unconstrained
            blocks = split_z(model.layout, z[i])
            max_dz = max(max_dz, max((sites[n] - blocks[n]).abs().max().item() for n in sites))
            theirs.append(-potential_fn(sites))
        theirs = torch.stack(theirs).to(ours.dtype)
    diff = (ours - theirs).abs()
    rel = (diff / theirs.abs().clamp(min=1.0)).max().item()
    return {
        "points": points,
        "max_abs_diff": diff.max().item(),
        "max_rel_diff": rel,
        "max_unconstrained_diff": max_dz,
        "log_joint_range": [theirs.min().item(), theirs.max().item()],
        "pass": rel < LOGJOINT_RTOL and max_dz < 1e-8,
    }


# --------------------------------------------------------------------------- convergence
def converged_at(trace: list[float], window: int, tol: float) -> int | None:
    """First step count t (a multiple of window, t >= 2 window) at which the last two
    windows' mean ELBOs differ by less than tol relative to the earlier one; None if never
    (the rule of reparam.vi.fit, which checks it every window steps, as Stan's ADVI does)."""
    if len(trace) < 2 * window:
        return None
    t = torch.tensor(trace, dtype=torch.float64)
    c = torch.cat([torch.zeros(1, dtype=torch.float64), t.cumsum(0)])
    ends = torch.arange(2 * window, len(trace) + 1, window)
    last = (c[ends] - c[ends - window]) / window
    prev = (c[ends - window] - c[ends - 2 * window]) / window
    hit = ((last - prev).abs() / prev.abs() < tol).nonzero()
    return int(ends[hit[0, 0]]) if len(hit) else None


# --------------------------------------------------------------------------- fitting
def run_reparam(model: object, kind: str, args: argparse.Namespace, seed: int) -> dict:
    dtype = model.data["y"].dtype
    torch.manual_seed(seed)
    guide = make_guide(kind, model.layout.dim).to(dtype)
    t0 = time.perf_counter()
    res = fit(
        model.log_joint,
        guide,
        num_particles=args.particles,
        steps=args.steps,
        lr=args.lr,
        tol=args.tol,
        window=args.window,
        progress=False,
        seed=seed,
    )
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        q = guide()
    return {
        "trace": [float(v) for v in res.elbo],
        "steps": res.steps,
        "converged": bool(res.converged),
        "seconds": seconds,
        "fit_seconds": res.seconds,
        "q": q,
    }


def run_pyro(
    model: object, pyro_model: Callable, kind: str, args: argparse.Namespace, seed: int
) -> dict:
    pyro.clear_param_store()
    pyro.set_rng_seed(seed)
    cls = AutoNormal if kind == "AutoNormal" else AutoMultivariateNormal
    guide = cls(pyro_model, init_loc_fn=init_to_feasible, init_scale=0.1)
    elbo = Trace_ELBO(num_particles=args.particles, vectorize_particles=True, max_plate_nesting=1)
    svi = SVI(pyro_model, guide, pyro.optim.Adam({"lr": args.lr}), elbo)
    trace: list[float] = []
    converged, c = False, None
    t0 = time.perf_counter()
    for _ in range(args.steps):
        trace.append(-svi.step())
        # the same rule as converged_at, evaluated online on the trace so far
        n = len(trace)
        if n >= 2 * args.window and n % args.window == 0:
            last = sum(trace[n - args.window :]) / args.window
            prev = sum(trace[n - 2 * args.window : n - args.window]) / args.window
            if abs(last - prev) / abs(prev) < args.tol:
                converged, c = True, n
                break
    seconds = time.perf_counter() - t0
    # Pyro's own estimate of the final guide's ELBO, to check the guide's extraction below
    check = Trace_ELBO(
        num_particles=args.elbo_samples, vectorize_particles=True, max_plate_nesting=1
    )
    with torch.no_grad():
        own = -check.loss(pyro_model, guide)
    return {
        "pyro_own_elbo": own,
        "trace": trace,
        "steps": c or len(trace),
        "converged": converged,
        "seconds": seconds,
        "q": pyro_guide_distribution(model, guide),
    }


def pyro_guide_distribution(model: object, guide: object) -> torch.distributions.Distribution:
    """The fitted Pyro guide as a distribution over reparam's z (the layout's block order)."""
    sizes = _block_sizes(model.layout)
    dtype = model.data["y"].dtype
    with torch.no_grad():
        if isinstance(guide, AutoNormal):
            locs, scales = [], []
            for name, _, n in sizes:
                loc, scale = guide._get_loc_and_scale(name)
                locs.append(loc.reshape(n))
                scales.append(scale.reshape(n))
            return torch.distributions.Independent(
                torch.distributions.Normal(torch.cat(locs).to(dtype), torch.cat(scales).to(dtype)),
                1,
            )
        post = guide.get_posterior()
        dim = post.loc.shape[-1]
        latent = torch.arange(dim, dtype=post.loc.dtype)
        index = {site["name"]: v for site, v in guide._unpack_latent(latent)}
        perm = torch.cat([index[name].reshape(n) for name, _, n in sizes]).round().long()
        cov = post.covariance_matrix[perm][:, perm]
        return torch.distributions.MultivariateNormal(post.loc[perm].to(dtype), cov.to(dtype))


# --------------------------------------------------------------------------- evaluation
def final_elbo(model: object, q: object, n: int, seed: int) -> tuple[float, float]:
    """(E_q[log p(x, z) - log q(z)], its standard error) from n samples of q."""
    torch.manual_seed(seed)
    with torch.no_grad():
        z = q.sample((n,))
        w = model.log_joint(z) - q.log_prob(z)
    return w.mean().item(), w.std().item() / math.sqrt(n)


def constrained_draws(model: object, z: torch.Tensor) -> torch.Tensor:
    """Flat constrained parameters (n, p) in layout.flat_names() order."""
    theta, _ = model.layout.constrain(z)
    return model.layout.flatten(theta)


def posterior_error(model: object, q: object, ref: dict, n: int, seed: int) -> dict:
    torch.manual_seed(seed + 1)
    with torch.no_grad():
        draws = constrained_draws(model, q.sample((n,)))
    mean, sd = draws.mean(0), draws.std(0)
    dmean = ((mean - ref["mean"]).abs() / ref["sd"]).max().item()
    ratio = sd / ref["sd"]
    return {
        "max_dmean_over_sd": dmean,
        "sd_ratio_min": ratio.min().item(),
        "sd_ratio_max": ratio.max().item(),
        "mean": mean.tolist(),
        "sd": sd.tolist(),
    }


def nuts_reference(model: object, name: str, args: argparse.Namespace) -> dict:
    """Independent single-chain NUTS runs (one process, one core), pooled. NUTS samples z
    with potential -model.log_joint(z) (checked equal to the Pyro model's potential
    above); each chain starts from z ~ Uniform(-2, 2)^d, as Pyro's init_to_uniform."""
    chains = []
    dtype = model.data["y"].dtype

    def potential(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return -model.log_joint(params["z"].unsqueeze(0)).squeeze(0)

    t0 = time.perf_counter()
    for c in range(args.chains):
        pyro.set_rng_seed(1000 + c)
        init = 4 * torch.rand(model.layout.dim, dtype=dtype) - 2
        kernel = NUTS(
            potential_fn=potential,
            full_mass=FULL_MASS[name],
            jit_compile=True,
            ignore_jit_warnings=True,
        )
        mcmc = MCMC(
            kernel,
            num_samples=args.samples,
            warmup_steps=args.warmup,
            initial_params={"z": init},
            disable_progbar=True,
        )
        mcmc.run()
        chains.append(constrained_draws(model, mcmc.get_samples()["z"]))
        print(
            f"  NUTS {name} chain {c + 1}/{args.chains}: {time.perf_counter() - t0:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    seconds = time.perf_counter() - t0
    stacked = torch.stack(chains)  # (chains, samples, p)
    pooled = stacked.reshape(-1, stacked.shape[-1])
    ess = effective_sample_size(stacked, chain_dim=0, sample_dim=1)
    rhat = split_gelman_rubin(stacked, chain_dim=0, sample_dim=1)
    return {
        "mean": pooled.mean(0),
        "sd": pooled.std(0),
        "ess_min": ess.min().item(),
        "rhat_max": rhat.max().item() if args.chains > 1 or args.samples >= 4 else float("nan"),
        "seconds": seconds,
        "chains": args.chains,
        "warmup": args.warmup,
        "samples": args.samples,
    }


# --------------------------------------------------------------------------- report
def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def run_model(name: str, args: argparse.Namespace) -> dict:
    model = get_model(name)
    pyro_model = PYRO_MODELS[name](model)
    print(f"\n### {name}: d = {model.layout.dim} ({model.description})\n")

    check = compare_log_joints(model, pyro_model, 32, args.seed)
    flag = "PASS" if check["pass"] else "FAIL"
    print(
        f"  {flag}  same log joint: max |log p_reparam - log p_pyro| = "
        f"{check['max_abs_diff']:.3g} (relative {check['max_rel_diff']:.3g}) over "
        f"{check['points']} random z, log p in [{check['log_joint_range'][0]:.4g}, "
        f"{check['log_joint_range'][1]:.4g}]; unconstrained sites agree to "
        f"{check['max_unconstrained_diff']:.3g}"
    )

    ref = nuts_reference(model, name, args)
    print(
        f"  info  NUTS: {ref['chains']} chain(s) x ({ref['warmup']} warmup + {ref['samples']} "
        f"draws), {'dense' if FULL_MASS[name] else 'diagonal'} mass, {ref['seconds']:.0f} s; "
        f"min bulk ESS {ref['ess_min']:.0f}, max split R-hat {ref['rhat_max']:.3f}; mean-error "
        f"resolution ~ {1 / math.sqrt(max(ref['ess_min'], 1)):.3f} sd"
    )

    rows = []
    for lib, kind in METHODS:
        runs = []
        for s in range(args.seeds):
            seed = args.seed + s
            if lib == "reparam":
                r = run_reparam(model, kind, args, seed)
            else:
                r = run_pyro(model, pyro_model, kind, args, seed)
            r["rule_steps"] = converged_at(r["trace"], args.window, args.tol)
            r["elbo"], r["elbo_se"] = final_elbo(model, r["q"], args.elbo_samples, seed)
            r.update(posterior_error(model, r["q"], ref, args.elbo_samples, seed))
            del r["q"]
            runs.append(r)
            print(
                f"  {lib} {kind} seed {seed}: {r['steps']} steps, {r['seconds']:.2f} s, "
                f"converged {r['converged']}, ELBO {r['elbo']:.3f}",
                file=sys.stderr,
                flush=True,
            )
        rows.append({"library": lib, "guide": kind, "runs": runs})

    print(
        f"\nS = {args.particles} particles, Adam lr {args.lr}, at most {args.steps} steps, "
        f"window {args.window}, tol {args.tol:g}; {args.seeds} seed(s), medians over seeds; "
        f"ELBO of the final guide from {args.elbo_samples} samples under reparam's log joint; "
        f"'s to stop' is the time to convergence, or to the step limit for runs that did not "
        f"converge; final ELBO: mean over seeds +- the estimate's SE (in brackets: with the "
        f"spread over seeds)\n"
    )
    print(
        "| library | guide | converged | steps | s to stop | ms / step | final ELBO | "
        "max \\|Δmean\\|/sd_NUTS | sd / sd_NUTS |"
    )
    print("| --- | --- | --: | --: | --: | --: | --: | --: | --- |")
    for row in rows:
        runs = row["runs"]
        conv = sum(r["converged"] for r in runs)
        steps = _median([r["steps"] for r in runs])
        secs = _median([r["seconds"] for r in runs])
        ms = _median([1e3 * r["seconds"] / max(len(r["trace"]), 1) for r in runs])
        elbo = statistics.fmean(r["elbo"] for r in runs)
        se = math.sqrt(sum(r["elbo_se"] ** 2 for r in runs)) / len(runs)
        # SE of the seed-averaged ELBO as a comparison between libraries needs: the
        # estimate's own SE plus the spread of the optimisation over seeds
        spread = statistics.stdev(r["elbo"] for r in runs) if len(runs) > 1 else 0.0
        row["elbo_se_seeds"] = math.sqrt(se**2 + spread**2 / len(runs))
        dm = _median([r["max_dmean_over_sd"] for r in runs])
        lo = min(r["sd_ratio_min"] for r in runs)
        hi = max(r["sd_ratio_max"] for r in runs)
        row.update(converged=conv, steps=steps, seconds=secs, ms_per_step=ms, elbo=elbo)
        row.update(elbo_se=se, max_dmean_over_sd=dm, sd_ratio=[lo, hi])
        print(
            f"| {row['library']} | {row['guide']} | {conv}/{len(runs)} | {steps:.0f} | "
            f"{secs:.2f} | {ms:.2f} | {elbo:.3f} +- {se:.3f} ({row['elbo_se_seeds']:.3f}) | "
            f"{dm:.3f} | {lo:.2f} – {hi:.2f} |"
        )
    print()
    # the rule is the same for both: reparam.fit's own stop must agree with converged_at
    for row in rows:
        for r in row["runs"]:
            if row["library"] == "reparam" and r["converged"] and r["rule_steps"] != r["steps"]:
                print(
                    f"  info  reparam {row['guide']}: fit stopped at step {r['steps']}, the "
                    f"benchmark's rule on its trace says {r['rule_steps']}"
                )
    z = max(
        abs(r["pyro_own_elbo"] - r["elbo"]) / (math.sqrt(2) * r["elbo_se"])
        for row in rows
        if row["library"] == "pyro"
        for r in row["runs"]
    )
    flag = "PASS" if z < 5 else "FAIL"
    print(
        f"  {flag}  Pyro guides read correctly: Pyro's own Trace_ELBO of each final guide "
        f"({args.elbo_samples} particles) and the benchmark's estimate agree within {z:.1f} SE"
    )
    pairs = (("meanfield", "AutoNormal"), ("fullrank", "AutoMVN"))
    by = {row["guide"]: row for row in rows}
    for ours, theirs in pairs:
        a, b = by[ours], by[theirs]
        per_step = b["ms_per_step"] / a["ms_per_step"]
        if a["converged"] == b["converged"] == args.seeds:
            to_conv = f"time to converge pyro / reparam = {b['seconds'] / a['seconds']:.2f}"
        else:
            to_conv = "time to converge n/a (not every run converged)"
        gap = a["elbo"] - b["elbo"]
        se_gap = math.hypot(a["elbo_se_seeds"], b["elbo_se_seeds"])
        print(
            f"  info  {ours} vs {theirs}: ms per step pyro / reparam = {per_step:.2f}, {to_conv}; "
            f"ELBO reparam - pyro = {gap:+.3f} +- {se_gap:.3f} (SE with the spread over seeds)"
        )
    ok = check["pass"] and z < 5
    return {
        "name": name,
        "pass": ok,
        "logjoint_check": check,
        "nuts": _jsonable(ref),
        "methods": rows,
    }


def _jsonable(obj: object) -> object:
    if torch.is_tensor(obj):
        return obj.tolist()
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_jsonable(v) for v in obj]
    return obj


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run (see the module docstring)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--seeds", type=int, default=3, help="optimisation seeds per method (3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=5000, help="maximum Adam steps (5000)")
    p.add_argument("--particles", type=int, default=8, help="ELBO particles per step (8)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (0.01)")
    p.add_argument("--tol", type=float, default=1e-3, help="relative windowed-ELBO change")
    p.add_argument("--window", type=int, default=100, help="convergence window, steps (100)")
    p.add_argument("--elbo-samples", type=int, default=10_000, help="final ELBO samples")
    p.add_argument("--chains", type=int, default=4, help="NUTS chains, run one after another")
    p.add_argument("--warmup", type=int, default=500, help="NUTS warmup steps per chain")
    p.add_argument("--samples", type=int, default=1000, help="NUTS draws per chain")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = p.parse_args(argv)
    if pyro is None:
        print("Pyro is not installed: run this in /work/bench-venv", file=sys.stderr)
        return 2
    if args.quick:
        args.seeds, args.steps, args.elbo_samples = 1, 1500, 2000
        args.chains, args.warmup, args.samples = 2, 200, 300
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + shlex.join(sys.argv),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "reparam": getattr(reparam, "__version__", "?"),
        "pyro": PYRO_VERSION,
        "threads": torch.get_num_threads(),
        "nproc": os.cpu_count(),
        "loadavg_start": loadavg(),
    }
    print(f"## VI benchmark — {env['date']}\n\n`{env['command']}`\n")
    print(
        f"torch {env['torch']}, reparam {env['reparam']}, pyro {PYRO_VERSION}, threads "
        f"{env['threads']}, nproc {env['nproc']}, cpu {env['cpu']}, load average "
        f"{env['loadavg_start']}"
    )
    out = {name: run_model(name, args) for name in args.models}
    ok = all(v["pass"] for v in out.values())
    print(f"\noverall (same log joint, Pyro guides read correctly): {'PASS' if ok else 'FAIL'}")
    env["loadavg_end"] = loadavg()
    print(f"\nload average (1/5/15 min): start {env['loadavg_start']}, end {env['loadavg_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, "args": vars(args), **_jsonable(out)}, f, indent=2, default=str)
        print(f"\nJSON written to {args.json}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
