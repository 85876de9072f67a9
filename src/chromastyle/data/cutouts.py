"""Photographed objects pasted onto training crops (`augment.cutout_p`): object colours out of context.

Why: a colouriser learns colour from context as much as from the object — grass is green because it
is below a sky — and on photos from new sources the context misleads it (dunes painted like water,
foliage like soil). A cut-out of a real object (an RGBA photo stamp: fruit, a flower, a bird) pasted
at a random place, size and side onto a crop keeps its own colours in a context that does not
predict them, so only its shape and texture can.

Draws come from their own (seed, step) stream: a run without cut-outs draws nothing and trains
exactly as before; a resumed or distributed run pastes the same objects in the same places.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from chromastyle.imaging import IMAGE_SUFFIXES

MIN_OPAQUE_SHARE = 0.05  # a cut-out whose alpha covers less than this of its box is mostly hole: refused


def load_cutouts(folder: Path) -> list[np.ndarray]:
    """Every RGBA cut-out of `folder` (sorted by name), as H×W×4 uint8; a clear error for a missing
    folder, a file without transparency or one that is almost empty."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: cut-out folder not found (data.cutouts; augment.cutout_p > 0 needs it)")
    cutouts = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        with Image.open(path) as image:
            if "A" not in image.getbands() and image.mode != "P":
                raise ValueError(f"{path}: a cut-out needs an alpha channel (RGBA PNG), got mode {image.mode}")
            rgba = np.asarray(image.convert("RGBA"))
        if (rgba[..., 3] > 127).mean() < MIN_OPAQUE_SHARE:
            raise ValueError(f"{path}: less than {MIN_OPAQUE_SHARE:.0%} of the cut-out is opaque")
        cutouts.append(rgba)
    if not cutouts:
        raise ValueError(f"{folder}: no cut-out images")
    return cutouts


def paste_cutouts(batch: torch.Tensor, cutouts: list[np.ndarray], rng: np.random.Generator, p: float,
                  scale: tuple[float, float]) -> torch.Tensor:
    """batch N×3×S×S in [0, 1]; each crop, with probability p, gets one cut-out whose longer side is
    scale[0]..scale[1] of the crop's, mirrored half of the time, alpha-composited at a random place."""
    out = batch.clone()
    side = batch.shape[-1]
    for index in range(batch.shape[0]):
        if rng.random() >= p:
            continue
        rgba = cutouts[int(rng.integers(len(cutouts)))]
        longer = max(4, round(side * rng.uniform(*scale)))
        ratio = longer / max(rgba.shape[:2])
        height, width = max(1, round(rgba.shape[0] * ratio)), max(1, round(rgba.shape[1] * ratio))
        resized = np.array(Image.fromarray(rgba).resize((width, height), Image.Resampling.BILINEAR))  # writable
        if rng.random() < 0.5:
            resized = resized[:, ::-1]
        top, left = int(rng.integers(side - height + 1)), int(rng.integers(side - width + 1))
        patch = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1).float().div(255)
        alpha = patch[3:]
        region = out[index, :, top:top + height, left:left + width]
        out[index, :, top:top + height, left:left + width] = alpha * patch[:3] + (1 - alpha) * region
    return out
