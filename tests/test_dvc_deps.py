"""dvc.yaml's deps are complete by construction: every chromastyle module a stage's flow loads is one
of its deps, so `dvc repro` re-runs the stage when that code changes (a fixed bug in the split
must never leave a stale model).

"Loads" = what importing the flow in a fresh process puts in sys.modules, plus the chromastyle
modules its code imports lazily (inside functions), followed through the import graph.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "chromastyle"

# Modules that never change what a stage writes to its DVC outputs, with the reason: listing them
# would only re-run hours of training for a change of logging.
NO_OUTPUT_EFFECT = {
    "src/chromastyle/__init__.py": "the version string",
    "src/chromastyle/offline.py": "telemetry switches and warning filters",
    "src/chromastyle/project.py": "where the MLflow store is",
    # The values a stage uses come from params.yaml (DVC tracks each stage's params); config.py only
    # parses and validates them, and its defaults equal params.yaml (tests/test_config.py).
    "src/chromastyle/config.py": "parsing of params.yaml",
}
# Per stage: modules it uses only to track in MLflow (its outputs do not depend on them).
TRACKING_ONLY = {"train": {"src/chromastyle/registry.py"}}


def stages() -> dict[str, dict]:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def flow_module(stage: dict) -> str:
    command = stage["cmd"].split()
    assert command[:2] == ["python", "-m"], f"a stage runs one flow module: {stage['cmd']}"
    return command[2]


def imported_at_runtime(module: str) -> set[Path]:
    """chromastyle files in sys.modules after `import <module>` in a fresh interpreter."""
    code = (f"import sys, json; import {module}; "
            "print(json.dumps(sorted(m.__file__ for n, m in list(sys.modules.items()) "
            "if (n == 'chromastyle' or n.startswith('chromastyle.')) and getattr(m, '__file__', None))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'src'}"})
    return {Path(p).resolve() for p in json.loads(out.stdout.strip().splitlines()[-1])}


def module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    if not parts:
        return (PACKAGE / "__init__.py").resolve()
    relative = Path(*parts)
    for candidate in (PACKAGE / relative.with_suffix(".py"), PACKAGE / relative / "__init__.py"):
        if candidate.is_file():
            return candidate.resolve()
    return None


def static_imports(path: Path) -> set[Path]:
    """chromastyle modules that `path` imports anywhere (also inside functions), and their packages."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "chromastyle" or name.startswith("chromastyle."):
                parts = name.split(".")
                for depth in range(1, len(parts) + 1):
                    file = module_file(".".join(parts[:depth]))
                    if file is not None:
                        found.add(file)
    return found


def loaded_closure(module: str) -> set[Path]:
    """Runtime imports of the flow, closed over the lazy imports of every file reached."""
    todo = imported_at_runtime(module) | static_imports(ROOT / Path(*module.split(".")).with_suffix(".py"))
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo |= static_imports(path) - seen
    return {p for p in seen if p.is_relative_to(PACKAGE)}


def is_docstring_only(path: Path) -> bool:
    """A package marker (`__init__.py` with at most a docstring) holds no code to depend on."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body)


def uncovered(files: set[Path], deps: list[str], stage_name: str) -> list[str]:
    dep_paths = [(ROOT / str(dep)).resolve() for dep in deps if "${" not in str(dep)]
    ignored = set(NO_OUTPUT_EFFECT) | TRACKING_ONLY.get(stage_name, set())
    missing = []
    for file in sorted(files):
        relative = file.relative_to(ROOT).as_posix()
        if relative in ignored or is_docstring_only(file) or any(file == dep or file.is_relative_to(dep) for dep in dep_paths):
            continue
        missing.append(relative)
    return missing


@pytest.mark.parametrize("stage_name", list(stages()))
def test_every_module_a_stage_loads_is_one_of_its_deps(stage_name):
    stage = stages()[stage_name]
    module = flow_module(stage)
    assert f"flows/{module.split('.')[-1]}.py" in stage["deps"], f"{stage_name}: its own flow is a dep"
    missing = uncovered(loaded_closure(module), stage["deps"], stage_name)
    assert not missing, f"dvc.yaml stage {stage_name!r} loads {missing} but does not list them in its deps"


def test_the_check_fails_when_a_dep_is_removed():
    """The check itself can fail: without prepare.py in train's deps it names the file."""
    stage = stages()["train"]
    deps = [dep for dep in stage["deps"] if dep != "src/chromastyle/data/prepare.py"]
    assert "src/chromastyle/data/prepare.py" in uncovered(loaded_closure("flows.train"), deps, "train")


def test_the_training_fingerprint_hashes_exactly_the_train_stages_code_deps():
    from chromastyle.train.run import training_code_files

    stage = stages()["train"]
    expected = {p.resolve() for dep in stage["deps"] if str(dep).startswith("src/")
                for p in ([ROOT / dep] if (ROOT / dep).is_file() else (ROOT / dep).rglob("*.py"))}
    assert set(training_code_files(ROOT)) == expected


def test_bytecode_caches_in_a_code_dep_are_not_code_changes():
    """Python writes __pycache__/*.pyc beside the modules it imports (on most machines: the default);
    inside a folder that is a stage's dep (src/chromastyle/train) DVC counted them as changed code,
    so a fresh clone's `dvc repro` wrote other hashes into dvc.lock and an import re-ran training."""
    for cache in ("src/chromastyle/train/__pycache__/trainer.cpython-311.pyc",
                  "src/chromastyle/model/__pycache__/stylizer.cpython-312.opt-1.pyc"):
        ignored = subprocess.run([sys.executable, "-m", "dvc", "check-ignore", cache], cwd=ROOT,
                                 capture_output=True, text=True)
        assert ignored.returncode == 0, f"DVC would hash {cache}: {ignored.stdout}{ignored.stderr}"
    assert subprocess.run([sys.executable, "-m", "dvc", "check-ignore", "src/chromastyle/train/trainer.py"],
                          cwd=ROOT, capture_output=True).returncode == 1, "the code itself stays a dep"
