"""What every stage entry point shares: offline switches, logging, params, clean failures."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Callable

# A stage runs the code of the tree it sits in. Under `dvc exp run --queue` that tree is a temporary
# copy of the experiment's commit, while the editable install points at the workspace, which may have
# changed since the experiment was queued: the copy's own src/ goes first.
_OWN_SOURCE = Path(__file__).resolve().parent.parent / "src"
if (_OWN_SOURCE / "chromastyle").is_dir() and str(_OWN_SOURCE) not in sys.path[:1]:
    sys.path.insert(0, str(_OWN_SOURCE))

from chromastyle.offline import disable_telemetry  # noqa: E402

disable_telemetry()  # before Prefect, MLflow, albumentations or DVC are imported
# Before torch loads its OpenMP runtime: idle threads sleep instead of spinning. On a 2-core machine
# shared with other jobs (CI, a colleague's tests) spinning threads starve each other: a training
# step measured 2.3x slower with the default policy under such load, and no slower with this one alone.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The library logs through `logging` under "chromastyle"; Prefect shows those records (and sends
# them to its API, so they are in the flow run's logs) only for loggers named here.
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "chromastyle")

from chromastyle.config import ConfigError, Params, load_params  # noqa: E402
from chromastyle.numerics import NumericsError, pin_cpu_numerics  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The stages' inputs and outputs, for every flow (dvc.yaml names the same paths as deps and outs).
RAW_DIR = ROOT / "data" / "raw"
VALIDATED_DIR = ROOT / "data" / "validated"
QUARANTINE_DIR = ROOT / "data" / "quarantine"
PREPARED_DIR = ROOT / "data" / "prepared"
MODEL_DIR = ROOT / "models" / "chromastyle"
CHECKPOINT_DIR = ROOT / "models" / "checkpoints"  # no DVC output: a killed run resumes from it
RUN_FILE = CHECKPOINT_DIR / "mlflow_run.json"     # the MLflow run of the current training
REGISTRATION_FILE = ROOT / "models" / "registration.json"
BENTO_FILE = ROOT / "models" / "bento.json"
METRICS_DIR = ROOT / "metrics"
REPORT_DIR = ROOT / "reports"
EVALUATION_FILE = REPORT_DIR / "evaluation.json"
GRAYSCALE_BASELINE_FILE = METRICS_DIR / "grayscale_baseline.json"


def project_path(path: Path) -> Path:
    """A path of params.yaml: relative to the project's root."""
    return path if path.is_absolute() else ROOT / path


def _pin_numerics() -> None:
    """numerics.cpu_isa of params.yaml, before torch is imported by anything (Prefect included):
    every stage computes the same numbers on any x86-64 CPU with AVX2 (chromastyle.numerics).
    A broken params.yaml is reported by run_stage, with the stage's name; a flow imported into a
    process that already loaded torch (a test, a notebook) runs with that process's numerics."""
    try:
        pin_cpu_numerics(load_params(ROOT / "params.yaml").numerics.cpu_isa)
    except ConfigError:
        pass
    except NumericsError as err:
        logging.getLogger("chromastyle").warning("%s", err)


_pin_numerics()

from prefect.states import Failed  # noqa: E402
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


def dvc_out_md5(stage: str, path: str) -> str:
    """DVC's own hash of an output (dvc.lock), e.g. data/raw of ingest: the data version a run used."""
    import yaml

    lock = ROOT / "dvc.lock"
    if not lock.is_file():
        return "unknown"
    outs = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).get(stage, {}).get("outs", [])
    return next((out.get("md5", "unknown") for out in outs if out.get("path") == path), "unknown")


def changed_params(params: Params) -> list[str]:
    """`key=value` for every param that differs from the committed params.yaml (git HEAD): what
    makes this run (an experiment's `-S` overrides) different from the baseline. Both sides go
    through the same parsing, so `10` and `10.0`, or a folder and a one-folder list, are equal."""
    import subprocess

    import yaml

    from chromastyle.config import ConfigError, parse_params

    def flat(tree: dict, prefix: str = "") -> dict:
        items = {}
        for key, value in tree.items():
            items.update(flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
        return items

    try:
        committed = subprocess.run(["git", "show", "HEAD:params.yaml"], cwd=ROOT, capture_output=True, text=True,
                                   check=True).stdout
        baseline = flat(parse_params(yaml.safe_load(committed) or {}).model_dump(mode="json", by_alias=True))
    except (OSError, subprocess.CalledProcessError, yaml.YAMLError, ConfigError):
        return []
    now = flat(params.model_dump(mode="json", by_alias=True))
    return [f"{k}={v}" for k, v in now.items() if k in baseline and baseline[k] != v]


def run_name(stage: str, params: Params, sections: tuple[str, ...] = ()) -> str:
    """A readable MLflow run name: the stage, the params that differ (in `sections`), short commit."""
    import subprocess

    changed = [c for c in changed_params(params) if not sections or c.startswith(sections)]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "no-git"
    return " ".join([stage, *(changed[:4] or ["(params.yaml)"]), f"@{commit}"])
