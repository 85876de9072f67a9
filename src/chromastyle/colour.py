"""CIE Lab conversions (kornia, differentiable) and the network's scaling of L and ab.

Conventions everywhere in the project: RGB tensors N×3×H×W float32 in [0, 1] (sRGB);
L in [0, 100]; ab in about [-110, 110]. The networks see L/50 - 1 in [-1, 1] and predict
ab/110 in [-1, 1] (tanh head) — 110 as in pix2pix's colourisation, covering sRGB's gamut.
"""

from __future__ import annotations

import numpy as np
import torch
from kornia.color import lab_to_rgb, rgb_to_lab

AB_SCALE = 110.0


def rgb_to_l_ab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """N×3×H×W RGB in [0,1] -> (L N×1×H×W in [0,100], ab N×2×H×W)."""
    lab = rgb_to_lab(rgb.clamp(0.0, 1.0))
    return lab[:, :1], lab[:, 1:]


def l_ab_to_rgb(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """(L in [0,100], ab) -> RGB in [0,1], clipped to the displayable gamut."""
    return lab_to_rgb(torch.cat([lightness, ab], dim=1), clip=True)


def l_ab_to_rgb_hue_preserving(lightness: torch.Tensor, ab: torch.Tensor, iterations: int = 8) -> torch.Tensor:
    """Like l_ab_to_rgb, but out-of-gamut colours lose chroma instead of being clipped per channel,
    which would shift their hue. Per-pixel bisection on the chroma scale s in [0, 1]."""
    low = torch.zeros_like(lightness)
    high = torch.ones_like(lightness)
    for _ in range(iterations):
        mid = (low + high) / 2
        rgb = lab_to_rgb(torch.cat([lightness, ab * mid], dim=1), clip=False)
        inside = ((rgb >= -1e-3) & (rgb <= 1 + 1e-3)).all(dim=1, keepdim=True)
        low = torch.where(inside, mid, low)
        high = torch.where(inside, high, mid)
    whole = lab_to_rgb(torch.cat([lightness, ab], dim=1), clip=False)
    fits = ((whole >= -1e-3) & (whole <= 1 + 1e-3)).all(dim=1, keepdim=True)
    return l_ab_to_rgb(lightness, ab * torch.where(fits, torch.ones_like(low), low))


def normalize_l(lightness: torch.Tensor) -> torch.Tensor:
    """L [0,100] -> [-1,1], the generator's input scale."""
    return lightness / 50.0 - 1.0


def rgb_to_network_input(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0,1] -> normalised L (what the model sees; colour in the input is ignored)."""
    return normalize_l(rgb_to_l_ab(rgb)[0])


def grayscale_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """The grayscale baseline: keep L, set ab to 0 (what the user's grayscale photo looks like)."""
    lightness, ab = rgb_to_l_ab(rgb)
    return l_ab_to_rgb(lightness, torch.zeros_like(ab))


def uint8_to_tensor(images: np.ndarray) -> torch.Tensor:
    """N×H×W×3 (or H×W×3) uint8 -> N×3×H×W float32 in [0,1]."""
    if images.ndim == 3:
        images = images[None]
    # np.require copies only a read-only or non-contiguous array (decoded images can be read-only).
    return torch.from_numpy(np.require(images, requirements=["C", "W"])).permute(0, 3, 1, 2).float().div_(255.0)


def tensor_to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """N×3×H×W in [0,1] -> N×H×W×3 uint8 (rounded, not truncated)."""
    return (rgb.detach().clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())


def _srgb_to_linear(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0.04045, ((values + 0.055) / 1.055) ** 2.4, values / 12.92)


# Y (D65, the middle row of kornia's RGB -> XYZ matrix) contributed by each 8-bit channel value.
_CHANNEL_TO_Y = (np.array([0.212671, 0.715160, 0.072169])[:, None]
                 * _srgb_to_linear(np.arange(256) / 255.0)[None, :]).astype(np.float32)


def _lab_f(t: np.ndarray) -> np.ndarray:
    return np.where(t > 0.008856, np.cbrt(np.maximum(t, 0.008856)), 7.787 * t + 4.0 / 29.0)


_GRAY_TO_L = (116.0 * _lab_f(_CHANNEL_TO_Y.sum(axis=0).astype(np.float64)) - 16.0).astype(np.float32)


def lightness_uint8(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 sRGB -> L H×W float32 in [0, 100], as kornia's rgb_to_lab computes it (to ~1e-4),
    through lookup tables: L depends on Y alone, and Y is a sum of one table entry per channel.
    A gray image (R = G = B, what users mostly send) is a single lookup."""
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if np.array_equal(red, green) and np.array_equal(green, blue):
        return _GRAY_TO_L[green]
    luminance = _CHANNEL_TO_Y[0][red] + _CHANNEL_TO_Y[1][green] + _CHANNEL_TO_Y[2][blue]
    return (116.0 * _lab_f(luminance) - 16.0).astype(np.float32)
