"""MLflow: the one module that imports it. Runs, metrics, images, the model registry and the gate.

Tracking URI: MLflow's own default (sqlite `mlflow.db` + `mlartifacts/` in the working directory,
i.e. the repo root under `dvc repro`), or MLFLOW_TRACKING_URI when set (tests, a shared server).
Registry: one registered model; every training adds a version with alias `challenger`; the gate
moves `champion` only when the new version beats the current champion on the same test split.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import Schema, TensorSpec

import chromastyle
from chromastyle.config import RegisterConfig

log = logging.getLogger(__name__)
# The pyfunc declares an explicit tensor signature; MLflow's type-hint inference is not needed.

EXPERIMENT = "chromastyle"
CHAMPION, CHALLENGER = "champion", "challenger"
PIP_REQUIREMENTS = [
    "torch==2.13.0", "efficientnet-lite-pytorch==0.1.0", "kornia==0.9.0", "safetensors==0.8.0", "numpy==2.4.6", "pillow==13.0.0",
    "pydantic==2.14.4", "PyYAML==6.0.4", "mlflow==3.17.2",
]


# -- runs -------------------------------------------------------------------------------------------
class MlflowTracker:
    """Trainer tracker that writes into an active MLflow run."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.client = MlflowClient()

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        mlflow.log_metrics(metrics, step=step, run_id=self.run_id)

    def log_image(self, image: np.ndarray, name: str) -> None:
        self.client.log_image(self.run_id, image, artifact_file=name)


EXPERIMENT_DESCRIPTION = (
    "Training runs of chromastyle (grayscale photo -> colour, optional AdaIN style transfer). One run per "
    "`dvc repro` / `dvc exp run` of the train stage; each run's model is a version of the registered model "
    "`chromastyle`, gated into the `champion` alias. Run names: stage, the params that differ from the "
    "committed params.yaml, short git commit.")


def ensure_experiment() -> str:
    """The project's experiment id, opened in MLflow's model-training view (not the GenAI one). Under
    MLflow's default local store its artifacts go to ./mlartifacts (where `mlflow server`/`mlflow ui`
    keep them), not the client's ./mlruns."""
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    if experiment is None:
        location = None if os.environ.get("MLFLOW_TRACKING_URI") else (Path.cwd() / "mlartifacts").as_uri()
        experiment_id = mlflow.create_experiment(EXPERIMENT, artifact_location=location)
        tags = {}
    else:
        experiment_id, tags = experiment.experiment_id, experiment.tags
    client = MlflowClient()
    for key, value in {"mlflow.experimentKind": "custom_model_development",
                       "mlflow.note.content": EXPERIMENT_DESCRIPTION}.items():
        if tags.get(key) != value:
            client.set_experiment_tag(experiment_id, key, value)
    return experiment_id


def start_or_resume_run(run_file: Path, fingerprint: str, run_name: str) -> str:
    """The MLflow run of this training: resumed when run_file records one with the same fingerprint."""
    experiment_id = ensure_experiment()
    mlflow.set_experiment(experiment_id=experiment_id)
    if run_file.is_file():
        previous = json.loads(run_file.read_text())
        if previous.get("fingerprint") == fingerprint:
            try:
                MlflowClient().get_run(previous["run_id"])
                return previous["run_id"]
            except MlflowException:
                log.info("recorded MLflow run %s is gone; starting a new one", previous["run_id"])
    run = MlflowClient().create_run(experiment_id, run_name=run_name)
    run_file.parent.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps({"run_id": run.info.run_id, "fingerprint": fingerprint}, indent=2))
    return run.info.run_id


def log_run_metadata(run_id: str, params: dict, tags: dict[str, str]) -> None:
    """Flattened params and provenance tags on the run (params are immutable: set once)."""
    client = MlflowClient()
    existing = client.get_run(run_id).data.params
    flat = {k: str(v)[:6000] for k, v in _flatten(params).items() if k not in existing}
    for key, value in flat.items():
        client.log_param(run_id, key, value)
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


# Sections of the evaluation that are not the test split's own figures keep their names; the test
# split's systems (model, grayscale, champion) are logged as `test.<system>.<figure>`, beside
# `validation.*` and `external.*`.
NOT_TEST_SPLIT = ("validation", "external", "style", "hints")


def log_evaluation(run_id: str, metrics: dict, artifacts: list[Path]) -> None:
    """The evaluation's figures (the peer comparison's rounded copy aside: log_peer_comparison logs it whole)."""
    named = {(k if k in NOT_TEST_SPLIT or not isinstance(v, dict) else f"test/{k}"): v for k, v in metrics.items()
             if k != "style_peer"}
    numeric = {k.replace("/", "."): v for k, v in _flatten(named).items() if isinstance(v, (int, float))}
    mlflow.log_metrics({k: float(v) for k, v in numeric.items()}, run_id=run_id)
    client = MlflowClient()
    for path in artifacts:
        client.log_artifact(run_id, str(path), artifact_path="evaluation")


def log_peer_comparison(run_id: str, summary: dict, sheet: np.ndarray) -> None:
    """The style comparison with the peer at full precision, with this machine's latencies (never in a
    tracked file), and its sheet (ONNX Runtime's pixels differ by CPU kind: an artifact, not a DVC output)."""
    numeric = {f"style_peer.{k}".replace("/", "."): float(v) for k, v in _flatten(summary).items()
               if isinstance(v, (int, float))}
    mlflow.log_metrics(numeric, run_id=run_id)
    MlflowClient().log_image(run_id, sheet, artifact_file="evaluation/style_peer_sheet.jpg")


def log_table(run_id: str, rows: list[dict], artifact_file: str) -> None:
    """A small table (list of rows) as a JSON artifact of the run."""
    MlflowClient().log_dict(run_id, {"rows": rows}, artifact_file)


def run_tag(run_id: str, key: str) -> str:
    return MlflowClient().get_run(run_id).data.tags.get(key, "unknown")


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def provenance_tags(source_name: str) -> dict[str, str]:
    """MLflow's own source tags (the UI's Source column and run page show them) for the code that
    produced a run, plus whether the working tree had uncommitted changes."""
    tags = {"mlflow.source.type": "LOCAL", "mlflow.source.name": source_name,
            "mlflow.source.git.commit": git("rev-parse", "HEAD") or "unknown",
            # Code or params that differ from the commit: the pipeline's own outputs (the lock,
            # metrics, reports), which `dvc repro` rewrites as it goes, do not count.
            "git_dirty": str(bool(git("status", "--porcelain", "-uno", "--", ".", ":(exclude)dvc.lock",
                                      ":(exclude)metrics", ":(exclude)reports")))}
    branch = git("rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch != "HEAD":
        tags["mlflow.source.git.branch"] = branch
    remote = git("remote", "get-url", "origin")
    if remote:
        tags["mlflow.source.git.repoURL"] = remote
    return tags


def describe_run(run_id: str, markdown: str) -> None:
    """The run's description (shown at the top of its page in the UI)."""
    MlflowClient().set_tag(run_id, "mlflow.note.content", markdown)


def log_dataset(run_id: str, table, source: str, name: str, digest: str, context: str) -> None:
    """Record a dataset the run used (its listing as a table, where it lives, its DVC hash as digest):
    the UI's Datasets column then says which data version trained or judged the model."""
    from mlflow.entities import DatasetInput, InputTag

    dataset = mlflow.data.from_pandas(table, source=source, name=name, digest=digest)
    existing = {d.dataset.digest for d in MlflowClient().get_run(run_id).inputs.dataset_inputs}
    if dataset.digest not in existing:
        MlflowClient().log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(),
                                                        [InputTag("mlflow.data.context", context)])])


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


# -- the pyfunc flavour ---------------------------------------------------------------------------
class ChromastylePyfunc(mlflow.pyfunc.PythonModel):
    """`mlflow.pyfunc.load_model(...).predict(rgb)`: N×H×W×3 (or H×W×3) uint8 -> colourised uint8.

    Logged as code (MLflow's "models from code": this file is the model's code, the weights are an
    artifact), so loading it unpickles nothing. The explicit tensor SIGNATURE is the contract, so
    MLflow's type-hint validation (and its warning about missing hints) is switched off."""

    _skip_type_hint_validation = True

    def load_context(self, context) -> None:
        from chromastyle.model.integrated import Chromastyle

        self.model = Chromastyle.load(Path(context.artifacts["model_dir"]))

    def predict(self, context, model_input, params=None):
        import torch

        from chromastyle.colour import rgb_to_l_ab, tensor_to_uint8, uint8_to_tensor

        images = np.asarray(model_input, dtype=np.uint8)
        with torch.no_grad():
            lightness, _ = rgb_to_l_ab(uint8_to_tensor(images))
            out = tensor_to_uint8(self.model.colorize(lightness))
        return out[0] if images.ndim == 3 else out


SIGNATURE = ModelSignature(inputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))]),
                           outputs=Schema([TensorSpec(np.dtype(np.uint8), (-1, -1, -1, 3))]))


# -- registry ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegistrationResult:
    name: str
    version: str
    promoted: bool
    reason: str
    run_id: str

    def as_dict(self) -> dict:
        return {"model_name": self.name, "version": int(self.version), "promoted": self.promoted,
                "reason": self.reason, "run_id": self.run_id}


GATE_METRICS = ("fid", "frechet_effnet_lite0", "frechet_offline")  # in order of preference


def gate_metric(model: dict, champion: dict) -> str:
    """The Fréchet distance both systems have, best first: FID (only with the user's Inception weights),
    then the learned EfficientNet-Lite0 one, then the weight-free offline one."""
    return next(name for name in GATE_METRICS if name in model and name in champion)


def decide_promotion(metrics: dict, cfg: RegisterConfig) -> tuple[bool, str]:
    """The gate, on figures measured in one evaluation on the same test split and feature backbone.

    Promote when there is no champion, or when the challenger's Fréchet distance (FID when available,
    else the learned EfficientNet-Lite0 one) beats the champion's by more than frechet_margin (run-to-run
    noise must not swap the champion) while its ΔCF (colourfulness gap to the ground truth) improves by at least min_delta_cf_gain
    (a negative value allows that much loss). Returns (promote, reason for the tag).
    """
    model = metrics["model"]
    champion = metrics.get("champion")
    if champion is None:
        return True, "first version: there is no champion to compare with, so it becomes the champion"
    name = gate_metric(model, champion)
    fd_new, fd_old = model[name], champion[name]
    gain = champion["delta_cf"] - model["delta_cf"]
    needed = fd_old * (1.0 - cfg.frechet_margin)
    fd_ok = fd_new <= needed + 1e-12
    cf_ok = gain >= cfg.min_delta_cf_gain
    summary = (f"{name} {fd_new:.4f} vs champion {fd_old:.4f} (needs ≤ {needed:.4f}, {cfg.frechet_margin:.0%} better); "
               f"ΔCF {model['delta_cf']:.2f} vs {champion['delta_cf']:.2f} (gain {gain:+.2f}, "
               f"need ≥ {cfg.min_delta_cf_gain:g})")
    if fd_ok and cf_ok:
        return True, f"beats champion: {summary}"
    return False, f"kept champion: {summary}"


def promotion_scope(promote: bool | str, experiment: str | None, changed: list[str]) -> tuple[bool, str]:
    """May this run move `champion` at all (before the gate)? register.promote `baseline`: only a run
    of the committed params.yaml, not a DVC experiment (`experiment`, DVC_EXP_NAME) or edited params
    (`changed`): trying an idea must never change what production serves. True: any run; False: none.
    Returns (allowed, what kind of run this is, for the reason)."""
    kind = (f"DVC experiment {experiment!r}" if experiment else
            f"edited params ({', '.join(changed[:3])}{', …' if len(changed) > 3 else ''})" if changed else
            "the committed baseline")
    if promote is True:
        return True, f"{kind}, register.promote: true"
    if promote is False:
        return False, f"{kind}, register.promote: false"
    return not experiment and not changed, kind


MODEL_DESCRIPTION = (
    "chromastyle: colourises grayscale photos (U-Net colouriser on Lab lightness, trained as a "
    "conditional GAN) and optionally repaints them in a painting's style (AdaIN stylizer). Every "
    "training registers a version (alias `challenger`); the promotion gate moves `champion` only when "
    "the new version beats the current champion on the same test photos by more than run-to-run noise, "
    "and only for a run of the committed baseline (experiments stay challengers; register.promote). "
    "Each version's description "
    "says what it is, its headline figures and the gate's decision with its reason.")


def external_summary(external: dict) -> str:
    """One line of the external-test figures (photos from sources used nowhere else)."""
    model, gray = external.get("model", {}), external.get("grayscale", {})
    parts = [f"PSNR {model.get('psnr', float('nan')):.2f} dB (grayscale input {gray.get('psnr', float('nan')):.2f})",
             f"ΔCF {model.get('delta_cf', float('nan')):.1f}"]
    if "frechet_effnet_lite0" in model:
        parts.append(f"Fréchet (EfficientNet-Lite0) {model['frechet_effnet_lite0']:.2f}")
    if "semantic_agreement" in model:
        parts.append(f"semantic agreement {model['semantic_agreement']:.0%}")
    return " · ".join(parts) + f" on {external.get('images', '?')} photos"


def _count(number: str, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == "1" else "s")


def hints_summary(hints: dict) -> str:
    """One line of what user hints buy on each photo set: PSNR gain over the same model's automatic output."""
    parts = []
    for name, table in hints.items():
        gains = ", ".join(f"{_count(row.removeprefix('hints'), 'hint')} {figures['psnr_gain']:+.2f} dB" if row.startswith("hints")
                          else f"own palette {figures['psnr_gain']:+.2f} dB"
                          for row, figures in table.items() if "psnr_gain" in figures)
        parts.append(f"{name}: {gains}")
    return "; ".join(parts)


def version_description(metrics: dict, tags: dict[str, str], model_cfg):
    """A describe(version, promoted, reason) for `register`: what the version is, its headline figures,
    the gate's decision and why, and its provenance, in one paragraph at the top of its page."""
    def describe(version: str, promoted: bool, reason: str) -> str:
        model, gray = metrics["model"], metrics.get("grayscale", {})
        figures = f"PSNR {model.get('psnr', float('nan')):.2f} dB"
        if "psnr" in gray:
            figures += f" (the grayscale input: {gray['psnr']:.2f})"
        figures += f", ΔCF {model['delta_cf']:.2f}, Fréchet (offline) {model['frechet_offline']:.4f}"
        if "frechet_effnet_lite0" in model:
            figures += f", Fréchet (EfficientNet-Lite0) {model['frechet_effnet_lite0']:.2f}"
        decision = "**Champion**" if promoted else "**Rejected** by the gate (challenger only)"
        external = f"\n\nExternal test: {external_summary(metrics['external'])}." if "external" in metrics else ""
        if "champion" in metrics.get("external", {}):
            champion = metrics["external"]["champion"]
            external += (f" The current champion on the same photos: PSNR {champion.get('psnr', float('nan')):.2f} dB, "
                         f"ΔCF {champion.get('delta_cf', float('nan')):.1f}, Fréchet (EfficientNet-Lite0) "
                         f"{champion.get('frechet_effnet_lite0', float('nan')):.2f}.")
        if metrics.get("hints"):
            external += f"\n\nColour hints (PSNR over the automatic output): {hints_summary(metrics['hints'])}."
        return (f"{decision}: {reason}.\n\n"
                f"Version {version}: colouriser `{getattr(model_cfg, 'encoder', 'scratch')}` + AdaIN stylizer "
                f"(loss network {model_cfg.loss_network}); test split: {figures} on "
                f"{metrics.get('test_images', '?')} photos at their own size.{external}\n\n"
                f"Code {tags.get('git_commit', 'unknown')[:10]} · data {tags.get('data_version', 'unknown')} (DVC) · "
                f"params {tags.get('params_hash', 'unknown')}")
    return describe


def register(model_dir: Path, run_id: str, metrics: dict, tags: dict[str, str], cfg: RegisterConfig,
             describe=None, scope: tuple[bool, str] = (True, "the committed baseline")) -> RegistrationResult:
    """Log the model to its run, register a version (once per run), set aliases, the gate's tags and
    the version's description (`describe(version, promoted, reason)` -> markdown). `scope`
    (promotion_scope) says whether this run may move `champion` at all, and what kind of run it is."""
    client = MlflowClient()
    name = cfg.model_name
    version = _version_of_run(client, name, run_id)
    if version is None:
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=__file__, artifacts={"model_dir": str(model_dir)},
                code_paths=[str(Path(chromastyle.__file__).parent)], pip_requirements=PIP_REQUIREMENTS,
                signature=SIGNATURE, input_example=np.zeros((1, 32, 32, 3), np.uint8),
                registered_model_name=name)
        version = str(info.registered_model_version)
    promote, reason = decide_promotion(metrics, cfg)
    allowed, kind = scope
    if promote and not allowed:
        promote, reason = False, f"challenger only ({kind} may not move champion; see register.promote): gate {reason}"
    else:
        reason = f"{reason} [{kind}]"
    champion = _alias_version(client, name, CHAMPION)
    if champion == version:  # an idempotent re-run of a version that already won
        promote, reason = True, client.get_model_version(name, version).tags.get("promotion_reason", reason)
    all_tags = {**tags, "validation_status": "promoted" if promote else "rejected", "promotion_reason": reason}
    for key, value in all_tags.items():
        client.set_model_version_tag(name, version, key, str(value))
    client.set_registered_model_alias(name, CHALLENGER, version)
    if promote:
        client.set_registered_model_alias(name, CHAMPION, version)
    if describe is not None:
        client.update_model_version(name, version, description=describe(version, promote, reason))
    if client.get_registered_model(name).description != MODEL_DESCRIPTION:
        client.update_registered_model(name, description=MODEL_DESCRIPTION)
    log.info("registered %s version %s (%s): %s", name, version, "champion" if promote else "challenger", reason)
    return RegistrationResult(name, version, promote, reason, run_id)


def _version_of_run(client: MlflowClient, name: str, run_id: str) -> str | None:
    try:
        versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    except MlflowException:
        return None
    return str(max(int(v.version) for v in versions)) if versions else None


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def champion_info(name: str) -> dict | None:
    """{'version', 'run_id', 'tags'} of the current champion, or None."""
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return {"version": str(version.version), "run_id": version.run_id, "tags": dict(version.tags)}


def download_champion(name: str, target: Path) -> Path | None:
    """Download the champion into `target`; its model folder (model.safetensors + config.json),
    or None when there is no champion."""
    champion = champion_info(name)
    return None if champion is None else download_version(name, champion["version"], target)


def download_version(name: str, version: str, target: Path) -> Path:
    """Download one version into `target` (by number: the alias may move meanwhile); its model folder."""
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(target))
    return Path(local) / "artifacts" / Path(_model_dir_name(local))


def load_champion(name: str, runtime: str = "torch"):
    """The champion as a Chromastyle model (downloaded to a temporary folder, then removed), or None.
    runtime 'onnx' runs its networks on ONNX Runtime (the sessions hold the graphs in memory)."""
    from chromastyle.model.onnx_runtime import load_for_inference

    with tempfile.TemporaryDirectory(prefix="chromastyle-champion-") as scratch:
        folder = download_champion(name, Path(scratch))
        return None if folder is None else load_for_inference(folder, runtime)


def _model_dir_name(local: str) -> str:
    artifacts = Path(local) / "artifacts"
    folders = [p.name for p in artifacts.iterdir() if p.is_dir()]
    if len(folders) != 1:
        raise FileNotFoundError(f"{artifacts}: expected one model folder, found {folders}")
    return folders[0]


# Models from code: when MLflow loads a version, it runs this file and takes the model set here.
mlflow.models.set_model(ChromastylePyfunc())
