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
from chromastyle.metrics.frechet import frechet_distance, kernel_distance
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

    Each image set goes through the network once: its pooled features feed torchmetrics' Fréchet and
    KID formulas (chromastyle.metrics.frechet takes features directly) and its logits the top-1 class.
    (Passing the network to torchmetrics as `feature=` ran it three times per set: Fréchet, KID, top-1.)
    """

    def __init__(self, truth: list[np.ndarray], features: ImageNetFeatures | None = None, kid_subset: int = 50):
        if len(truth) < 2:
            raise ValueError("the learned Fréchet distance needs at least 2 images")
        self.features = features if features is not None else ImageNetFeatures()
        self.kid_subset = min(kid_subset, len(truth))
        self.true_pooled, self.true_classes = self._pooled_and_top1(truth)
        self.count = len(truth)

    @torch.no_grad()
    def _pooled_and_top1(self, images: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, logits = self.features.pooled_and_logits(resized_batch(images, self.features.side))
        return pooled.double(), logits.argmax(dim=1)

    def __call__(self, outputs: list[np.ndarray]) -> dict[str, float]:
        if len(outputs) != self.count:
            raise ValueError(f"{len(outputs)} outputs for {self.count} true photos: compare the same images")
        pooled, classes = self._pooled_and_top1(outputs)
        kid_mean, kid_std = kernel_distance(self.true_pooled, pooled, self.kid_subset)
        return {f"frechet_{LEARNED_NAME}": frechet_distance(self.true_pooled, pooled),
                f"kid_{LEARNED_NAME}": kid_mean, f"kid_{LEARNED_NAME}_std": kid_std,
                "semantic_agreement": float((classes == self.true_classes).float().mean())}
