"""End to end: the real `dvc repro` (seven Prefect flows) on a copy of the repo with tiny params.

Asserts on what users see: the registry (aliases, tags), the metrics files, the quarantine
report of a planted corrupt file, the bento, a no-op second repro, and which stages a param
change invalidates.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = 16

pytestmark = pytest.mark.slow


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="data/mini", prepared_size=48, split_test=0.25, split_val=0.1)
    params["validate"].update(min_kept_images=4, min_side=32)
    params["train"].update(image_size=32, batch_size=4, colorizer_steps=4, finetune_steps=2, adversarial_steps=2,
                           stylizer_steps=3, base_channels=8, checkpoint_every=2, sample_every=3, log_every=1,
                           work_side=32, style_work_side=32)
    params["evaluate"].update(styles=["greatwave", "kandinky"], grid_images=2, max_images=4, style_sheet_side=64)
    return params


def sh(cmd: list[str], cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory):
    """A git+DVC copy of the project with a mini photo folder (one corrupt file), after `dvc repro`."""
    repo = tmp_path_factory.mktemp("project")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.splitlines():
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    mini = repo / "data" / "mini"
    mini.mkdir()
    for photo in sorted((ROOT / "data" / "sample").glob("*.jpg"))[:: 112 // PHOTOS][:PHOTOS]:
        shutil.copy2(photo, mini / photo.name)
    (mini / "corrupt.jpg").write_bytes((mini / photo.name).read_bytes()[:900])
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_API"))}
    env.update(PATH=f"{Path(sys.executable).parent}:{env['PATH']}", BENTOML_HOME=str(repo / ".bentoml-home"),
               PREFECT_HOME=str(repo / ".prefect"), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    sh(["git", "init", "-q"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "copy"], repo, env)
    first = sh(["dvc", "repro"], repo, env)
    return repo, env, first


def test_quarantine_report_names_the_corrupt_file(pipeline_repo):
    repo, _, _ = pipeline_repo
    report = json.loads((repo / "reports" / "validation.json").read_text())
    assert report["files_in"] == PHOTOS + 1
    assert [f["path"] for f in report["quarantined_files"] if "decodable" in f["reasons"]] == ["corrupt.jpg"]
    assert (repo / "data" / "quarantine" / "corrupt.jpg").is_file()
    assert "corrupt.jpg" in (repo / "reports" / "validation.md").read_text()


def test_metrics_files_for_dvc(pipeline_repo):
    repo, env, _ = pipeline_repo
    metrics = json.loads((repo / "metrics" / "eval.json").read_text())
    figures = {"colourfulness", "delta_cf", "frechet_offline", "frechet_effnet_lite0", "kid_effnet_lite0",
               "semantic_agreement", "psnr", "ssim"}
    for system in ("model", "grayscale"):
        assert figures <= set(metrics[system]) and figures <= set(metrics["external"][system])
    assert metrics["grayscale"]["colourfulness"] < 1.0
    assert metrics["external"]["images"] == 4
    assert "judge_style_loss_drop_alpha1" in metrics["style"]
    report = (repo / "reports" / "evaluation.md").read_text()
    assert "external-test" in report and "external_sheet.jpg" in report and "style_sheet.jpg" in report
    assert (repo / "reports" / "style_sheet.jpg").is_file() and (repo / "reports" / "external_sheet.jpg").is_file()
    shown = sh(["dvc", "metrics", "show", "--json"], repo, env).stdout
    assert "frechet_offline" in shown and "colorizer_images_per_s" in shown
    assert (repo / "metrics" / "train_curve.csv").is_file()
    assert "train_curve" in sh(["dvc", "plots", "show", "--json"], repo, env).stdout
    sh(["dvc", "plots", "show", "-o", "plots_html"], repo, env)
    page = (repo / "plots_html" / "index.html").read_text()
    assert "vegaEmbed" in page and "train_curve" in page
    assert "<script src=" not in page, "the plots page must render offline (no CDN scripts)"


def test_registry_has_a_champion_with_provenance(pipeline_repo):
    repo, _, _ = pipeline_repo
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}", registry_uri=f"sqlite:///{repo / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("chromastyle", "champion")
    challenger = client.get_model_version_by_alias("chromastyle", "challenger")
    assert champion.version == challenger.version
    assert champion.tags["dvc_data_md5"].endswith(".dir")
    for tag in ("git_commit", "data_hash", "params_hash", "loss_network", "frechet_backbone", "training_device",
                "validation_status", "promotion_reason", "colorizer_encoder", "chroma_gain",
                "eval.frechet_effnet_lite0", "eval.external.model.psnr", "eval.external.grayscale.psnr"):
        assert champion.tags.get(tag), tag
    assert champion.tags["colorizer_encoder"] == "efficientnet-lite0"
    run = client.get_run(champion.run_id)
    assert "train/colorizer_steps" in run.data.params
    assert any(name.startswith("colorizer/") for name in run.data.metrics)
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "samples")]
    assert artifacts, "sample grids logged"
    assert (repo / "mlartifacts").is_dir()


def test_bento_is_built_from_the_champion(pipeline_repo):
    repo, env, _ = pipeline_repo
    bento = json.loads((repo / "models" / "bento.json").read_text())
    assert bento["mlflow_version"] == "1"
    listing = sh(["bentoml", "list", "-o", "json"], repo, env).stdout
    assert bento["bento"] in listing


def test_second_repro_skips_everything_and_a_param_change_invalidates_train_onwards(pipeline_repo):
    repo, env, _ = pipeline_repo
    again = sh(["dvc", "repro"], repo, env)
    assert "Data and pipelines are up to date" in again.stdout
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["colorizer_steps"] = 7
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    rerun = sh(["dvc", "repro"], repo, env).stdout
    ran = {line.split("'")[1] for line in rerun.splitlines() if line.startswith("Running stage")}
    assert ran == {"train", "evaluate", "register", "package"}

    from mlflow import MlflowClient

    uri = f"sqlite:///{repo / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    challenger = client.get_model_version_by_alias("chromastyle", "challenger")
    assert str(challenger.version) == "2"
    assert challenger.tags["promotion_reason"].startswith(("beats champion", "kept champion"))
    metrics = json.loads((repo / "metrics" / "eval.json").read_text())
    assert "champion" in metrics, "the previous champion is a baseline of the second evaluation"


def test_the_built_bento_serves_over_http(pipeline_repo, tmp_path):
    """`bentoml serve <bento>` (what the README's serve command runs), called by BentoML's own
    client and by a raw multipart POST, then stopped."""
    import bentoml
    import httpx
    import numpy as np
    from PIL import Image

    from conftest import free_port, photo, png_bytes, wait_until_ready

    repo, env, _ = pipeline_repo
    bento = json.loads((repo / "models" / "bento.json").read_text())["bento"]
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "bentoml"), "serve", bento, "--host", "127.0.0.1",
                               "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base}/readyz", server)
        image = tmp_path / "gray.png"
        image.write_bytes(png_bytes(photo(3, size=(50, 70)), mode="L"))
        with bentoml.SyncHTTPClient(base) as client:
            result = client.colorize(image=image)
            info = client.info()
        colour = np.asarray(result.convert("RGB") if hasattr(result, "convert") else Image.open(result))
        assert colour.shape == (50, 70, 3)
        assert info["labels"]["mlflow_version"] in ("1", "2")
        raw = httpx.post(f"{base}/stylize", files={"image": ("g.png", image.read_bytes(), "image/png")},
                         data={"style_name": "greatwave", "alpha": "0.5"}, timeout=60)
        assert raw.status_code == 200 and raw.headers["content-type"].startswith("image/")
        assert httpx.post(f"{base}/colorize", files={"image": ("x.png", b"nope", "image/png")}).status_code == 400
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
