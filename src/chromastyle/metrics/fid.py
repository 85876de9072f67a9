"""Standard FID (InceptionV3 pool3, `pt_inception-2015-12-05-6726825d` weights) — only when possible.

It needs torch-fidelity (torchmetrics' backend for the FID Inception network) and its weights in
the torch hub cache. torch-fidelity imports torchvision, which does not import beside this
project's torch build, so here FID is normally unavailable: it is then absent from the metrics
and `fid_unavailable_reason()` is written into the report instead. A random-init Inception is
never used: its features collapse and FID would read ~0.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

FID_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


def _hub_checkpoints() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"


def fid_unavailable_reason() -> str | None:
    """None when standard FID can be computed offline, else why not (for the report)."""
    if importlib.util.find_spec("torch_fidelity") is None:
        return ("torch-fidelity is not installed (it imports torchvision, which does not import beside "
                "torch 2.13.0); the offline Fréchet distance is reported instead")
    if not (_hub_checkpoints() / FID_WEIGHTS).is_file():
        return f"FID Inception weights {FID_WEIGHTS} are not in {_hub_checkpoints()} (never downloaded at run time)"
    return None


def standard_fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """FID of two uint8 N×3×H×W sets; call only when fid_unavailable_reason() is None."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048)
    metric.update(real, real=True)
    metric.update(fake, real=False)
    return float(metric.compute())
