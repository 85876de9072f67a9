"""Standard FID (InceptionV3 pool3 features of the TF-FID weights) — only when the user supplies them.

Two ways in, both offline:
1. `evaluate.fid_inception_path`: a TorchScript FID Inception (NVIDIA's `inception-2015-12-05.pt`,
   the one clean-fid and StyleGAN3 use: `net(images, return_features=True)` -> N×2048 on 0–255
   input). Loaded with torch.jit.load and passed to torchmetrics as its feature extractor.
2. torch-fidelity (torchmetrics' own backend) with `weights-inception-2015-12-05-6726825d.pth` in
   the torch hub cache. torch-fidelity imports torchvision, which does not import beside this
   project's torch build, so this way is normally closed here.
Otherwise FID is absent from the metrics and `fid_unavailable_reason()` goes into the report.
A random-init Inception is never used: its features collapse and FID would read ~0.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

FID_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
INCEPTION_SIDE = 299


def _hub_checkpoints() -> Path:
    return Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints"


class TorchScriptInception(nn.Module):
    """A user's TorchScript FID Inception as a torchmetrics feature extractor: uint8 N×3×H×W -> N×2048."""

    num_features = 2048

    def __init__(self, path: Path):
        super().__init__()
        self.net = torch.jit.load(str(path), map_location="cpu").eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if x.shape[-2:] != (INCEPTION_SIDE, INCEPTION_SIDE):
            x = F.interpolate(x, size=(INCEPTION_SIDE, INCEPTION_SIDE), mode="bilinear", align_corners=False)
        return self.net(x, return_features=True).double()


def fid_unavailable_reason(inception_path: Path | None = None) -> str | None:
    """None when standard FID can be computed offline, else why not (for the report)."""
    if inception_path is not None:
        return None if Path(inception_path).is_file() else f"evaluate.fid_inception_path: {inception_path} not found"
    if importlib.util.find_spec("torch_fidelity") is None:
        return ("no evaluate.fid_inception_path, and torch-fidelity is not installed (it imports torchvision, "
                "which does not import beside torch 2.13.0); the learned and offline Fréchet distances are "
                "reported instead")
    if not (_hub_checkpoints() / FID_WEIGHTS).is_file():
        return f"FID Inception weights {FID_WEIGHTS} are not in {_hub_checkpoints()} (never downloaded at run time)"
    return None


def standard_fid(real: list[np.ndarray], fake: list[np.ndarray], inception_path: Path | None = None) -> float:
    """FID of two image sets (own-size H×W×3 uint8); call only when fid_unavailable_reason() is None."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    from chromastyle.metrics.learned import resized_batch

    feature = TorchScriptInception(Path(inception_path)) if inception_path is not None else 2048
    metric = FrechetInceptionDistance(feature=feature)
    with torch.no_grad():
        metric.update(resized_batch(real, INCEPTION_SIDE), real=True)
        metric.update(resized_batch(fake, INCEPTION_SIDE), real=False)
        return float(metric.compute())
