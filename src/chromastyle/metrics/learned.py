"""Learned-feature figures: Fréchet distance and KID over ImageNet features, and semantic agreement.

- `frechet_effnet_lite0` / `kid_effnet_lite0`: torchmetrics' Fréchet and KID with pooled
  EfficientNet-Lite0 head features (1280-d, ImageNet weights) as the feature extractor — the same
  formula as FID over a different, offline network, so named for what it is (not "FID"). The
  colourised and the true photos are compared as sets; every image is resized to 224².
- `semantic_agreement`: the share of images whose top-1 ImageNet class on the colourisation equals
  that on the original (Zhang et al. 2016 judge colourisations by classifying them): wrong colours
  that change what a photo shows count, harmless ones do not.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from chromastyle.model.efficientnet import ImageNetFeatures

LEARNED_NAME = "effnet_lite0"  # metric suffix: frechet_effnet_lite0, kid_effnet_lite0
SIDE = 224


def resized_batch(images: list[np.ndarray], side: int = SIDE) -> torch.Tensor:
    """Own-size H×W×3 uint8 images -> one uint8 N×3×side×side tensor (antialiased bilinear)."""
    resized = []
    for image in images:
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        tensor = F.interpolate(tensor, size=(side, side), mode="bilinear", align_corners=False, antialias=True)
        resized.append(tensor.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(resized)


class LearnedFeatureMetrics:
    """Fréchet/KID/top-1 agreement of any number of systems against one set of true photos.

    The true photos' features are computed once (torchmetrics keeps them across `reset()` with
    reset_real_features=False); each system then costs one pass of its own images.
    """

    def __init__(self, truth: list[np.ndarray], features: ImageNetFeatures | None = None, kid_subset: int = 50):
        if len(truth) < 2:
            raise ValueError("the learned Fréchet distance needs at least 2 images")
        self.features = features if features is not None else ImageNetFeatures()
        real = resized_batch(truth, self.features.side)
        self.frechet = FrechetInceptionDistance(feature=self.features, reset_real_features=False)
        self.kid = KernelInceptionDistance(feature=self.features, reset_real_features=False,
                                           subset_size=min(kid_subset, len(truth)))
        with torch.no_grad():
            self.frechet.update(real, real=True)
            self.kid.update(real, real=True)
            self.true_classes = self._top1(real)
        self.count = len(truth)

    def _top1(self, batch: torch.Tensor) -> torch.Tensor:
        return self.features.pooled_and_logits(batch)[1].argmax(dim=1)

    @torch.no_grad()
    def __call__(self, outputs: list[np.ndarray]) -> dict[str, float]:
        if len(outputs) != self.count:
            raise ValueError(f"{len(outputs)} outputs for {self.count} true photos: compare the same images")
        fake = resized_batch(outputs, self.features.side)
        self.frechet.update(fake, real=False)
        self.kid.update(fake, real=False)
        kid_mean, kid_std = self.kid.compute()
        figures = {f"frechet_{LEARNED_NAME}": float(self.frechet.compute()),
                   f"kid_{LEARNED_NAME}": float(kid_mean), f"kid_{LEARNED_NAME}_std": float(kid_std),
                   "semantic_agreement": float((self._top1(fake) == self.true_classes).float().mean())}
        self.frechet.reset()
        self.kid.reset()
        return figures
