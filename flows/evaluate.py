"""DVC stage `evaluate`: model vs grayscale input vs current champion, on the test split and on
external-test, whole photos at their own size; stylizer figures, the style sheet, and our stylizer
beside a real peer (chromastyle.metrics.style_peer)."""

import os

# Before flows._common, which makes OpenMP's idle threads sleep at once (OMP_WAIT_POLICY=PASSIVE, for
# training under load): this stage times our stylizer beside the peer, so its OpenMP threads spin
# briefly between ops as in the service, which sets no policy (libgomp's default spin; an explicit
# GOMP_SPINCOUNT overrides PASSIVE's 0). Under PASSIVE each of a stylisation's small parallel ops
# wakes sleeping threads: 26 against 19-21 ms a call, the peer (ONNX Runtime's own threads) unchanged.
os.environ.setdefault("GOMP_SPINCOUNT", "300000")

from flows._common import (  # noqa: I001,E402  (first: telemetry off, numerics pinned)
    EXPECTED_ERRORS, GRAYSCALE_BASELINE_FILE, METRICS_DIR, MODEL_DIR, PREPARED_DIR, RAW_DIR, REPORT_DIR,
    RUN_FILE, fail, project_path, run_stage,
)

import json
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from prefect import flow, task

from chromastyle import registry
from chromastyle.config import Params
from chromastyle.data.prepare import load_originals, load_split, square_crop
from chromastyle.data.styles import gallery_paths, load_gallery_crops
from chromastyle.imaging import decode_image
from chromastyle.metrics.evaluate import STYLE_SIDE, evaluate, load_photo_sets, style_sheet
from chromastyle.metrics.grid import label
from chromastyle.inference import colorize_photo
from chromastyle.metrics import style_peer
from chromastyle.metrics.report import evaluation_markdown, headline_metrics
from chromastyle.model.integrated import Chromastyle
from chromastyle.model.loss_network import random_network
from chromastyle.model.onnx_runtime import load_for_inference

log = logging.getLogger("chromastyle.evaluate")


@task(name="load-champion")
def load_champion(model_name: str) -> Chromastyle | None:
    champion = registry.load_champion(model_name)
    if champion is None:
        log.info("no champion registered yet: the champion baseline is skipped")
    return champion


@task(name="compute-metrics")
def compute(params: Params, model: Chromastyle, champion: Chromastyle | None):
    cfg = params.evaluate
    test, validation, external = load_photo_sets(RAW_DIR, PREPARED_DIR, project_path(cfg.external_test),
                                                 cfg.max_images)
    baseline = json.loads(GRAYSCALE_BASELINE_FILE.read_text()) if GRAYSCALE_BASELINE_FILE.is_file() else None
    if baseline is None:
        log.warning("%s is missing: the grayscale input is measured here (run `dvc repro`)", GRAYSCALE_BASELINE_FILE)
    crops, _ = load_split(PREPARED_DIR, "test")
    style_content = np.stack([square_crop(crop, STYLE_SIDE) for crop in crops[: cfg.style_images]])
    styles, style_names = load_gallery_crops(params.data.styles, STYLE_SIDE, cfg.styles or None)
    judge = random_network(params.loss_network.random_seed)
    fid_path = project_path(cfg.fid_inception_path) if cfg.fid_inception_path is not None else None
    return evaluate(model, test, style_content, styles, style_names, cfg.alphas, judge, champion, external,
                    cfg.grid_images, fid_inception_path=fid_path, limits=params.package,
                    validation=validation, baseline=baseline, hint_counts=cfg.hint_counts, hint_seed=cfg.hint_seed)


@task(name="style-sheet")
def make_style_sheet(params: Params, model: Chromastyle) -> np.ndarray:
    """One test photo (the largest) in every gallery style at style_sheet_side², α = 1."""
    side = params.evaluate.style_sheet_side
    photos, _ = load_originals(RAW_DIR, PREPARED_DIR, "test", limit=params.evaluate.max_images)
    photo = square_crop(max(photos, key=lambda p: min(p.shape[:2])), side)
    gallery = gallery_paths(params.data.styles)
    return style_sheet(model, photo, [decode_image(p) for p in gallery.values()], list(gallery))


@task(name="style-vs-peer")
def compare_with_peer(params: Params, model: Chromastyle) -> tuple[dict, np.ndarray | None]:
    """Our stylizer and the peer on the same test photos (colourised, at peer_side px) in the evaluation
    styles, judged by EfficientNet-Lite2: (summary, ours-vs-peer sheet); where the peer or the judge is
    not installed, ({"unavailable": why}, None): nothing is downloaded."""
    cfg = params.evaluate
    judge = style_peer.lite2_judge()
    engine = style_peer.peer_engine(params.train.threads)
    if judge is None or engine is None:
        missing = style_peer.JUDGE_PACKAGE if judge is None else style_peer.PEER_PACKAGE
        log.warning("style peer comparison skipped: %s is not installed (nothing is downloaded)", missing)
        return {"unavailable": f"{missing} is not installed"}, None
    photos, _ = load_originals(RAW_DIR, PREPARED_DIR, "test", limit=cfg.peer_photos)
    contents = [style_peer.at_side(colorize_photo(model, photo, params.package), cfg.peer_side) for photo in photos]
    gallery = {name: decode_image(path) for name, path in gallery_paths(params.data.styles).items()}
    # Ours as served (package.runtime: ONNX Runtime by default, as the service and the CLI run it), so its
    # latency beside the peer's is what a user waits for; eager torch stylises the same pixels ~1.5× slower.
    served = load_for_inference(MODEL_DIR, params.package.runtime, params.train.threads)
    stylizers = style_peer.systems(served, params.package, engine, cfg.peer_side)
    comparison = style_peer.compare(stylizers, judge, contents, gallery, list(cfg.styles), cfg.peer_pause_s)
    others = [name for name in gallery if name not in cfg.styles]
    sheet = style_peer.peer_sheet(comparison, stylizers, gallery, [*cfg.styles, *others][: cfg.peer_sheet_styles])
    return comparison.summary, sheet


@task(name="write-and-log")
def write_outputs(evaluation, sheet: np.ndarray, peer: tuple[dict, np.ndarray | None], run_id: str) -> None:
    METRICS_DIR.mkdir(exist_ok=True)
    REPORT_DIR.mkdir(exist_ok=True)
    peer_summary, peer_sheet = peer
    # Tracked files get the machine-independent figures; MLflow also gets the latencies of this machine.
    evaluation.metrics["style_peer"] = ({"unavailable": peer_summary["unavailable"]} if "unavailable" in peer_summary
                                        else style_peer.reproducible(peer_summary))
    (METRICS_DIR / "eval.json").write_text(json.dumps(headline_metrics(evaluation.metrics), indent=2))
    (REPORT_DIR / "evaluation.json").write_text(json.dumps(evaluation.metrics, indent=2))
    evaluation.per_image.to_csv(METRICS_DIR / "per_image.csv", index=False)
    files = {"grid": REPORT_DIR / "eval_grid.png", "external": REPORT_DIR / "external_sheet.jpg",
             "styles": REPORT_DIR / "style_sheet.jpg", "hints": REPORT_DIR / "hint_sheet.jpg"}
    hint_sheet = evaluation.hint_sheet if evaluation.hint_sheet is not None else label(
        np.full((48, 640, 3), 255, np.uint8), "this model takes no hints (train.hints: false)")
    Image.fromarray(hint_sheet).save(files["hints"], quality=90)
    Image.fromarray(evaluation.grid).save(files["grid"])
    Image.fromarray(evaluation.external_sheet).save(files["external"], quality=90)
    Image.fromarray(sheet).save(files["styles"], quality=90)
    (REPORT_DIR / "evaluation.md").write_text(evaluation_markdown(
        evaluation.metrics, files["grid"].name, files["external"].name, files["styles"].name,
        files["hints"].name if evaluation.hint_sheet is not None else None))
    registry.log_evaluation(run_id, evaluation.metrics, [*files.values(), REPORT_DIR / "evaluation.md",
                                                         REPORT_DIR / "evaluation.json", METRICS_DIR / "per_image.csv"])
    if peer_sheet is not None:
        registry.log_peer_comparison(run_id, peer_summary, peer_sheet)


@flow(name="evaluate")
def evaluate_flow(params: Params):
    try:
        model = Chromastyle.load(MODEL_DIR)
        run_id = json.loads(Path(RUN_FILE).read_text())["run_id"]
    except EXPECTED_ERRORS as err:
        return fail(err)
    # The thread count changes how reductions are split, so the figures need the training's count.
    torch.set_num_threads(params.train.threads)
    evaluation = compute(params, model, load_champion(params.register_.model_name))
    write_outputs(evaluation, make_style_sheet(params, model), compare_with_peer(params, model), run_id)
    return evaluation.metrics["model"]


if __name__ == "__main__":
    run_stage(evaluate_flow, "evaluate")
