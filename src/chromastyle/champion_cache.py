"""The registry's champion kept on local disk for the CLI: MLflow is asked only when the registry changed.

Asking MLflow which version is the champion, and downloading it, costs about 3 s per CLI call on
2 cores (importing mlflow and its SQL store, opening the database, copying the artifacts): more than
colourising a photo. For a local SQLite registry (what `make run` creates) every registry change —
a new version, a moved alias, a deleted model — writes the database file, so the file's identity,
size and modification time are a sound key: while they are unchanged, the champion downloaded last
time is still the champion. Any other registry (an MLflow server, PostgreSQL) is always asked.

Layout: <cache>/<digest of uri and model name>/champion.json names the key, the version and the model
folder beside it; folders are written under a temporary name and renamed, so a concurrent or killed
call never leaves a half-written model that a later call would load.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chromastyle.project import sqlite_path

MANIFEST = "champion.json"
STALE_AFTER_S = 3600  # a replaced champion's folder is removed only after this: another call may be loading it


def cache_root() -> Path:
    """$CHROMASTYLE_CACHE_DIR, else $XDG_CACHE_HOME/chromastyle, else ~/.cache/chromastyle."""
    if os.environ.get("CHROMASTYLE_CACHE_DIR"):
        return Path(os.environ["CHROMASTYLE_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "chromastyle"


def registry_key(uri: str) -> list[int] | None:
    """(device, inode, size, mtime ns) of a local SQLite registry; None for a registry that must be asked.
    Read before asking MLflow: a change made while it is being asked then shows as a new key next time."""
    path = sqlite_path(uri)
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns]


def _entry(uri: str, name: str) -> Path:
    return cache_root() / "champions" / hashlib.sha256(f"{uri}\n{name}".encode()).hexdigest()[:16]


def lookup(uri: str, name: str) -> tuple[Path, str] | None:
    """(model folder, version) of the champion cached for this registry and name, if the registry has
    not changed since; else None (ask MLflow)."""
    key = registry_key(uri)
    if key is None:
        return None
    try:
        manifest = json.loads((_entry(uri, name) / MANIFEST).read_text())
        folder = _entry(uri, name) / manifest["folder"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if manifest.get("key") != key or not (folder / "config.json").is_file():
        return None
    return folder, str(manifest["version"])


def store(uri: str, name: str, key: list[int] | None, version: str,
          download: Callable[[Path], Path]) -> Path:
    """Download the champion (download(target) -> model folder) into the cache and return its folder.
    Without a key (a registry that is always asked) it still downloads into the cache, and records nothing."""
    entry = _entry(uri, name)
    entry.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".download-", dir=entry))
    try:
        folder = download(scratch)
        final = entry / f"v{version}-{scratch.name.removeprefix('.download-')}"
        folder.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if key is not None:
        _write_manifest(entry, {"key": key, "version": version, "folder": final.name})
    _remove_others(entry, keep=final.name)
    return final


def _write_manifest(entry: Path, manifest: dict) -> None:
    handle, temporary = tempfile.mkstemp(prefix=".manifest-", dir=entry)
    with os.fdopen(handle, "w") as f:
        json.dump(manifest, f)
    os.replace(temporary, entry / MANIFEST)


def _remove_others(entry: Path, keep: str) -> None:
    """Folders of replaced champions (and of killed downloads) once no call can still be loading them."""
    for path in entry.iterdir():
        try:
            old = time.time() - path.stat().st_mtime > STALE_AFTER_S
        except OSError:
            continue
        if path.is_dir() and path.name != keep and old:
            shutil.rmtree(path, ignore_errors=True)
