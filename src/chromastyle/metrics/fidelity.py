"""Pixel fidelity to the ground truth, per image at its own size: PSNR and SSIM."""

from __future__ import annotations

import numpy as np
from torchmetrics.functional.image import structural_similarity_index_measure

from chromastyle.colour import uint8_to_tensor


def psnr(output: np.ndarray, truth: np.ndarray) -> float:
    """PSNR in dB of one H×W×3 uint8 image against its ground truth (peak 255)."""
    mse = np.mean((output.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def ssim(output: np.ndarray, truth: np.ndarray) -> float:
    """SSIM (torchmetrics, Gaussian 11×11) of one H×W×3 uint8 image against its ground truth."""
    return float(structural_similarity_index_measure(uint8_to_tensor(output), uint8_to_tensor(truth), data_range=1.0))
