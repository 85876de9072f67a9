"""DVC stage `register`: new model version (alias challenger); the gate decides on champion."""

from flows._common import EXPECTED_ERRORS, ROOT, fail, run_stage  # noqa: I001  (sets offline env first)

import json

from prefect import flow, task

from chromastyle import registry
from chromastyle.config import Params
from chromastyle.data.prepare import data_version
from chromastyle.model.integrated import Chromastyle
from chromastyle.train.checkpoint import fingerprint

MODEL_DIR = ROOT / "models" / "chromastyle"
RUN_FILE = ROOT / "models" / "checkpoints" / "mlflow_run.json"
EVAL_FILE = ROOT / "metrics" / "eval.json"
OUT_FILE = ROOT / "models" / "registration.json"


def _dvc_raw_data_md5() -> str:
    """DVC's own hash of the ingested data (data/raw in dvc.lock), or "unknown" outside `dvc repro`."""
    import yaml

    lock = ROOT / "dvc.lock"
    if not lock.is_file():
        return "unknown"
    outs = yaml.safe_load(lock.read_text()).get("stages", {}).get("ingest", {}).get("outs", [])
    return next((out.get("md5", "unknown") for out in outs if out.get("path") == "data/raw"), "unknown")


@task(name="register-and-gate")
def register_version(params: Params, run_id: str, metrics: dict, tags: dict):
    return registry.register(MODEL_DIR, run_id, metrics, tags, params.register_)


@flow(name="register")
def register_flow(params: Params):
    try:
        run_id = json.loads(RUN_FILE.read_text())["run_id"]
        metrics = json.loads(EVAL_FILE.read_text())
        model_cfg = Chromastyle.load(MODEL_DIR).cfg
        data_hash = data_version(ROOT / "data" / "prepared")
    except EXPECTED_ERRORS as err:
        return fail(err)
    model, champion = metrics["model"], metrics.get("champion", {})
    external = metrics.get("external", {})
    tags = {
        **registry.provenance_tags(), "data_hash": data_hash, "dvc_data_md5": _dvc_raw_data_md5(),
        "params_hash": fingerprint(params.model_dump(mode="json", by_alias=True)),
        "loss_network": f"{model_cfg.loss_network} ({model_cfg.loss_network_source})",
        "colorizer_encoder": model_cfg.encoder, "chroma_gain": f"{model_cfg.chroma_gain:g}",
        "frechet_backbone": metrics["frechet_backbone"],
        "learned_backbone": metrics.get("learned_backbone", "none"),
        "training_device": registry.run_tag(run_id, "device"),
        **{f"eval.{k}": f"{v:.4f}" for k, v in model.items() if isinstance(v, float)},
        **{f"eval.champion.{k}": f"{v:.4f}" for k, v in champion.items() if isinstance(v, float)},
        **{f"eval.external.{system}.{k}": f"{v:.4f}" for system in ("model", "grayscale", "champion")
           for k, v in external.get(system, {}).items() if isinstance(v, float)},
    }
    result = register_version(params, run_id, metrics, tags)
    OUT_FILE.write_text(json.dumps(result.as_dict(), indent=2))
    return result.as_dict()


if __name__ == "__main__":
    run_stage(register_flow, "register")
