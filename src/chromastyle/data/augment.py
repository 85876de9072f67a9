"""On-the-fly augmentation (albumentations) and step-addressed batch sampling.

Every random choice of step s is drawn from generators seeded with (seed, s): the batch of any
step can be recomputed from the step number alone, so a resumed run sees exactly the batches an
uninterrupted one would have seen, with no sampler state to save.
"""

from __future__ import annotations

import albumentations as A
import numpy as np
import torch

from chromastyle.colour import uint8_to_tensor
from chromastyle.config import AugmentConfig


def build_augmentation(cfg: AugmentConfig, size: int) -> A.Compose:
    """Geometric, colour-preserving augmentation: photometric jitter would corrupt the colour targets."""
    return A.Compose([
        A.Affine(rotate=(-cfg.rotate_limit, cfg.rotate_limit), border_mode=2, p=0.5 if cfg.rotate_limit else 0.0),
        A.RandomResizedCrop(size=(size, size), scale=(cfg.crop_scale_min, 1.0), ratio=(0.8, 1.25)),
        A.HorizontalFlip(p=cfg.hflip_p),
    ])


def step_rng(seed: int, step: int, stream: int = 0) -> np.random.Generator:
    """The generator for one step (and one stream: 0 = content batch, 1 = style batch)."""
    return np.random.default_rng([seed, step, stream])


def sample_batch(images: np.ndarray, batch_size: int, seed: int, step: int, augment: A.Compose,
                 stream: int = 0) -> torch.Tensor:
    """Batch of step `step`: indices and augmentation seeded by (seed, step, stream). N×3×S×S in [0,1]."""
    rng = step_rng(seed, step, stream)
    indices = rng.choice(len(images), size=batch_size, replace=len(images) < batch_size)
    augment.set_random_seed(int(rng.integers(0, 2**31 - 1)))
    crops = np.stack([augment(image=images[i])["image"] for i in indices])
    return uint8_to_tensor(crops)
