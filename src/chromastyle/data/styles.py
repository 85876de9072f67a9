"""The style gallery: paintings in a folder, addressed by file stem (e.g. `greatwave`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from chromastyle.data.prepare import square_crop
from chromastyle.imaging import IMAGE_SUFFIXES, decode_image


def gallery_paths(styles_dir: Path) -> dict[str, Path]:
    """name -> path of every image in the gallery folder, sorted by name."""
    if not Path(styles_dir).is_dir():
        raise FileNotFoundError(f"{styles_dir}: style gallery folder not found (data.styles in params.yaml)")
    paths = {p.stem: p for p in sorted(Path(styles_dir).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not paths:
        raise FileNotFoundError(f"{styles_dir}: the style gallery holds no images")
    return paths


def load_gallery_crops(styles_dir: Path, size: int, names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Square centre crops (N×size×size×3 uint8) of the named styles (all when names is None)."""
    paths = gallery_paths(styles_dir)
    names = list(paths) if names is None else names
    unknown = [n for n in names if n not in paths]
    if unknown:
        raise KeyError(f"unknown style(s) {unknown}; the gallery has: {', '.join(paths)}")
    return np.stack([square_crop(decode_image(paths[n]), size) for n in names]), names
