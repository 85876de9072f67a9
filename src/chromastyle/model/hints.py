"""Colours the user chooses: sparse point hints and a reference palette, as the colouriser's extra inputs.

After Zhang et al. 2017 ("Real-Time User-Guided Image Colorization with Learned Deep Priors"): the same
network takes, beside L, hint points (where, and which ab) and a global palette (a coarse normalised ab
histogram, and a flag saying one is given), is trained on simulated ones (a random number of points per
crop coloured by the true mean ab of a small patch there, many crops with none so that automatic
colourisation stays trained; palettes from another crop of the same photo), and with neither it is the
automatic colouriser.

How they enter (GuidedHead), chosen by measurement: hint maps concatenated into the decoder at every
scale, as Zhang et al. feed them to a network trained for days, were ignored by a decoder trained for
minutes (+0.06 dB with 20 hints, seed 42). Here the colouriser also paints a per-pixel embedding, and a
hint's colour error (its colour minus the automatic one at its point) spreads to the pixels whose
embedding is near its point's, fading with distance: a learned, edge-aware propagation (attention from
every pixel to the hints) that is useful from the first training step. The palette shifts the
bottleneck's features (Zhang et al.'s global hints) and softly pulls each pixel's ab towards the palette's
colours near it, by a learned amount.

Coordinates: a user's hint is a point of the photo as uploaded (x right, y down, in pixels, after EXIF
orientation), mapped to the colouriser's working size.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from torch import nn
from torch.nn import functional as F

from chromastyle.colour import AB_SCALE, rgb_to_l_ab, uint8_to_tensor

POINT_FIELDS = 5  # a hint point as the colouriser takes it: row, col (working-size pixels), a/110, b/110, valid
EMBEDDING_CHANNELS = 8  # the per-pixel embedding hints spread along
PULL_BINS = 8  # a palette pulls each pixel towards its 8 largest bins (all 100: 12× the cost, in training)
PALETTE_BINS = 10  # per ab axis, over ±PALETTE_RANGE: a 10×10 histogram (natural colours rarely reach |ab| > 80)
PALETTE_RANGE = 88.0
PALETTE_SIZE = PALETTE_BINS * PALETTE_BINS + 1  # the histogram, then 1 when a palette is given
PALETTE_SIDE = 128  # a reference photo's palette is taken at this longer side (a histogram needs no more)
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Hint:
    """One point: where (photo pixels) and which chroma (CIELAB a*, b*; the photo keeps its own L)."""

    x: float
    y: float
    a: float
    b: float


def hex_to_ab(colour: str) -> tuple[float, float]:
    """'#rrggbb' -> its CIELAB (a*, b*). Its lightness is dropped: the photo's own L is kept."""
    if not isinstance(colour, str) or not _HEX.match(colour):
        raise ValueError(f"colour must be '#rrggbb', got {colour!r}")
    rgb = np.array([[[int(colour[i:i + 2], 16) for i in (1, 3, 5)]]], dtype=np.uint8)
    ab = rgb_to_l_ab(uint8_to_tensor(rgb))[1][0, :, 0, 0]
    return float(ab[0]), float(ab[1])


def hint_from_hex(x: float, y: float, colour: str) -> Hint:
    a, b = hex_to_ab(colour)
    return Hint(float(x), float(y), a, b)


class HintPoint(BaseModel):
    """One hint as the API, the CLI's --hints file and the web page give it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    x: float = Field(..., ge=0, allow_inf_nan=False, description="column in the uploaded image, in pixels (after "
                                                                 "EXIF orientation), 0 = left edge")
    y: float = Field(..., ge=0, allow_inf_nan=False, description="row in pixels, 0 = top edge")
    color: str = Field(..., pattern=r"^#[0-9a-fA-F]{6}$", description="the colour there, '#rrggbb' (its hue and "
                                                                      "saturation are used; the photo keeps its lightness)")


HINT_LIST = TypeAdapter(list[HintPoint])


def parse_hints_json(text: str, max_hints: int) -> list[Hint]:
    """'[{"x": 40, "y": 30, "color": "#d9a066"}, ...]' -> hints; ValueError naming the item and key at fault."""
    try:
        points = HINT_LIST.validate_json(text)
    except ValidationError as err:
        first = err.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
        raise ValueError(f"hints{where}: {first['msg']}"
                         + (f" (got {str(first.get('input'))[:60]!r})" if first["type"] != "json_invalid" else "")) from None
    if len(points) > max_hints:
        raise ValueError(f"hints: {len(points)} points; at most {max_hints}")
    return [hint_from_hex(p.x, p.y, p.color) for p in points]


def check_hints(hints: list[Hint], height: int, width: int) -> None:
    """Every hint inside the photo (0 <= x < width, 0 <= y < height), with finite numbers."""
    for index, hint in enumerate(hints):
        if not all(math.isfinite(v) for v in (hint.x, hint.y, hint.a, hint.b)):
            raise ValueError(f"hint {index}: coordinates and colour must be finite numbers")
        if not (0 <= hint.x < width and 0 <= hint.y < height):
            raise ValueError(f"hint {index}: ({hint.x:g}, {hint.y:g}) lies outside the {width}×{height} image")


def hint_points(hints: list[Hint], height: int, width: int, work_h: int, work_w: int) -> torch.Tensor:
    """Hints in photo pixels -> the colouriser's point input, 1×K×POINT_FIELDS at the working size; no
    hints gives one void point (valid 0), so every graph sees at least one row."""
    rows = [[min(work_h - 1, max(0, int((h.y + 0.5) * work_h / height))),
             min(work_w - 1, max(0, int((h.x + 0.5) * work_w / width))), h.a / AB_SCALE, h.b / AB_SCALE, 1.0]
            for h in hints]
    return torch.tensor(rows or [[0.0, 0.0, 0.0, 0.0, 0.0]], dtype=torch.float32)[None]


def no_points(count: int = 1) -> torch.Tensor:
    return torch.zeros(count, 1, POINT_FIELDS)


def palette_of(ab: torch.Tensor) -> torch.Tensor:
    """ab/110 (N×2×H×W) -> N×PALETTE_SIZE: the normalised PALETTE_BINS² histogram over ±PALETTE_RANGE,
    then the flag 1 (a palette is given). Colours beyond the range fall into the outermost bins."""
    scaled = (ab * AB_SCALE + PALETTE_RANGE) / (2 * PALETTE_RANGE) * PALETTE_BINS
    index = scaled.floor().clamp(0, PALETTE_BINS - 1).long()
    flat = (index[:, 0] * PALETTE_BINS + index[:, 1]).flatten(1)
    histogram = torch.zeros(ab.shape[0], PALETTE_BINS * PALETTE_BINS, dtype=ab.dtype, device=ab.device)
    histogram.scatter_add_(1, flat, torch.ones_like(flat, dtype=ab.dtype))
    histogram = histogram / flat.shape[1]
    return torch.cat([histogram, torch.ones_like(histogram[:, :1])], dim=1)


def reference_palette(rgb: np.ndarray) -> torch.Tensor:
    """A reference photo (H×W×3 uint8) -> its palette, 1×PALETTE_SIZE (taken at PALETTE_SIDE)."""
    image = uint8_to_tensor(rgb)
    height, width = rgb.shape[:2]
    if max(height, width) > PALETTE_SIDE:
        scale = PALETTE_SIDE / max(height, width)
        image = F.interpolate(image, size=(max(1, round(height * scale)), max(1, round(width * scale))),
                              mode="area")
    return palette_of(rgb_to_l_ab(image)[1] / AB_SCALE)


def no_palette(count: int = 1) -> torch.Tensor:
    return torch.zeros(count, PALETTE_SIZE)


# -- simulated hints for training and evaluation ---------------------------------------------------
@dataclass(frozen=True)
class HintPlan:
    """The random draws of one global batch's simulated hints (sharded like the batch under DDP)."""

    counts: torch.Tensor  # N: points per crop (0 for many)
    centres: torch.Tensor  # N×K×2 (row, col)
    radii: torch.Tensor  # N×K
    palette: torch.Tensor  # N: 1 where the crop gets a palette
    palette_box: torch.Tensor  # N×2 (top, left) of the half-side crop its palette is taken from


def draw_hint_plan(rng: np.random.Generator, count: int, side: int, none_p: float, mean_points: float,
                   max_points: int, max_radius: int, palette_p: float) -> HintPlan:
    """Zhang et al.'s simulation: points per crop geometric (mean `mean_points`, capped), none at all
    with probability `none_p`; uniform positions; patch radii 0..max_radius; a palette with
    probability `palette_p`, from a random half-side crop of the same photo (not the crop itself)."""
    hinted = rng.random(count) >= none_p
    counts = np.minimum(rng.geometric(1.0 / max(1.0, mean_points), count), max_points) * hinted
    centres = rng.integers(0, side, size=(count, max_points, 2))
    radii = rng.integers(0, max_radius + 1, size=(count, max_points))
    palette = rng.random(count) < palette_p
    boxes = rng.integers(0, side - side // 2 + 1, size=(count, 2))
    return HintPlan(*(torch.from_numpy(np.asarray(a)) for a in (counts, centres, radii, palette, boxes)))


def shard_plan(plan: HintPlan, shard) -> HintPlan:
    """This rank's rows of a global batch's plan (Distributed.shard)."""
    return HintPlan(*(shard(t) for t in (plan.counts, plan.centres, plan.radii, plan.palette, plan.palette_box)))


def render_plan(ab: torch.Tensor, plan: HintPlan) -> tuple[torch.Tensor, torch.Tensor]:
    """True ab/110 (N×2×S×S) and a plan -> (points N×K×POINT_FIELDS, palette N×PALETTE_SIZE). A point's
    colour is the true mean ab over its (2r+1)² patch, as a user picks the colour of a region."""
    count, _, height, width = ab.shape
    device, max_radius = ab.device, int(plan.radii.max()) if plan.radii.numel() else 0
    means = torch.stack([F.avg_pool2d(ab, 2 * r + 1, stride=1, padding=r, count_include_pad=False)
                         for r in range(max_radius + 1)])  # R×N×2×S×S
    centres, radii = plan.centres.to(device), plan.radii.to(device)
    rows, cols = centres[..., 0].clamp(0, height - 1), centres[..., 1].clamp(0, width - 1)
    batch = torch.arange(count, device=device)[:, None].expand_as(rows)
    colours = means[radii, batch, :, rows, cols]  # N×K×2
    valid = (torch.arange(rows.shape[1], device=device)[None] < plan.counts.to(device)[:, None]).to(ab.dtype)
    points = torch.cat([rows[..., None].to(ab.dtype), cols[..., None].to(ab.dtype), colours * valid[..., None],
                        valid[..., None]], dim=-1)
    points = points[:, :max(1, int(plan.counts.max()))]  # no columns that are void in every crop: they cost
    half = height // 2, width // 2
    crops = torch.stack([ab[i, :, top:top + half[0], left:left + half[1]]
                         for i, (top, left) in enumerate(plan.palette_box.tolist())])
    palette = palette_of(crops) * plan.palette.to(device, ab.dtype)[:, None]
    return points, palette


class GuidedHead(nn.Module):
    """What turns the automatic colouriser into a guided one (module docstring): the palette's shift of
    the bottleneck, its pull on the output's ab, and the propagation of the hint points."""

    def __init__(self, feature_channels: int, bottleneck_channels: int):
        super().__init__()
        self.palette_shift = nn.Linear(PALETTE_SIZE, bottleneck_channels)
        self.embed = nn.Conv2d(feature_channels, EMBEDDING_CHANNELS, kernel_size=1)
        # Scalars learn at 10× the decoder's rate (trainer.SCALAR_LR_FACTOR); their starts are where a model
        # trained from other starts (0 and -2 for the logits) did best on the validation photos (seed 42):
        # 5 hints +2.59 dB against +2.04, its own palette +1.87 against +0.73.
        self.log_affinity = nn.Parameter(torch.zeros(()))  # how sharply embedding distance separates pixels
        self.log_reach = nn.Parameter(torch.tensor(math.log(0.25)))  # spatial reach, share of the shorter side
        self.null_logit = nn.Parameter(torch.tensor(-2.0))  # the weight of "no hint speaks for this pixel"
        self.pull_logit = nn.Parameter(torch.tensor(2.0))  # how far ab moves towards the palette's colours
        self.log_spread = nn.Parameter(torch.tensor(math.log(0.02)))  # squared ab/110 distance of "near"
        centres = (torch.arange(PALETTE_BINS) + 0.5) / PALETTE_BINS * 2 * PALETTE_RANGE - PALETTE_RANGE
        grid = torch.stack(torch.meshgrid(centres, centres, indexing="ij"), dim=-1).reshape(-1, 2) / AB_SCALE
        self.register_buffer("bin_centres", grid, persistent=False)  # B²×2, in palette_of's bin order

    def shift(self, bottleneck: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
        return bottleneck + self.palette_shift(palette)[:, :, None, None]

    def forward(self, ab: torch.Tensor, features: torch.Tensor, points: torch.Tensor,
                palette: torch.Tensor) -> torch.Tensor:
        """ab/110 N×2×H×W (the automatic output), decoder features at half its size, points
        N×K×POINT_FIELDS, palette N×PALETTE_SIZE -> the guided ab/110. The hints spread at half size (a
        quarter of the work; the correction is smooth where it is not an edge the embedding marks)."""
        ab = self._pull_to_palette(ab, palette)
        correction = self._propagate(ab, self.embed(features), points)
        correction = F.interpolate(correction, size=ab.shape[-2:], mode="bilinear", align_corners=False)
        return (ab + correction).clamp(-1.0, 1.0)

    def _pull_to_palette(self, ab: torch.Tensor, palette: torch.Tensor) -> torch.Tensor:
        """Each pixel's ab moved towards the palette's colours near it (a softmax over its PULL_BINS largest
        bins, weighted by their share): a muted right hue takes the reference's saturation; no palette, no
        change."""
        share, bins = palette[:, :-1].topk(PULL_BINS, dim=1)
        given, centres = palette[:, -1], self.bin_centres[bins]  # centres: N×M×2
        distance = ((ab[:, None] - centres[..., None, None]) ** 2).sum(dim=2)  # N×M×H×W
        logits = torch.log(share + 1e-6)[:, :, None, None] - distance / self.log_spread.exp()
        target = torch.einsum("nmhw,nmc->nchw", torch.softmax(logits, dim=1), centres)
        return ab + (torch.sigmoid(self.pull_logit) * given)[:, None, None, None] * (target - ab)

    def _propagate(self, ab: torch.Tensor, embedding: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Σ_k w_k(x)·error_k / (Σ_k w_k(x) + w_null): w_k from the embedding distance to point k and the
        spatial distance to it; error_k = hint colour − automatic ab at point k."""
        count, channels, height, width = embedding.shape  # half of ab's size
        valid = points[..., 4]  # N×K
        flat = (points[..., 0] * ab.shape[-1] + points[..., 1]).long()
        ab_at_points = ab.flatten(2).gather(2, flat[:, None, :].expand(-1, 2, -1))  # N×2×K
        rows, cols = (points[..., 0] / 2).floor().clamp(max=height - 1), (points[..., 1] / 2).floor().clamp(max=width - 1)
        flat = (rows * width + cols).long()
        at_points = embedding.flatten(2).gather(2, flat[:, None, :].expand(-1, channels, -1))  # N×D×K
        error = points[..., 2:4].transpose(1, 2) - ab_at_points  # N×2×K
        feature_distance = ((embedding ** 2).sum(dim=1, keepdim=True)
                            - 2 * torch.einsum("ndhw,ndk->nkhw", embedding, at_points)
                            + (at_points ** 2).sum(dim=1)[:, :, None, None])  # N×K×H×W
        ys = torch.arange(height, dtype=ab.dtype, device=ab.device)[None, None, :, None]
        xs = torch.arange(width, dtype=ab.dtype, device=ab.device)[None, None, None, :]
        side = torch.minimum(ys.amax(), xs.amax()) + 1  # a tensor, not a Python number: ONNX keeps it dynamic
        spatial = ((ys - rows[..., None, None]) ** 2 + (xs - cols[..., None, None]) ** 2) / (side * side)
        logits = (-self.log_affinity.exp() * feature_distance.clamp_min(0.0)
                  - spatial / (2 * (2 * self.log_reach).exp()))
        logits = logits.masked_fill(valid[..., None, None] < 0.5, -1e4)
        top = torch.maximum(logits.amax(dim=1, keepdim=True), self.null_logit)
        weights = (logits - top).exp()
        total = weights.sum(dim=1, keepdim=True) + (self.null_logit - top).exp()
        return torch.einsum("nkhw,nck->nchw", weights, error) / total


def simulated_user_hints(rgb: np.ndarray, count: int, rng: np.random.Generator, work_side: int) -> list[Hint]:
    """`count` hints on a whole photo as a user would give them (for the evaluation): uniform points,
    each coloured by the photo's true mean ab over about one working-size pixel around it."""
    if count == 0:
        return []
    height, width = rgb.shape[:2]
    radius = max(0, round(min(height, width) / max(1, work_side) / 2))
    ys, xs = rng.integers(0, height, count), rng.integers(0, width, count)
    hints = []
    for y, x in zip(ys.tolist(), xs.tolist()):
        patch = rgb[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]
        ab = rgb_to_l_ab(uint8_to_tensor(patch))[1].mean(dim=(0, 2, 3))
        hints.append(Hint(float(x), float(y), float(ab[0]), float(ab[1])))
    return hints
