"""Colourisers: U-Nets from Lab lightness to ab, and the PatchGAN that judges (L, ab) pairs.

Two generators with one contract (normalised L in, tanh ab/110 out):
- EfficientUNetColorizer (the default): the encoder is ImageNet-pretrained EfficientNet-Lite0, as
  DeOldify builds on a pretrained ResNet. Its semantic priors (what grass, sky, fur look like) are
  what carries colour to photos the model never saw; the small decoder only learns to paint.
- UNetColorizer ("scratch", the ablation): the same decoder idea on an encoder learned from the
  training photos alone.
Decoders upsample bilinearly + convolve (no transposed convolutions, so no checkerboard
artefacts in the chroma).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from chromastyle.model import efficientnet
from chromastyle.model.hints import PALETTE_SIZE, GuidedHead, no_points

DOWNSAMPLINGS = 4  # scratch U-Net: input sides must be multiples of 2**4


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

    MULTIPLE = 2 ** DOWNSAMPLINGS

    def __init__(self, base_channels: int = 32, hints: bool = False):
        super().__init__()
        c = base_channels
        widths = [c, 2 * c, 4 * c, 8 * c, 8 * c]
        self.hints = hints
        self.stem = nn.Sequential(_conv_block(1, c), _conv_block(c, c))
        self.downs = nn.ModuleList(
            nn.Sequential(_conv_block(widths[i], widths[i + 1], stride=2), _conv_block(widths[i + 1], widths[i + 1]))
            for i in range(DOWNSAMPLINGS)
        )
        self.ups = nn.ModuleList(
            _Up(widths[i + 1], widths[i]) for i in reversed(range(DOWNSAMPLINGS))
        )
        self.head = nn.Conv2d(c, 2, kernel_size=3, padding=1)
        if hints:
            self.guided = GuidedHead(widths[1], widths[-1])  # the embedding from the /2 features

    def encoder_parameters(self) -> list[nn.Parameter]:
        return []  # nothing pretrained: the whole network trains from the first step

    def forward(self, lightness: torch.Tensor, points: torch.Tensor | None = None,
                palette: torch.Tensor | None = None) -> torch.Tensor:
        skips = [self.stem(lightness)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()
        if self.hints:
            points, palette = _or_none(lightness, points, palette)
            x = self.guided.shift(x, palette)
        half = x
        for up in self.ups:
            half, x = x, up(x, skips.pop())
        ab = torch.tanh(self.head(x))
        return self.guided(ab, half, points, palette) if self.hints else ab


def _or_none(lightness: torch.Tensor, points: torch.Tensor | None,
             palette: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The hint inputs, void where not given (no points, no palette: the automatic colourisation)."""
    count = lightness.shape[0]
    return (points if points is not None else no_points(count).to(lightness),
            palette if palette is not None else lightness.new_zeros(count, PALETTE_SIZE))


def gray_rgb(normalised_l: torch.Tensor) -> torch.Tensor:
    """Normalised L (N×1×H×W in [-1, 1]) -> the sRGB gray image of that lightness, N×3×H×W in [0, 1].

    The exact inverse of CIE L* then sRGB gamma (not L/100): the pretrained encoder saw sRGB photos,
    and a grayscale photo is sRGB gray."""
    lightness = (normalised_l + 1.0) * 50.0
    f = (lightness + 16.0) / 116.0
    luminance = torch.where(lightness > 8.0, f ** 3, lightness / 903.3)
    srgb = torch.where(luminance > 0.0031308, 1.055 * luminance.clamp_min(1e-8) ** (1 / 2.4) - 0.055,
                       12.92 * luminance)
    return srgb.clamp(0.0, 1.0).expand(-1, 3, -1, -1)


class _Fuse(nn.Module):
    """Upsample ×2 to the skip's size, concatenate the (encoder) skip, two 3×3 conv blocks."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int):
        super().__init__()
        self.convs = nn.Sequential(_conv_block(in_ch + skip_ch, out_ch), _conv_block(out_ch, out_ch))

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.convs(torch.cat([x, skip], dim=1))


class EfficientUNetColorizer(nn.Module):
    """G_c on a pretrained encoder: normalised L (N×1×H×W in [-1,1], H and W multiples of 32)
    -> ab/110 (N×2×H×W, tanh).

    L becomes 3-channel sRGB gray, normalised as the ImageNet weights expect. Skips at five scales:
    blocks 0 (/2), 2 (/4), 4 (/8), 10 (/16) and the head (/32, 1280 channels: the classifier's own
    features, the most semantic ones); the last fusion takes the input itself at full resolution.
    The encoder's BatchNorm statistics stay the ImageNet ones (eval mode) also when the encoder is
    fine-tuned: batches of 16 crops would only make them noisier.
    """

    SKIP_BLOCKS = (0, 2, 4, 10)
    SKIP_CHANNELS = (16, 24, 40, 112)
    MULTIPLE = 32

    def __init__(self, backbone: nn.Module | None = None, widths: tuple[int, ...] = (192, 96, 64, 32, 16),
                 hints: bool = False):
        super().__init__()
        backbone = backbone if backbone is not None else efficientnet.architecture()
        self.encoder = efficientnet.feature_layers(backbone, len(backbone._blocks) - 1)
        self.head = nn.Sequential(backbone._conv_head, backbone._bn1, nn.ReLU6())
        self.hints = hints
        self.bottleneck = _conv_block(1280, widths[0])
        skips = list(reversed(self.SKIP_CHANNELS)) + [1]
        fusions, previous = [], widths[0]
        for skip_ch, width in zip(skips, widths):
            fusions.append(_Fuse(previous, skip_ch, width))
            previous = width
        self.fusions = nn.ModuleList(fusions)
        self.out = nn.Conv2d(previous, 2, kernel_size=3, padding=1)
        if hints:
            self.guided = GuidedHead(widths[-2], widths[0])  # the embedding from the /2 features

    def encoder_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.head.parameters()]

    def train(self, mode: bool = True) -> "EfficientUNetColorizer":
        super().train(mode)
        self.encoder.eval()
        self.head.eval()
        return self

    def forward(self, lightness: torch.Tensor, points: torch.Tensor | None = None,
                palette: torch.Tensor | None = None) -> torch.Tensor:
        """points: N×K×POINT_FIELDS (hints.hint_points), palette: N×PALETTE_SIZE; both only for a hint
        model, where None means none (the automatic colourisation)."""
        x = efficientnet.normalise(gray_rgb(lightness)).contiguous(memory_format=torch.channels_last)
        skips = []
        for index, layer in enumerate(self.encoder):
            x = layer(x)
            if index - 3 in self.SKIP_BLOCKS:  # Sequential index i + 3 is block i
                skips.append(x)
        x = self.bottleneck(self.head(x))
        if self.hints:
            points, palette = _or_none(lightness, points, palette)
            x = self.guided.shift(x, palette)
        half = x
        for fuse, skip in zip(self.fusions, [*reversed(skips), lightness]):
            half, x = x, fuse(x, skip)
        ab = torch.tanh(self.out(x))
        return self.guided(ab, half, points, palette) if self.hints else ab


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
