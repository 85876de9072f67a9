"""The seed study (benchmarks/seed_study.py): experiments queued with every override explicit, and
mean ± sd over the seeds that finished, read from the shape `dvc exp show --json` writes."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("seed_study", ROOT / "benchmarks" / "seed_study.py")
seed_study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(seed_study)

STUDY = {"seeds": [42, 1, 2], "target": "evaluate",
         "recipes": {"default": {}, "steps-0.5x": {"train.colorizer_steps": 400}}}


def exp_show(runs: dict[str, float | None]) -> list[dict]:
    """`dvc exp show --json` of one commit with these experiments (None: the run failed)."""
    revs = []
    for name, psnr in runs.items():
        data = {"metrics": {"metrics/eval.json": {"data": {"validation": {"model": {"psnr": psnr}}}}}}
        revs.append({"name": name, "data": data if psnr is not None else {}, "error": None if psnr else {"msg": "x"}})
    return [{"rev": "workspace", "data": {}}, {"rev": "abc", "experiments": [{"revs": [r]} for r in revs]}]


def test_every_recipe_and_seed_is_one_named_experiment_with_every_override():
    commands = seed_study.queue_commands(STUDY)
    assert len(commands) == 6
    half = [c for c in commands if "steps-0.5x-s1" in c][0]
    assert half[:4] == ["dvc", "exp", "run", "--queue"] and half[-1] == "evaluate"
    assert "train.colorizer_steps=400" in half and "train.seed=1" in half
    default = [c for c in commands if "default-s2" in c][0]
    assert [a for a in default if "=" in a] == ["train.seed=2"], "the default recipe changes the seed only"


def test_the_table_is_mean_and_sd_over_the_finished_seeds():
    found = seed_study.finished_experiments(exp_show({"default-s42": 20.0, "default-s1": 21.0, "default-s2": 22.0,
                                                      "steps-0.5x-s42": 19.0, "steps-0.5x-s1": None}))
    assert set(found) == {"default-s42", "default-s1", "default-s2", "steps-0.5x-s42"}, "a failed run is no row"
    table = seed_study.study_table(STUDY, found)
    default_row = [line for line in table.splitlines() if line.startswith("| default |")][0]
    assert "21.00 ± 1.00" in default_row and default_row.endswith("| 3 |")
    half_row = [line for line in table.splitlines() if line.startswith("| steps-0.5x |")][0]
    assert "19.00 ± nan" in half_row and half_row.endswith("| 1 |"), "one seed has no spread"


def test_a_study_without_seeds_is_refused(tmp_path):
    (tmp_path / "study.yaml").write_text("recipes: {default: {}}\n")
    with pytest.raises(SystemExit, match="needs `seeds`"):
        seed_study.load_study(tmp_path / "study.yaml")


def test_the_committed_baseline_is_not_run_again_but_counted():
    commands = seed_study.queue_commands(STUDY, committed_seed=42)
    names = [c[c.index("-n") + 1] for c in commands]
    assert "default-s42" not in names and "steps-0.5x-s42" in names and len(names) == 5
    show = exp_show({"default-s1": 21.0, "default-s2": 22.0})
    show[1]["data"] = {"metrics": {"metrics/eval.json": {"data": {"validation": {"model": {"psnr": 20.0}}}}}}
    table = seed_study.study_table(STUDY, seed_study.finished_experiments(show), committed_seed=42)
    default_row = [line for line in table.splitlines() if line.startswith("| default |")][0]
    assert "21.00 ± 1.00" in default_row and default_row.endswith("| 3 |"), "the commit's own figures are seed 42"
    half_row = [line for line in table.splitlines() if line.startswith("| steps-0.5x |")][0]
    assert half_row.endswith("| 0 |"), "a recipe with overrides never borrows the baseline"


def test_a_running_experiment_and_older_commits_are_read_as_dvc_shows_them():
    """`dvc exp show -A`: a running experiment's row shows its parent's figures (not its own: skipped);
    seeds run on an older commit count; a name run on two commits counts once, the newest (listed first)."""
    newest = exp_show({"steps-0.5x-s1": 30.0, "default-s1": 21.0})
    newest[1]["experiments"][0]["executor"] = {"state": "running", "name": "tempdir"}
    older = exp_show({"steps-0.5x-s42": 19.0, "default-s1": 99.0})[1:]
    found = seed_study.finished_experiments(newest + older)
    assert set(found) == {"default-s1", "steps-0.5x-s42"}
    assert found["default-s1"]["validation"]["model"]["psnr"] == 21.0
