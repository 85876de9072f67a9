"""DVC stage `evaluate`: model vs grayscale input vs current champion on the test split."""

from flows._common import EXPECTED_ERRORS, ROOT, fail, run_stage  # noqa: I001  (sets offline env first)

import json
import logging
from pathlib import Path

from PIL import Image
from prefect import flow, task

from chromastyle import registry
from chromastyle.config import Params
from chromastyle.data.prepare import load_split
from chromastyle.data.styles import load_gallery_crops
from chromastyle.metrics.evaluate import evaluate
from chromastyle.metrics.report import evaluation_markdown, headline_metrics
from chromastyle.model.integrated import Chromastyle

PREPARED_DIR = ROOT / "data" / "prepared"
MODEL_DIR = ROOT / "models" / "chromastyle"
RUN_FILE = ROOT / "models" / "checkpoints" / "mlflow_run.json"
METRICS_DIR = ROOT / "metrics"
REPORT_DIR = ROOT / "reports"
log = logging.getLogger("chromastyle.evaluate")


@task(name="load-champion")
def load_champion(model_name: str) -> Chromastyle | None:
    champion = registry.load_champion(model_name)
    if champion is None:
        log.info("no champion registered yet: the champion baseline is skipped")
    return champion


@task(name="compute-metrics")
def compute(params: Params, model: Chromastyle, champion: Chromastyle | None):
    truth, names = load_split(PREPARED_DIR, "test")
    cfg = params.evaluate
    styles, style_names = load_gallery_crops(params.data.styles, params.data.prepared_size, cfg.styles or None)
    return evaluate(model, truth[: cfg.max_images], names[: cfg.max_images], styles, style_names, cfg.alphas,
                    champion, cfg.grid_images)


@task(name="write-and-log")
def write_outputs(evaluation, run_id: str) -> None:
    METRICS_DIR.mkdir(exist_ok=True)
    REPORT_DIR.mkdir(exist_ok=True)
    (METRICS_DIR / "eval.json").write_text(json.dumps(headline_metrics(evaluation.metrics), indent=2))
    (REPORT_DIR / "evaluation.json").write_text(json.dumps(evaluation.metrics, indent=2))
    evaluation.per_image.to_csv(METRICS_DIR / "per_image.csv", index=False)
    Image.fromarray(evaluation.grid).save(REPORT_DIR / "eval_grid.png")
    (REPORT_DIR / "evaluation.md").write_text(evaluation_markdown(evaluation.metrics, "eval_grid.png"))
    registry.log_evaluation(run_id, evaluation.metrics, [REPORT_DIR / "eval_grid.png", REPORT_DIR / "evaluation.md",
                                                         REPORT_DIR / "evaluation.json", METRICS_DIR / "per_image.csv"])


@flow(name="evaluate")
def evaluate_flow(params: Params):
    try:
        model = Chromastyle.load(MODEL_DIR)
        run_id = json.loads(Path(RUN_FILE).read_text())["run_id"]
    except EXPECTED_ERRORS as err:
        return fail(err)
    evaluation = compute(params, model, load_champion(params.register_.model_name))
    write_outputs(evaluation, run_id)
    return evaluation.metrics["model"]


if __name__ == "__main__":
    run_stage(evaluate_flow, "evaluate")
