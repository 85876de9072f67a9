"""Package stage: the champion into BentoML's model store, then `bentoml build` of the service."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import bentoml

log = logging.getLogger(__name__)


def import_model(model_dir: Path, styles_dir: Path, name: str, labels: dict[str, str],
                 limits: dict[str, int | float] | None = None) -> str:
    """Copy the model folder (+ style gallery) into the BentoML store; reuse an identical import.

    `limits` (package.* of params.yaml) travel as the model's metadata: the service reads them."""
    try:
        existing_models = bentoml.models.list(name)
    except bentoml.exceptions.NotFound:
        existing_models = []
    for existing in existing_models:
        if existing.info.labels == labels and existing.info.metadata == (limits or {}):
            log.info("BentoML model %s already holds this version", existing.tag)
            return str(existing.tag)
    with bentoml.models.create(name, labels=labels, metadata=limits or {}) as stored:
        shutil.copytree(model_dir, stored.path, dirs_exist_ok=True)
        shutil.copytree(styles_dir, Path(stored.path) / "styles", dirs_exist_ok=True)
    log.info("imported %s into the BentoML model store as %s", model_dir, stored.tag)
    return str(stored.tag)


def build_bento(bentofile: Path, build_ctx: Path, labels: dict[str, str]) -> str:
    """`bentoml build` through its Python API; returns the bento tag."""
    bento = bentoml.bentos.build_bentofile(str(bentofile), build_ctx=str(build_ctx), labels=labels)
    log.info("built bento %s", bento.tag)
    return str(bento.tag)
