"""Colourfulness (Hasler & Süsstrunk 2003), the metric that tells a colourised photo from sepia.

No maintained library implements it; it is eight lines of arithmetic on the opponent channels.
"""

from __future__ import annotations

import numpy as np


def colourfulness(rgb: np.ndarray) -> float:
    """M = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²) of one H×W×3 RGB image on 0-255.

    rg = R - G and yb = ½(R + G) - B are signed; a gray image scores exactly 0.
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"colourfulness expects H×W×3 RGB, got shape {rgb.shape}")
    red, green, blue = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = np.sqrt(rg.std() ** 2 + yb.std() ** 2)
    offset = np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return float(spread + 0.3 * offset)


def colourfulness_category(value: float) -> str:
    """The paper's name for a colourfulness value: the nearest category attribute."""
    anchors = [(15.0, "slightly"), (33.0, "moderately"), (45.0, "averagely"), (59.0, "quite"),
               (82.0, "highly"), (109.0, "extremely")]
    if value < 7.5:
        return "not colourful"
    nearest = min(anchors, key=lambda anchor: abs(anchor[0] - value))
    return f"{nearest[1]} colourful"


def mean_colourfulness(images: np.ndarray) -> float:
    """Mean M over N×H×W×3 uint8 images."""
    return float(np.mean([colourfulness(image) for image in images]))
