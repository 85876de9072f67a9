"""DVC stage `train`: colouriser (frozen encoder, fine-tune, short GAN), chroma-gain calibration on the
validation split, stylizer (AdaIN decoder); one MLflow run, resumable."""

from flows._common import EXPECTED_ERRORS, ROOT, fail, run_stage  # noqa: I001  (sets offline env first)

import json

from prefect import flow, task

from chromastyle import registry
from chromastyle.config import Params
from chromastyle.data.prepare import data_version
from chromastyle.train.checkpoint import fingerprint
from chromastyle.train.run import train, training_fingerprint
from chromastyle.train.trainer import resolve_device

RAW_DIR = ROOT / "data" / "raw"
PREPARED_DIR = ROOT / "data" / "prepared"
MODEL_DIR = ROOT / "models" / "chromastyle"
CHECKPOINT_DIR = ROOT / "models" / "checkpoints"
RUN_FILE = ROOT / "models" / "checkpoints" / "mlflow_run.json"
METRICS_DIR = ROOT / "metrics"


@task(name="train-model")
def train_model(params: Params, run_id: str, data_hash: str):
    return train(params, PREPARED_DIR, MODEL_DIR, CHECKPOINT_DIR, registry.MlflowTracker(run_id), data_hash, RAW_DIR)


@flow(name="train")
def train_flow(params: Params):
    try:
        data_hash = data_version(PREPARED_DIR)
        device = resolve_device(params.train.device)
    except EXPECTED_ERRORS as err:
        return fail(err)
    run_fingerprint = training_fingerprint(params, data_hash)
    run_id = registry.start_or_resume_run(RUN_FILE, run_fingerprint, run_name=f"train-{run_fingerprint[:8]}")
    registry.log_run_metadata(run_id, params.model_dump(mode="json", by_alias=True), {
        **registry.provenance_tags(), "data_hash": data_hash, "device": str(device),
        "params_hash": fingerprint(params.model_dump(mode="json", by_alias=True)),
    })
    result = train_model(params, run_id, data_hash)
    cfg = result.model.cfg
    registry.log_run_metadata(run_id, {}, {"loss_network": cfg.loss_network, "loss_network_source": cfg.loss_network_source,
                                           "colorizer_encoder": cfg.encoder, "chroma_gain": f"{cfg.chroma_gain:g}"})
    METRICS_DIR.mkdir(exist_ok=True)
    last = {k: v for k, v in result.curve[-1].items() if k not in ("phase", "step")} if result.curve else {}
    minutes = sum(v for k, v in result.summary.items() if k.endswith("_minutes"))
    (METRICS_DIR / "train.json").write_text(json.dumps({**result.summary, "training_minutes": minutes, **last},
                                                       indent=2))
    _write_curve(result.curve)
    if result.calibration:
        registry.log_table(run_id, result.calibration, "calibration/chroma_gain.json")
    return run_id


def _write_curve(curve: list[dict]) -> None:
    """metrics/train_curve.csv for `dvc plots`: one row per logged step, losses as columns."""
    import pandas as pd

    pd.DataFrame(curve).to_csv(METRICS_DIR / "train_curve.csv", index=False)


if __name__ == "__main__":
    run_stage(train_flow, "train")
