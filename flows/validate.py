"""DVC stage `validate`: Great Expectations suite over per-image stats; quarantine or stop."""

from flows._common import QUARANTINE_DIR, RAW_DIR, REPORT_DIR, ROOT, VALIDATED_DIR, fail, run_stage  # noqa: I001  (sets offline env first)

import json
import logging

import pandas as pd
from prefect import flow, task

from chromastyle.config import Params
from chromastyle.data.validation import DataValidationError, image_stats, validate_table, write_report

log = logging.getLogger("chromastyle.validate")


@task(name="per-image-stats")
def compute_stats(manifest: pd.DataFrame) -> pd.DataFrame:
    return image_stats(RAW_DIR, manifest)


@task(name="expectation-suites")
def run_suites(table: pd.DataFrame, params: Params):
    return validate_table(table, params.validate_)


@task(name="quarantine-and-report")
def report(outcome) -> dict:
    return write_report(outcome, RAW_DIR, QUARANTINE_DIR, REPORT_DIR)


@flow(name="validate")
def validate_flow(params: Params):
    manifest_path = RAW_DIR / "manifest.csv"
    if not manifest_path.is_file():
        return fail(FileNotFoundError(f"{manifest_path}: missing; run `dvc repro ingest` first"))
    outcome = run_suites(compute_stats(pd.read_csv(manifest_path, keep_default_na=False)), params)
    summary = report(outcome)
    log.info("validation: %d files in, %d kept, %d quarantined (report: reports/validation.md)",
             summary["files_in"], summary["kept"], summary["quarantined"])
    for row in outcome.quarantined.itertuples():
        log.warning("data/raw/%s: %s (quarantined, see reports/validation.md)", row.path, row.reasons)
    (ROOT / "metrics").mkdir(exist_ok=True)
    (ROOT / "metrics" / "validation.json").write_text(json.dumps(
        {k: summary[k] for k in ("files_in", "kept", "quarantined")}, indent=2))
    if not outcome.success:
        return fail(DataValidationError("; ".join(outcome.hard_failures) + " (see reports/validation.md)"))
    VALIDATED_DIR.mkdir(parents=True, exist_ok=True)
    outcome.kept.to_csv(VALIDATED_DIR / "manifest.csv", index=False)
    return summary


if __name__ == "__main__":
    run_stage(validate_flow, "validate")
