"""DVC stage `train`: colouriser (frozen encoder, fine-tune, short GAN), chroma-gain calibration on the
validation split, stylizer (AdaIN decoder); one MLflow run, resumable."""

from flows._common import (  # noqa: I001  (first: telemetry off, numerics pinned)
    CHECKPOINT_DIR, EXPECTED_ERRORS, METRICS_DIR, MODEL_DIR, PREPARED_DIR, RAW_DIR, ROOT, RUN_FILE,
    dvc_out_md5, fail, run_name, run_stage, setup_logging,
)

import json
import os
import subprocess
import sys

import pandas as pd
from prefect import flow, task

from chromastyle import numerics, registry
from chromastyle.config import ConfigError, Params, load_params
from chromastyle.data.prepare import data_version
from chromastyle.model.onnx_runtime import export_onnx, parity
from chromastyle.train.checkpoint import fingerprint
from chromastyle.train.distributed import Distributed, from_environment, shutdown
from chromastyle.train.run import train, training_fingerprint
from chromastyle.train.trainer import PHASES, resolve_device



@task(name="train-model")
def train_model(params: Params, run_id: str, data_hash: str):
    return train(params, PREPARED_DIR, MODEL_DIR, CHECKPOINT_DIR, registry.MlflowTracker(run_id), data_hash, RAW_DIR,
                 DISTRIBUTED)


@flow(name="train")
def train_flow(params: Params):
    try:
        data_hash = data_version(PREPARED_DIR)
        device = resolve_device(params.train.device)
    except EXPECTED_ERRORS as err:
        return fail(err)
    run_fingerprint = training_fingerprint(params, data_hash)
    name = run_name("train", params, ("train.", "augment.", "loss_network.", "data."))
    run_id = registry.start_or_resume_run(RUN_FILE, run_fingerprint, run_name=name)
    data_md5 = dvc_out_md5("ingest", "data/raw")
    registry.log_run_metadata(run_id, params.model_dump(mode="json", by_alias=True), {
        **registry.provenance_tags("dvc repro: train (flows/train.py)"), "data_hash": data_hash,
        "dvc_data_md5": data_md5, "device": str(device), "numerics": numerics.describe(),
        "params_hash": fingerprint(params.model_dump(mode="json", by_alias=True)),
    })
    splits = pd.read_csv(PREPARED_DIR / "split.csv")
    sources = ", ".join(path.as_posix() for path in params.data.source)
    registry.log_dataset(run_id, splits[splits["split"] == "train"], sources, f"photos ({sources})",
                         data_md5.removesuffix(".dir")[:32], "training")
    result = train_model(params, run_id, data_hash)
    difference = export_for_runtimes(result.model)
    cfg = result.model.cfg
    registry.log_run_metadata(run_id, {}, {"loss_network": cfg.loss_network, "loss_network_source":
                                           cfg.loss_network_source, "colorizer_encoder": cfg.encoder,
                                           "chroma_gain": f"{cfg.chroma_gain:g}", "onnx_max_abs_diff": f"{difference:.2e}",
                                           **throughput_tags(result.summary)})
    registry.describe_run(run_id, run_description(params, result, data_md5))
    METRICS_DIR.mkdir(exist_ok=True)
    (METRICS_DIR / "train.json").write_text(json.dumps(final_losses(result.curve), indent=2))
    write_curves(result.curve, {"colorizer": params.train.colorizer_steps, "finetune": params.train.finetune_steps,
                                "adversarial": params.train.adversarial_steps, "stylizer": params.train.stylizer_steps})
    if result.calibration:
        registry.log_table(run_id, result.calibration, "calibration/chroma_gain.json")
    return run_id


@task(name="export-onnx")
def export_for_runtimes(model) -> float:
    """ONNX graphs beside the weights (models/chromastyle/onnx/), checked against eager PyTorch."""
    export_onnx(model, MODEL_DIR / "onnx")
    difference = parity(model, MODEL_DIR / "onnx")
    if difference > 1e-3:
        raise RuntimeError(f"the ONNX export differs from the PyTorch model by {difference:.2e} (> 1e-3)")
    return difference


def throughput_tags(summary: dict[str, float]) -> dict[str, str]:
    """Speed figures as tags (one number each; as metrics they would be single-point charts)."""
    return {f"speed.{key}": f"{value:.1f}" for key, value in summary.items()}


def run_description(params: Params, result, data_md5: str) -> str:
    losses = final_losses(result.curve, keys=None)
    lines = [f"Trains the colouriser ({params.train.colorizer_steps} steps at {params.train.image_size}², "
             f"batch {params.train.batch_size}, adversarial weight {params.train.adversarial_weight:g}) and "
             f"the stylizer ({params.train.stylizer_steps} steps) on `{', '.join(p.as_posix() for p in params.data.source)}` "
             f"(DVC data {data_md5}).", "",
             "| phase | final losses | images/s |", "|---|---|---|"]
    for phase, figures in losses.items():
        shown = ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
        lines.append(f"| {phase} | {shown} | {result.summary.get(f'{phase}_images_per_s', float('nan')):.1f} |")
    lines += ["", "Evaluation figures and the registry's decision follow in the model version's description."]
    return "\n".join(lines)


HEADLINE_LOSSES = ("g_l1", "style_loss", "reconstruction_l1")  # metrics/train.json; the rest are plots


def final_losses(curve: list[dict], keys: tuple[str, ...] | None = HEADLINE_LOSSES) -> dict[str, dict[str, float]]:
    """The last logged losses of each phase: numbers that depend only on code, data and params,
    so `dvc.lock` reproduces on another machine (speed figures go to MLflow, never here)."""
    last: dict[str, dict[str, float]] = {}
    for row in curve:
        last[PHASES[int(row["phase"])]] = {k: v for k, v in row.items()
                                           if k not in ("phase", "step") and (keys is None or k in keys)}
    return last


CURVES = {"colorizer": ("colorizer", "finetune", "adversarial"), "stylizer": ("stylizer",)}


# Every loss a part can log, so that each CSV has the same columns in every run: `dvc plots diff`
# drops a revision from a chart when one of its fields is missing (g_adv and d_loss of an L1-only run).
CURVE_COLUMNS = {"colorizer": ("g_l1", "g_adv", "d_loss", "g_feature", "g_loss"),
                 "stylizer": ("style_loss", "content_loss", "reconstruction_l1", "stylizer_loss")}


def write_curves(curve: list[dict], phase_steps: dict[str, int]) -> None:
    """metrics/<part>_curve.csv for `dvc plots`: one file per part (the colouriser's three phases,
    the stylizer). x = the part's own step (the colouriser's counted over its three phases, the
    stylizer's from 0), so runs with other phase lengths line up in `dvc plots diff`; losses a run
    did not log are empty cells, never missing columns."""
    frame = pd.DataFrame(curve)
    for part, phases in CURVES.items():
        indices = [PHASES.index(phase) for phase in phases if phase in PHASES]
        rows = frame[frame["phase"].isin(indices)] if len(frame) else pd.DataFrame(columns=["phase", "step"])
        offset = sum(phase_steps[p] for p in PHASES[:PHASES.index(phases[0])])
        table = pd.DataFrame({"step": rows["step"] - offset, "phase": [PHASES[int(i)] for i in rows["phase"]]})
        for column in CURVE_COLUMNS[part]:
            table[column] = rows[column] if column in rows else float("nan")
        table.to_csv(METRICS_DIR / f"{part}_curve.csv", index=False)


DISTRIBUTED = Distributed()  # set by launch() under torchrun


def launch() -> None:
    """`python -m flows.train`. With train.processes > 1 it re-launches itself under torchrun; under
    torchrun, rank 0 runs the Prefect flow (the MLflow run, checkpoints, outputs) and the other
    ranks train beside it, in lockstep, writing nothing."""
    global DISTRIBUTED
    setup_logging()
    try:
        params = load_params(ROOT / "params.yaml")
    except ConfigError as err:
        sys.exit(f"chromastyle train: {err}")
    if params.train.processes > 1 and "LOCAL_RANK" not in os.environ:
        sys.exit(subprocess.call([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                  f"--nproc_per_node={params.train.processes}", "-m", "flows.train"]))
    DISTRIBUTED = from_environment()
    try:
        if DISTRIBUTED.is_main:
            run_stage(train_flow, "train")
        else:
            train(params, PREPARED_DIR, MODEL_DIR, CHECKPOINT_DIR, None, data_version(PREPARED_DIR), RAW_DIR, DISTRIBUTED)
    finally:
        shutdown()


if __name__ == "__main__":
    launch()
