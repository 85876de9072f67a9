"""Prepare: the validation split held out by source, a deterministic train/test split by content
hash, and fixed-size square crops.

Validation photos are whole sources (`data.validation_sources`: packages or folders) that training
never sees, because users' photos come from sources the model never saw: a split by hash alone puts
near-twins of training photos (same camera, same package, same subject) into validation and flatters
every choice made on it. The rest is split by each photo's own sha256, so adding or removing photos
never moves another photo between splits, and the test set stays comparable across data versions.
Photos are stored as uint8 RGB arrays (npz): augmentation works on RGB and the Lab conversion
happens on the batch (kornia, one vectorised call), which is cheaper than storing float Lab.
The square crops are for training; validation and evaluation see the photos as users do, whole
and at their own size: `load_originals` reads them from data/raw by the names in split.csv.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
from PIL import Image

from chromastyle.imaging import IMAGE_SUFFIXES, decode_image

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


def photo_source(path: str) -> str:
    """Where a photo comes from: its file name's prefix before `__` (the shared data's
    `<package>__<stem>.jpg` naming), else the folder it was ingested into (data/raw/<folder>/...)."""
    relative = PurePosixPath(path)
    if "__" in relative.name:
        return relative.name.split("__", 1)[0]
    return relative.parts[0] if len(relative.parts) > 1 else ""


def split_of(sha256: str, val_fraction: float, test_fraction: float, held_out: bool = False) -> str:
    """Map a photo to a split: a held-out source's photos are validation; the others by the first
    64 bits of their content hash as a uniform number in [0, 1)."""
    if held_out:
        return "val"
    position = int(sha256[:16], 16) / float(1 << 64)
    if position < test_fraction:
        return "test"
    if position < test_fraction + val_fraction:
        return "val"
    return "train"


def square_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize the short side to `size` (Lanczos, antialiased) and centre-crop to size×size."""
    height, width = rgb.shape[:2]
    scale = size / min(height, width)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.LANCZOS))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[top:top + size, left:left + size]


def held_out_mask(paths: pd.Series, validation_sources: list[str]) -> pd.Series:
    """Which photos come from a validation source; a named source with no photo is an error (a typo
    would silently put the whole validation split back into training)."""
    sources = paths.map(photo_source)
    missing = sorted(set(validation_sources) - set(sources))
    if missing:
        raise ValueError(f"data.validation_sources: no photo comes from {missing}; sources here: "
                         f"{sorted(set(sources))}")
    return sources.isin(validation_sources)


def prepare(raw_dir: Path, kept: pd.DataFrame, out_dir: Path, size: int, val_fraction: float,
            test_fraction: float, validation_sources: list[str] = ()) -> dict[str, int]:
    """Write out_dir/{train,val,test}.npz (images N×size×size×3 uint8, names, sha256) + split.csv."""
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = kept.sort_values("sha256")
    held_out = held_out_mask(kept["path"], list(validation_sources))
    kept = kept.assign(split=[split_of(h, val_fraction, test_fraction, o) for h, o in zip(kept["sha256"], held_out)])
    counts = {}
    for split in SPLITS:
        rows = kept[kept["split"] == split]
        images = np.stack([square_crop(decode_image(raw_dir / p), size) for p in rows["path"]]) \
            if len(rows) else np.zeros((0, size, size, 3), np.uint8)
        np.savez(out_dir / f"{split}.npz", images=images, names=rows["path"].to_numpy(str),
                 sha256=rows["sha256"].to_numpy(str))
        counts[split] = len(rows)
    kept[["path", "sha256", "split"]].to_csv(out_dir / "split.csv", index=False)
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=2))
    if counts["train"] == 0 or counts["test"] == 0:
        raise ValueError(f"split produced {counts}: need at least one training and one test photo; "
                         f"add photos or change data.split_test")
    log.info("prepared %s photos at %d² in %s", counts, size, out_dir)
    return counts


def data_version(prepared_dir: Path) -> str:
    """Content hash of the prepared data set: every photo's sha256 and its split."""
    split_csv = prepared_dir / "split.csv"
    if not split_csv.is_file():
        raise FileNotFoundError(f"{split_csv}: missing; run `dvc repro prepare` first")
    return hashlib.sha256(split_csv.read_bytes()).hexdigest()[:16]


def load_originals(raw_dir: Path, prepared_dir: Path, split: str, limit: int | None = None
                   ) -> tuple[list[np.ndarray], list[str]]:
    """The photos of one split, whole and at their own size (H×W×3 uint8 each), with their names."""
    split_csv = prepared_dir / "split.csv"
    if not split_csv.is_file():
        raise FileNotFoundError(f"{split_csv}: missing; run `dvc repro prepare` first")
    names = pd.read_csv(split_csv, keep_default_na=False).query("split == @split")["path"].tolist()[:limit]
    return [decode_image(raw_dir / name) for name in names], names


def load_photo_folder(folder: Path, limit: int | None = None) -> tuple[list[np.ndarray], list[str]]:
    """Every image file of a folder (sorted by name, credits and licences skipped), whole and at its own size."""
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"{folder}: photo folder not found")
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    return [decode_image(p) for p in paths], [p.name for p in paths]


def load_split(prepared_dir: Path, split: str) -> tuple[np.ndarray, list[str]]:
    """(images N×H×W×3 uint8, names) of one prepared split."""
    path = prepared_dir / f"{split}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; run `dvc repro prepare` first")
    with np.load(path) as archive:
        return archive["images"], archive["names"].tolist()
