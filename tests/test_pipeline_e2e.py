"""End to end: the real `dvc repro` (seven Prefect flows) on a copy of the repo with tiny params.

Asserts on what users see: the registry (aliases, tags), the metrics files, the quarantine
report of a planted corrupt file, the bento, a no-op second repro, and which stages a param
change invalidates.
"""

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import S3_ENV, launch_logged, server_output

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = 16

pytestmark = pytest.mark.slow


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["data"].update(source="data/mini", prepared_size=48, split_test=0.25, split_val=0.1,
                          validation_sources=[])
    params["validate"].update(min_kept_images=4, min_side=32)
    params["train"].update(image_size=32, batch_size=4, colorizer_steps=4, finetune_steps=2, adversarial_steps=2,
                           stylizer_steps=3, base_channels=8, checkpoint_every=2, sample_every=3, log_every=1,
                           work_side=32, style_work_side=32)
    params["evaluate"].update(styles=["greatwave", "kandinky"], grid_images=2, max_images=4, style_sheet_side=64,
                              peer_photos=2, peer_side=96, peer_sheet_styles=3)
    return params


def sh(cmd: list[str], cwd: Path, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-6000:]}")
    return result


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory):
    """A git+DVC copy of the project with a mini photo folder (one corrupt file), after `dvc repro`,
    with the results committed as a user would (dvc.lock, metrics, reports)."""
    repo = tmp_path_factory.mktemp("project")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in tracked.splitlines():
        if (ROOT / name).is_file() and not name.startswith(("metrics/", "reports/", "models/")) and name != "dvc.lock":
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    mini = repo / "data" / "mini"
    mini.mkdir()
    for photo in sorted((ROOT / "data" / "sample").glob("*.jpg"))[:: 112 // PHOTOS][:PHOTOS]:
        shutil.copy2(photo, mini / photo.name)
    (mini / "corrupt.jpg").write_bytes((mini / photo.name).read_bytes()[:900])
    (repo / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    env = project_env(repo, tmp_path_factory.mktemp("bentoml-home"))
    sh(["git", "init", "-q", "-b", "main"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "copy"], repo, env)
    first = sh(["dvc", "repro"], repo, env)
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "results of the first dvc repro"], repo, env)
    return repo, env, first


def project_env(repo: Path, bentoml_home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_API"))}
    env.update(PATH=f"{Path(sys.executable).parent}:{env['PATH']}", BENTOML_HOME=str(bentoml_home),
               PREFECT_HOME=str(repo / ".prefect"), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    return env


def registry_client(repo: Path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{repo / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_quarantine_report_names_the_corrupt_file(pipeline_repo):
    repo, _, _ = pipeline_repo
    report = json.loads((repo / "reports" / "validation.json").read_text())
    assert report["files_in"] == PHOTOS + 1
    assert [f["path"] for f in report["quarantined_files"] if "decodable" in f["reasons"]] == ["corrupt.jpg"]
    assert (repo / "data" / "quarantine" / "corrupt.jpg").is_file()
    assert "corrupt.jpg" in (repo / "reports" / "validation.md").read_text()


def test_metrics_and_plots_for_dvc(pipeline_repo, tmp_path):
    repo, env, _ = pipeline_repo
    metrics = json.loads((repo / "metrics" / "eval.json").read_text())
    for system in ("model", "grayscale"):
        assert {"psnr", "delta_cf"} <= set(metrics["test"][system]) and {"psnr", "delta_cf"} <= set(
            metrics["external"][system])
    assert {"frechet_effnet_lite0", "semantic_agreement"} <= set(metrics["test"]["model"])

    def numbers_only(tree) -> bool:
        return all(numbers_only(v) if isinstance(v, dict) else isinstance(v, (int, float)) for v in tree.values())

    for name in ("eval.json", "train.json", "validation.json"):
        assert numbers_only(json.loads((repo / "metrics" / name).read_text())), name
    full = json.loads((repo / "reports" / "evaluation.json").read_text())
    figures = {"colourfulness", "delta_cf", "frechet_offline", "frechet_effnet_lite0", "kid_effnet_lite0",
               "semantic_agreement", "psnr", "ssim"}
    for system in ("model", "grayscale"):
        assert figures <= set(full[system]) and figures <= set(full["external"][system])
    assert full["grayscale"]["colourfulness"] < 1.0
    assert full["external"]["images"] == 4
    assert "judge_style_loss_drop_alpha1" in full["style"] and "alpha_monotonic" in full["style"]
    report = (repo / "reports" / "evaluation.md").read_text()
    assert "external-test" in report and "external_sheet.jpg" in report and "style_sheet.jpg" in report
    assert "## Validation" in report and "slightly below 0" in report, "validation figures; negative KID explained"
    assert {"psnr", "delta_cf"} <= set(metrics["validation"]["model"])
    assert {"style_drop", "content_loss", "distinctness"} <= set(metrics["style_peer"]["peer"]), "ours beside the peer"
    assert "Beside a real peer" in report
    assert (repo / "reports" / "style_sheet.jpg").is_file() and (repo / "reports" / "external_sheet.jpg").is_file()
    shown = sh(["dvc", "metrics", "show", "--json"], repo, env).stdout
    assert "frechet_offline" in shown and "g_l1" in shown
    plots = sh(["dvc", "plots", "show", "--json"], repo, env).stdout
    assert "Colouriser losses" in plots and "Stylizer losses" in plots and "per test photo" in plots
    sh(["dvc", "plots", "show", "-o", str(tmp_path / "plots_html")], repo, env)
    page = (tmp_path / "plots_html" / "index.html").read_text()
    assert "vegaEmbed" in page and "Colouriser losses" in page
    assert "<script src=" not in page, "the plots page must render offline (no CDN scripts)"


def test_registry_has_a_champion_with_provenance(pipeline_repo):
    repo, _, _ = pipeline_repo
    client = registry_client(repo)
    champion = client.get_model_version_by_alias("chromastyle", "champion")
    challenger = client.get_model_version_by_alias("chromastyle", "challenger")
    assert champion.version == challenger.version
    assert champion.tags["data_version"].endswith(".dir")
    for tag in ("git_commit", "data_version", "params_hash", "loss_network", "colorizer_encoder", "external_test",
                "validation_status", "promotion_reason"):
        assert champion.tags.get(tag), tag
    assert len(champion.tags) <= 8, "a few headline tags; the figures are run metrics"
    assert champion.tags["colorizer_encoder"].startswith("efficientnet-lite0")
    assert champion.description.startswith("**Champion**: first version") and "External test" in champion.description
    run = client.get_run(champion.run_id)
    assert run.info.run_name.startswith("train ") and "@" in run.info.run_name
    assert "=" not in run.info.run_name, "the committed params.yaml: no param differs"
    assert run.data.tags["mlflow.source.git.commit"] == champion.tags["git_commit"]
    assert run.data.tags["mlflow.note.content"].startswith("Trains the colouriser")
    assert run.inputs.dataset_inputs, "the training data is logged as the run's dataset"
    for shown in [d.dataset.name for d in run.inputs.dataset_inputs] + [run.data.tags["mlflow.note.content"]]:
        assert "PosixPath" not in shown, shown
    assert any("data/mini" in d.dataset.name for d in run.inputs.dataset_inputs), "named by its folder"
    assert run.data.tags["git_dirty"] == "False", "a committed checkout's own run: its outputs are no edit"
    for split in ("test", "validation", "external"):
        assert f"{split}.model.psnr" in run.data.metrics and f"{split}.grayscale.psnr" in run.data.metrics, split
    assert "model.psnr" not in run.data.metrics, "every split's figures carry its name"
    for figure in ("ours.style_drop", "peer.style_drop", "ours_vs_peer.latency_ratio"):
        assert f"style_peer.{figure}" in run.data.metrics, figure
    assert [a.path for a in client.list_artifacts(run.info.run_id, "evaluation")
            if a.path.endswith("style_peer_sheet.jpg")], "the ours | peer sheet is an artifact of the run"
    assert "train/colorizer_steps" in run.data.params
    assert any(name.startswith("colorizer/") for name in run.data.metrics)
    assert not any("images_per_s" in name for name in run.data.metrics), "speed is a tag, not a one-point chart"
    samples = [a.path for a in client.list_artifacts(run.info.run_id, "samples")]
    assert samples and all(Path(p).name.startswith("step") for p in samples)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_bento_is_built_from_the_champion(pipeline_repo):
    repo, env, _ = pipeline_repo
    bento = json.loads((repo / "models" / "bento.json").read_text())
    assert bento["mlflow_version"] == "1" and bento["bento"].startswith("chromastyle:v1-")
    listing = sh(["bentoml", "list", "-o", "json"], repo, env).stdout
    assert bento["bento"] in listing


def test_a_fresh_clone_reproduces_the_lock_and_leaves_git_clean(pipeline_repo, tmp_path):
    """Training is bit-reproducible on CPU: a clone with none of the caches, registries or stores
    reproduces every stage's hashes, so its `git status` is clean after `dvc repro`."""
    repo, _, _ = pipeline_repo
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path, os.environ.copy())
    env = project_env(clone, tmp_path / "bentoml-home")
    sh(["dvc", "repro"], clone, env)
    assert (clone / "dvc.lock").read_text() == (repo / "dvc.lock").read_text()
    assert sh(["git", "status", "--porcelain"], clone, env).stdout == ""
    # ... and it is usable, not only equal: its own registry has the champion, its store the bento.
    champion = registry_client(clone).get_model_version_by_alias("chromastyle", "champion")
    assert str(champion.version) == "1"
    bento = json.loads((clone / "models" / "bento.json").read_text())["bento"]
    assert bento in sh(["bentoml", "list", "-o", "json"], clone, env).stdout


def test_no_op_repro_and_clean_status(pipeline_repo):
    repo, env, _ = pipeline_repo
    assert "Data and pipelines are up to date" in sh(["dvc", "repro"], repo, env).stdout
    assert "up to date" in sh(["dvc", "status"], repo, env).stdout
    assert sh(["git", "status", "--porcelain"], repo, env).stdout == ""


def test_an_experiment_is_compared_and_either_side_restored_without_retraining(pipeline_repo):
    repo, env, _ = pipeline_repo
    bento_before = json.loads((repo / "models" / "bento.json").read_text())["bento"]
    run = sh(["dvc", "exp", "run", "-S", "train.colorizer_steps=7", "-n", "steps7"], repo, env).stdout
    ran = {line.split("'")[1] for line in run.splitlines() if line.startswith("Running stage")}
    assert ran == {"train", "evaluate", "register", "package"}
    table = json.loads(sh(["dvc", "exp", "show", "--json"], repo, env).stdout)
    commits = [row for row in table if row["rev"] != "workspace"]
    rows = commits + [exp for row in commits for branch in row.get("experiments") or [] for exp in branch["revs"]]
    psnr = [row["data"]["metrics"]["metrics/eval.json"]["data"]["test"]["model"]["psnr"] for row in rows]
    assert len(psnr) == 2 and all(isinstance(v, float) for v in psnr), "both rows have numbers"
    assert "colorizer_steps" in sh(["dvc", "exp", "diff", "main", "steps7"], repo, env).stdout
    assert "psnr" in sh(["dvc", "metrics", "diff", "main"], repo, env).stdout

    client = registry_client(repo)
    challenger = client.get_model_version_by_alias("chromastyle", "challenger")
    assert str(challenger.version) == "2"
    registration = json.loads((repo / "models" / "registration.json").read_text())
    assert not registration["promoted"] and "DVC experiment 'steps7'" in registration["reason"], registration
    assert "The current champion on the same photos" in challenger.description, "the champion's external figures"
    assert str(client.get_model_version_by_alias("chromastyle", "champion").version) == "1", \
        "trying an idea never changes what production serves"
    bento_after = json.loads((repo / "models" / "bento.json").read_text())["bento"]
    assert bento_after == bento_before, "the champion did not change, nor does the bento"

    experiment_metrics = (repo / "metrics" / "eval.json").read_text()
    sh(["git", "checkout", "--", "."], repo, env)
    sh(["dvc", "checkout"], repo, env)
    assert "Data and pipelines are up to date" in sh(["dvc", "repro"], repo, env).stdout, "baseline restored"
    sh(["dvc", "exp", "apply", "steps7"], repo, env)
    assert (repo / "metrics" / "eval.json").read_text() == experiment_metrics
    assert "up to date" in sh(["dvc", "status"], repo, env).stdout, "the experiment restored, nothing to re-run"
    sh(["git", "checkout", "--", "."], repo, env)
    sh(["dvc", "checkout"], repo, env)


def _chart_revisions(plots_json: dict, title: str) -> dict[str, list[dict]]:
    """{revision: its data points} of one chart of `dvc plots diff --json`."""
    points: dict[str, list[dict]] = {}
    for plot in plots_json["data"][title]:
        values = plot.get("content", {}).get("data", {}).get("values", [])
        for point in values:
            points.setdefault(point.get("rev"), []).append(point)
    return points


def test_back_to_the_baseline_keeps_the_model_where_the_committed_lock_was_made_elsewhere(pipeline_repo, tmp_path):
    """The README's daily loop on a clone whose committed dvc.lock names a model this clone never
    produced (another machine trained it): an experiment, `dvc plots diff` against main, then `make
    baseline`. The experiment has no adversarial phase (no g_adv, no d_loss): both still show in
    the charts, on the same step axis; and going back never leaves the user without a model."""
    repo, _, _ = pipeline_repo
    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path, os.environ.copy())
    env = project_env(clone, tmp_path / "bentoml-home")
    lock = yaml.safe_load((clone / "dvc.lock").read_text())
    for out in lock["stages"]["train"]["outs"]:
        if out["path"] == "models/chromastyle":
            out["md5"] = "0" * 32 + ".dir"  # trained elsewhere: in no cache of this clone
    (clone / "dvc.lock").write_text(yaml.safe_dump(lock, sort_keys=False))
    sh(["git", "commit", "-qam", "a lock from another machine"], clone, env)
    sh(["dvc", "repro"], clone, env)
    own_model = (clone / "models" / "chromastyle" / "model.safetensors").read_bytes()
    sh(["git", "commit", "-qam", "this clone's own results"], clone, env)

    sh(["dvc", "exp", "run", "-n", "noadv", "-S", "train.adversarial_steps=0", "evaluate"], clone, env)
    plots = json.loads(sh(["dvc", "plots", "diff", "main", "noadv", "--json"], clone, env).stdout)
    charts = ("Colouriser losses (train)", "Stylizer losses (train)")
    assert [e for e in plots.get("errors", []) if e.get("name") in charts] == [], "no experiment dropped"
    colouriser = _chart_revisions(plots, "Colouriser losses (train)")
    stylizer = _chart_revisions(plots, "Stylizer losses (train)")
    assert {"main", "noadv"} <= set(colouriser) and {"main", "noadv"} <= set(stylizer), (colouriser.keys(), stylizer.keys())
    first_step = {rev: min(float(p["step"]) for p in points) for rev, points in stylizer.items()}
    assert first_step["noadv"] == first_step["main"], "each part counts its own steps: the runs line up"

    sh(["git", "reset", "-q", "--hard", "HEAD~1"], clone, env)  # back to the lock from elsewhere
    (clone / ".venv").mkdir()
    (clone / ".venv" / ".installed").touch()  # `make` sees this environment as installed
    back = sh(["make", "baseline"], clone, env)
    model = clone / "models" / "chromastyle" / "model.safetensors"
    assert model.is_file(), back.stdout[-3000:]
    assert model.read_bytes() == own_model, "the clone's own baseline model, restored"
    assert "not in this clone's DVC cache" in back.stdout, "it says why it rebuilds"
    assert "Stage 'train' is cached - skipping run" in back.stdout or "'train' from run-cache" in back.stdout, \
        "nothing retrained: the clone's own run of these params comes back from the run cache"
    assert (clone / "reports" / "eval_grid.png").is_file()


# -- a DVC remote: push, then a fresh clone with only the remote -------------------------------
def push_then_pull_in_a_fresh_clone(repo: Path, env: dict, remote: list[str], tmp_path: Path) -> Path:
    sh(["dvc", "remote", "add", "--local", "-f", *remote], repo, env)
    sh(["dvc", "push", "-r", remote[0]], repo, env)
    clone = tmp_path / f"clone-{remote[0]}"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    clone_env = {**project_env(clone, tmp_path / "bentoml-home"), **{k: v for k, v in env.items() if k in S3_ENV}}
    sh(["dvc", "remote", "add", "--local", "-f", *remote], clone, clone_env)
    sh(["dvc", "pull", "-r", remote[0]], clone, clone_env)
    return clone, clone_env


def assert_complete_and_up_to_date(clone: Path, env: dict) -> None:
    assert (clone / "models" / "chromastyle" / "model.safetensors").is_file()
    assert (clone / "data" / "prepared" / "train.npz").is_file()
    assert (clone / "reports" / "eval_grid.png").is_file()
    assert "up to date" in sh(["dvc", "status"], clone, env).stdout
    assert "Data and pipelines are up to date" in sh(["dvc", "repro"], clone, env).stdout
    assert sh(["git", "status", "--porcelain"], clone, env).stdout == ""


def test_a_local_folder_remote_round_trip(pipeline_repo, tmp_path):
    repo, env, _ = pipeline_repo
    clone, clone_env = push_then_pull_in_a_fresh_clone(repo, env, ["folder", str(tmp_path / "remote")], tmp_path)
    assert_complete_and_up_to_date(clone, clone_env)


def test_an_s3_remote_round_trip(pipeline_repo, s3_endpoint, tmp_path):
    repo, env, _ = pipeline_repo
    env = {**env, **S3_ENV}
    sh(["dvc", "remote", "add", "--local", "-f", "s3", "s3://chromastyle/dvc"], repo, env)
    sh(["dvc", "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint], repo, env)
    sh(["dvc", "push", "-r", "s3"], repo, env)
    clone = tmp_path / "clone-s3"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    clone_env = {**project_env(clone, tmp_path / "bentoml-home"), **S3_ENV}
    sh(["dvc", "remote", "add", "--local", "-f", "s3", "s3://chromastyle/dvc"], clone, clone_env)
    sh(["dvc", "remote", "modify", "--local", "s3", "endpointurl", s3_endpoint], clone, clone_env)
    sh(["dvc", "pull", "-r", "s3"], clone, clone_env)
    assert_complete_and_up_to_date(clone, clone_env)


# -- Prefect for operations: the retrain deployment on a process worker ---------------------------------
def test_the_retrain_deployment_runs_on_a_prefect_worker(pipeline_repo, tmp_path):
    """`prefect server` + a `process` worker on 127.0.0.1, the deployment of prefect.yaml, one run
    with set_params (a DVC experiment): Completed, a new registry version, a summary artifact."""
    sys.path.insert(0, str(ROOT))
    from flows.with_prefect import prefect_server

    repo, env, _ = pipeline_repo
    versions_before = len(registry_client(repo).search_model_versions("name='chromastyle'"))
    home = tmp_path / "prefect-home"
    home.mkdir()
    with prefect_server(home) as api_url:
        penv = {**env, "PREFECT_API_URL": api_url, "PREFECT_HOME": str(home)}
        sh(["prefect", "work-pool", "create", "chromastyle", "--type", "process"], repo, penv)
        sh(["prefect", "--no-prompt", "deploy", "--all"], repo, penv)
        worker = launch_logged(["prefect", "worker", "start", "--pool", "chromastyle"], tmp_path / "worker.log",
                               cwd=repo, env=penv)
        try:
            run = sh(["prefect", "deployment", "run", "retrain/nightly", "--param",
                      'set_params={"train.colorizer_steps": "8"}', "--watch", "--watch-timeout", "1200"], repo, penv,
                     check=False)
            artifacts = sh(["prefect", "artifact", "inspect", "retrain-summary"], repo, penv, check=False).stdout
        finally:
            stop_worker(worker)
    assert run.returncode == 0 and "Completed" in run.stdout, run.stdout[-3000:] + server_output(worker)
    assert len(registry_client(repo).search_model_versions("name='chromastyle'")) == versions_before + 1
    assert "promoted" in artifacts or "kept" in artifacts, artifacts[-2000:]
    sh(["git", "checkout", "--", "."], repo, env)
    sh(["dvc", "checkout"], repo, env)


def stop_worker(worker: subprocess.Popen) -> None:
    """SIGINT (a Prefect worker ignores SIGTERM); on a loaded machine it may take minutes to wind down,
    which is no failure of the deployment: then its process group is killed."""
    import signal

    os.killpg(worker.pid, signal.SIGINT)
    try:
        worker.wait(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=60)


def test_the_built_bento_serves_over_http(pipeline_repo, tmp_path):
    """`bentoml serve <bento>` (what the README's serve command runs), called as `curl -F` would,
    then stopped."""
    import httpx
    import numpy as np
    from PIL import Image

    from conftest import free_port, photo, png_bytes, wait_until_ready

    repo, env, _ = pipeline_repo
    built = json.loads((repo / "models" / "bento.json").read_text())
    bento = built["bento"]
    port = free_port()
    server = launch_logged([str(Path(sys.executable).parent / "bentoml"), "serve", bento, "--port", str(port)],
                           tmp_path / "bentoml-serve.log", cwd=tmp_path, env=env)
    base = f"http://127.0.0.1:{port}"  # the service binds 127.0.0.1 unless told otherwise
    try:
        wait_until_ready(f"{base}/readyz", server)
        gray = png_bytes(photo(3, size=(50, 70)), mode="L")
        result = httpx.post(f"{base}/colorize", files={"image": ("g.webp", gray, "application/octet-stream")},
                            timeout=60)
        assert result.status_code == 200, result.text
        assert np.asarray(Image.open(io.BytesIO(result.content))).shape == (50, 70, 3)
        info = httpx.get(f"{base}/info").json()
        # Newer imports (the experiment, the deployment run) moved `latest` in the model store: the
        # bento still serves the champion it was built with.
        assert info["bento_model"] == built["model"], (info, built)
        assert info["labels"]["mlflow_version"] == built["mlflow_version"]
        raw = httpx.post(f"{base}/stylize", files={"image": ("g.png", gray)},
                         data={"style_name": "greatwave", "alpha": "0.5"}, timeout=60)
        assert raw.status_code == 200 and raw.headers["content-type"].startswith("image/")
        refused = httpx.post(f"{base}/colorize", files={"image": ("x.png", b"nope")})
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_image"
        assert "shields.io" not in httpx.get(f"{base}/docs.json").text
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
