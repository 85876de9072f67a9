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
