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


def fit_cell(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Any H×W×3 uint8 image resized to fit height×width (aspect kept), centred on white."""
    scale = min(height / image.shape[0], width / image.shape[1])
    picture = Image.fromarray(image).resize((max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                                            Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(picture, ((width - picture.width) // 2, (height - picture.height) // 2))
    return np.asarray(canvas)


def label(image: np.ndarray, text: str) -> np.ndarray:
    """The image with `text` on a white strip in its top-left corner."""
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((0, 0, 6 * len(text) + 6, TITLE_HEIGHT), fill="white")
    draw.text((3, 1), text, fill="black")
    return np.asarray(picture)
