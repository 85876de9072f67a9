"""Telemetry off and network-free defaults for every tool the project drives.

Called first by every entry point (flows, CLI, service, tests). Uses setdefault so that a user
who deliberately sets one of these keeps their choice.
"""

from __future__ import annotations

import os
import warnings

TELEMETRY_OFF = {
    "NO_ALBUMENTATIONS_UPDATE": "1",  # albumentations fetches a version check on import otherwise
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # one bar line per file floods logs and the CLI
    "DO_NOT_TRACK": "true",
    "DVC_NO_ANALYTICS": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # else "database is locked" tracebacks
    "BENTOML_DO_NOT_TRACK": "true",
    "HF_HUB_OFFLINE": "1",
    # The ephemeral Prefect server needs 10-20 s to start on 2 cores; the default 20 s is too tight.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "GIT_PYTHON_REFRESH": "quiet",
}


# Library notices a user of chromastyle cannot act on. Installed before the libraries are imported,
# since some of them warn at import time (MLflow about its own PythonModel subclasses).
QUIET_WARNINGS = (
    ".*Add type hints to the `predict` method",  # MLflow: our pyfunc declares an explicit tensor signature
    "Metric `Kernel Inception Distance` will save all extracted features",  # torchmetrics: our sets are small
    # MLflow registers its local-artifact dataset source twice (schemes `file` and `local`) and then
    # warns that a local path matches both: the two are the same class, the choice cannot be wrong.
    "The specified dataset source can be interpreted in multiple ways",
)


def disable_telemetry() -> None:
    """Set every tool's telemetry/update-check switch to off unless the user chose otherwise, and
    silence the library notices listed in QUIET_WARNINGS."""
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
