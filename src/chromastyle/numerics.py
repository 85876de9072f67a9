"""Floating-point numerics that do not depend on the CPU: the same weights on any x86-64 with AVX2.

PyTorch's CPU kernels pick their code path from the CPU they run on: ATen's vectorised ops
(ATEN_CPU_CAPABILITY), oneDNN's convolutions (ONEDNN_MAX_CPU_ISA) and MKL's GEMM (MKL_CBWR) each
have AVX-512 and AVX2 paths that round differently. Training amplifies a last-bit difference into
different weights, so a fresh clone on an AVX2-only machine used to produce another dvc.lock than
an AVX-512 machine. Capping all three at AVX2 (which every x86-64 CPU of the last decade has) makes
the numbers the same on both (tests/test_numerics.py trains under both caps and compares weights).

measured (benchmarks/benchmark_training.py, 2-core AVX-512 machine): see the README, "Reproducible
numbers"; on an AVX2-only machine the caps are what it runs anyway, so they cost nothing there.

The caps are environment variables read when torch loads its kernels, so `pin_cpu_numerics` must
run before `import torch`: the stage entry points (flows/_common.py) call it first. NumPy's and
OpenCV's own SIMD dispatch did not change the tiny training (same weights with them capped) but are
capped as well: the evaluation's float64 reductions run in NumPy.
"""

from __future__ import annotations

import os
import sys

# MKL is pinned to its COMPATIBLE branch, not AVX2: on an AMD EPYC (AVX2 only) MKL_CBWR=AVX2 trains
# the same weights as COMPATIBLE (MKL runs its generic code on non-Intel CPUs) while on an Intel CPU
# it runs Intel's AVX2 code, so the AVX2 branch gave the two vendors different models (a fresh clone
# on the EPYC, 2026-12-02: other weights from step 20 on). NumPy's and OpenCV's dispatch are capped
# too (the evaluation's reductions; augmentation): no cost on an AVX2 machine, little elsewhere.
CPU_ISA_ENV = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "COMPATIBLE",
             "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENCV_CPU_DISABLE": "AVX512_SKX"},
    "native": {},
}


class NumericsError(RuntimeError):
    """The numerics cannot be pinned any more (torch is already loaded with other caps)."""


def environment(cpu_isa: str) -> dict[str, str]:
    """The environment variables that pin `cpu_isa` ("avx2", or "native" for none)."""
    if cpu_isa not in CPU_ISA_ENV:
        raise ValueError(f"numerics.cpu_isa: {cpu_isa!r} is not one of {', '.join(CPU_ISA_ENV)}")
    return dict(CPU_ISA_ENV[cpu_isa])


def pin_cpu_numerics(cpu_isa: str) -> dict[str, str]:
    """Set the caps for `cpu_isa` in this process (and the processes it starts: torchrun ranks,
    DVC's stages). Returns what was set. A variable the user set already wins (an explicit choice),
    and a different cap of an already-imported torch is an error, not a silent no-op."""
    wanted = environment(cpu_isa)
    if "torch" in sys.modules:
        late = {k: v for k, v in wanted.items() if os.environ.get(k) != v}
        if late:
            raise NumericsError(f"numerics.cpu_isa {cpu_isa}: torch was imported before the CPU caps "
                                f"{sorted(late)} were set; pin them before importing torch")
        return wanted
    for key, value in wanted.items():
        os.environ.setdefault(key, value)
    return wanted


def describe() -> str:
    """What the kernels run on, for logs and MLflow tags: e.g. 'aten AVX2, onednn AVX2, mkl AVX2'."""
    import torch

    return (f"aten {torch.backends.cpu.get_cpu_capability()}, onednn {os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')}, "
            f"mkl {os.environ.get('MKL_CBWR', 'native')}")
