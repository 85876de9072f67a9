"""The package stage's bento bookkeeping against a real BentoML store: a bento is built only when
the champion (or the service code) changed, and the same inputs give the same tag again."""

import json
import os
import subprocess
import sys
from pathlib import Path

from serving import ROOT, make_model_store

BUILD_TWICE = """
import json, sys
from pathlib import Path
import bentoml
from chromastyle.service.packaging import build_bento

root = Path(sys.argv[1])
model = str(bentoml.models.get("chromastyle:latest").tag)
labels = {"mlflow_model": "chromastyle", "mlflow_version": "2", "model": model, "source": "0123456789abcdef"}
first = build_bento(root / "bentofile.yaml", root / "src", labels, model_tag=model)
again = build_bento(root / "bentofile.yaml", root / "src", labels, model_tag=model)
newer = build_bento(root / "bentofile.yaml", root / "src", {**labels, "mlflow_version": "3"}, model_tag=model)
args = bentoml.bentos.get(first[0]).info.args
from chromastyle.config import PackageConfig
from chromastyle.service.packaging import import_model
folder = Path(bentoml.models.get(model).path)
imports = [import_model(folder, folder / "styles", "twin", {"mlflow_run_id": run}, PackageConfig().service_limits(),
                        version="v1-samecontent") for run in ("run-a", "run-b")]
print(json.dumps({"first": first, "again": again, "newer": newer, "args": args, "model": model, "imports": imports}))
"""


def test_a_bento_is_built_once_per_champion_and_pins_its_model(tmp_path):
    home = tmp_path / "bentoml"
    make_model_store(home)
    env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    out = subprocess.run([sys.executable, "-c", BUILD_TWICE, str(ROOT)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["first"] == ["chromastyle:v2-0123456789ab", True]
    assert result["again"] == ["chromastyle:v2-0123456789ab", False], "same champion and code: reused, not rebuilt"
    assert result["newer"] == ["chromastyle:v3-0123456789ab", True]
    assert result["args"] == {"model": result["model"]}, "the bento serves the exact model it was built with"
    assert result["imports"] == ["twin:v1-samecontent"] * 2, "identical files imported by another run: reused"
    assert sorted(p.name for p in (Path(home) / "bentos" / "chromastyle").iterdir() if p.name != "latest") == [
        "v2-0123456789ab", "v3-0123456789ab"]


def test_the_retrain_summary_says_whether_a_bento_was_built(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    from flows.retrain import summary_markdown

    registration = {"model_name": "chromastyle", "version": 3, "promoted": True, "reason": "beats champion"}
    assert "(built now)" in summary_markdown(registration, {"bento": "chromastyle:b"}, {"bento": "chromastyle:a"})
    assert "(built now)" in summary_markdown(registration, {"bento": "chromastyle:a"}, {})
    kept = summary_markdown({**registration, "promoted": False}, {"bento": "chromastyle:a"}, {"bento": "chromastyle:a"})
    assert "(unchanged)" in kept and "kept the champion" in kept
