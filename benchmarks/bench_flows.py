"""Benchmark: normalizing flows (reparam.flows) against zuko and nflows — speed, the flow as
a variational q, density-estimation quality, and flow posteriors in a VAE.

Run it in the peer environment (zuko and nflows are peers for comparison only, never
dependencies of reparam):

    /work/bench-venv/bin/python benchmarks/bench_flows.py --speed --as-q [--threads 1]
        [--clock cpu] [--rounds 5] [--quality] [--vae] [--json out.json]

Sections (any combination; none given means ``--speed --as-q``):

``--speed``  One density training step — ``loss = -flow.log_prob(x).mean()`` and
    ``loss.backward()`` on a batch of 512 (no optimizer step, for every library) — and
    sampling (1000 samples, ``torch.no_grad()``; autoregressive kinds at D = 64 only with
    ``--sample-all``: D passes per transform take seconds a call in every library), for
    MAF, NSF (autoregressive, 8 bins, bound 5) and RealNVP-style affine coupling, with the
    same sizes in every library: features 2, 16, 64; MLP conditioners with hidden widths
    64x2 and 256x2; 5 transforms with the order reversed between them. Libraries:

        reparam  reparam.flows.MAF / NSF / RealNVP
        zuko     zuko.flows.MAF, zuko.flows.NSF, and for coupling zuko.flows.MAF(passes=2):
                 zuko has no RealNVP class; a masked autoregressive transform with 2 passes
                 IS zuko's coupling form (the first half conditions the second)
        nflows   MaskedAffineAutoregressiveTransform, MaskedPiecewiseRationalQuadratic-
                 AutoregressiveTransform (linear tails, bound 5) and AffineCouplingTransform,
                 with ReversePermutation between layers; MADEs with num_blocks=1,
                 use_residual_blocks=False (= two hidden layers of the given width, the same
                 weight shapes as the others)

    Reported per case: ms per step of each library (median over rounds), reparam / fastest
    peer (ratio of medians; target: <= 1.0 on the density steps, judged on it) and the
    paired ratio (median over rounds of the per-round ratio, with its interquartile range).
    Where the step is dominated by the same matrix products in every library (hidden 256)
    the ratio sits at 1.00 +- a few percent of noise.

``--as-q``  The flow used as a variational posterior: draw n = 512 samples with their
    log-density, loss = mean(log q), backward; 16 features, 5 transforms, hidden 64x2.
    reparam IAF (MaskedAffineAutoregressive fast="forward") and NSF fast="forward" via
    ``rsample_and_log_prob`` (one pass per transform); zuko MAF / NSF via
    ``flow().rsample_and_log_prob`` (zuko samples its MAF by inverting it: D passes per
    transform); nflows MAF via ``sample_and_log_prob`` (D passes) and nflows IAF
    (``InverseTransform`` of its MAF transform: one pass). Reported: steps/s and the
    speedup of reparam (target: >= 5x zuko).

``--quality``  Equal-budget density estimation: reparam MAF / NSF and zuko MAF / NSF with
    the same architecture (5 transforms, hidden 64x2, NSF 8 bins), Adam (lr 1e-3), batch
    size, steps and seed, on moons, checkerboard, 8gaussians, spirals
    (``reparam.data.sample_toy``: 20 000 training, 5 000 test points) and the UCI power-plant
    table (``../shared/data/uci/power-plant``, 9 568 x 5, all columns standardized with
    training statistics; NOTE: this is the UCI *combined cycle power plant* regression set,
    not the "POWER" household set of the MAF paper, which is not in the shared data). Reported:
    test NLL per point +- its standard error.

``--vae``  MNIST (``reparam.data.load_images("mnist")`` from ../shared/data, dynamic
    binarization), a 784-200-200-50 MLP VAE with q(z|x) normal vs planar (K=10) vs iaf
    (K=2), ELBO objective, the same epochs / batch size / Adam lr / seed; reported: test
    ELBO and -log p(x) by importance sampling (k samples, default 1000) on the first
    ``--vae-test`` (1000) test images, binarized once with a fixed seed.

Timing as in bench_bnn.py: all cases of a section in one process, interleaved round-robin
(the order shuffled each round), each measurement a number of consecutive steps lasting
about ``--target-ms``; medians over rounds. ``--clock cpu`` measures the process's CPU
time; with ``--threads 1`` it hardly depends on other processes.
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
from pathlib import Path

import torch
from torch import nn

import reparam
from _harness import add_timing_args, cpu_model, loadavg, paired_ratio, run_timing
from reparam import flows as rflows

try:  # peers, for comparison only
    import zuko

    ZUKO_VERSION: str | None = zuko.__version__
except ImportError:  # pragma: no cover - depends on the environment
    zuko = None
    ZUKO_VERSION = None
try:
    from importlib.metadata import version as _version

    from nflows.distributions.normal import StandardNormal
    from nflows.flows.base import Flow as NFlow
    from nflows.transforms import (
        AffineCouplingTransform,
        CompositeTransform,
        InverseTransform,
        MaskedAffineAutoregressiveTransform,
        MaskedPiecewiseRationalQuadraticAutoregressiveTransform,
        ReversePermutation,
    )

    NFLOWS_VERSION: str | None = _version("nflows")
except ImportError:  # pragma: no cover - depends on the environment
    NFLOWS_VERSION = None

KINDS = ("maf", "nsf", "coupling")
FEATURES = (2, 16, 64)
HIDDEN = (64, 256)
TRANSFORMS = 5
BINS = 8
BOUND = 5.0
BATCH = 512
N_SAMPLES = 1000
MAX_DENSITY_RATIO = 1.0  # reparam / fastest peer, density steps
MIN_AS_Q_SPEEDUP = 5.0  # reparam as q vs zuko


# --------------------------------------------------------------------------- builders
def build_reparam(kind: str, d: int, h: int, fast: str = "inverse") -> Callable[[], object]:
    hidden = (h, h)
    if kind == "maf":
        flow = rflows.MAF(d, transforms=TRANSFORMS, hidden_features=hidden)
        if fast == "forward":
            flow = rflows.IAF(d, transforms=TRANSFORMS, hidden_features=hidden)
    elif kind == "nsf":
        flow = rflows.NSF(
            d, transforms=TRANSFORMS, hidden_features=hidden, bins=BINS, bound=BOUND, fast=fast
        )
    else:
        flow = rflows.RealNVP(d, transforms=TRANSFORMS, hidden_features=hidden)
    return flow


def build_zuko(kind: str, d: int, h: int) -> nn.Module:
    hidden = (h, h)
    if kind == "maf":
        return zuko.flows.MAF(d, transforms=TRANSFORMS, hidden_features=hidden)
    if kind == "nsf":
        return zuko.flows.NSF(d, bins=BINS, transforms=TRANSFORMS, hidden_features=hidden)
    return zuko.flows.MAF(d, transforms=TRANSFORMS, hidden_features=hidden, passes=2)


class _CouplingNet(nn.Sequential):
    """nflows calls its coupling networks as net(x, context)."""

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


def _mlp_factory(h: int) -> Callable[[int, int], nn.Module]:
    def make(n_in: int, n_out: int) -> nn.Module:
        return _CouplingNet(
            nn.Linear(n_in, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, n_out)
        )

    return make


def build_nflows(kind: str, d: int, h: int, iaf: bool = False) -> nn.Module:
    layers = []
    for i in range(TRANSFORMS):
        if i:
            layers.append(ReversePermutation(d))
        common = {"hidden_features": h, "num_blocks": 1, "use_residual_blocks": False}
        if kind == "maf":
            t = MaskedAffineAutoregressiveTransform(d, **common)
            layers.append(InverseTransform(t) if iaf else t)
        elif kind == "nsf":
            t = MaskedPiecewiseRationalQuadraticAutoregressiveTransform(
                d, num_bins=BINS, tails="linear", tail_bound=BOUND, **common
            )
            layers.append(InverseTransform(t) if iaf else t)
        else:
            mask = torch.zeros(d)
            mask[d // 2 :] = 1  # > 0: transformed; the first half conditions the rest
            layers.append(AffineCouplingTransform(mask, _mlp_factory(h)))
    return NFlow(CompositeTransform(layers), StandardNormal([d]))


def log_prob_fn(lib: str, flow: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    if lib == "nflows":
        return flow.log_prob
    return lambda x: flow().log_prob(x)


def sample_fn(lib: str, flow: nn.Module, n: int) -> Callable[[], object]:
    if lib == "nflows":
        return lambda: flow.sample(n)
    return lambda: flow().sample((n,))


def rsample_logq_fn(lib: str, flow: nn.Module, n: int) -> Callable[[], tuple]:
    if lib == "nflows":
        return lambda: flow.sample_and_log_prob(n)
    return lambda: flow().rsample_and_log_prob((n,))


def peers_available() -> list[str]:
    return [
        name for name, ok in (("zuko", ZUKO_VERSION), ("nflows", NFLOWS_VERSION)) if ok is not None
    ]


# --------------------------------------------------------------------------- timing
def median_ms(c: dict) -> float:
    return statistics.median(c["times"]) * 1e3


# --------------------------------------------------------------------------- --speed
def density_step(lib: str, flow: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    log_prob = log_prob_fn(lib, flow)
    params = list(flow.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        (-log_prob(x).mean()).backward()

    return step


def sampling_step(lib: str, flow: nn.Module) -> Callable[[], None]:
    sample = sample_fn(lib, flow, N_SAMPLES)

    def step() -> None:
        with torch.no_grad():
            sample()

    return step


def build(lib: str, kind: str, d: int, h: int) -> nn.Module:
    torch.manual_seed(0)
    if lib == "reparam":
        return build_reparam(kind, d, h)
    if lib == "zuko":
        return build_zuko(kind, d, h)
    return build_nflows(kind, d, h)


def run_speed(args: argparse.Namespace) -> dict:
    libs = ["reparam", *peers_available()]
    cases = []
    for d in args.features:
        x = torch.randn(BATCH, d, generator=torch.Generator().manual_seed(1))
        for h in args.hidden:
            for kind in args.kinds:
                if kind == "coupling" and d < 2:
                    continue
                # autoregressive sampling costs D passes per transform in every library:
                # at D = 64 it takes seconds a call, so it is timed only on request
                sample = kind == "coupling" or d <= 16 or args.sample_all
                for lib in libs:
                    flow = build(lib, kind, d, h)
                    key = {"features": d, "hidden": h, "kind": kind, "lib": lib}
                    cases.append({**key, "what": "density", "step": density_step(lib, flow, x)})
                    if sample:
                        cases.append({**key, "what": "sample", "step": sampling_step(lib, flow)})
    print(f"--speed: {len(cases)} cases, {args.rounds} rounds", file=sys.stderr)
    run_timing(cases, args.rounds, args.target_ms / 1e3, args.seed, args.clock, report_every=1)
    rows = []
    for what in ("density", "sample"):
        for d in args.features:
            for h in args.hidden:
                for kind in args.kinds:
                    group = [
                        c
                        for c in cases
                        if (c["what"], c["features"], c["hidden"], c["kind"]) == (what, d, h, kind)
                    ]
                    if not group:
                        continue
                    ms = {c["lib"]: median_ms(c) for c in group}
                    peers = {k: v for k, v in ms.items() if k != "reparam"}
                    best = min(peers, key=peers.get) if peers else None
                    ratio = ms["reparam"] / peers[best] if best else None
                    by_lib = {c["lib"]: c for c in group}
                    paired = paired_ratio(by_lib["reparam"], by_lib[best]) if best else (None,) * 3
                    rows.append(
                        {
                            "what": what,
                            "features": d,
                            "hidden": h,
                            "kind": kind,
                            "ms": ms,
                            "fastest_peer": best,
                            "ratio": ratio,
                            "paired": paired,
                        }
                    )
    print(
        f"\n### Speed: density step (log_prob + backward, batch {BATCH}) and sampling "
        f"({N_SAMPLES} samples, no grad), {TRANSFORMS} transforms, ms (median)\n"
    )
    print(
        "| step | kind | D | hidden | reparam | zuko | nflows | reparam / fastest peer | "
        "paired (IQR) |"
    )
    print("| --- | --- | --: | --: | --: | --: | --: | --: | --: |")
    for r in rows:
        cells = [
            f"{r['ms'][lib]:.3f}" if lib in r["ms"] else "-"
            for lib in ("reparam", "zuko", "nflows")
        ]
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f} ({r['fastest_peer']})"
        med, lo, hi = r["paired"]
        pair = "-" if med is None else f"{med:.2f} ({lo:.2f}-{hi:.2f})"
        print(
            f"| {r['what']} | {r['kind']} | {r['features']} | {r['hidden']}x2 | "
            f"{' | '.join(cells)} | {ratio} | {pair} |"
        )
    dens = [r for r in rows if r["what"] == "density" and r["ratio"] is not None]
    worst = max(dens, key=lambda r: r["ratio"]) if dens else None
    print()
    for r in dens:
        flag = "PASS" if r["ratio"] <= MAX_DENSITY_RATIO else "FAIL"
        print(
            f"  {flag}  density {r['kind']} D={r['features']} h={r['hidden']}: reparam / "
            f"{r['fastest_peer']} = {r['ratio']:.2f} (paired {r['paired'][0]:.2f}; need <= "
            f"{MAX_DENSITY_RATIO})"
        )
    if worst is not None:
        print(
            f"  worst density ratio: {worst['ratio']:.2f} ({worst['kind']} D={worst['features']}"
            f" h={worst['hidden']})"
        )
    return {"speed": rows}


# --------------------------------------------------------------------------- --as-q
def as_q_step(lib: str, flow: nn.Module, n: int) -> Callable[[], None]:
    draw = rsample_logq_fn(lib, flow, n)
    params = list(flow.parameters())

    def step() -> None:
        for p in params:
            p.grad = None
        _, log_q = draw()
        log_q.mean().backward()

    return step


def run_as_q(args: argparse.Namespace) -> dict:
    d, h, n = 16, 64, 512
    specs: list[tuple[str, str, Callable[[], nn.Module]]] = [
        ("reparam", "IAF (maf, fast=forward)", lambda: build_reparam("maf", d, h, "forward")),
        ("reparam", "NSF fast=forward", lambda: build_reparam("nsf", d, h, "forward")),
    ]
    if ZUKO_VERSION:
        specs += [
            ("zuko", "MAF", lambda: build_zuko("maf", d, h)),
            ("zuko", "NSF", lambda: build_zuko("nsf", d, h)),
        ]
    if NFLOWS_VERSION:
        specs += [
            ("nflows", "MAF", lambda: build_nflows("maf", d, h)),
            ("nflows", "IAF (InverseTransform)", lambda: build_nflows("maf", d, h, iaf=True)),
            ("nflows", "NSF", lambda: build_nflows("nsf", d, h)),
        ]
    cases = []
    for lib, label, make in specs:
        torch.manual_seed(0)
        flow = make()
        cases.append({"lib": lib, "label": label, "step": as_q_step(lib, flow, n)})
    print(f"--as-q: {len(cases)} cases, {args.rounds} rounds", file=sys.stderr)
    run_timing(cases, args.rounds, args.target_ms / 1e3, args.seed, args.clock, report_every=1)
    for c in cases:
        c["ms"] = median_ms(c)
    by = {(c["lib"], c["label"].split()[0]): c["ms"] for c in cases}
    print(
        f"\n### Flow as q: rsample + log q + backward of mean(log q), n = {n}, D = {d}, "
        f"{TRANSFORMS} transforms, hidden {h}x2\n"
    )
    print("| library | flow | ms / step | steps / s |")
    print("| --- | --- | --: | --: |")
    for c in cases:
        print(f"| {c['lib']} | {c['label']} | {c['ms']:.2f} | {1e3 / c['ms']:.0f} |")
    print()
    targets = []
    for mine, peer in (
        (("reparam", "IAF"), ("zuko", "MAF")),
        (("reparam", "NSF"), ("zuko", "NSF")),
    ):
        if mine in by and peer in by:
            speedup = by[peer] / by[mine]
            flag = "PASS" if speedup >= MIN_AS_Q_SPEEDUP else "FAIL"
            print(
                f"  {flag}  reparam {mine[1]} vs zuko {peer[1]}: {speedup:.1f}x "
                f"(need >= {MIN_AS_Q_SPEEDUP}x)"
            )
            targets.append({"mine": mine, "peer": peer, "speedup": speedup})
    if ("nflows", "IAF") in by:
        ratio = by[("nflows", "IAF")] / by[("reparam", "IAF")]
        print(f"  info  reparam IAF vs nflows IAF: {ratio:.2f}x (> 1: reparam faster)")
    return {
        "as_q": [{k: v for k, v in c.items() if k != "step"} for c in cases],
        "as_q_targets": targets,
    }


# --------------------------------------------------------------------------- --quality
def quality_data(name: str, args: argparse.Namespace) -> tuple | None:
    if name == "power-plant":
        path = Path(args.uci_dir) / "power-plant" / "data.txt"
        if not path.is_file():
            print(f"  skip power-plant: {path} not found", file=sys.stderr)
            return None
        import numpy as np

        data = torch.from_numpy(np.loadtxt(path, dtype=np.float32))
        perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))
        n_test = len(data) // 10
        test, train = data[perm[:n_test]], data[perm[n_test:]]
        mean, std = train.mean(0), train.std(0).clamp_min(1e-6)
        return (train - mean) / std, (test - mean) / std
    from reparam.data import sample_toy

    train = sample_toy(name, 20_000, generator=torch.Generator().manual_seed(0))
    test = sample_toy(name, 5_000, generator=torch.Generator().manual_seed(1))
    return train, test


def fit_nll(
    lib: str, kind: str, train: torch.Tensor, test: torch.Tensor, args, seed: int
) -> tuple:
    torch.manual_seed(seed)
    d = train.shape[1]
    flow = build_reparam(kind, d, 64) if lib == "reparam" else build_zuko(kind, d, 64)
    log_prob = log_prob_fn(lib, flow)
    opt = torch.optim.Adam(flow.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        idx = torch.randint(len(train), (args.batch_size,), generator=g)
        loss = -log_prob(train[idx]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        nll = torch.cat([-log_prob(b) for b in test.split(1000)])
    return nll.mean().item(), nll.std().item() / math.sqrt(len(nll)), seconds


def _mean_se(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return mean, se


def run_quality(args: argparse.Namespace) -> dict:
    """Each (data, kind, library) is trained with seeds args.seed … args.seed + seeds − 1
    (initialization and minibatch order); the table gives the mean test NLL over seeds ± the
    standard error over seeds, which includes the training variance (the test-set SE of one
    run is printed per run)."""
    libs = ["reparam", *(["zuko"] if ZUKO_VERSION else [])]
    seeds = list(range(args.seed, args.seed + args.seeds))
    rows = []
    for name in ("moons", "checkerboard", "8gaussians", "spirals", "power-plant"):
        data = quality_data(name, args)
        if data is None:
            continue
        train, test = data
        for kind in ("maf", "nsf"):
            for lib in libs:
                for seed in seeds:
                    nll, se, secs = fit_nll(lib, kind, train, test, args, seed)
                    rows.append(
                        {"data": name, "kind": kind, "lib": lib, "seed": seed, "nll": nll,
                         "se": se, "seconds": secs}
                    )  # fmt: skip
                    print(
                        f"  {name} {kind} {lib} seed {seed}: {nll:.3f} +- {se:.3f} ({secs:.0f} s)",
                        file=sys.stderr,
                    )
    print(
        f"\n### Density estimation, test NLL per point (nats), mean over {len(seeds)} seeds "
        f"+- SE over seeds; {args.steps} Adam steps (lr 1e-3), batch {args.batch_size}, "
        f"{TRANSFORMS} transforms, hidden 64x2\n"
    )
    print("| data | reparam MAF | zuko MAF | reparam NSF | zuko NSF |")
    print("| --- | --: | --: | --: | --: |")
    summary = []
    for name in dict.fromkeys(r["data"] for r in rows):
        cells = []
        for kind in ("maf", "nsf"):
            for lib in ("reparam", "zuko"):
                values = [
                    r["nll"] for r in rows if (r["data"], r["kind"], r["lib"]) == (name, kind, lib)
                ]
                if not values:
                    cells.append("-")
                    continue
                mean, se = _mean_se(values)
                summary.append({"data": name, "kind": kind, "lib": lib, "nll": mean, "se": se})
                cells.append(f"{mean:.3f} +- {se:.3f}" if len(values) > 1 else f"{mean:.3f}")
        print(f"| {name} | {' | '.join(cells)} |")
    return {"quality": rows, "quality_summary": summary}


# --------------------------------------------------------------------------- --vae
def run_vae(args: argparse.Namespace) -> dict:
    from reparam import VAE
    from reparam.data import load_images

    try:
        data = load_images("mnist", args.data_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"  skip --vae: MNIST not available ({err})")
        return {"vae": None}
    test = torch.bernoulli(
        data.test[: args.vae_test], generator=torch.Generator().manual_seed(args.seed)
    )
    rows = []
    # "normal (MC KL)": the diagonal Gaussian with the Monte Carlo KL a flow must use —
    # the like-for-like baseline; "normal" keeps the closed-form KL.
    for label, posterior, kl in (
        ("normal", "normal", "auto"),
        ("normal (MC KL)", "normal", "mc"),
        ("planar", "planar", "auto"),
        ("iaf", "iaf", "auto"),
    ):
        torch.manual_seed(args.seed)
        vae = VAE(
            data.shape,
            latent_dim=50,
            hidden=(200, 200),
            posterior=posterior,
            dynamic_binarize=True,
            kl=kl,
        )
        opt = torch.optim.Adam(vae.parameters(), lr=1e-3)
        g = torch.Generator().manual_seed(args.seed)
        t0 = time.process_time()
        step = 0
        for _ in range(args.vae_epochs):
            for idx in torch.randperm(len(data.train), generator=g).split(100):
                x = vae.prepare_batch(data.train[idx], g)
                loss = vae.training_step(x, step)["loss"]
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                if args.vae_max_steps and step >= args.vae_max_steps:
                    break
        train_s = time.process_time() - t0
        vae.eval()
        torch.manual_seed(args.seed + 1)
        with torch.no_grad():
            elbo = torch.cat(
                [torch.stack([vae.elbo(b) for _ in range(10)]).mean(0) for b in test.split(100)]
            )
            ll = torch.cat(
                [vae.log_likelihood(b, k=args.vae_k, chunk=100) for b in test.split(100)]
            )
        se = math.sqrt(len(ll))
        rows.append(
            {
                "posterior": label,
                "flow_length": vae.flow_length,
                "elbo": elbo.mean().item(),
                "elbo_se": elbo.std().item() / se,
                "nll": -ll.mean().item(),
                "nll_se": ll.std().item() / se,
                "train_cpu_s": train_s,
            }
        )
        print(
            f"  vae {label}: -log p(x) {-ll.mean().item():.2f}, ELBO "
            f"{elbo.mean().item():.2f}, {train_s:.0f} s",
            file=sys.stderr,
        )
    print(
        f"\n### VAE on MNIST (dynamic binarization), 784-200-200-50, ELBO objective, "
        f"{args.vae_epochs} epochs, batch 100, Adam 1e-3; first {len(test)} test images\n"
    )
    print(f"| q(z\\|x) | K | test ELBO | -log p(x) (IS, k={args.vae_k}) | train CPU s |")
    print("| --- | --: | --: | --: | --: |")
    for r in rows:
        print(
            f"| {r['posterior']} | {r['flow_length'] or '-'} | {r['elbo']:.2f} +- "
            f"{r['elbo_se']:.2f} | {r['nll']:.2f} +- {r['nll_se']:.2f} | {r['train_cpu_s']:.1f} |"
        )
    print(
        "\nRezende & Mohamed 2015 (Table 2): -log p(x) on binarized MNIST for a deep latent "
        "Gaussian model with planar flows of increasing length. A "
        "secondary listing of that table (a reading list in a public repository; the paper "
        "itself was not available here) gives <= 85.1 nats for DLGM+NF (their best entry) and "
        "87.2 for DLGM+NICE; the other rows could not be confirmed, so they are not quoted. "
        "Their models train for far longer: compare the ordering here, not the values."
    )
    return {"vae": rows}


# --------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--speed", action="store_true", help="density-step and sampling speed")
    p.add_argument("--as-q", action="store_true", help="the flow as a variational q")
    p.add_argument("--quality", action="store_true", help="equal-budget test NLL vs zuko")
    p.add_argument("--vae", action="store_true", help="flow posteriors in an MNIST VAE")
    add_timing_args(p, rounds=5, target_ms=40.0)
    p.add_argument("--seeds", type=int, default=3, help="--quality: training seeds per case")
    p.add_argument("--features", type=int, nargs="+", default=list(FEATURES), help="--speed")
    p.add_argument("--hidden", type=int, nargs="+", default=list(HIDDEN), help="--speed")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="--speed")
    p.add_argument(
        "--sample-all",
        action="store_true",
        help="--speed: also time autoregressive sampling at D > 16 (slow in every library)",
    )
    p.add_argument("--steps", type=int, default=1000, help="--quality: Adam steps (1000)")
    p.add_argument("--batch-size", type=int, default=256, help="--quality: batch (256)")
    p.add_argument(
        "--uci-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/uci")
    )
    p.add_argument("--data-dir", default=None, help="--vae: MNIST directory")
    p.add_argument("--vae-epochs", type=int, default=2, help="--vae: epochs (2)")
    p.add_argument(
        "--vae-max-steps", type=int, default=None, help="--vae: stop each epoch early (smoke)"
    )
    p.add_argument("--vae-k", type=int, default=1000, help="--vae: importance samples (1000)")
    p.add_argument("--vae-test", type=int, default=1000, help="--vae: test images (1000)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = p.parse_args(argv)
    if not (args.speed or args.as_q or args.quality or args.vae):
        args.speed = args.as_q = True
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python " + shlex.join(sys.argv),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "reparam": getattr(reparam, "__version__", "?"),
        "zuko": ZUKO_VERSION,
        "nflows": NFLOWS_VERSION,
        "threads": torch.get_num_threads(),
        "nproc": os.cpu_count(),
        "clock": args.clock,
        "rounds": args.rounds,
        "loadavg_start": loadavg(),
    }
    print(f"## Flows benchmark — {env['date']}\n\n`{env['command']}`\n")
    print(
        f"torch {env['torch']}, reparam {env['reparam']}, zuko {ZUKO_VERSION}, nflows "
        f"{NFLOWS_VERSION}, threads {env['threads']}, nproc {env['nproc']}, cpu {env['cpu']}, "
        f"clock {args.clock}, rounds {args.rounds}, load average {env['loadavg_start']}"
    )
    out: dict = {}
    if args.speed:
        out.update(run_speed(args))
    if args.as_q:
        out.update(run_as_q(args))
    if args.quality:
        out.update(run_quality(args))
    if args.vae:
        out.update(run_vae(args))
    env["loadavg_end"] = loadavg()
    print(f"\nload average (1/5/15 min): start {env['loadavg_start']}, end {env['loadavg_end']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"env": env, **out}, f, indent=2, default=str)
        print(f"\nJSON written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
