"""Package stage: the champion into BentoML's model store, then `bentoml build` of the service."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import bentoml

log = logging.getLogger(__name__)


def import_model(model_dir: Path, styles_dir: Path, name: str, labels: dict[str, str],
                 limits: dict[str, int | float] | None = None, version: str | None = None) -> str:
    """Copy the model folder (+ style gallery) into the BentoML store; reuse an identical import.

    `limits` (package.* of params.yaml) travel as the model's metadata: the service reads them.
    `version` names the import (e.g. the MLflow version and a content hash) instead of a random tag."""
    try:
        existing_models = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        existing_models = []
    for existing in existing_models:
        if existing.info.labels == labels and existing.info.metadata == (limits or {}):
            log.info("BentoML model %s already holds this version", existing.tag)
            return str(existing.tag)
    if version:
        try:  # the version is a content hash: the same weights, gallery and limits, imported by
            # another run or clone sharing this store (its labels name the first import's run)
            same = bentoml.models.get(f"{name}:{version}")
            log.info("BentoML model %s already holds these files (imported for %s)", same.tag,
                     same.info.labels.get("mlflow_run_id", "another run"))
            return str(same.tag)
        except bentoml.exceptions.NotFound:
            pass
    with bentoml.models.create(f"{name}:{version}" if version else name, labels=labels,
                               metadata=limits or {}) as stored:
        shutil.copytree(model_dir, stored.path, dirs_exist_ok=True)
        shutil.copytree(styles_dir, Path(stored.path) / "styles", dirs_exist_ok=True)
    log.info("imported %s into the BentoML model store as %s", model_dir, stored.tag)
    return str(stored.tag)


def folder_fingerprint(*folders: Path) -> str:
    """Hash of the files of some folders (names and bytes): a content-derived tag version."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def source_fingerprint(build_ctx: Path, bentofile: Path) -> str:
    """Hash of what a bento is built from (the bentofile and every file it includes from the
    package): a rebuild is needed when this or the champion changes, and only then."""
    digest = hashlib.sha256(bentofile.read_bytes())
    package = build_ctx / "chromastyle"
    for path in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(build_ctx)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def find_bento(name: str, labels: dict[str, str]) -> str | None:
    """The newest existing bento of `name` built with these labels (it may carry more: the
    bentofile's own), if any."""
    try:
        bentos = bentoml.bentos.list(name)
    except bentoml.exceptions.NotFound:
        return None
    matching = [b for b in bentos if all(b.info.labels.get(key) == value for key, value in labels.items())]
    return str(max(matching, key=lambda b: b.info.creation_time).tag) if matching else None


def build_bento(bentofile: Path, build_ctx: Path, labels: dict[str, str],
                model_tag: str | None = None) -> tuple[str, bool]:
    """`bentoml build` through its Python API, unless a bento with the same labels (champion +
    source fingerprint) exists: then that one is reused and `latest` does not move.
    `model_tag` is stored as the bento argument `model`: the service serves exactly that import.
    Returns (bento tag, whether it was built now)."""
    # A version derived from the champion and the source, not BentoML's random one: the same inputs
    # give the same tag on every machine (and the same models/bento.json, hence the same dvc.lock).
    version = f"v{labels.get('mlflow_version', '0')}-{labels.get('source', 'dev')[:12]}"
    existing = find_bento("chromastyle", labels)
    if existing is None:
        try:  # same version = same champion and source: e.g. an experiment that kept the champion
            existing = str(bentoml.bentos.get(f"chromastyle:{version}").tag)
        except bentoml.exceptions.NotFound:
            pass
    if existing is not None:
        log.info("bento %s already serves this champion with this code: nothing to build", existing)
        return existing, False
    bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(build_ctx), labels=labels, version=version,
                                           args={"model": model_tag} if model_tag else None)
    log.info("built bento %s", bento.tag)
    return str(bento.tag), True
