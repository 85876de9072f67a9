"""Validate: a Great Expectations suite over a per-image table; quarantine, report, or stop.

Two kinds of expectation:
- per-image ("soft"): a file failing one is copied to the quarantine folder and listed with its
  reason; the run continues without it. Nothing is dropped silently.
- dataset ("hard"): too few usable photos, or so many bad ones that the folder is probably wrong.
  These stop the pipeline with a message naming the files.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from chromastyle.config import ValidateConfig
from chromastyle.imaging import ImageDecodeError, decode_image
from chromastyle.metrics.colourfulness import colourfulness

log = logging.getLogger(__name__)

# A photo is judged on a thumbnail: colourfulness and size do not need full resolution.
STATS_THUMBNAIL_SIDE = 256


class DataValidationError(RuntimeError):
    """A dataset-level expectation failed: the pipeline must not train on this data."""


@dataclass(frozen=True)
class ValidationOutcome:
    kept: pd.DataFrame  # per-image rows that passed every per-image expectation
    quarantined: pd.DataFrame  # failing rows with a `reasons` column
    hard_failures: list[str]  # messages of failed dataset-level expectations

    @property
    def success(self) -> bool:
        return not self.hard_failures


def image_stats(raw_dir: Path, manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per manifest file: decodability, mode, size, colourfulness, duplicate flag."""
    rows = []
    for record in manifest.to_dict("records"):
        row = dict(record, decodable=True, error="", width=0, height=0, colourfulness=0.0)
        try:
            rgb = decode_image(raw_dir / record["path"])
            row.update(height=rgb.shape[0], width=rgb.shape[1], colourfulness=_thumbnail_colourfulness(rgb))
        except ImageDecodeError as err:
            row.update(decodable=False, error=str(err).split(": ", 1)[-1])
        rows.append(row)
    table = pd.DataFrame(rows)
    table["mode"] = table["mode"].fillna("").astype(str)
    table["min_side"] = table[["width", "height"]].min(axis=1)
    table["max_side"] = table[["width", "height"]].max(axis=1)
    # The first file (in sorted order) of a set of identical files is the original.
    table["duplicate"] = table.duplicated(subset="sha256", keep="first")
    originals = table.drop_duplicates(subset="sha256", keep="first").set_index("sha256")["path"]
    table.loc[table["duplicate"], "error"] = "same content as " + table.loc[table["duplicate"], "sha256"].map(originals)
    return table


def _thumbnail_colourfulness(rgb: np.ndarray) -> float:
    step = max(1, max(rgb.shape[:2]) // STATS_THUMBNAIL_SIDE)
    return colourfulness(rgb[::step, ::step])


def _per_image_expectations(cfg: ValidateConfig) -> dict[str, tuple[object, str]]:
    """name -> (GX expectation, human reason used in the report)."""
    import great_expectations.expectations as gxe

    return {
        "decodable": (gxe.ExpectColumnValuesToBeInSet(column="decodable", value_set=[True]),
                      "not a decodable image"),
        "mode": (gxe.ExpectColumnValuesToBeInSet(column="mode", value_set=cfg.allowed_modes),
                 f"image mode not in {cfg.allowed_modes}"),
        "min_side": (gxe.ExpectColumnValuesToBeBetween(column="min_side", min_value=cfg.min_side),
                     f"shorter side below {cfg.min_side} px"),
        "max_side": (gxe.ExpectColumnValuesToBeBetween(column="max_side", max_value=cfg.max_side),
                     f"longer side above {cfg.max_side} px"),
        "size": (gxe.ExpectColumnValuesToBeBetween(column="size", min_value=cfg.min_file_bytes,
                                                   max_value=cfg.max_file_bytes),
                 f"file size outside [{cfg.min_file_bytes}, {cfg.max_file_bytes}] bytes"),
        "duplicate": (gxe.ExpectColumnValuesToBeInSet(column="duplicate", value_set=[False]),
                      "duplicate of another file (same sha256)"),
        "colourfulness": (gxe.ExpectColumnValuesToBeBetween(column="colourfulness",
                                                            min_value=cfg.min_colourfulness),
                          f"near grayscale (colourfulness below {cfg.min_colourfulness})"),
    }


def _dataset_expectations(cfg: ValidateConfig) -> list[object]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnMeanToBeBetween(column="quarantined", max_value=cfg.max_quarantined_fraction),
        gxe.ExpectColumnSumToBeBetween(column="kept", min_value=cfg.min_kept_images),
    ]


def _run_suite(table: pd.DataFrame, name: str, expectations: list[object]):
    """Run one GX suite over a DataFrame in an ephemeral context; return the validation result."""
    import great_expectations as gx
    from great_expectations.core.result_format import ResultFormat

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = gx.data_context.types.base.ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas(f"{name}_source")
             .add_dataframe_asset(f"{name}_table")
             .add_batch_definition_whole_dataframe(f"{name}_batch"))
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=list(expectations)))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{name}_validation", data=batch, suite=suite))
    return definition.run(batch_parameters={"dataframe": table}, result_format=ResultFormat.COMPLETE)


def validate_table(table: pd.DataFrame, cfg: ValidateConfig) -> ValidationOutcome:
    """Apply the per-image suite, then the dataset suite, to an image_stats() table."""
    per_image = _per_image_expectations(cfg)
    result = _run_suite(table.reset_index(drop=True), "per_image", [e for e, _ in per_image.values()])
    reasons: dict[int, list[str]] = {}
    for (_, reason), outcome in zip(per_image.values(), result.results):
        for index in outcome.result.get("unexpected_index_list") or []:
            reasons.setdefault(int(index), []).append(reason)
    table = table.reset_index(drop=True).copy()
    undecodable_reason = per_image["decodable"][1]
    # An undecodable file fails every other check too; its one real reason is enough.
    table["reasons"] = [undecodable_reason if undecodable_reason in reasons.get(i, []) else "; ".join(reasons.get(i, []))
                        for i in range(len(table))]
    table["quarantined"] = table["reasons"] != ""
    table["kept"] = ~table["quarantined"]
    dataset = _run_suite(table[["quarantined", "kept"]].astype(float), "dataset", _dataset_expectations(cfg))
    kept = table[table["kept"]].drop(columns=["reasons", "quarantined", "kept"])
    quarantined = table[table["quarantined"]].drop(columns=["quarantined", "kept"])
    hard = _hard_failure_messages(dataset, cfg, table, quarantined)
    return ValidationOutcome(kept=kept, quarantined=quarantined, hard_failures=hard)


def _hard_failure_messages(dataset, cfg: ValidateConfig, table: pd.DataFrame, quarantined: pd.DataFrame):
    names = ", ".join(quarantined["path"].tolist()[:20]) or "none"
    messages = []
    fraction_check, count_check = dataset.results
    if not fraction_check.success:
        messages.append(f"{len(quarantined)} of {len(table)} files failed validation (more than "
                        f"{cfg.max_quarantined_fraction:.0%}): {names}")
    if not count_check.success:
        messages.append(f"only {int(table['kept'].sum())} usable photos, need at least {cfg.min_kept_images} "
                        f"(quarantined: {names})")
    return messages


QUARANTINE_NOTE = ("Files of the data source that failed validation are copied here, untouched; "
                   "reports/validation.md says why each one failed.\n")


def write_report(outcome: ValidationOutcome, raw_dir: Path, quarantine_dir: Path, report_dir: Path) -> dict:
    """Copy quarantined files aside, write validation.md/.json; return the summary counts."""
    if quarantine_dir.exists():
        shutil.rmtree(quarantine_dir)
    quarantine_dir.mkdir(parents=True)
    # Never an empty folder (DVC warns about empty outputs): a note says what lands here.
    (quarantine_dir / "README.txt").write_text(QUARANTINE_NOTE)
    for path in outcome.quarantined["path"]:
        target = quarantine_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(raw_dir / path, target)
    summary = {
        "files_in": len(outcome.kept) + len(outcome.quarantined),
        "kept": len(outcome.kept),
        "quarantined": len(outcome.quarantined),
        "success": outcome.success,
        "hard_failures": outcome.hard_failures,
    }
    report_dir.mkdir(parents=True, exist_ok=True)
    details = outcome.quarantined[["path", "reasons", "error"]].to_dict("records")
    (report_dir / "validation.json").write_text(json.dumps({**summary, "quarantined_files": details}, indent=2))
    (report_dir / "validation.md").write_text(
        _markdown_report(summary, details, _relative(quarantine_dir, report_dir.parent)))
    return summary


def _markdown_report(summary: dict, details: list[dict], quarantine_dir: str) -> str:
    lines = [
        "# Data validation report", "",
        f"- files in: **{summary['files_in']}**",
        f"- kept: **{summary['kept']}**",
        f"- quarantined: **{summary['quarantined']}** (copies in `{quarantine_dir}`)",
        f"- result: **{'passed' if summary['success'] else 'FAILED'}**", "",
    ]
    if summary["hard_failures"]:
        lines += ["## Dataset-level failures (pipeline stopped)", ""]
        lines += [f"- {message}" for message in summary["hard_failures"]] + [""]
    if details:
        lines += ["## Quarantined files", "", "| file | reason | decoder said |", "|---|---|---|"]
        lines += [f"| `{d['path']}` | {d['reasons']} | {d['error'] or ''} |" for d in details]
    return "\n".join(lines) + "\n"


def _relative(path: Path, root: Path) -> str:
    """`path` relative to the project root when it is inside it: reports must not depend on where
    the project is checked out (they are committed, and dvc.lock hashes them)."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)
