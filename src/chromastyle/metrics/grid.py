"""Sample grids: rows of images side by side with column titles, as one uint8 array (PNG-ready)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

TITLE_HEIGHT = 14


def image_grid(columns: list[np.ndarray], titles: list[str], pad: int = 2) -> np.ndarray:
    """columns: each N×H×W×3 uint8 (same N, H, W) -> one (title + N rows) × len(columns) grid."""
    if len(columns) != len(titles):
        raise ValueError(f"{len(columns)} columns but {len(titles)} titles")
    rows, height, width = columns[0].shape[:3]
    if any(c.shape[:3] != (rows, height, width) for c in columns):
        raise ValueError(f"all grid columns must share N×H×W, got {[c.shape for c in columns]}")
    cell_w, cell_h = width + pad, height + pad
    canvas = Image.new("RGB", (len(columns) * cell_w + pad, TITLE_HEIGHT + rows * cell_h + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for j, (column, title) in enumerate(zip(columns, titles)):
        draw.text((pad + j * cell_w + 2, 1), title[: max(4, width // 6)], fill="black")
        for i in range(rows):
            canvas.paste(Image.fromarray(column[i]), (pad + j * cell_w, TITLE_HEIGHT + pad + i * cell_h))
    return np.asarray(canvas)
