"""Data-parallel training under torchrun on CPU (gloo): 2 processes reach the weights of 1 process
at the same global batch, and a killed DDP run resumes to the same weights."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from chromastyle.numerics import environment

HELPER = Path(__file__).resolve().parent / "helpers" / "ddp_train.py"
# float32: the two runs sum the same gradients in a different order, and Adam divides by the root of
# tiny second moments, so a rounding-level gradient difference can move a weight by part of one step
# (lr 1e-3), more on some CPUs than others (max |Δweight| 1.5e-4 on an AVX-512 Xeon, 3.6e-3 on an AMD
# EPYC, both under the pinned numerics). So the measure is relative: the weights' L2 distance over their
# norm (2.6e-3 on the EPYC), against a control with another seed that shows what a real difference
# looks like (0.58 there).
TOLERANCE = 1e-2


def run(tmp_path: Path, name: str, processes: int, *extra: str, check: bool = True,
        overrides: str = "{}") -> subprocess.CompletedProcess:
    command = [sys.executable, str(HELPER), str(tmp_path / f"{name}.pt"), str(tmp_path / f"{name}-ckpt"), *extra]
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                   *command[1:]]
    # Under the pipeline's numerics (numerics.cpu_isa: avx2), as `dvc repro` trains.
    env = {**os.environ, **environment("avx2"), "CHROMASTYLE_DDP_BACKEND": "gloo", "OMP_NUM_THREADS": "1",
           "DDP_TEST_OVERRIDES": overrides}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def max_difference(a: Path, b: Path) -> float:
    left, right = torch.load(a), torch.load(b)
    assert left.keys() == right.keys()
    return max(float((left[k].double() - right[k].double()).abs().max()) for k in left
               if left[k].is_floating_point())


def relative_difference(a: Path, b: Path) -> float:
    """||a − b|| / ||a|| over every trained weight (BatchNorm's running statistics left out: they are
    averages of the batches, not trained)."""
    left, right = torch.load(a), torch.load(b)
    assert left.keys() == right.keys()
    trained = [k for k in left if left[k].is_floating_point() and "running_" not in k]
    distance = sum(float(((left[k].double() - right[k].double()) ** 2).sum()) for k in trained)
    norm = sum(float((left[k].double() ** 2).sum()) for k in trained)
    return (distance / norm) ** 0.5


def test_two_gloo_processes_reach_the_weights_of_one(tmp_path):
    run(tmp_path, "single", 1)
    run(tmp_path, "ddp", 2)
    run(tmp_path, "other-seed", 1, overrides='{"seed": 8}')
    difference = relative_difference(tmp_path / "single.pt", tmp_path / "ddp.pt")
    control = relative_difference(tmp_path / "single.pt", tmp_path / "other-seed.pt")
    print(f"relative |Δweight| 2 processes vs 1: {difference:.2e}; another seed: {control:.2e}; "
          f"max |Δweight| {max_difference(tmp_path / 'single.pt', tmp_path / 'ddp.pt'):.2e}")
    assert difference < TOLERANCE
    assert control > 20 * TOLERANCE


def test_a_killed_ddp_run_resumes_to_the_same_weights(tmp_path):
    run(tmp_path, "whole", 2)
    killed = run(tmp_path, "resumed", 2, "--die-at", "adversarial:1", check=False)
    assert killed.returncode != 0 and not (tmp_path / "resumed.pt").exists()
    assert (tmp_path / "resumed-ckpt" / "last.pt").is_file()
    run(tmp_path, "resumed", 2)
    assert max_difference(tmp_path / "whole.pt", tmp_path / "resumed.pt") < 1e-6
