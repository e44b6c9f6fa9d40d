"""A variational autoencoder on scikit-learn's bundled 8x8 digits, through reparam's API.

The model is :class:`reparam.VAE` (diagonal Gaussian q(z|x), Bernoulli decoder on
dynamically binarized pixels, the ELBO with analytic KL), trained by
:func:`reparam.train`, the same loop that ``reparam vae train`` runs. At the end it
prints the test ELBO and the importance-sampled test log-likelihood (Burda et al. 2016),
each ± its standard error over the test images, and the number of active latent units.

    python examples/vae_digits.py            # 800 epochs (about 20 s on one core)
    python examples/vae_digits.py --fast     # a smoke run: 5 epochs, k = 100
    python examples/vae_digits.py --out runs/vae-example   # keep metrics and checkpoint
"""

from __future__ import annotations

import argparse
import math
import time

import torch

import reparam
from reparam.data import load_images


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--epochs", type=int, help="passes over the data (default 800; 5 fast)")
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--k", type=int, help="importance samples per test image (5000; fast 100)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="directory for metrics.jsonl and checkpoint.pt (none)")
    args = parser.parse_args(argv)
    epochs = args.epochs or (5 if args.fast else 800)
    k = args.k or (100 if args.fast else 5000)

    torch.set_num_threads(1)  # batches of 128 8x8 images: more threads only add overhead
    torch.manual_seed(args.seed)
    data = load_images("digits", binarize="dynamic", seed=args.seed)
    vae = reparam.VAE(
        data.train.shape[1:], latent_dim=args.latent_dim, hidden=(128, 128),
        dynamic_binarize=True,
    )  # fmt: skip
    config = reparam.TrainConfig(
        epochs=epochs, batch_size=128, lr=3e-3, seed=args.seed, device="cpu", progress=False
    )
    start = time.process_time()
    result = reparam.train(vae, data.train, config, args.out, valid_data=data.valid)
    seconds = time.process_time() - start
    if result.stopped is not None:
        raise SystemExit(f"vae_digits: training stopped early: {result.message}")

    vae.eval()
    generator = torch.Generator().manual_seed(args.seed + 1)
    x = torch.bernoulli(data.test, generator=generator)  # one fixed binarization of the test set
    elbo = vae.elbo(x).double()
    log_px = vae.log_likelihood(x, k=k).double()
    n = len(x)
    print(f"digits VAE: {epochs} epochs in {seconds:.1f} s CPU, "
          f"final train loss {result.history[-1]['loss']:.3f}")  # fmt: skip
    print(f"test ELBO            {elbo.mean():8.3f} ± {elbo.std() / math.sqrt(n):.3f} nats")
    print(f"test log p(x), k={k:<5d}{log_px.mean():8.3f} ± {log_px.std() / math.sqrt(n):.3f} nats")
    print(f"active units         {vae.active_units(data.test)} of {args.latent_dim}")


if __name__ == "__main__":
    main()
