"""Atomic training checkpoints that `torch.load(weights_only=True)` can read (no pickled objects).

A checkpoint is valid for a run only if its fingerprint (training params + data hash) matches:
changing a param starts a fresh run instead of silently resuming someone else's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"


def fingerprint(*parts: object) -> str:
    """Stable hash of JSON-serialisable parts (params sections, data hashes)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_checkpoint(directory: Path, state: dict) -> Path:
    """Write to a temp file, fsync, then rename: a kill at any moment leaves the old or the new one."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / CHECKPOINT_NAME
    temporary = directory / f".{CHECKPOINT_NAME}.tmp"
    with temporary.open("wb") as stream:
        torch.save(state, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, target)
    return target


def load_checkpoint(directory: Path, expected_fingerprint: str) -> dict | None:
    """The last checkpoint if it belongs to this configuration, else None (with the reason logged)."""
    path = directory / CHECKPOINT_NAME
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a corrupt checkpoint must not block a fresh start
        log.warning("%s: unreadable checkpoint (%s); starting from scratch", path, err)
        return None
    if state.get("fingerprint") != expected_fingerprint:
        log.info("%s: checkpoint is from other params or data; starting from scratch", path)
        return None
    log.info("resuming from %s (phase %s, step %d)", path, state["phase"], state["step"])
    return state
