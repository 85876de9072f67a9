"""DVC stage `package`: the champion into BentoML's model store, then `bentoml build`."""

from flows._common import BENTO_FILE, ROOT, fail, run_stage  # noqa: I001  (sets offline env first)

import hashlib
import json
import logging
import tempfile
from pathlib import Path

from prefect import flow, task

from chromastyle import registry
from chromastyle.config import Params
from chromastyle.service.packaging import build_bento, folder_fingerprint, import_model, source_fingerprint

log = logging.getLogger("chromastyle.package")


@task(name="import-champion")
def import_champion(params: Params, labels: dict) -> str:
    styles = params.data.styles if params.data.styles.is_absolute() else ROOT / params.data.styles
    limits = params.package.service_limits()
    with tempfile.TemporaryDirectory(prefix="chromastyle-champion-") as scratch:
        folder = registry.download_champion(params.register_.model_name, Path(scratch))
        content = folder_fingerprint(folder, styles) + json.dumps(limits, sort_keys=True)
        version = f"v{labels['mlflow_version']}-{hashlib.sha256(content.encode()).hexdigest()[:12]}"
        return import_model(folder, styles, params.package.bento_model_name, labels, limits, version)


@task(name="bentoml-build")
def build(labels: dict) -> tuple[str, bool]:
    return build_bento(ROOT / "bentofile.yaml", ROOT / "src", labels, model_tag=labels["model"])


@flow(name="package")
def package_flow(params: Params):
    champion = registry.champion_info(params.register_.model_name)
    if champion is None:
        return fail(LookupError(f"no '{registry.CHAMPION}' alias on registered model "
                                f"{params.register_.model_name!r}: run `dvc repro register` first"))
    labels = {"mlflow_model": params.register_.model_name, "mlflow_version": champion["version"],
              "mlflow_run_id": champion["run_id"]}
    model_tag = import_champion(params, labels)
    source = source_fingerprint(ROOT / "src", ROOT / "bentofile.yaml")
    bento_tag, built = build({**labels, "model": model_tag,
                              "source": hashlib.sha256(f"{source}{model_tag}".encode()).hexdigest()[:16]})
    # No run id and no "built" flag in the file: only what the inputs determine (dvc.lock reproduces).
    BENTO_FILE.write_text(json.dumps({"bento": bento_tag, "model": model_tag,
                                    **{k: v for k, v in labels.items() if k != "mlflow_run_id"}}, indent=2))
    log.info("package: %s bento %s for champion version %s", "built" if built else "kept", bento_tag,
             champion["version"])
    return bento_tag


if __name__ == "__main__":
    run_stage(package_flow, "package")
