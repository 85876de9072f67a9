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
# (lr 1e-3). The control below shows what a real difference (another seed) looks like.
TOLERANCE = 1e-3


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


def test_two_gloo_processes_reach_the_weights_of_one(tmp_path):
    run(tmp_path, "single", 1)
    run(tmp_path, "ddp", 2)
    run(tmp_path, "other-seed", 1, overrides='{"seed": 8}')
    difference = max_difference(tmp_path / "single.pt", tmp_path / "ddp.pt")
    print(f"max |Δweight| 2 processes vs 1: {difference:.2e}")
    assert difference < TOLERANCE
    assert max_difference(tmp_path / "single.pt", tmp_path / "other-seed.pt") > 20 * TOLERANCE


def test_a_killed_ddp_run_resumes_to_the_same_weights(tmp_path):
    run(tmp_path, "whole", 2)
    killed = run(tmp_path, "resumed", 2, "--die-at", "adversarial:1", check=False)
    assert killed.returncode != 0 and not (tmp_path / "resumed.pt").exists()
    assert (tmp_path / "resumed-ckpt" / "last.pt").is_file()
    run(tmp_path, "resumed", 2)
    assert max_difference(tmp_path / "whole.pt", tmp_path / "resumed.pt") < 1e-6
