"""Recipes on several seeds, as DVC experiments, and their table of mean ± standard deviation.

One run of one seed says little: two CPU kinds (or two seeds) move the figures by more than most gaps
between recipes. This queues every (recipe, seed) of benchmarks/seed_study.yaml as a DVC experiment
(`dvc exp run --queue -n <recipe>-s<seed> -S train.seed=<seed> -S …`), runs the queue one at a time
(2 cores: parallel runs only slow each other), and prints, per recipe, the mean ± sd of the figures
choices are made on (validation: whole sources held out of training), the in-source test split, the
stylizer's, and — for the report only — external-test. A recipe beats the default only where its mean
differs by more than both spreads.

    python -m flows.with_prefect python benchmarks/seed_study.py run     # queue, run, table (make seed-study)
    python benchmarks/seed_study.py queue                                # queue only (then: dvc queue start)
    python benchmarks/seed_study.py table                                # the table of what has finished
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
STUDY = Path(__file__).with_suffix(".yaml")
BASELINE = "(committed baseline)"
# (metrics/eval.json path, column title, digits); validation first: it is what choices are made on.
FIGURES = [
    ("validation.model.psnr", "val PSNR ↑", 2), ("validation.model.delta_cf", "val ΔCF ↓", 1),
    ("validation.model.hue_accuracy", "val hue acc ↑", 3),
    ("validation.model.frechet_effnet_lite0", "val learned Fréchet ↓", 1),
    ("test.model.psnr", "test PSNR ↑", 2), ("style.judge_style_loss_drop_alpha1", "style drop ↑", 3),
    ("external.model.psnr", "external PSNR (report only)", 2),
    ("external.model.frechet_effnet_lite0", "external learned Fréchet (report only)", 1),
]


def load_study(path: Path = STUDY) -> dict:
    study = yaml.safe_load(path.read_text())
    if not study.get("seeds") or not study.get("recipes"):
        raise SystemExit(f"{path}: needs `seeds` and `recipes`")
    return study


def experiment_name(recipe: str, seed: int) -> str:
    return f"{recipe}-s{seed}"


def is_committed_baseline(overrides: dict | None, seed: int, committed_seed: int | None) -> bool:
    """A recipe without overrides at the committed train.seed is the committed baseline itself: its
    figures are the commit's own (metrics/eval.json), not another 20-minute run that re-computes them."""
    return not overrides and seed == committed_seed


def queue_commands(study: dict, committed_seed: int | None = None) -> list[list[str]]:
    """One `dvc exp run --queue` per (recipe, seed), except the committed baseline; every override
    explicit, so order never matters."""
    commands = []
    for recipe, overrides in study["recipes"].items():
        for seed in study["seeds"]:
            if is_committed_baseline(overrides, seed, committed_seed):
                continue
            sets = [f"{key}={value}" for key, value in (overrides or {}).items()] + [f"train.seed={seed}"]
            command = ["dvc", "exp", "run", "--queue", "-f", "-n", experiment_name(recipe, seed)]
            command += [arg for s in sets for arg in ("-S", s)]
            commands.append(command + [study.get("target", "evaluate")])
    return commands


def _dig(data: dict, dotted: str):
    for key in dotted.split("."):
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def finished_experiments(exp_show: list[dict]) -> dict[str, dict]:
    """{experiment name: metrics/eval.json} of the finished experiments in `dvc exp show -A --json` (a name
    run on several commits: the newest commit's, listed first), and the committed baseline's own figures
    under BASELINE."""
    found = {}
    for commit in exp_show:
        own = ((commit.get("data") or {}).get("metrics") or {}).get("metrics/eval.json", {}).get("data")
        if commit.get("rev") != "workspace" and own and BASELINE not in found:
            found[BASELINE] = own  # the commit's own figures (the first commit row: HEAD)
        for experiment in commit.get("experiments") or []:
            if (experiment.get("executor") or {}).get("state") in ("queued", "running"):
                continue  # its rows show the parent's figures until it finishes
            for rev in experiment.get("revs") or []:
                name, data = rev.get("name"), rev.get("data") or {}
                metrics = (data.get("metrics") or {}).get("metrics/eval.json", {}).get("data")
                if name and metrics and not rev.get("error") and name not in found:
                    found[name] = metrics
    return found


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else float("nan"))


def recipe_runs(recipe: str, overrides: dict | None, seeds: list[int], experiments: dict[str, dict],
                committed_seed: int | None) -> list[dict]:
    """The finished runs of one recipe: its experiments, and the committed baseline for its own seed."""
    runs = []
    for seed in seeds:
        name = experiment_name(recipe, seed)
        if name in experiments:
            runs.append(experiments[name])
        elif is_committed_baseline(overrides, seed, committed_seed) and BASELINE in experiments:
            runs.append(experiments[BASELINE])
    return runs


def study_table(study: dict, experiments: dict[str, dict], committed_seed: int | None = None) -> str:
    """Markdown: one row per recipe, mean ± sd over its finished seeds (their count in the last column)."""
    lines = ["| recipe | " + " | ".join(title for _, title, _ in FIGURES) + " | seeds |",
             "|---|" + "---|" * (len(FIGURES) + 1)]
    for recipe, overrides in study["recipes"].items():
        runs = recipe_runs(recipe, overrides, study["seeds"], experiments, committed_seed)
        cells = []
        for path, _, digits in FIGURES:
            values = [v for v in (_dig(run, path) for run in runs) if isinstance(v, (int, float))]
            if values:
                mean, sd = mean_sd(values)
                cells.append(f"{mean:.{digits}f} ± {sd:.{digits}f}")
            else:
                cells.append("–")
        lines.append(f"| {recipe} | " + " | ".join(cells) + f" | {len(runs)} |")
    return "\n".join(lines)


def dvc(*args: str, capture: bool = False) -> str:
    result = subprocess.run(["dvc", *args], cwd=ROOT, check=True, text=True, capture_output=capture)
    return result.stdout if capture else ""


def committed_seed(params_file: Path = ROOT / "params.yaml") -> int | None:
    return (yaml.safe_load(params_file.read_text()).get("train") or {}).get("seed")


def queue(study: dict) -> None:
    for command in queue_commands(study, committed_seed()):
        print("+", " ".join(command), flush=True)
        subprocess.run(command, cwd=ROOT, check=True)


def wait_for_queue(poll_s: float = 30.0) -> None:
    """Until no experiment is queued or running (`dvc queue status`)."""
    while True:
        status = dvc("queue", "status", capture=True)
        if not any(word in status for word in ("Queued", "Running")):
            return
        time.sleep(poll_s)


def table(study: dict) -> str:
    # -A: the seeds of a study often span commits (code that is no dep of the pipeline moves HEAD meanwhile).
    return study_table(study, finished_experiments(json.loads(dvc("exp", "show", "-A", "--json", capture=True))),
                       committed_seed())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["run", "queue", "table"])
    parser.add_argument("--study", type=Path, default=STUDY, help="recipes and seeds (YAML)")
    args = parser.parse_args(argv)
    study = load_study(args.study)
    if args.action in ("run", "queue"):
        queue(study)
    if args.action == "run":
        dvc("queue", "start", "-j", "1")
        wait_for_queue()
    print(table(study))
    return 0


if __name__ == "__main__":
    sys.exit(main())
