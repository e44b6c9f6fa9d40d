"""Benchmark: Bayesian layers (reparam.nn) — speed against bayesian-torch, gradient variance
of the three estimators, and (optionally) predictive quality.

Speed (default). One timed step is forward, loss and backward (no optimizer step: it is
the same for every implementation) of a 784-400-10 ReLU MLP on one minibatch of 128
MNIST images (flattened, grey values in [0, 1]) with their labels. The loss is the
minibatch negative ELBO, mean cross-entropy + KL / N (N = the training-set size, 50 000),
with the closed-form KL to a N(0, 1) prior included in every step. Implementations:

    plain            nn.Linear MLP, loss = cross-entropy (baseline)
    bt-reparam       bayesian-torch LinearReparameterization MLP: one weight sample per
                     forward, shared by the minibatch (the layer returns (out, kl); the KL
                     is computed inside forward)
    bt-flipout       bayesian-torch LinearFlipout MLP
    reparam-weight   reparam.nn.BayesLinear(estimator="weight") MLP; KL from
                     reparam.nn.kl_divergence(model)
    reparam-local    the same, estimator="local" (local reparameterization: Gaussian
                     pre-activations, Kingma, Salimans & Welling 2015)
    reparam-flipout  the same, estimator="flipout" (Wen et al. 2018)

All Bayesian models start from the same parameters: the posterior means are the initial
weights of the plain MLP (built after torch.manual_seed(seed)) and every ρ is -3
(σ = softplus(-3) ≈ 0.049, bayesian-torch's default; both libraries use σ = softplus(ρ)).
The loss at the initial parameters is printed per implementation (cross-entropy and KL / N
separately, one draw after torch.manual_seed(123)): bt-reparam and reparam-weight draw
their noise in the same order, so their cross-entropies agree exactly; the others agree
roughly. The KL columns differ by design: bayesian-torch 0.5's ``kl_div`` returns the
*mean* over a tensor's elements of the elementwise KL (``kl.mean()``), not the sum, so its
"KL" is smaller by the number of weights per tensor (same cost, different objective);
reparam's is the KL of the posterior, Σ over all weights. The minibatches are a fixed pool of 16
batches of MNIST training images (``reparam.data.load_images("mnist")``; without the
files, random images and labels, said so in the output: the time of a dense MLP step does
not depend on the values) cycled in the same order by every implementation.

Timing as in bench_vae.py: all implementations in one process, interleaved round-robin
(order shuffled each round), each measurement a number of consecutive steps lasting about
``--target-ms``; reported are medians over rounds (ms per step), the ratio to the plain
MLP (ratio of medians and "paired": the median over rounds of the per-round ratio, with
its interquartile range) and the speed relative to the plain MLP (1 / paired ratio; the
issue quotes bayesian-torch at about 0.21-0.27x). ``--clock cpu`` measures the process's
CPU time instead of wall time; with ``--threads 1`` it hardly depends on other processes
competing for the cores. Targets (issue 5), judged on paired ratios: each reparam
estimator at least 1.2x bayesian-torch's speed, i.e. time(bt-reparam) / time(reparam-weight)
>= 1.2, time(bt-reparam) / time(reparam-local) >= 1.2 (bayesian-torch has no local
reparameterization layer; its reparameterization layer samples the weights per forward,
like "weight") and time(bt-flipout) / time(reparam-flipout) >= 1.2.

Gradient variance (``--variance``). The three reparam estimators at identical parameters,
the gradient of the minibatch negative ELBO (as above) with respect to the posterior means
(μ: weight_mu and bias_mu) and the unconstrained scales (ρ: weight_rho and bias_rho) of
each layer, over ``--repeats`` independent draws of the noise. Reported: the trace of the
covariance (sum of per-coordinate variances, float64 running sums), the ratio to the
"weight" estimator, and the time per gradient (``--clock``; forward + backward only).
Two sources of randomness:

    noise        one fixed minibatch of 128 (the weight/activation noise alone)
    noise+batch  a fresh minibatch of 128 from the training set per draw (the same sequence
                 of minibatches for every estimator), the setting of Kingma et al. 2015

at two points: ``init`` (the parameters of the speed benchmark) and ``trained`` (after
``--train-steps`` steps of reparam's default optimizer (fused Adam), lr 1e-3, batch 128,
with the local estimator; the same parameters are then loaded into all three models).
Expected ordering: Kingma, Salimans & Welling 2015 (Table 2: local reparameterization has
lower gradient variance than one weight sample per minibatch) and Wen et al. 2018
(Flipout has lower variance than shared weight perturbations): tr Var(local) < tr
Var(weight), tr Var(flipout) < tr Var(weight),
checked on the first layer's μ and ρ (the layer with most parameters). An unbiasedness
check compares the mean gradients: with independent draws,
||ḡ_e - ḡ_weight||² / ((tr V_e + tr V_weight) / R) is about 1 when both estimators have the
same expectation (it grows with any bias; fixed-minibatch rows only).

Quality (``--quality``). MNIST test error of a 784-400-400-10 BNN built from
reparam.nn.BayesLinear (``--estimator``, default local; N(0, 1) prior; means from the
nn.Linear initialisation, ρ = -3 as above) after ``--epochs`` epochs of reparam's default
optimizer (fused Adam, lr 1e-3, batch 128, loss as above, 50 000 training images),
predicted with the mean of the softmax over ``--samples`` weight samples and with the
posterior means. Blundell et al.
2015 report 1.32% for 2x1200 units after far longer training (quoted from the issue, not
verified here). With ``--uci NAME ...`` (names as in reparam.data.uci.UCI_DATASETS, e.g.
bostonHousing concrete energy wine-quality-red yacht): the UCI 20-split protocol (one
hidden layer of 50 units; ``--splits``, ``--uci-epochs``) run by the library's CLI,
``python -m reparam bnn uci NAME``, mean ± standard error of RMSE and test log-likelihood
beside the published values of PBP (Hernández-Lobato & Adams 2015) and MC dropout (Gal &
Ghahramani 2016), see ``PUBLISHED_UCI``. ``--quality --epochs 0`` skips the MNIST part.

Usage:
    python benchmarks/bench_bnn.py [--rounds 30] [--threads 1] [--clock wall|cpu]
                                   [--device cpu|cuda] [--json out.json]
    python benchmarks/bench_bnn.py --variance [--repeats 500] [--train-steps 400]
    python benchmarks/bench_bnn.py --quality [--epochs 3] [--uci bostonHousing yacht ...]
                                   [--splits 20] [--uci-epochs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import reparam
from _harness import CLOCKS, add_timing_args, cpu_model, loadavg, paired_ratio, run_timing
from reparam.training import default_optimizer

try:
    from reparam.nn import BayesLinear, kl_divergence
except ImportError:  # pragma: no cover - while the layers are being written
    BayesLinear = None
    kl_divergence = None
try:
    from reparam.data import load_images
except ImportError:  # pragma: no cover
    load_images = None

try:  # bayesian-torch is a peer for comparison only, never a dependency of reparam.
    import bayesian_torch.layers as btl

    try:
        from importlib.metadata import version

        BT_VERSION: str | None = version("bayesian-torch")
    except Exception:  # pragma: no cover
        BT_VERSION = "?"
except ImportError:  # pragma: no cover - depends on the environment
    btl = None
    BT_VERSION = None

IN, HIDDEN, OUT, BATCH, LR = 784, 400, 10, 128, 1e-3
RHO_INIT = -3.0  # σ = softplus(-3) ≈ 0.0486, bayesian-torch's default
ESTIMATORS = ("weight", "local", "flipout")
MIN_SPEEDUP_BT = 1.2
# (reparam estimator, bayesian-torch layer it is compared with)
SPEED_PAIRS = (
    ("reparam-weight", "bt-reparam"),
    ("reparam-local", "bt-reparam"),
    ("reparam-flipout", "bt-flipout"),
)
# Published UCI results, mean ± standard error over the 20 splits (one hidden layer of 50
# units). PBP: Hernández-Lobato & Adams 2015, as quoted in Lakshminarayanan et al. 2017,
# Table 1 ("PBP and MC-dropout results reported in their respective papers"; their NLL
# column is the negated test LL). Dropout: Gal & Ghahramani 2016, the "original" columns
# of the README of github.com/yaringal/DropoutUncertaintyExps, which agree with the
# MC-dropout columns of Lakshminarayanan et al. 2017, Table 1.
PUBLISHED_UCI = {
    "bostonHousing": {"pbp": (3.01, 0.18, -2.57, 0.09), "dropout": (2.97, 0.85, -2.46, 0.25)},
    "concrete": {"pbp": (5.67, 0.09, -3.16, 0.02), "dropout": (5.23, 0.53, -3.04, 0.09)},
    "energy": {"pbp": (1.80, 0.05, -2.04, 0.02), "dropout": (1.66, 0.19, -1.99, 0.09)},
    "wine-quality-red": {
        "pbp": (0.64, 0.01, -0.97, 0.01),
        "dropout": (0.62, 0.04, -0.93, 0.06),
    },
    "yacht": {"pbp": (1.02, 0.05, -1.63, 0.02), "dropout": (1.11, 0.38, -1.55, 0.12)},
}


# --------------------------------------------------------------------------- data
def load_mnist_flat(data_dir: str | None) -> tuple:
    """(x_train (N, 784), y_train, x_test, y_test, source); tensors are None without files."""
    if load_images is None:
        return None, None, None, None, "reparam.data unavailable"
    try:
        d = load_images("mnist", data_dir)
    except FileNotFoundError as e:
        print(f"note: {e}", file=sys.stderr)
        return None, None, None, None, str(e)
    flat = [t.reshape(t.shape[0], -1) for t in (d.train, d.test)]
    src = f"reparam.data.load_images('mnist') from {data_dir or 'default'}"
    return flat[0], d.train_labels, flat[1], d.test_labels, src


def batch_pool(args: argparse.Namespace, n: int = 16) -> tuple[list, str, int]:
    """n minibatches (x, y) of MNIST training data (or random data), the source, N."""
    x, y, _, _, source = load_mnist_flat(args.data_dir)
    g = torch.Generator().manual_seed(args.seed)
    if x is None:
        source = "random images and labels (MNIST files not found; timing is data-independent)"
        pool = [
            (torch.rand(BATCH, IN, generator=g), torch.randint(0, OUT, (BATCH,), generator=g))
            for _ in range(n)
        ]
        return pool, source, 50000
    idx = torch.randperm(x.shape[0], generator=g)[: n * BATCH].split(BATCH)
    return [(x[i], y[i]) for i in idx], source, int(x.shape[0])


# --------------------------------------------------------------------------- models
class PlainMLP(nn.Module):
    def __init__(self, sizes: tuple[int, ...] = (IN, HIDDEN, OUT)) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x

    def loss_parts(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.cross_entropy(self(x), y), torch.zeros(())


class BayesTorchMLP(nn.Module):
    """MLP of bayesian-torch layers; each layer's forward returns (out, kl)."""

    def __init__(self, layer_cls: type, n_data: int, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.n_data = n_data
        self.layers = nn.ModuleList(
            layer_cls(a, b, prior_mean=0.0, prior_variance=1.0, posterior_rho_init=RHO_INIT)
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kl = 0.0
        for i, layer in enumerate(self.layers):
            x, k = layer(x)
            kl = kl + k
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x, kl

    def loss_parts(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out, kl = self(x)
        return F.cross_entropy(out, y), kl / self.n_data


class ReparamMLP(nn.Module):
    """MLP of reparam.nn.BayesLinear layers; KL from reparam.nn.kl_divergence."""

    def __init__(self, estimator: str, n_data: int, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.n_data = n_data
        sigma = F.softplus(torch.tensor(RHO_INIT)).item()
        self.layers = nn.ModuleList(
            BayesLinear(a, b, estimator=estimator, init_scale=sigma)
            for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x

    def loss_parts(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.cross_entropy(self(x), y), kl_divergence(self) / self.n_data


def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    ce, kl = model.loss_parts(x, y)
    return ce + kl


@torch.no_grad()
def copy_means(src: PlainMLP, model: nn.Module) -> None:
    """Posterior means := the plain MLP's weights; every ρ := RHO_INIT."""
    for plain, layer in zip(src.layers, model.layers, strict=True):
        if hasattr(layer, "mu_weight"):  # bayesian-torch
            names = ("mu_weight", "mu_bias", "rho_weight", "rho_bias")
        else:  # reparam.nn
            names = ("weight_mu", "bias_mu", "weight_rho", "bias_rho")
        getattr(layer, names[0]).copy_(plain.weight)
        getattr(layer, names[1]).copy_(plain.bias)
        getattr(layer, names[2]).fill_(RHO_INIT)
        getattr(layer, names[3]).fill_(RHO_INIT)


def build_models(seed: int, n_data: int, device: torch.device) -> dict[str, nn.Module]:
    sizes = (IN, HIDDEN, OUT)
    torch.manual_seed(seed)
    plain = PlainMLP(sizes)
    models: dict[str, nn.Module] = {"plain": plain}
    if btl is not None:
        models["bt-reparam"] = BayesTorchMLP(btl.LinearReparameterization, n_data, sizes)
        models["bt-flipout"] = BayesTorchMLP(btl.LinearFlipout, n_data, sizes)
    if BayesLinear is not None:
        for e in ESTIMATORS:
            models[f"reparam-{e}"] = ReparamMLP(e, n_data, sizes)
    for name, m in models.items():
        if name != "plain":
            copy_means(plain, m)
        m.to(device).train()
    return models


def make_step(model: nn.Module, batches: list) -> Callable[[], None]:
    """forward + loss (with KL) + backward on the next batch of the pool."""
    it = {"i": 0}

    def step() -> None:
        x, y = batches[it["i"] % len(batches)]
        it["i"] += 1
        model.zero_grad(set_to_none=True)
        loss(model, x, y).backward()

    return step


@torch.no_grad()
def initial_losses(models: dict, x: torch.Tensor, y: torch.Tensor) -> dict[str, list[float]]:
    out = {}
    for name, m in models.items():
        torch.manual_seed(123)
        ce, kl = m.loss_parts(x, y)
        out[name] = [float(ce), float(kl)]
    return out


# --------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def summarize(cases: list[dict]) -> list[dict]:
    base = next(c for c in cases if c["impl"] == "plain")
    t_base = statistics.median(base["times"])
    rows = []
    for c in cases:
        t = statistics.median(c["times"])
        med, lo, hi = paired_ratio(c, base)
        rows.append(
            {
                "impl": c["impl"],
                "median_ms": t * 1e3,
                "steps_per_s": 1 / t,
                "vs_plain": t / t_base,
                "vs_plain_paired": med,
                "vs_plain_paired_iqr": [lo, hi],
                "speed_vs_plain": 1 / med,
                "reps_per_measurement": c["reps"],
                "rounds": len(c["times"]),
            }
        )
    return rows


def speed_targets(cases: list[dict]) -> list[dict]:
    by = {c["impl"]: c for c in cases}
    res = []
    for mine, peer in SPEED_PAIRS:
        name = f"{mine} at least {MIN_SPEEDUP_BT}x {peer}"
        if mine not in by or peer not in by:
            res.append({"target": name, "value": None, "pass": None, "detail": "not available"})
            continue
        pm, lo, hi = paired_ratio(by[peer], by[mine])
        v = statistics.median(by[peer]["times"]) / statistics.median(by[mine]["times"])
        res.append(
            {
                "target": name,
                "value": pm,
                "pass": pm >= MIN_SPEEDUP_BT,
                "detail": f"time({peer})/time({mine}) paired = {pm:.3f} (IQR {lo:.3f}-"
                f"{hi:.3f}; ratio of medians {v:.3f}), need >= {MIN_SPEEDUP_BT}",
            }
        )
    return res


def print_targets(tgts: list[dict]) -> None:
    print("\nTargets (issue 5):")
    for t in tgts:
        flag = "SKIP" if t["pass"] is None else ("PASS" if t["pass"] else "FAIL")
        print(f"  {flag}  {t['target']}: {t['detail']}")


def run_speed(args: argparse.Namespace, env: dict) -> dict:
    device = torch.device(args.device)
    pool, source, n_data = batch_pool(args)
    pool = [(x.to(device), y.to(device)) for x, y in pool]
    env.update(data=source, n_data=n_data)
    print(f"data: {source}; KL scaled by 1/{n_data}")
    models = build_models(args.seed, n_data, device)
    if BayesLinear is None:
        print("note: reparam.nn.BayesLinear not available; timing the peers only")
    if btl is None:
        print("note: bayesian-torch not installed; timing reparam and the plain MLP only")
    init = initial_losses(models, *pool[0])
    cases = [{"impl": k, "step": make_step(m, pool)} for k, m in models.items()]
    run_timing(
        cases, args.rounds, args.target_ms / 1e3, args.seed, args.clock, sync=lambda: _sync(device)
    )
    rows = summarize(cases)
    tgts = speed_targets(cases)
    print(
        f"\n{'implementation':<16} {'ms/step':>8} {'steps/s':>8} {'vs plain':>9} {'paired':>7}"
        f" {'paired IQR':>13} {'speed':>6} {'CE@init':>8} {'KL/N@init':>10}"
    )
    for r in rows:
        lo, hi = r["vs_plain_paired_iqr"]
        ce, kl = init[r["impl"]]
        print(
            f"{r['impl']:<16} {r['median_ms']:8.3f} {r['steps_per_s']:8.1f} {r['vs_plain']:9.3f}"
            f" {r['vs_plain_paired']:7.3f} {lo:6.3f}-{hi:6.3f} {r['speed_vs_plain']:6.3f}"
            f" {ce:8.4f} {kl:10.4f}"
        )
    print(
        "\n'vs plain' = median time / median time of the plain nn.Linear MLP; 'paired' = median"
        " over rounds of that\nratio within a round (IQR over rounds); 'speed' = 1 / paired"
        " (plain = 1). CE@init, KL/N@init: the two parts\nof the loss at the shared initial"
        " parameters (one sample; bayesian-torch's KL is a mean over weights, not a sum)."
    )
    print_targets(tgts)
    return {"rows": rows, "initial_loss": init, "targets": tgts}


# --------------------------------------------------------------------------- variance
def grad_groups(model: nn.Module) -> dict[str, list[torch.Tensor]]:
    """{'L1 mu': [weight_mu, bias_mu], 'L1 rho': [...], 'L2 mu': ...}."""
    out = {}
    for i, layer in enumerate(model.layers, 1):
        out[f"L{i} mu"] = [layer.weight_mu, layer.bias_mu]
        out[f"L{i} rho"] = [layer.weight_rho, layer.bias_rho]
    return out


def gradient_moments(
    model: nn.Module, batches: Callable[[int], tuple], repeats: int, seed: int, clock: str
) -> dict[str, dict]:
    """Running float64 sums of the gradient and its square per group over ``repeats`` draws."""
    groups = grad_groups(model)
    acc = {
        k: [[torch.zeros(p.shape, dtype=torch.float64) for p in ps] for _ in range(2)]
        for k, ps in groups.items()
    }
    torch.manual_seed(seed)
    now, spent = CLOCKS[clock], 0.0
    for r in range(repeats):
        x, y = batches(r)
        t0 = now()
        model.zero_grad(set_to_none=True)
        loss(model, x, y).backward()
        spent += now() - t0
        for k, ps in groups.items():
            s, s2 = acc[k]
            for j, p in enumerate(ps):
                g = p.grad.detach().to(torch.float64)
                s[j] += g
                s2[j] += g * g
    ms = spent / repeats * 1e3
    out = {}
    for k, (s, s2) in acc.items():
        mean = [a / repeats for a in s]
        var = sum(
            float(((b - repeats * m * m) / (repeats - 1)).clamp_min(0).sum())
            for b, m in zip(s2, mean, strict=True)
        )
        out[k] = {"mean": mean, "trace_var": var}
    return {"groups": out, "ms_per_grad": ms}


@torch.no_grad()
def load_params(dst: nn.Module, src: nn.Module) -> None:
    for a, b in zip(grad_groups(dst).values(), grad_groups(src).values(), strict=True):
        for p, q in zip(a, b, strict=True):
            p.copy_(q)


def train_briefly(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int, seed: int):
    opt = default_optimizer(model.parameters(), lr=LR)  # what reparam's training loop uses
    g = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed + 1)
    for _ in range(steps):
        i = torch.randint(0, x.shape[0], (BATCH,), generator=g)
        opt.zero_grad(set_to_none=True)
        loss(model, x[i], y[i]).backward()
        opt.step()


def run_variance(args: argparse.Namespace, env: dict) -> dict:
    if BayesLinear is None:
        raise SystemExit("--variance needs reparam.nn.BayesLinear (not importable yet)")
    x, y, _, _, source = load_mnist_flat(args.data_dir)
    g = torch.Generator().manual_seed(args.seed)
    if x is None:
        source = "random images and labels (MNIST files not found)"
        x = torch.rand(10000, IN, generator=g)
        y = torch.randint(0, OUT, (10000,), generator=g)
    n_data = int(x.shape[0])
    env.update(data=source, n_data=n_data, repeats=args.repeats, train_steps=args.train_steps)
    print(
        f"data: {source}; {n_data} training images; R = {args.repeats} draws per estimator;"
        f" trained point after {args.train_steps} Adam steps (local estimator)"
    )
    models = build_models(args.seed, n_data, torch.device("cpu"))
    reps = {e: models[f"reparam-{e}"] for e in ESTIMATORS}
    fixed_idx = torch.randperm(n_data, generator=g)[:BATCH]
    fixed = (x[fixed_idx], y[fixed_idx])
    # One sequence of minibatch indices, shared by every estimator.
    seq = torch.randint(0, n_data, (args.repeats, BATCH), generator=g)
    sources = {
        "noise": lambda r: fixed,
        "noise+batch": lambda r: (x[seq[r]], y[seq[r]]),
    }
    results: dict = {}
    for point in ("init", "trained"):
        if point == "trained":
            train_briefly(reps["local"], x, y, args.train_steps, args.seed)
            for e in ("weight", "flipout"):
                load_params(reps[e], reps["local"])
        for src_name, batches in sources.items():
            res = {
                e: gradient_moments(m, batches, args.repeats, args.seed + 7, args.clock)
                for e, m in reps.items()
            }
            results[f"{point}/{src_name}"] = res
    return {"variance": print_variance(results, args.repeats)}


def print_variance(results: dict, repeats: int) -> dict:
    out: dict = {}
    tgts = []
    for key, res in results.items():
        print(f"\n[{key}]  tr Var of the gradient (ratio to weight); ms per gradient")
        groups = list(res["weight"]["groups"])
        print(f"{'estimator':<9} " + " ".join(f"{g:>20}" for g in groups) + f" {'ms':>7}")
        out[key] = {}
        for e in ESTIMATORS:
            cells = []
            out[key][e] = {"ms_per_grad": res[e]["ms_per_grad"]}
            for gname in groups:
                v = res[e]["groups"][gname]["trace_var"]
                w = res["weight"]["groups"][gname]["trace_var"]
                cells.append(f"{v:10.3e} ({v / w:6.3f})")
                out[key][e][gname] = {"trace_var": v, "ratio_to_weight": v / w}
            print(
                f"{e:<9} " + " ".join(f"{c:>20}" for c in cells) + f" {res[e]['ms_per_grad']:7.2f}"
            )
        if key.endswith("/noise"):
            parts = []
            for e in ("local", "flipout"):
                stats = []
                for gname in groups:
                    a, b = res[e]["groups"][gname], res["weight"]["groups"][gname]
                    d2 = sum(
                        float(((m1 - m2) ** 2).sum())
                        for m1, m2 in zip(a["mean"], b["mean"], strict=True)
                    )
                    stats.append(d2 / ((a["trace_var"] + b["trace_var"]) / repeats))
                out[key][e]["bias_check"] = dict(zip(groups, stats, strict=True))
                parts.append(f"{e}: " + ", ".join(f"{s:.2f}" for s in stats))
            print(
                "unbiasedness check ||mean_e - mean_weight||^2 / ((trV_e + trV_w)/R), ≈1 if same"
                " expectation (per group):\n  " + "; ".join(parts)
            )
        for e, paper in (("local", "Kingma et al. 2015"), ("flipout", "Wen et al. 2018")):
            for gname in ("L1 mu", "L1 rho"):
                r = out[key][e][gname]["ratio_to_weight"]
                tgts.append(
                    {
                        "target": f"[{key}] tr Var {e} < weight, {gname} ({paper})",
                        "value": r,
                        "pass": r < 1.0,
                        "detail": f"ratio {r:.3f}, need < 1",
                    }
                )
    print("\nOrdering (first layer):")
    for t in tgts:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']}: {t['detail']}")
    out["targets"] = tgts
    return out


# --------------------------------------------------------------------------- quality
def run_quality(args: argparse.Namespace, env: dict) -> dict:
    if BayesLinear is None:
        raise SystemExit("--quality needs reparam.nn.BayesLinear (not importable yet)")
    results: dict = {}
    x, y, xt, yt, source = load_mnist_flat(args.data_dir)
    if args.epochs == 0:
        pass
    elif x is None:
        print("note: MNIST files not found; skipping the MNIST part")
    else:
        results["mnist"] = mnist_quality(args, x, y, xt, yt, source)
    if args.uci:
        results["uci"] = uci_quality(args)
    return {"quality": results}


def mnist_quality(args, x, y, xt, yt, source: str) -> dict:
    device = torch.device(args.device)
    sizes = (IN, 400, 400, OUT)
    torch.manual_seed(args.seed)
    plain = PlainMLP(sizes)
    model = ReparamMLP(args.estimator, int(x.shape[0]), sizes)
    copy_means(plain, model)
    model.to(device)
    x, y, xt, yt = x.to(device), y.to(device), xt.to(device), yt.to(device)
    # the optimizer users get (fused Adam): a plain Adam hid the stale-σ bug of issue 12
    opt = default_optimizer(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(args.seed)
    print(
        f"data: {source}; BNN {'-'.join(map(str, sizes))}, estimator {args.estimator},"
        f" {args.epochs} epochs"
    )
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        total = 0.0
        perm = torch.randperm(x.shape[0], generator=g).to(device)
        for idx in perm.split(BATCH):
            opt.zero_grad(set_to_none=True)
            lo = loss(model, x[idx], y[idx])
            lo.backward()
            opt.step()
            total += float(lo.detach()) * len(idx)
        print(
            f"  epoch {epoch + 1}/{args.epochs}: train loss {total / x.shape[0]:.4f}"
            f" ({time.perf_counter() - t0:.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    train_s = time.perf_counter() - t0
    with torch.no_grad():
        probs = torch.zeros(xt.shape[0], OUT, device=device)
        for _ in range(args.samples):
            probs += F.softmax(model(xt), -1) / args.samples
        err = float((probs.argmax(-1) != yt).float().mean())
        nll = float(F.nll_loss(probs.clamp_min(1e-12).log(), yt))
        # Posterior means: a copy with σ ≈ 0 (ρ = -30).
        for layer in model.layers:
            layer.weight_rho.fill_(-30.0)
            layer.bias_rho.fill_(-30.0)
        err_mean = float((model(xt).argmax(-1) != yt).float().mean())
    print(
        f"\nMNIST test ({xt.shape[0]} images): error {100 * err:.2f}% (mean of {args.samples}"
        f" samples), NLL {nll:.4f}; posterior means {100 * err_mean:.2f}%;"
        f" train {train_s:.1f} s\nBlundell et al. 2015: 1.32% (2x1200, far longer; quoted"
        " from the issue, not verified here)"
    )
    return {
        "test_error": err,
        "test_nll": nll,
        "test_error_means": err_mean,
        "train_seconds": train_s,
        "epochs": args.epochs,
        "estimator": args.estimator,
    }


def uci_quality(args: argparse.Namespace) -> dict:
    """The 20-split protocol through the library's CLI (``reparam bnn uci NAME``), read
    back from its ``uci.json`` (summary: mean and standard error over the splits)."""
    try:
        from reparam.data.uci import UCI_DATASETS
    except ImportError:
        print("note: reparam.data.uci not available; skipping UCI")
        return {}
    out = {}
    rows = []
    for name in args.uci:
        if name not in UCI_DATASETS:
            raise SystemExit(f"--uci: unknown data set {name!r}; one of {UCI_DATASETS}")
        with tempfile.TemporaryDirectory(prefix="bench-bnn-uci-") as tmp:
            cmd = [sys.executable, "-m", "reparam", "bnn", "uci", name]
            cmd += ["--splits", str(args.splits), "--out", tmp]
            if args.uci_epochs is not None:
                cmd += ["--epochs", str(args.uci_epochs)]
            print(f"running: {' '.join(cmd)}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True)
            with open(Path(tmp) / "uci.json") as f:
                r = json.load(f)
        r["bench_seconds"] = time.perf_counter() - t0
        r.pop("per_split", None)
        out[name] = r
        rows.append((name, r))
    print(
        f"\n{'data set':<17} {'splits':>6} {'RMSE':>13} {'test LL':>14} {'PBP RMSE':>11}"
        f" {'PBP LL':>12} {'dropout RMSE':>12} {'dropout LL':>12}"
    )
    for name, r in rows:
        s = r["summary"]
        pub = PUBLISHED_UCI.get(name, {})
        cells = []
        for m in ("pbp", "dropout"):
            v = pub.get(m)
            cells += [f"{v[0]:.2f}±{v[1]:.2f}", f"{v[2]:.2f}±{v[3]:.2f}"] if v else ["-", "-"]
        print(
            f"{name:<17} {r['splits']:6d} {s['rmse']['mean']:7.3f}±{s['rmse']['se']:.3f}"
            f" {s['log_likelihood']['mean']:8.3f}±{s['log_likelihood']['se']:.3f} "
            + " ".join(f"{c:>12}" for c in cells)
        )
    print(
        "published: mean ± standard error over the 20 splits; PBP = Hernández-Lobato & Adams"
        " 2015, dropout = Gal &\nGhahramani 2016 (sources in PUBLISHED_UCI)."
    )
    return out


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_timing_args(p, rounds=30, target_ms=150.0)
    p.add_argument("--data-dir", default=None, help="MNIST directory (default: shared data)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu; e.g. cuda)")
    p.add_argument("--variance", action="store_true", help="gradient-variance benchmark")
    p.add_argument("--repeats", type=int, default=500, help="--variance: draws (500)")
    p.add_argument(
        "--train-steps", type=int, default=400, help="--variance: steps to 'trained' (400)"
    )
    p.add_argument("--quality", action="store_true", help="quality benchmark")
    p.add_argument("--epochs", type=int, default=3, help="--quality: MNIST epochs (3)")
    p.add_argument("--estimator", choices=ESTIMATORS, default="local", help="--quality")
    p.add_argument("--samples", type=int, default=10, help="--quality: predictive samples")
    p.add_argument("--uci", nargs="*", default=[], help="--quality: UCI data sets")
    p.add_argument("--splits", type=int, default=20, help="--quality: UCI splits (20)")
    p.add_argument(
        "--uci-epochs", type=int, default=None, help="--quality: UCI epochs (CLI default)"
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = p.parse_args(argv)
    if args.repeats < 2:
        raise SystemExit(f"--repeats must be >= 2, got {args.repeats}")

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    mode = "variance" if args.variance else "quality" if args.quality else "speed"
    env = {
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "reparam": getattr(reparam, "__version__", "?"),
        "bayesian_torch": BT_VERSION,
        "threads": torch.get_num_threads(),
        "nproc": os.cpu_count(),
        "executable": sys.executable,
        "mode": mode,
        "rounds": args.rounds,
        "target_ms": args.target_ms,
        "clock": args.clock,
        "seed": args.seed,
        "device": args.device,
        "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
        "loadavg_start": loadavg(),
    }
    print(
        f"torch {env['torch']}, reparam {env['reparam']}, bayesian-torch {BT_VERSION},"
        f" threads {env['threads']}, nproc {env['nproc']}, cpu {env['cpu']}, clock"
        f" {args.clock}, load average {env['loadavg_start']}"
    )
    if mode == "variance":
        out = run_variance(args, env)
    elif mode == "quality":
        out = run_quality(args, env)
    else:
        out = run_speed(args, env)
    env["loadavg_end"] = loadavg()
    print(f"\nload average (1/5/15 min): start {env['loadavg_start']}, end {env['loadavg_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, **out}, f, indent=2, default=str)
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
