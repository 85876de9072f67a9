"""DVC stage `grayscale-baseline`: the grayscale input's figures on the test, validation and
external-test photos, the baseline every evaluation compares the model with. They depend on the
photos and the metrics' code alone, not on any model: DVC measures them once per data version and
skips the stage after every retrain (and on a fresh clone, whose dvc.lock already has them)."""

from flows._common import (  # noqa: I001  (first: telemetry off, numerics pinned)
    GRAYSCALE_BASELINE_FILE, PREPARED_DIR, RAW_DIR, fail, project_path, run_stage,
)

import json

import torch
from prefect import flow, task

from chromastyle.config import Params
from chromastyle.metrics.evaluate import grayscale_baseline, load_photo_sets


@task(name="measure-grayscale")
def measure(params: Params) -> dict:
    cfg = params.evaluate
    photo_sets = load_photo_sets(RAW_DIR, PREPARED_DIR, project_path(cfg.external_test), cfg.max_images)
    fid_path = project_path(cfg.fid_inception_path) if cfg.fid_inception_path is not None else None
    return grayscale_baseline(photo_sets, fid_inception_path=fid_path)


@flow(name="grayscale-baseline")
def grayscale_baseline_flow(params: Params):
    # The thread count changes how reductions are split: the evaluate stage's count, as in training.
    torch.set_num_threads(params.train.threads)
    try:
        baseline = measure(params)
    except (FileNotFoundError, ValueError) as err:
        return fail(err)
    GRAYSCALE_BASELINE_FILE.parent.mkdir(exist_ok=True)
    GRAYSCALE_BASELINE_FILE.write_text(json.dumps(baseline, indent=2))
    return {name: len(entry["images"]) for name, entry in baseline.items()}


if __name__ == "__main__":
    run_stage(grayscale_baseline_flow, "grayscale-baseline")
