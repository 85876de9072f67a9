"""The MLflow UI in a real browser: a reviewer sees the champion alias and the evaluation figures.

Starts `mlflow server --workers 1` on 127.0.0.1 over a registry this test populates, opens the
registered model page in headless Chromium (Debian's /usr/bin/chromium driven by Playwright) and
saves screenshots next to the test's temporary files.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chromastyle.config import RegisterConfig
from chromastyle.model.integrated import Chromastyle, ModelConfig
from conftest import free_port, wait_until_ready

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CHROMASTYLE_REQUIRE_BROWSER"),
    reason="Debian's chromium is not installed (.ci/run installs it)")


@pytest.fixture
def populated_server(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", db)
    monkeypatch.chdir(tmp_path)
    import mlflow

    from chromastyle import registry

    mlflow.set_tracking_uri(db)
    mlflow.set_experiment(experiment_id=registry.ensure_experiment())
    with mlflow.start_run() as run:
        mlflow.log_metrics({"model.delta_cf": 13.09, "model.frechet_offline": 0.6312})
    torch.manual_seed(0)
    Chromastyle(ModelConfig(base_channels=8, work_side=32)).save(tmp_path / "model")
    metrics = {"model": {"delta_cf": 13.09, "frechet_offline": 0.6312}}
    tags = {"eval.delta_cf": "13.0900", "eval.frechet_offline": "0.6312", "git_commit": "cafe1234"}
    registry.register(tmp_path / "model", run.info.run_id, metrics, tags, RegisterConfig())
    mlflow.set_tracking_uri(None)

    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", db, "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(f"{base}/health", server)
    yield base, tmp_path
    os.killpg(server.pid, 15)
    server.wait(timeout=30)


def test_registered_model_page_shows_champion_and_metrics(populated_server):
    from playwright.sync_api import sync_playwright

    base, folder = populated_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/#/models/chromastyle", wait_until="load")
        page.get_by_text("champion").first.wait_for(timeout=30_000)
        page.screenshot(path=str(folder / "mlflow_model_page.png"), full_page=True)
        page.goto(f"{base}/#/models/chromastyle/versions/1", wait_until="load")
        page.get_by_text("promotion_reason").first.wait_for(timeout=30_000)
        text = page.inner_text("body")
        page.screenshot(path=str(folder / "mlflow_version_page.png"), full_page=True)
        browser.close()
    assert "champion" in text and "challenger" in text
    assert "eval.delta_cf" in text and "13.0900" in text and "no champion yet" in text
    print(f"screenshots: {folder}/mlflow_model_page.png, {folder}/mlflow_version_page.png")
