"""A normalizing flow as a variational posterior on the banana target, against a Gaussian.

The target is the twisted Gaussian p(z) of ``reparam.vi.targets`` (z₁ ~ N(0, 2²),
z₂ | z₁ ~ N((z₁² − 4)/4, 1)), known only up to its constant, whose log Z = log(4π) is
known in closed form. Two posteriors q are fitted by maximizing the reparameterized
ELBO = E_q[log p̃(z) − log q(z)]:

- an IAF from :mod:`reparam.flows` (5 MADE layers; sampling and log q in one pass),
  by :func:`reparam.vi.fit_flow_to_target` (annealed for the first half of the steps);
- a full-rank Gaussian guide by :func:`reparam.vi.fit`, which cannot bend.

Each is then judged by importance sampling with fresh draws: the ELBO ± se, the reverse
KL(q‖p) = log Z − ELBO, the effective sample size of p̃/q as a fraction of the draws and
Pareto k̂ (Yao et al. 2018: < 0.5 good, > 0.7 do not trust q).

    python examples/flow_vi_banana.py          # 20 x 100 steps of 256 draws (~10 s CPU)
    python examples/flow_vi_banana.py --fast   # a smoke run: 2 x 25 steps of 64 draws
"""

from __future__ import annotations

import argparse
import time

import torch

from reparam.flows import IAF
from reparam.vi import fit, fit_flow_to_target, make_guide, target_diagnostics
from reparam.vi.targets import target_log_normalizer, target_log_prob


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--epochs", type=int, help="epochs of 100 steps (default 20; fast 2)")
    parser.add_argument("--samples", type=int, help="draws per step (default 256; fast 64)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    epochs = args.epochs or (2 if args.fast else 20)
    steps = 25 if args.fast else 100
    samples = args.samples or (64 if args.fast else 256)
    eval_samples = 2000 if args.fast else 20000

    torch.set_num_threads(1)
    log_p = target_log_prob("banana")
    log_z = target_log_normalizer("banana")
    torch.manual_seed(args.seed)
    flow = IAF(features=2, transforms=5, hidden_features=(64, 64))
    start = time.process_time()
    fit_flow_to_target(flow, log_p, epochs=epochs, steps_per_epoch=steps, samples=samples,
                       lr=3e-3, anneal_steps=epochs * steps // 2, eval_samples=0)  # fmt: skip
    flow_seconds = time.process_time() - start

    gaussian = make_guide("fullrank", 2)
    start = time.process_time()
    fit(log_p, gaussian, num_particles=samples, steps=epochs * steps, lr=1e-2, tol=0,
        progress=False, seed=args.seed)  # fmt: skip
    gauss_seconds = time.process_time() - start

    print(f"banana target, log Z = {log_z:.4f}; {epochs * steps} steps of {samples} draws, "
          f"diagnostics from {eval_samples} fresh draws")  # fmt: skip
    print(f"{'posterior':<18} {'ELBO ± se':>17} {'KL(q||p)':>9} {'ESS/n':>6} {'k_hat':>6}"
          f" {'CPU s':>6}")  # fmt: skip
    torch.manual_seed(args.seed + 1)
    for name, q, seconds in (("IAF flow (5)", flow, flow_seconds),
                             ("full-rank Gaussian", gaussian, gauss_seconds)):  # fmt: skip
        d = target_diagnostics(q, log_p, eval_samples, log_z=log_z)
        print(f"{name:<18} {d['elbo']:9.4f} ± {d['elbo_se']:.4f} {d['kl']:9.4f} "
              f"{d['ess_fraction']:6.3f} {d['k_hat']:6.2f} {seconds:6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
