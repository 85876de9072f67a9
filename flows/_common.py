"""What every stage entry point shares: offline switches, logging, params, clean failures."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Callable

from chromastyle.offline import disable_telemetry

disable_telemetry()  # before Prefect, MLflow, albumentations or DVC are imported
# Before torch loads its OpenMP runtime: idle threads sleep instead of spinning. On a 2-core machine
# shared with other jobs (CI, a colleague's tests) spinning threads starve each other: a training
# step measured 2.3x slower with the default policy under such load, and no slower with this one alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The library logs through `logging` under "chromastyle"; Prefect shows those records (and sends
# them to its API, so they are in the flow run's logs) only for loggers named here.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "chromastyle")

from prefect.states import Failed  # noqa: E402

from chromastyle.config import ConfigError, Params, load_params  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("chromastyle")

# Errors a user can fix from the message alone: reported as one line, never as a traceback.
EXPECTED_ERRORS = (ConfigError, FileNotFoundError, ValueError, KeyError, RuntimeError)
NOISY_LOGGERS = ("great_expectations", "alembic", "urllib3", "git", "httpx", "mlflow.store", "matplotlib")


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("chromastyle").setLevel(logging.INFO)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def fail(err: Exception):
    """A Failed state with the error's own message (Prefect then logs no traceback)."""
    return Failed(message=f"{type(err).__name__}: {err}")


def run_stage(flow_fn: Callable, stage: str) -> None:
    """Load params, run the stage's flow, exit non-zero with one clear line on failure."""
    setup_logging()
    try:
        params: Params = load_params(ROOT / "params.yaml")
    except ConfigError as err:
        sys.exit(f"chromastyle {stage}: {err}")
    state = flow_fn(params, return_state=True)
    if state.is_failed():
        sys.exit(f"chromastyle {stage} failed: {state.message}")
