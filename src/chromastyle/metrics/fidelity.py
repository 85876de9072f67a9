"""Fidelity to the ground truth, per image at its own size: PSNR, SSIM and hue accuracy."""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import structural_similarity

from chromastyle.colour import rgb_to_l_ab, uint8_to_tensor

CHROMATIC = 10.0      # C*ab of the truth above which a pixel has a colour to get right (below: near gray)
HUE_TOLERANCE = 30.0  # degrees of hue angle within which the colourised hue counts as right
VISIBLE_HUE = 2.0     # C*ab of the output below which it shows no hue (about one just-noticeable difference)


def psnr(output: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of one H×W×3 uint8 image against its ground truth (peak 255)."""
    mse = np.mean((output.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def ssim(output: np.ndarray, truth: np.ndarray) -> float:
    """SSIM (Wang et al. 2004: Gaussian σ 1.5, population covariances; scikit-image) of one H×W×3 uint8
    image against its ground truth, averaged over the channels. scikit-image filters separably in
    float64: 7× faster on a photo than torchmetrics' 11×11 convolution; its figures are ~0.001–0.002
    higher on the evaluation photos (it skips the borders the window does not cover, torchmetrics
    pads them), so compare SSIM only between runs of the same code."""
    return float(structural_similarity(output, truth, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=255))


def chroma(ab: torch.Tensor) -> torch.Tensor:
    """C*ab = |(a, b)| of an N×2×… tensor, N×…. Elementwise square, add, sqrt: 20× faster on a photo than
    `norm(dim=1)` (a reduction over a strided 2-long axis), and each op is correctly rounded, so a pixel's
    value does not depend on where it sits in the batch (torch.hypot's vector and scalar paths differ)."""
    return (ab[:, 0].square() + ab[:, 1].square()).sqrt()


def hue_hits(output: np.ndarray, truth: np.ndarray) -> tuple[int, int]:
    """(pixels with the right hue, chromatic pixels of the truth) of one H×W×3 uint8 image: a
    chromatic pixel (C*ab > CHROMATIC) is right when the output shows a hue (C*ab > VISIBLE_HUE)
    within HUE_TOLERANCE degrees of the truth's. PSNR forgives a muted wrong colour; this does not."""
    _, ab_out = rgb_to_l_ab(uint8_to_tensor(output))
    _, ab_true = rgb_to_l_ab(uint8_to_tensor(truth))
    chromatic = chroma(ab_true) > CHROMATIC
    visible = chroma(ab_out) > VISIBLE_HUE
    difference = torch.atan2(ab_out[:, 1], ab_out[:, 0]) - torch.atan2(ab_true[:, 1], ab_true[:, 0])
    wrapped = torch.rad2deg(torch.atan2(torch.sin(difference), torch.cos(difference))).abs()
    right = chromatic & visible & (wrapped <= HUE_TOLERANCE)
    return int(right.sum()), int(chromatic.sum())


def hue_accuracy(outputs: list[np.ndarray], truth: list[np.ndarray]) -> float:
    """Share of the truth's chromatic pixels, over all photos, whose colourised hue is right (hue_hits)."""
    hits = [hue_hits(o, t) for o, t in zip(outputs, truth)]
    chromatic = sum(total for _, total in hits)
    return sum(right for right, _ in hits) / chromatic if chromatic else float("nan")
