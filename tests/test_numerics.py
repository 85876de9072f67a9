"""The same weights on any x86-64 CPU with AVX2: a tiny training under two ISA caps, each in its own
process (the caps are read when torch loads its kernels), gives bit-identical weights when the
numerics are pinned (numerics.cpu_isa: avx2, the default)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chromastyle.numerics import NumericsError, environment, pin_cpu_numerics

HELPER = Path(__file__).resolve().parent / "helpers" / "isa_train.py"
CAP_KEYS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")
# What an AVX2-only AMD machine (the EPYC of the report) gives every library: no AVX-512 anywhere,
# NumPy's and OpenCV's dispatch included, and MKL's generic (COMPATIBLE) code whatever MKL_CBWR
# asks for: measured there, MKL_CBWR=AVX2 and COMPATIBLE train the same weights, native others.
AVX2_ONLY_MACHINE = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE",
                     "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENCV_CPU_DISABLE": "AVX512_SKX"}


def avx2_only_machine(native_capability: str) -> dict[str, str]:
    """The environment of an AVX2-only machine; on one already, only the torch caps (NumPy refuses
    to disable features a CPU does not have)."""
    if "AVX512" in native_capability:
        return AVX2_ONLY_MACHINE
    return {key: AVX2_ONLY_MACHINE[key] for key in CAP_KEYS}


def train_weights(tmp_path: Path, numerics: str, machine: dict[str, str]) -> tuple[str, str]:
    """(the kernels' capability, the sha256 of the weights) of one tiny training in a fresh process."""
    env = {k: v for k, v in os.environ.items() if k not in AVX2_ONLY_MACHINE}
    folder = tmp_path / f"{numerics}-{len(machine)}"
    out = subprocess.run([sys.executable, str(HELPER), str(folder), numerics], env={**env, **machine},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    capability, digest = out.stdout.split()[-2:]
    return capability, digest


@pytest.fixture(scope="module")
def native_capability() -> str:
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_pinned_training_gives_the_same_weights_on_an_avx2_only_machine(tmp_path, native_capability):
    here = train_weights(tmp_path, "avx2", {})
    avx2_machine = train_weights(tmp_path, "avx2", avx2_only_machine(native_capability))
    assert here[0] == avx2_machine[0] == "AVX2"
    assert here[1] == avx2_machine[1], "pinned numerics must give bit-identical weights under both caps"


def test_without_the_pin_the_kernels_differ(tmp_path, native_capability):
    """The control: on an AVX-512 CPU, native kernels train other weights than AVX2 ones (so the
    test above measures something). An AVX2-only CPU has nothing to compare."""
    if "AVX512" not in native_capability:
        pytest.skip(f"this CPU runs {native_capability} kernels natively: no AVX-512 path to differ")
    native = train_weights(tmp_path, "native", {})
    avx2_machine = train_weights(tmp_path, "native", AVX2_ONLY_MACHINE)
    assert native[0] == native_capability and avx2_machine[0] == "AVX2"
    assert native[1] != avx2_machine[1]


def test_pinning_after_torch_is_loaded_is_an_error_not_a_no_op(monkeypatch):
    for key in CAP_KEYS:
        monkeypatch.delenv(key, raising=False)
    assert "torch" in sys.modules
    with pytest.raises(NumericsError, match="before importing torch"):
        pin_cpu_numerics("avx2")
    assert pin_cpu_numerics("native") == {}
    with pytest.raises(ValueError, match="cpu_isa"):
        environment("avx1024")


def test_every_stage_that_computes_lists_the_numerics_params():
    import yaml

    stages = yaml.safe_load((Path(__file__).resolve().parent.parent / "dvc.yaml").read_text())["stages"]
    for name in ("ingest", "validate", "prepare", "grayscale-baseline", "train", "evaluate", "register"):
        assert "numerics" in stages[name]["params"], name
