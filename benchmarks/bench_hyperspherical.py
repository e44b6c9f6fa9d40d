"""Benchmark: hyperspherical VAEs (vMF, Power Spherical) against the Gaussian VAE on MNIST.

For each latent dimension d in ``--dims`` (default 5, 10, 20) three models are trained
from the same seed, for the same number of epochs, with the same networks:
``reparam.VAE((1, 28, 28), latent_dim=d, hidden=(256, 128), posterior=P)`` with P =
``normal`` (N-VAE: diagonal Gaussian, prior N(0, I)), ``vmf`` (S-VAE: von Mises–Fisher on
S^{d−1} ⊂ R^d, uniform prior; Davidson et al. 2018) and ``power-spherical`` (De Cao & Aziz
2020). The widths are those of the S-VAE code's MNIST example (encoder 784-2h-h, h = 128,
decoder mirrored, ReLU); d is the ambient dimension, as there. Training: the 50 000-image
MNIST training split, dynamically binarized (x ~ Bernoulli(pixel) per batch), batch
``--batch-size``, Adam lr 1e-3, the ELBO with the analytic KL.

Evaluation on the first ``--eval-n`` test images (default 1000; binarized once with a
fixed seed): the importance-sampled log-likelihood with k = ``--k`` samples (default
5000; Burda et al. 2016) and its standard error over images, the ELBO (one sample), its
reconstruction term RE = E_q[log p(x|z)] and KL, and the active units (Cov_x E_q[z_j] >
0.01).

Davidson et al. (2018), Table 1 (MNIST; the means as far as they could be confirmed, see
ANCHORS.md part 2, 4a), log-likelihood: d = 5: N-VAE −110.21, S-VAE −108.43; d = 10:
N-VAE −93.84, S-VAE −93.16; d = 20: N-VAE −88.90, S-VAE −89.02. Their training budget is
not confirmed (a reproduction trained up to 500 epochs with early stopping); a run of a
few epochs here is compared at equal epochs, not against the converged figures.

Usage::

    python benchmarks/bench_hyperspherical.py --epochs 10 --json out.json
    python benchmarks/bench_hyperspherical.py --dims 5 --epochs 1 --eval-n 100 --k 100
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import torch

from reparam.data import load_images
from reparam.vae import VAE

DAVIDSON_LL = {
    (5, "normal"): -110.21,
    (5, "vmf"): -108.43,
    (10, "normal"): -93.84,
    (10, "vmf"): -93.16,
    (20, "normal"): -88.90,
    (20, "vmf"): -89.02,
}
POSTERIORS = ("normal", "vmf", "power-spherical")


def train(model: VAE, train_x: torch.Tensor, epochs: int, batch_size: int, seed: int) -> float:
    """Adam (lr 1e-3) on the ELBO for ``epochs`` passes; returns the CPU seconds taken."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    start = time.process_time()
    step = 0
    for _ in range(epochs):
        order = torch.randperm(len(train_x), generator=gen)
        for idx in order.split(batch_size):
            batch = model.prepare_batch(train_x[idx], gen)
            loss = model.training_step(batch, step)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    return time.process_time() - start


@torch.no_grad()
def evaluate(model: VAE, x: torch.Tensor, k: int, seed: int) -> dict:
    """IS log-likelihood (k samples), ELBO, RE, KL and active units on x, batches of 100."""
    torch.manual_seed(seed)
    lls, res, kls, means = [], [], [], []
    start = time.process_time()
    for xb in x.split(100):
        lls.append(model.log_likelihood(xb, k=k, chunk=500).double())
        q = model.encode(xb)
        z = q.rsample()
        res.append(model.log_px_given_z(xb, z).double())
        kls.append(torch.distributions.kl_divergence(q, model.prior).double())
        means.append(q.mean)
    ll, re, kl = torch.cat(lls), torch.cat(res), torch.cat(kls)
    return {
        "log_likelihood": float(ll.mean()),
        "log_likelihood_se": float(ll.std() / math.sqrt(len(ll))),
        "elbo": float((re - kl).mean()),
        "re": float(re.mean()),
        "kl": float(kl.mean()),
        "active_units": int((torch.cat(means).var(0) > 0.01).sum()),
        "eval_cpu_s": time.process_time() - start,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dims", default="5,10,20", help="latent dimensions (default 5,10,20)")
    p.add_argument("--posteriors", default=",".join(POSTERIORS), help="posteriors to train")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=100, help="batch size (default 100)")
    p.add_argument("--train-n", type=int, default=None, help="use the first N training images")
    p.add_argument("--eval-n", type=int, default=1000, help="test images (default 1000)")
    p.add_argument("--k", type=int, default=5000, help="importance samples (default 5000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--data-dir", default=None, help="MNIST directory (default: shared data)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_images("mnist", args.data_dir)
    train_x = data.train if args.train_n is None else data.train[: args.train_n]
    gen = torch.Generator().manual_seed(12345)
    test_x = torch.bernoulli(data.test[: args.eval_n], generator=gen)
    print(
        f"MNIST: {len(train_x)} train (dynamic binarization), {len(test_x)} test; "
        f"{args.epochs} epochs, batch {args.batch_size}, Adam 1e-3, hidden (256, 128), "
        f"k = {args.k}, torch {torch.__version__}, threads {args.threads}",
        flush=True,
    )
    rows = []
    for d in (int(v) for v in args.dims.split(",")):
        for post in args.posteriors.split(","):
            torch.manual_seed(args.seed)
            model = VAE(
                (1, 28, 28), latent_dim=d, hidden=(256, 128), posterior=post,
                dynamic_binarize=True,
            )  # fmt: skip
            train_s = train(model, train_x, args.epochs, args.batch_size, args.seed)
            model.eval()
            row = {"d": d, "posterior": post, "train_cpu_s": train_s}
            row.update(evaluate(model, test_x, args.k, args.seed))
            row["davidson_ll"] = DAVIDSON_LL.get((d, post))
            rows.append(row)
            print(
                f"d={d:3d} {post:16s} LL {row['log_likelihood']:8.2f} ± "
                f"{row['log_likelihood_se']:.2f}  ELBO {row['elbo']:8.2f}  RE {row['re']:8.2f}  "
                f"KL {row['kl']:6.2f}  AU {row['active_units']:3d}  train {train_s:6.0f} s  "
                f"eval {row['eval_cpu_s']:5.0f} s  Davidson LL {row['davidson_ll']}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
