"""Ingest: copy one or several folders of photos into data/raw and write a manifest of what arrived.

Nothing is decoded or judged here (that is validation's job); every regular file is copied so
that a bad file reaches the validation report instead of vanishing. Credits and licence texts
(CREDITS.tsv, LICENSES/) travel along but are not photos. With several folders, each lands in
data/raw/<folder name>/ so that equal file names from different sources never collide.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

log = logging.getLogger(__name__)

SKIPPED_NAMES = {"CREDITS.tsv", "README.md", "README.txt", "Thumbs.db"}
SKIPPED_DIRS = {"LICENSES"}  # licence texts that come with a photo folder


class DataSourceError(FileNotFoundError):
    """The configured data folder does not exist or holds no files."""


@dataclass(frozen=True)
class ManifestRow:
    path: str  # relative to the raw folder
    sha256: str
    size: int  # bytes
    mode: str  # PIL mode from the header, "" when the header is unreadable


def sha256_of(path: Path) -> str:
    """Content hash: the identity of a photo for splitting and duplicate detection."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def header_mode(path: Path) -> str:
    """The image mode from the file header alone, or "" when it is not a readable image."""
    try:
        with Image.open(path) as image:
            return image.mode
    except Exception:  # noqa: BLE001 - any failure means "unreadable"; validation says which
        return ""


def list_source_files(source: Path) -> list[Path]:
    """Regular, non-hidden files of `source` (recursively), credits and readmes excluded."""
    if not source.is_dir():
        raise DataSourceError(
            f"{source}: data folder not found. Set data.source in params.yaml to a folder of photos "
            f"(and `dvc add` it), or restore data/sample with `git checkout data/sample`."
        )
    files = sorted(
        p for p in source.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(source).parts)
        and p.name not in SKIPPED_NAMES and not SKIPPED_DIRS.intersection(p.relative_to(source).parts[:-1])
    )
    if not files:
        raise DataSourceError(f"{source}: the data folder holds no files")
    return files


def raw_prefixes(sources: list[Path]) -> list[str]:
    """Where each source lands under data/raw: "" for a single folder, its name for several."""
    if len(sources) == 1:
        return [""]
    names = [Path(source).name for source in sources]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise DataSourceError(f"data.source: folders must have distinct names, {clashes} appear twice")
    return [f"{name}/" for name in names]


def ingest(sources: Path | list[Path], raw_dir: Path) -> pd.DataFrame:
    """Copy the source folder(s) into a fresh `raw_dir`, write raw_dir/manifest.csv, return the manifest."""
    sources = [Path(sources)] if isinstance(sources, (str, Path)) else [Path(s) for s in sources]
    listed = [(source, prefix, list_source_files(source)) for source, prefix in zip(sources, raw_prefixes(sources))]
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    raw_dir.mkdir(parents=True)
    rows = []
    for source, prefix, files in listed:
        for file in files:
            relative = prefix + file.relative_to(source).as_posix()
            target = raw_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target)
            rows.append(asdict(ManifestRow(relative, sha256_of(target), target.stat().st_size, header_mode(target))))
        _copy_credits(source, raw_dir / prefix)
    manifest = pd.DataFrame(rows, columns=[f for f in ManifestRow.__dataclass_fields__])
    manifest.to_csv(raw_dir / "manifest.csv", index=False)
    log.info("ingested %d files (%.1f MB) from %s into %s", len(manifest), manifest["size"].sum() / 1e6,
             ", ".join(map(str, sources)), raw_dir)
    return manifest


def _copy_credits(source: Path, target: Path) -> None:
    """CREDITS.tsv and LICENSES/ go with the photos (attribution and share-alike travel with them)."""
    target.mkdir(parents=True, exist_ok=True)
    if (source / "CREDITS.tsv").is_file():
        shutil.copy2(source / "CREDITS.tsv", target / "CREDITS.tsv")
    if (source / "LICENSES").is_dir():
        shutil.copytree(source / "LICENSES", target / "LICENSES", dirs_exist_ok=True)
