"""Where the project's stores are: found from the project root, never from the current folder.

Every entry point (the CLI, the flows) resolves the MLflow store the same way, so running
`chromastyle colorize` from any folder finds the models `make run` registered, instead of silently
creating an empty `mlflow.db` wherever it happens to run.
"""

from __future__ import annotations

import os
from pathlib import Path

import chromastyle

MARKERS = ("dvc.yaml", "params.yaml")  # what makes a folder a chromastyle project root


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above `start` (default: the current folder) holding dvc.yaml and
    params.yaml; else the checkout this package is installed from (an editable install); else None."""
    for folder in [Path(start or Path.cwd()).resolve(), *Path(start or Path.cwd()).resolve().parents]:
        if all((folder / marker).is_file() for marker in MARKERS):
            return folder
    installed_from = Path(chromastyle.__file__).resolve().parents[2]
    if all((installed_from / marker).is_file() for marker in MARKERS):
        return installed_from
    return None


def tracking_uri(root: Path | None) -> str | None:
    """MLFLOW_TRACKING_URI when set, else the project's sqlite store (root/mlflow.db), else None."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{root / 'mlflow.db'}" if root is not None else None


def sqlite_path(uri: str | None) -> Path | None:
    """The file a `sqlite:///` URI names; None for any other store."""
    if uri is None or not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


def local_store_missing(uri: str | None) -> Path | None:
    """The sqlite file a `sqlite:///` URI names when it does not exist (opening it would create it)."""
    path = sqlite_path(uri)
    return None if path is None or path.is_file() else path
