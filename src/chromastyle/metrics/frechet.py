"""Offline Fréchet distance and KID over a fixed, weight-free colour + structure feature extractor.

torchmetrics provides the Fréchet and KID formulas (`FrechetInceptionDistance` and
`KernelInceptionDistance` accept any feature nn.Module); this module provides the features.
Named "offline Fréchet distance" (`frechet_offline`) everywhere so nobody confuses it with FID:
InceptionV3 features are only meaningful with the real FID weights, which this project never
downloads; a random-init Inception's features collapse and would make FID read ~0.

Features per image (48 numbers):
- a 5×5 histogram of (a, b) over [-80, 80]² (25): the colour distribution a colouriser must match;
- chroma mean, std, 50th and 90th percentile; chroma-weighted mean hue as (cos, sin) (6);
- mean a, mean b, std a, std b (4);
- luminance and chroma gradient energy at 3 scales, plus their ratio (7 + 6 = 13).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from chromastyle.colour import rgb_to_l_ab
from chromastyle.metrics.fidelity import chroma as ab_chroma

# Our evaluation sets are a few dozen photos: KID keeping their features in memory is intended.
warnings.filterwarnings("ignore", message="Metric `Kernel Inception Distance` will save all extracted features")

FEATURE_NAME = "offline-lab-v1"
HIST_BINS = 5
HIST_RANGE = 80.0
SCALES = (1, 2, 4)


class LabStatisticsFeatures(nn.Module):
    """uint8 N×3×H×W (torchmetrics' convention) -> float64 N×48 features. No learned weights."""

    num_features = HIST_BINS * HIST_BINS + 6 + 4 + 2 * len(SCALES) + len(SCALES) + 4

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        rgb = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        lightness, ab = rgb_to_l_ab(rgb)
        return torch.cat([self._ab_histogram(ab), self._chroma_stats(ab), self._structure(lightness, ab)],
                         dim=1).double()

    @staticmethod
    def _ab_histogram(ab: torch.Tensor) -> torch.Tensor:
        edges = torch.linspace(-HIST_RANGE, HIST_RANGE, HIST_BINS + 1, device=ab.device)[1:-1]
        a_bin = torch.bucketize(ab[:, 0].flatten(1).contiguous(), edges)
        b_bin = torch.bucketize(ab[:, 1].flatten(1).contiguous(), edges)
        joint = a_bin * HIST_BINS + b_bin
        counts = torch.zeros(ab.shape[0], HIST_BINS * HIST_BINS, device=ab.device)
        counts.scatter_add_(1, joint, torch.ones_like(joint, dtype=counts.dtype))
        return counts / joint.shape[1]

    @staticmethod
    def _chroma_stats(ab: torch.Tensor) -> torch.Tensor:
        flat = ab.flatten(2)  # N×2×P
        chroma = ab_chroma(flat)  # N×P
        hue = torch.atan2(flat[:, 1], flat[:, 0])
        weight = chroma / chroma.sum(dim=1, keepdim=True).clamp_min(1e-6)
        quantiles = torch.quantile(chroma, torch.tensor([0.5, 0.9], device=ab.device), dim=1).T
        return torch.cat([
            chroma.mean(1, keepdim=True) / 50, chroma.std(1, keepdim=True) / 50, quantiles / 50,
            (weight * hue.cos()).sum(1, keepdim=True), (weight * hue.sin()).sum(1, keepdim=True),
            flat.mean(2) / 50, flat.std(2) / 50,
        ], dim=1)

    @staticmethod
    def _structure(lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        stats = []
        for scale in SCALES:
            l_s = F.avg_pool2d(lightness, scale) if scale > 1 else lightness
            ab_s = F.avg_pool2d(ab, scale) if scale > 1 else ab
            l_energy = _gradient_energy(l_s) / 10
            ab_energy = _gradient_energy(ab_s) / 10
            stats += [l_energy, ab_energy, ab_energy / (l_energy + 0.1)]
        l_flat = lightness.flatten(1)
        stats += [l_flat.mean(1) / 100, l_flat.std(1) / 100,
                  _gradient_energy(ab) / (_gradient_energy(lightness) + 1e-3), ab.abs().flatten(1).max(1).values / 110]
        return torch.stack(stats, dim=1)


def _gradient_energy(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute finite difference over channels and both axes, per image."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    return dx + dy


class _PrecomputedFeatures(nn.Module):
    """Lets torchmetrics' Fréchet/KID take feature vectors directly (features are computed once)."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features.double()


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two N×D feature sets (torchmetrics' formula)."""
    metric = FrechetInceptionDistance(feature=_PrecomputedFeatures(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, subset_size: int = 50) -> tuple[float, float]:
    """KID (unbiased polynomial-kernel MMD², torchmetrics) between two N×D feature sets: (mean, std)."""
    metric = KernelInceptionDistance(feature=_PrecomputedFeatures(real.shape[1]),
                                     subset_size=min(subset_size, len(real), len(fake)))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    mean, std = metric.compute()
    return float(mean), float(std)


def frechet_and_kid(real: torch.Tensor, fake: torch.Tensor, kid_subset: int = 50) -> tuple[float, float, float]:
    """(Fréchet distance, KID mean, KID std) of two uint8 N×3×H×W image sets on the offline features."""
    if real.shape[1:] != fake.shape[1:] or len(real) != len(fake):
        raise ValueError(f"evaluation sets differ: real {tuple(real.shape)} vs generated {tuple(fake.shape)}; "
                         f"compare outputs on the same images")
    if len(real) < 2:
        raise ValueError("the Fréchet distance needs at least 2 images per set")
    extractor = LabStatisticsFeatures()
    with torch.no_grad():
        real_features, fake_features = extractor(real), extractor(fake)
    kid_mean, kid_std = kernel_distance(real_features, fake_features, kid_subset)
    return frechet_distance(real_features, fake_features), kid_mean, kid_std
