"""A shared MLflow: `mlflow server` over PostgreSQL with the server's own artifact store.

What a team runs instead of the local sqlite file; MLFLOW_TRACKING_URI is the only change. The
registry, the promotion gate, the package stage's champion download and the CLI are exercised
against it. A throwaway PostgreSQL cluster is started here (skipped when PostgreSQL is not
installed, unless CHROMASTYLE_REQUIRE_POSTGRES is set, as CI does).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import S3_ENV, free_port, launch_logged, photo, png_bytes, wait_until_ready

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
GOOD = {"delta_cf": 5.0, "frechet_offline": 1.0, "colourfulness": 30.0}
WORSE = {"delta_cf": 20.0, "frechet_offline": 1.5, "colourfulness": 10.0}

pytestmark = pytest.mark.skipif(not PG_BIN and not os.environ.get("CHROMASTYLE_REQUIRE_POSTGRES"),
                                reason="PostgreSQL is not installed (.ci/run installs it)")


def _as_postgres(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    """PostgreSQL refuses to run as root: drop to the postgres user when we are root."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A throwaway cluster on 127.0.0.1 (trust auth), its database `mlflow`; stopped afterwards."""
    assert PG_BIN, "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin"
    bin_dir = Path(PG_BIN[-1])
    data = tmp_path_factory.mktemp("pgdata")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        os.chmod(data, 0o700)
        for parent in [data.parent, data.parent.parent]:
            os.chmod(parent, os.stat(parent).st_mode | 0o011)  # traversable by postgres
    port = free_port()
    _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"])
    _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w",
                  "-o", f"-p {port} -k {data} -h 127.0.0.1", "start"])
    try:
        _as_postgres([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "mlflow"])
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mlflow"
    finally:
        _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])


@pytest.fixture(scope="module", params=["folder", "s3"])
def tracking_server(request, postgres, tmp_path_factory):
    """`mlflow server` over PostgreSQL, proxying artifacts to a folder or to S3 (moto on 127.0.0.1)."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    if request.param == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        env.update(S3_ENV, MLFLOW_S3_ENDPOINT_URL=endpoint)
        destination, listing = "s3://chromastyle/mlflow", lambda: _s3_keys(endpoint)
    else:
        folder = tmp_path_factory.mktemp("artifact-store")
        destination, listing = folder.as_uri(), lambda: [str(p) for p in folder.rglob("*")]
    port = free_port()
    server = launch_logged(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", postgres,
         "--artifacts-destination", destination, "--serve-artifacts", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        tmp_path_factory.mktemp("mlflow-server") / "server.log", env=env)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{uri}/health", server, timeout=180)
        yield uri, listing
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def _s3_keys(endpoint: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                          region_name="us-east-1")
    return [item["Key"] for item in client.list_objects_v2(Bucket="chromastyle", Prefix="mlflow/").get("Contents", [])]


@pytest.fixture
def shared(tracking_server, monkeypatch, tmp_path):
    uri, listing = tracking_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)  # nothing may land in the working folder
    import mlflow

    mlflow.set_tracking_uri(uri)
    yield uri, listing
    mlflow.set_tracking_uri(None)


def _saved_model(folder: Path, seed: int) -> Path:
    from chromastyle.model.integrated import Chromastyle, ModelConfig

    torch.manual_seed(seed)
    Chromastyle(ModelConfig(base_channels=8, work_side=32)).save(folder)
    return folder


def test_register_gate_package_and_cli_against_the_shared_server(shared, tmp_path):
    import mlflow
    from mlflow import MlflowClient

    from chromastyle import registry
    from chromastyle.config import RegisterConfig

    uri, listing = shared
    cfg = RegisterConfig()
    mlflow.set_experiment(experiment_id=registry.ensure_experiment())
    name = f"chromastyle-shared-{int(time.time())}"
    cfg = cfg.model_copy(update={"model_name": name})
    run_a = registry.start_or_resume_run(tmp_path / "a.json", "fp-a", "train-a")
    first = registry.register(_saved_model(tmp_path / "a", 1), run_a, {"model": GOOD}, {"git_commit": "abc"}, cfg)
    run_b = registry.start_or_resume_run(tmp_path / "b.json", "fp-b", "train-b")
    second = registry.register(_saved_model(tmp_path / "b", 2), run_b, {"model": WORSE, "champion": GOOD}, {}, cfg)
    assert first.promoted and not second.promoted

    client = MlflowClient()
    assert str(client.get_model_version_by_alias(name, "champion").version) == first.version
    assert client.get_model_version(name, second.version).tags["validation_status"] == "rejected"
    assert any(key.endswith("model.safetensors") for key in listing()), "artifacts live in the server's store"
    assert not (tmp_path / "mlartifacts").exists() and not (tmp_path / "mlflow.db").exists()

    # The package stage: the champion downloaded over HTTP and imported into a BentoML store.
    folder = registry.download_champion(name, tmp_path / "download")
    assert (folder / "model.safetensors").is_file()
    home = tmp_path / "bentoml"
    code = ("import sys; from pathlib import Path; from chromastyle.service.packaging import import_model;"
            "print(import_model(Path(sys.argv[1]), Path(sys.argv[2]), 'chromastyle', {'mlflow_version': '1'}))")
    styles = Path(__file__).resolve().parent.parent / "data" / "styles"
    imported = subprocess.run([sys.executable, "-c", code, str(folder), str(styles)], check=True,
                              capture_output=True, text=True, env={**os.environ, "BENTOML_HOME": str(home)})
    assert imported.stdout.strip().startswith("chromastyle:")

    # The CLI, from an unrelated folder, with MLFLOW_TRACKING_URI as the only setting.
    image = tmp_path / "gray.png"
    image.write_bytes(png_bytes(photo(1), mode="L"))
    result = subprocess.run([str(Path(sys.executable).parent / "chromastyle"), "colorize", str(image),
                             "--model-name", name, "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "gray_colorized.png").is_file()
