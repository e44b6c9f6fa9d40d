"""The networks of :class:`reparam.vae.VAE`: MLP and convolutional encoders/decoders, and
the amortized flow steps of the flow posteriors (planar, IAF).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from .flows.autoregressive import MaskedAffineAutoregressive
from .flows.planar import Planar

__all__ = ["ConvDecoder", "ConvEncoder", "encoder_decoder", "flow_steps", "mlp"]


def flow_steps(posterior: str, latent_dim: int, context: int, length: int) -> nn.ModuleList:
    """The K amortized flow steps of q(z|x), each conditioned on the encoder's h (width context).

    planar: K × Planar(d, context) (Rezende & Mohamed 2015); iaf: K × IAF (MADE with hidden
    layers (context, context), one pass in the sampling direction) with the order reversed
    from step to step (Kingma et al. 2016).
    """
    steps: list[nn.Module] = []
    for i in range(length):
        if posterior == "planar":
            steps.append(Planar(latent_dim, context_features=context))
            continue
        steps.append(
            MaskedAffineAutoregressive(
                latent_dim,
                context_features=context,
                hidden_features=(context, context),
                fast="forward",
                reverse=i % 2 == 1,
            )
        )
    return nn.ModuleList(steps)


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions (32, 64 channels), then a hidden linear layer."""

    def __init__(self, shape: tuple[int, int, int], hidden: int) -> None:
        super().__init__()
        c, h, w = shape
        self.net = nn.Sequential(
            nn.Conv2d(c, 32, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(64 * (h // 4) * (w // 4), hidden),
            nn.ReLU(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """A linear layer to 64 × H/4 × W/4, then two stride-2 transposed convolutions."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, hidden: int) -> None:
        super().__init__()
        c, h, w = shape
        self.grid = (64, h // 4, w // 4)
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, math.prod(self.grid)),
            nn.ReLU(),
        )
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, c, 4, 2, 1),
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.deconv(self.fc(z).view(-1, *self.grid))


def encoder_decoder(
    arch: str, shape: tuple[int, int, int], latent_dim: int, hidden: tuple[int, ...]
) -> tuple[nn.Module, nn.Module, int]:
    """(encoder x → h, decoder z → logits of p(x|z) flattened, width of h) for ``arch``:
    ``"mlp"`` (hidden layers ``hidden``, mirrored in the decoder) or ``"conv"``."""
    if arch == "mlp":
        n_pixels = math.prod(shape)
        encoder = nn.Sequential(nn.Flatten(), mlp((n_pixels, *hidden)))
        decoder = nn.Sequential(mlp((latent_dim, *hidden[::-1])), nn.Linear(hidden[0], n_pixels))
        return encoder, decoder, hidden[-1]
    return ConvEncoder(shape, hidden[0]), ConvDecoder(shape, latent_dim, hidden[0]), hidden[0]
