"""DVC stage `register`: new model version (alias challenger); the gate decides on champion."""

from flows._common import (  # noqa: I001  (first: telemetry off, numerics pinned)
    EVALUATION_FILE, EXPECTED_ERRORS, MODEL_DIR, REGISTRATION_FILE, RUN_FILE, changed_params, dvc_out_md5,
    fail, run_stage,
)

import json
import os

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from chromastyle import registry
from chromastyle.config import Params
from chromastyle.model.integrated import Chromastyle
from chromastyle.train.checkpoint import fingerprint



@task(name="register-and-gate", cache_policy=NO_CACHE)  # its inputs include a function
def register_version(params: Params, run_id: str, metrics: dict, tags: dict, describe, scope):
    return registry.register(MODEL_DIR, run_id, metrics, tags, params.register_, describe, scope)


@flow(name="register")
def register_flow(params: Params):
    try:
        run_id = json.loads(RUN_FILE.read_text())["run_id"]
        metrics = json.loads(EVALUATION_FILE.read_text())
        model_cfg = Chromastyle.load(MODEL_DIR).cfg
    except EXPECTED_ERRORS as err:
        return fail(err)
    # Few tags, the headline ones: the figures are the run's metrics, the story is the description.
    tags = {"git_commit": registry.git("rev-parse", "HEAD") or "unknown", "data_version": dvc_out_md5("ingest", "data/raw"),
            "params_hash": fingerprint(params.model_dump(mode="json", by_alias=True)),
            "loss_network": f"{model_cfg.loss_network} ({model_cfg.loss_network_source})",
            "colorizer_encoder": f"{model_cfg.encoder} (chroma gain {model_cfg.chroma_gain:g})"}
    if "external" in metrics:
        tags["external_test"] = registry.external_summary(metrics["external"])
    scope = registry.promotion_scope(params.register_.promote, os.environ.get("DVC_EXP_NAME"), changed_params(params))
    result = register_version(params, run_id, metrics, tags, registry.version_description(metrics, tags, model_cfg),
                              scope)
    # Deterministic content (no run id): a fresh clone's first run reproduces this file and dvc.lock.
    REGISTRATION_FILE.write_text(json.dumps({k: v for k, v in result.as_dict().items() if k != "run_id"}, indent=2))
    return result.as_dict()


if __name__ == "__main__":
    run_stage(register_flow, "register")
