"""The whole DAG as one Prefect flow, for deployments: dvc pull -> dvc repro -> dvc push -> summary.

    prefect deploy --all          # prefect.yaml: deployment `retrain` on work pool `chromastyle`
    prefect worker start --pool chromastyle

Each DVC stage still runs its own flow (flows/<stage>.py) inside `dvc repro`; this flow adds what
a scheduled retraining needs around it: the data and models of the last run from the DVC remote
(so nothing already computed is recomputed), the new outputs pushed back, and a summary artifact
in Prefect (the new MLflow version, the gate's decision and why, the bento). Retries on the
network steps; a failing `dvc repro` fails the flow with DVC's own message.
"""

from flows._common import ROOT  # noqa: I001  (sets offline env first)

import json
import subprocess
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact


def _dvc(*args: str, cwd: Path) -> str:
    result = subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result.stdout


def has_default_remote(cwd: Path) -> bool:
    """Whether `dvc pull`/`dvc push` without -r have somewhere to go."""
    result = subprocess.run(["dvc", "remote", "default"], cwd=cwd, capture_output=True, text=True)
    return result.returncode == 0 and bool(result.stdout.strip())


@task(name="dvc-pull", retries=2, retry_delay_seconds=30)
def pull(cwd: Path) -> str:
    # --allow-missing: a new stage or param has no outputs in the remote yet; repro computes them.
    return _dvc("pull", "--allow-missing", cwd=cwd)


@task(name="dvc-repro")
def repro(cwd: Path, set_params: dict[str, str]) -> str:
    if set_params:  # an experiment: reviewable with `dvc exp show`, applied to the workspace after
        overrides = [arg for key, value in sorted(set_params.items()) for arg in ("-S", f"{key}={value}")]
        return _dvc("exp", "run", *overrides, cwd=cwd)
    return _dvc("repro", cwd=cwd)


@task(name="dvc-push", retries=2, retry_delay_seconds=30)
def push(cwd: Path) -> str:
    return _dvc("push", cwd=cwd)


def bento_record(cwd: Path) -> dict:
    """models/bento.json (the package stage's record), or {} before the first package."""
    path = cwd / "models" / "bento.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def summary_markdown(registration: dict, bento: dict, bento_before: dict) -> str:
    """The run's summary: the new version, the gate's decision, and whether this run built a new
    bento (its tag changed) or kept the one there was (the package stage builds only when the
    champion or the service code changed)."""
    built = bento.get("bento") != bento_before.get("bento")
    return "\n".join([
        f"# Retraining of `{registration['model_name']}`", "",
        f"- new MLflow version: **{registration['version']}**",
        f"- gate: **{'promoted to champion' if registration['promoted'] else 'kept the champion'}** — "
        f"{registration['reason']}",
        f"- bento: `{bento.get('bento', '?')}` ({'built now' if built else 'unchanged'})",
    ])


@task(name="summary")
def summarise(cwd: Path, bento_before: dict) -> dict:
    registration = json.loads((cwd / "models" / "registration.json").read_text())
    bento = bento_record(cwd)
    markdown = summary_markdown(registration, bento, bento_before)
    create_markdown_artifact(markdown=markdown, key="retrain-summary", description="the gate's decision")
    return {"registration": registration, "bento": bento}


@flow(name="retrain")
def retrain(project_dir: str = str(ROOT), set_params: dict[str, str] | None = None, use_remote: bool = True) -> dict:
    """dvc pull -> dvc repro (or `dvc exp run -S` with set_params) -> dvc push -> summary."""
    logger = get_run_logger()
    cwd = Path(project_dir)
    remote = use_remote and has_default_remote(cwd)
    if remote:
        pull(cwd)
    else:
        logger.info("no default DVC remote (or use_remote false): skipping pull and push")
    bento_before = bento_record(cwd)
    logger.info(repro(cwd, set_params or {}).strip()[-2000:])
    if remote:
        push(cwd)
    return summarise(cwd, bento_before)


if __name__ == "__main__":
    retrain()
