"""The integrated model: colourise (G_c), then optionally stylise (AdaIN) — one nn.Module.

    rgb = Chromastyle(cfg)(L, style=None, alpha=1.0, preserve_color=False)

Contract: L is N×1×H×W float32 in [0, 100] at any H, W. The colouriser runs at a working
resolution (shorter side `work_side`, multiples of the colouriser's downsampling); its ab is
scaled by the calibrated `chroma_gain`, upsampled to H×W and joined with the input's own
full-resolution L, so no detail is lost and structure never changes. Output RGB N×3×H×W in [0, 1].

Stylisation is a decoder residual: out = x + D(H_SF) − D(H_S). The decoder paints only what
the style changes; the detail it cannot reconstruct from the encoder's features (a small
decoder trained for minutes is blurry) comes from x itself. α = 0 gives H_SF = H_S, so the
output is the colourisation exactly, and it moves smoothly towards it as α → 0. The residual is
computed at a working resolution (`style_work_side`) and upsampled: the cost of a 512² photo is
that of a 256² one, and brushwork keeps the scale it has in the style image.
Saved as safetensors + a JSON config: nothing pickled. The pretrained encoders' weights are in
the safetensors too: loading needs the architecture code, never the ImageNet weights package.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.nn import functional as F

from chromastyle.colour import AB_SCALE, l_ab_to_rgb, l_ab_to_rgb_hue_preserving, normalize_l, rgb_to_l_ab
from chromastyle.model import efficientnet
from chromastyle.model.colorizer import EfficientUNetColorizer, UNetColorizer
from chromastyle.model.hints import Hint, hint_points, no_palette
from chromastyle.model.loss_network import (VGG19_TAPS, FeatureNetwork, LossNetworkSpec, efficientnet_network,
                                            random_network, vgg19_layers)
from chromastyle.model.stylizer import Decoder, banded_palette, fuse, match_banded_palette, match_palette, palette

WEIGHTS_FILE = "model.safetensors"
STYLE_BORDER = 16  # px of reflected context the stylizer's encoder sees around the photo (_pad_for_encoder)
CONFIG_FILE = "config.json"


ENCODERS = ("scratch", "efficientnet-lite0")
# Decoder width per loss network: VGG-19 and the random network keep the classic halving from their
# own width; Lite0's encoder output is narrow (40 channels), so its decoder starts wider.
DECODER_WIDTH = {"efficientnet-lite0": 128}


@dataclass(frozen=True)
class ModelConfig:
    """What `load` needs to rebuild the architecture. Defaults reproduce models saved before a field
    existed (so an older champion still loads as what it was)."""

    base_channels: int = 32
    work_side: int = 96  # colouriser's working shorter side (px)
    encoder: str = "scratch"  # colouriser's encoder: "scratch" | "efficientnet-lite0"
    chroma_gain: float = 1.0  # ab multiplier, calibrated on the validation split after training
    style_work_side: int = 0  # stylizer's working shorter side (px); 0 = the photo's own size
    loss_network: str = "random"  # "random" | "vgg19" | "efficientnet-lite0"
    loss_network_source: str = "seed=1234"
    random_seed: int = 1234
    palette_transfer: bool = False  # match the stylised photo's colour distribution to the style's (× α)
    palette_bands: int = 0  # with palette_transfer: match it per brightness band (0: per channel over the image)
    style_strength: float = 1.0  # the decoder's painted change D(H_SF) − D(H_S) is scaled by this
    decoder_width: int = 0  # stylizer decoder's first width; 0 = DECODER_WIDTH's (models saved before this field)
    decoder_padding: str = "reflect"  # its convolutions' border padding: "reflect" | "zeros"
    hints: bool = False  # the colouriser takes point hints and a palette (chromastyle.model.hints)


def _encoder_for(cfg: ModelConfig) -> FeatureNetwork:
    """The loss network's architecture, weights to come from a saved state dict."""
    if cfg.loss_network == "vgg19":
        return FeatureNetwork(vgg19_layers(), VGG19_TAPS, LossNetworkSpec(cfg.loss_network, cfg.loss_network_source))
    if cfg.loss_network == "efficientnet-lite0":
        return efficientnet_network(efficientnet.architecture())
    return random_network(cfg.random_seed)


def build_colorizer(cfg: ModelConfig, pretrained: bool = False) -> nn.Module:
    """The colouriser of cfg.encoder; `pretrained` loads the ImageNet encoder weights (new models only)."""
    if cfg.encoder not in ENCODERS:
        raise ValueError(f"encoder {cfg.encoder!r} is not one of {ENCODERS}")
    if cfg.encoder == "efficientnet-lite0":
        return EfficientUNetColorizer(efficientnet.pretrained() if pretrained else efficientnet.architecture(),
                                      hints=cfg.hints)
    return UNetColorizer(cfg.base_channels, hints=cfg.hints)


class Chromastyle(nn.Module):
    def __init__(self, cfg: ModelConfig, encoder: FeatureNetwork | None = None, colorizer: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        # channels_last: 15-50 % faster convolutions on this CPU (measured) and the fast path on CUDA.
        self.colorizer = (colorizer if colorizer is not None else build_colorizer(cfg)).to(
            memory_format=torch.channels_last)
        self.encoder = encoder if encoder is not None else _encoder_for(cfg)
        self.decoder = Decoder(self.encoder.out_channels, int(math.log2(self.encoder.downsampling)),
                               cfg.decoder_width or DECODER_WIDTH.get(cfg.loss_network), cfg.decoder_padding)

    # -- colourisation ------------------------------------------------------------------------
    def working_size(self, height: int, width: int, max_side: int | None = None) -> tuple[int, int]:
        """(h, w) for the colouriser: shorter side ≈ work_side, both multiples of its downsampling,
        and the longer side at most `max_side` (default 8 × work_side). Bounding the longer side
        bounds the work: without it a 10000×1 strip would become a 96 × 960,000 network input."""
        multiple = self.colorizer.MULTIPLE
        max_side = max_side or 8 * self.cfg.work_side
        scale = min(self.cfg.work_side / min(height, width), max_side / max(height, width))
        return (min(max(multiple, round(height * scale / multiple) * multiple), _floor_to(max_side, multiple)),
                min(max(multiple, round(width * scale / multiple) * multiple), _floor_to(max_side, multiple)))

    def predict_ab_working(self, lightness: torch.Tensor, max_side: int | None = None,
                           hints: list[Hint] | None = None, palette: torch.Tensor | None = None) -> torch.Tensor:
        """L N×1×H×W [0,100] -> ab N×2×h×w at the working size (float32; about [-110, 110]).

        hints (in the photo's pixels) and palette (1×PALETTE_SIZE, hints.reference_palette) steer a hint
        model. The calibrated chroma gain scales the automatic colourisation only: a guided one paints
        the colours the user gave, which the gain would mute or exaggerate."""
        height, width = lightness.shape[-2:]
        size = self.working_size(height, width, max_side)
        small = normalize_l(F.interpolate(lightness, size=size, mode="bilinear", align_corners=False,
                                          antialias=True)).contiguous(memory_format=torch.channels_last)
        guided = bool(hints) or palette is not None
        if guided and not self.cfg.hints:
            raise ValueError("this model was trained without hints (train.hints: false): it cannot take hints "
                             "or a reference palette")
        if not self.cfg.hints:
            return self.colorizer(small) * (AB_SCALE * self.cfg.chroma_gain)
        count = small.shape[0]
        points = hint_points(hints or [], height, width, *size).expand(count, -1, -1)
        palette_input = (palette if palette is not None else no_palette()).expand(count, -1)
        ab = self.colorizer(small, points.contiguous(), palette_input.contiguous())
        return ab * (AB_SCALE * (1.0 if guided else self.cfg.chroma_gain))

    def predict_ab(self, lightness: torch.Tensor) -> torch.Tensor:
        """L N×1×H×W [0,100] -> ab N×2×H×W (about [-110, 110]) at the input's resolution."""
        height, width = lightness.shape[-2:]
        return F.interpolate(self.predict_ab_working(lightness), size=(height, width), mode="bilinear",
                             align_corners=False)

    def colorize(self, lightness: torch.Tensor) -> torch.Tensor:
        return l_ab_to_rgb(lightness, self.predict_ab(lightness))

    # -- stylisation --------------------------------------------------------------------------
    def stylize(self, content: torch.Tensor, styles: list[torch.Tensor], weights: list[float] | None = None,
                alpha: float = 1.0, preserve_color: bool = False, work_side: int | None = None) -> torch.Tensor:
        """Repaint RGB `content` (N×3×H×W) in the style(s) (each 1×3×h×w or N×3×h×w).

        work_side: the stylizer's working shorter side (default cfg.style_work_side; 0 = full size).
        Images larger than it are stylised at that size and the painted residual is upsampled."""
        out = self.stylize_alphas(content, styles, [alpha], weights, work_side)[0]
        if preserve_color and alpha > 0.0:
            out = l_ab_to_rgb_hue_preserving(rgb_to_l_ab(out)[0], rgb_to_l_ab(content)[1])
        return out

    def stylize_alphas(self, content: torch.Tensor, styles: list[torch.Tensor], alphas: list[float],
                       weights: list[float] | None = None, work_side: int | None = None) -> list[torch.Tensor]:
        """`stylize` at each α of `alphas` (α = 0: the content itself). The content and the styles are
        encoded, and the content decoded, once for all of them: an α curve costs one decoder pass per α."""
        for alpha in alphas:
            if not 0.0 <= alpha <= 1.0:
                raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
        weights = normalised_weights(weights, len(styles))
        if all(alpha == 0.0 for alpha in alphas):
            return [content for _ in alphas]
        side = self.cfg.style_work_side if work_side is None else work_side
        small = self._to_work_side(content, side)
        padded, box = self._pad_for_encoder(small)
        h_content, (top, left, height, width) = self._shown_features(self.encoder.encode(padded), box)
        small_styles = [self._to_work_side(s, side) for s in styles]
        h_styles = [self.encoder.encode(s) for s in small_styles]
        painting = [alpha for alpha in alphas if alpha > 0.0]
        # One decoder call for D(H_S) and every D(H_SF) (one ONNX Runtime call per α curve; as fast as
        # two calls at width 32, measured: benchmarks/benchmark_stylizer_cost.py).
        decoded = self.decoder(torch.cat([h_content] + [fuse(h_content, h_styles, weights, alpha)
                                                         for alpha in painting]))
        decoded = decoded[..., top:top + height, left:left + width]
        plain, *fused = decoded.split(content.shape[0])
        target = self._target_palette(small_styles, weights)
        changes = iter(self._change(small, d - plain, alpha, target) for d, alpha in zip(fused, painting))
        return [content if alpha == 0.0 else self._applied(content, next(changes)) for alpha in alphas]

    def _target_palette(self, styles: list[torch.Tensor], weights: list[float]) -> torch.Tensor | None:
        """The styles' mixed palette (per brightness band with cfg.palette_bands), or None without transfer."""
        if not self.cfg.palette_transfer:
            return None
        bands = self.cfg.palette_bands
        return sum(w * (banded_palette(s, bands) if bands else palette(s)) for w, s in zip(weights, styles))

    def _change(self, small: torch.Tensor, residual: torch.Tensor, alpha: float,
                target_palette: torch.Tensor | None) -> torch.Tensor:
        """What stylisation changes at the working size: the decoder residual D(H_SF) − D(H_S) × the
        style strength, then, with palette transfer, the painted photo moved α of the way to the styles'
        palette (α = 0 stays the content). The palette is matched at the working size: a photo's
        histograms barely change with its size, and the cost is that of the working size, not of the photo.

        Why a strength: the decoder, trained minutes against content and reconstruction losses, paints
        its strokes faintly; the judge's style distinctness (how far apart two paintings' outputs are)
        stays at the palettes' own distance unless the strokes differ (a monotone colour map of the same
        photo cannot move pixels further apart). README "Strokes that show" measures it."""
        if self.cfg.style_strength != 1.0:
            residual = residual * self.cfg.style_strength
        if target_palette is None:
            return residual
        painted = (small + residual).clamp_(0.0, 1.0)
        matched = (match_banded_palette(painted, target_palette) if target_palette.dim() == 4
                   else match_palette(painted, target_palette))
        return torch.lerp(painted, matched, alpha).sub_(small)

    @staticmethod
    def _applied(content: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
        """The working-size change upsampled onto the full-size content."""
        if change.shape[-2:] != content.shape[-2:]:  # a fresh tensor: added to and clamped in place
            return F.interpolate(change, size=content.shape[-2:], mode="bilinear", align_corners=False).add_(
                content).clamp_(0.0, 1.0)
        return (content + change).clamp_(0.0, 1.0)

    def decode_residual(self, content: torch.Tensor, h_content: torch.Tensor, h_fused: torch.Tensor) -> torch.Tensor:
        """x + D(H_SF) − D(H_S), unclamped (the training objective sees the same function)."""
        return content + self.decoder(h_fused) - self.decoder(h_content)

    @staticmethod
    def _to_work_side(rgb: torch.Tensor, side: int) -> torch.Tensor:
        """Downscale so the shorter side is `side` (never upscale; 0 = unchanged)."""
        height, width = rgb.shape[-2:]
        if side <= 0 or min(height, width) <= side:
            return rgb
        return F.interpolate(rgb, size=_scaled_size(height, width, side, 1), mode="bilinear", align_corners=False,
                             antialias=True)

    def _shown_features(self, features: torch.Tensor, box: tuple[int, int, int, int]
                        ) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """The encoder's features of the photo itself, without the cells of its reflected border, and the
        photo's box in what they decode to. The border gives the photo's edge features their context; it
        need not be painted (a fifth of the decoder's work at 224 px) nor counted in AdaIN's content
        statistics (it repeats the photo's edge). Where the border is not whole cells (a photo under
        STYLE_BORDER px), every cell is kept."""
        top, left, height, width = box
        cell = self.encoder.downsampling
        if top % cell or left % cell:
            return features, box
        rows, columns = -(-height // cell), -(-width // cell)
        return features[..., top // cell:top // cell + rows, left // cell:left // cell + columns], (0, 0, height, width)

    def _pad_for_encoder(self, rgb: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """Reflect-pad by STYLE_BORDER px on every side (less on a tiny photo), then replicate-pad to a
        multiple of the encoder's downsampling; returns the padded image and the photo's box in it
        (top, left, height, width).

        Why: the encoder zero-pads its convolutions, so its features within a few pixels of an edge
        differ from those inside; AdaIN amplifies the difference and the decoder painted a frame of
        lines along every edge (the style sheet showed it in most paintings). With reflected context
        the edge looks like the interior to the encoder, and the frame is gone."""
        height, width = rgb.shape[-2:]
        top, left = min(STYLE_BORDER, height - 1), min(STYLE_BORDER, width - 1)
        rgb = F.pad(rgb, (left, left, top, top), mode="reflect")
        multiple = self.encoder.downsampling
        pad_h, pad_w = (-rgb.shape[-2]) % multiple, (-rgb.shape[-1]) % multiple
        if pad_h or pad_w:
            rgb = F.pad(rgb, (0, pad_w, 0, pad_h), mode="replicate")
        return rgb, (top, left, height, width)

    def forward(self, lightness: torch.Tensor, style: torch.Tensor | list[torch.Tensor] | None = None,
                alpha: float = 1.0, preserve_color: bool = False,
                style_weights: list[float] | None = None) -> torch.Tensor:
        rgb = self.colorize(lightness)
        if style is None or alpha == 0.0:
            return rgb
        styles = list(style) if isinstance(style, (list, tuple)) else [style]
        return self.stylize(rgb, styles, style_weights, alpha, preserve_color)

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write model.safetensors + config.json into `directory` (created if needed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(directory / WEIGHTS_FILE))
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.cfg), indent=2))

    @classmethod
    def load(cls, directory: Path, device: str | torch.device = "cpu") -> "Chromastyle":
        directory = Path(directory)
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory / name}: missing; not a chromastyle model folder")
        cfg = ModelConfig(**json.loads((directory / CONFIG_FILE).read_text()))  # missing keys: older models
        model = cls(cfg)
        model.load_state_dict(load_file(str(directory / WEIGHTS_FILE), device="cpu"))
        return model.to(device).eval()


def _floor_to(value: int, multiple: int) -> int:
    return max(multiple, value // multiple * multiple)


def _scaled_size(height: int, width: int, side: int, multiple: int) -> tuple[int, int]:
    """(h, w) with the shorter side ≈ `side`, aspect kept, both multiples of `multiple`."""
    scale = side / min(height, width)
    return (max(multiple, round(height * scale / multiple) * multiple),
            max(multiple, round(width * scale / multiple) * multiple))


def normalised_weights(weights: list[float] | None, count: int) -> list[float]:
    if count == 0:
        raise ValueError("stylize needs at least one style image")
    if weights is None:
        return [1.0 / count] * count
    total = float(sum(weights)) if all(math.isfinite(w) for w in weights) else math.nan
    # NaN would paint black, an infinite sum would silently zero every style: refuse both.
    if len(weights) != count or any(w < 0 for w in weights) or not (math.isfinite(total) and total > 0):
        raise ValueError(f"style weights must be {count} finite non-negative numbers with a positive sum, "
                         f"got {weights}")
    return [w / total for w in weights]
