"""Colouriser: a U-Net from Lab lightness to ab, and the PatchGAN that judges (L, ab) pairs.

Sized for a CPU budget: base width 32 and bilinear-upsample + conv decoder blocks (no transposed
convolutions, so no checkerboard artefacts in the chroma). pix2pix's 256² U-Net has 54 M
parameters; this one has about 4 M and the same four-octave receptive field at 64² crops.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

DOWNSAMPLINGS = 4  # input sides must be multiples of 2**4


def _conv_block(in_ch: int, out_ch: int, stride: int = 1) -> nn.Sequential:
    kernel = 4 if stride == 2 else 3
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.LeakyReLU(0.2, inplace=True),
    )


class _Up(nn.Module):
    """Project to the skip's width (1×1, at low resolution), upsample ×2, add the encoder's skip,
    fuse with a 3×3 conv. Adding instead of concatenating makes the high-resolution conv 3× cheaper
    for the same receptive field; the 1×1 projection runs at a quarter of the pixels."""

    def __init__(self, in_ch: int, skip_ch: int):
        super().__init__()
        self.project = nn.Conv2d(in_ch, skip_ch, kernel_size=1)
        self.fuse = _conv_block(skip_ch, skip_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(self.project(x), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(x + skip)


class UNetColorizer(nn.Module):
    """G_c: normalised L (N×1×H×W in [-1,1], H and W multiples of 16) -> ab/110 (N×2×H×W, tanh)."""

    def __init__(self, base_channels: int = 32):
        super().__init__()
        c = base_channels
        widths = [c, 2 * c, 4 * c, 8 * c, 8 * c]
        self.stem = nn.Sequential(_conv_block(1, c), _conv_block(c, c))
        self.downs = nn.ModuleList(
            nn.Sequential(_conv_block(widths[i], widths[i + 1], stride=2), _conv_block(widths[i + 1], widths[i + 1]))
            for i in range(DOWNSAMPLINGS)
        )
        self.ups = nn.ModuleList(
            _Up(widths[i + 1], widths[i]) for i in reversed(range(DOWNSAMPLINGS))
        )
        self.head = nn.Conv2d(c, 2, kernel_size=3, padding=1)

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        skips = [self.stem(lightness)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        for up in self.ups:
            x = up(x, skips.pop())
        return torch.tanh(self.head(x))


class PatchDiscriminator(nn.Module):
    """D: (normalised L, ab/110) N×3×H×W -> N×1×h×w real/fake logits, one per ~34×34 patch.

    Spectral normalisation on every conv instead of BatchNorm: it bounds D's Lipschitz constant,
    which keeps the adversarial gradient informative on a tiny dataset where an unconstrained D
    memorises the 100 training photos within minutes, and it has no batch statistics to disturb.
    """

    def __init__(self, base_channels: int = 32):
        super().__init__()
        c = base_channels
        layers: list[nn.Module] = []
        widths = [3, c, 2 * c, 4 * c]
        for i in range(3):
            layers += [spectral_norm(nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1)),
                       nn.LeakyReLU(0.2, inplace=True)]
        layers += [spectral_norm(nn.Conv2d(4 * c, 4 * c, 3, padding=1)), nn.LeakyReLU(0.2, inplace=True),
                   spectral_norm(nn.Conv2d(4 * c, 1, 3, padding=1))]
        self.net = nn.Sequential(*layers)

    def forward(self, lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([lightness, ab], dim=1))
