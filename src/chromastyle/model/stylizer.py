"""Stylizer: AdaIN arbitrary style transfer (Huang & Belongie 2017) with the seed's fusion

    H_SF = α·AdaIN(H_S, H_T) + (1 − α)·H_S

H_S = E(content), H_T = E(style), E the loss network's encoder; a trained decoder maps H_SF
back to an image. Several styles mix as Σ w_k·AdaIN(H_S, H_T_k) with weights summing to 1.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EPS = 1e-5


def channel_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over space: N×C×H×W -> (N×C×1×1, N×C×1×1)."""
    var, mean = torch.var_mean(features, dim=(2, 3), correction=0, keepdim=True)  # one pass, not two
    return mean, (var + EPS).sqrt()


def adain(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Give `content` features the channel mean/std of `style` features (N or 1 style rows)."""
    c_mean, c_std = channel_stats(content)
    s_mean, s_std = channel_stats(style)
    return (content - c_mean) / c_std * s_std + s_mean


def fuse(content: torch.Tensor, styles: list[torch.Tensor], weights: list[float], alpha: float) -> torch.Tensor:
    """H_SF = α·Σ_k w_k·AdaIN(H_S, H_T_k) + (1 − α)·H_S."""
    stylised = sum(w * adain(content, s) for w, s in zip(weights, styles))
    return alpha * stylised + (1.0 - alpha) * content


PALETTE_LEVELS = 256  # histogram bins per channel (the levels of 8-bit colour), and quantiles of a palette
LOOKUP_KNOTS = 4096  # knots of the per-channel lookup table match_palette applies (16 per histogram bin)


def _channel_cdfs(rgb: torch.Tensor, knots: int = PALETTE_LEVELS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One image's (C×H×W in [0, 1]) channel distributions, from a histogram of PALETTE_LEVELS bins each:
    (cdf C×(PALETTE_LEVELS+1) at the bins' edges, each value's knot C×HW (channel offset added, knots per
    channel = `knots` + 1), its fraction of the way to the next knot).

    One bincount over all channels instead of a histc per channel: 4× faster on the pinned kernels, and a
    sort of every pixel would cost ~20× more on a 512² photo."""
    channels = rgb.shape[0]
    position = rgb.reshape(channels, -1).contiguous().clamp(0.0, 1.0) * knots
    knot = position.floor().clamp_(max=knots - 1)
    fraction = position - knot
    # Each channel's knots in their own row of a flat table: the offset is added before the integer
    # conversion (an int64 add of every pixel costs 4× a float one here).
    knot = knot.add_(torch.arange(channels, device=rgb.device, dtype=knot.dtype).view(channels, 1) * (knots + 1)).long()
    # Counted per knot interval, then summed into the histogram's bins (no division of every pixel's index).
    hist = torch.bincount(knot.view(-1), minlength=channels * (knots + 1)).view(channels, knots + 1)[:, :knots]
    hist = hist.reshape(channels, PALETTE_LEVELS, knots // PALETTE_LEVELS).sum(2).float()
    cdf = torch.cat([hist.new_zeros(channels, 1), hist.cumsum(1) / hist.sum(1, keepdim=True).clamp_min(1.0)], dim=1)
    return cdf, knot, fraction


def _on_uniform_grids(x: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Row-wise np.interp(x[c], linspace(0, 1, L), fp[c]): x C×M in [0, 1], fp C×L -> C×M. An index
    computation, not a search (the knots are uniform)."""
    position = x.clamp(0.0, 1.0) * (fp.shape[1] - 1)
    index = position.floor().long().clamp(max=fp.shape[1] - 2)
    return torch.lerp(fp.gather(1, index), fp.gather(1, index + 1), position - index)


def palette(rgb: torch.Tensor, levels: int = PALETTE_LEVELS) -> torch.Tensor:
    """Per-image, per-channel quantiles of the pixels: N×3×levels. An image's palette as three 1-D
    distributions; a mix of styles mixes these (quantile averaging is the 1-D Wasserstein barycentre)."""
    out = rgb.new_empty(rgb.shape[0], rgb.shape[1], levels, dtype=torch.float32)
    for n in range(rgb.shape[0]):
        out[n] = _quantiles(_channel_cdfs(rgb[n].float())[0], levels)
    return out


def _quantiles(cdf: torch.Tensor, levels: int) -> torch.Tensor:
    """Rows of CDFs at the PALETTE_LEVELS bins' edges (R×(PALETTE_LEVELS+1)) -> each row's value at
    `levels` evenly spaced shares, interpolated within the bin (R×levels)."""
    # Just inside (0, 1): the first and last quantiles are where the occupied bins begin and end.
    shares = torch.linspace(0.0, 1.0, levels, device=cdf.device).clamp(1e-6, 1.0 - 1e-6)
    edges = torch.linspace(0.0, 1.0, PALETTE_LEVELS + 1, device=cdf.device)
    index = torch.searchsorted(cdf, shares.expand(cdf.shape[0], -1).contiguous()).clamp(1, PALETTE_LEVELS)
    c0, c1 = cdf.gather(1, index - 1), cdf.gather(1, index)
    t = ((shares - c0) / (c1 - c0).clamp_min(1e-12)).clamp(0.0, 1.0)
    return torch.lerp(edges[index - 1], edges[index], t)


def match_palette(rgb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Histogram specification per channel: each pixel value goes to the target palette's value at the
    same quantile, so the image takes the painting's colours and keeps its own order of light and dark.

    rgb N×3×H×W in [0, 1]; target N×3×L or 1×3×L (palette()). Why: the decoder, trained minutes on
    feature statistics, moves the colours only part of the way (measured in a judge network: the /2
    stage's style loss fell 45 % with the stylizer against 70 % for a real peer), and a painting's
    palette is the first thing a viewer recognises it by.

    How: the map value -> own quantile -> target value is tabulated per channel at LOOKUP_KNOTS points and
    each pixel reads it off its table (one gather and a lerp per pixel, not two interpolations: 5.9 -> 1.5 ms
    on a colourised 224 × 299 photo with the pinned kernels; within 0.0007 of the two-step map on a random
    image of that size, 0.005 where a tenth of the pixels share one bin)."""
    rgb = rgb.contiguous()  # channel planes contiguous: a channels_last photo costs 2× otherwise
    out = torch.empty_like(rgb)
    knots = torch.linspace(0.0, 1.0, LOOKUP_KNOTS + 1, device=rgb.device)
    for n in range(rgb.shape[0]):
        goal = target[min(n, target.shape[0] - 1)].float()
        cdf, knot, fraction = _channel_cdfs(rgb[n], LOOKUP_KNOTS)
        shares = _on_uniform_grids(knots.expand(cdf.shape[0], -1), cdf)  # each knot's quantile in its own image
        table = _on_uniform_grids(shares, goal)  # C×(LOOKUP_KNOTS+1): the map at each knot
        slope = torch.cat([table.diff(dim=1), table.new_zeros(table.shape[0], 1)], dim=1)
        index = knot.view(-1)
        torch.addcmul(table.reshape(-1).index_select(0, index), fraction.view(-1),
                      slope.reshape(-1).index_select(0, index), out=out[n].view(-1))
    return out


LUMA = (0.299, 0.587, 0.114)  # Rec. 601 weights: what orders a photo's pixels from dark to light for the bands


def _luma_ranks(rgb: torch.Tensor) -> torch.Tensor:
    """Each pixel's share of the image darker than it (H·W in [0, 1]), from a histogram of its luma (no
    sort): what assigns pixels to the brightness bands of banded_palette and match_banded_palette.
    Written in few whole-image operations: at a 224 × 299 working size each costs ~0.1 ms here."""
    position = torch.tensordot(rgb.new_tensor(LUMA), rgb, dims=1).reshape(-1).mul_(PALETTE_LEVELS)
    index = position.long().clamp_(0, PALETTE_LEVELS - 1)
    share = torch.bincount(index, minlength=PALETTE_LEVELS).to(rgb.dtype).div_(index.numel())
    below = share.cumsum(0) - share  # the share of pixels in lower bins
    return torch.addcmul(below.index_select(0, index), position.sub_(index), share.index_select(0, index))


def _banded_histograms(rgb: torch.Tensor, ranks: torch.Tensor, bands: int) -> torch.Tensor:
    """Per band and channel, the histogram (PALETTE_LEVELS bins) of the pixels whose luma rank falls in
    that band: B×3×levels, from one bincount over every (band, channel, bin). A band left empty (a flat
    image puts every pixel in one) takes the whole image's histogram."""
    band = ranks.mul(bands).long().clamp_(0, bands - 1)
    index = rgb.reshape(3, -1).mul(PALETTE_LEVELS).long().clamp_(0, PALETTE_LEVELS - 1)
    index.add_(torch.arange(0, 3 * PALETTE_LEVELS, PALETTE_LEVELS, device=rgb.device).view(3, 1))
    index.add_(band.view(1, -1) * (3 * PALETTE_LEVELS))
    hist = torch.bincount(index.reshape(-1), minlength=bands * 3 * PALETTE_LEVELS).view(
        bands, 3, PALETTE_LEVELS).float()
    return torch.where(hist.sum(-1, keepdim=True) == 0, hist.sum(0, keepdim=True), hist)


def _cdfs_of(hist: torch.Tensor) -> torch.Tensor:
    """...×levels histograms -> ...×(levels+1) CDFs at the bins' edges (an empty histogram gives all zeros)."""
    cdf = hist.cumsum(-1) / hist.sum(-1, keepdim=True).clamp_min(1.0)
    return torch.cat([hist.new_zeros(*hist.shape[:-1], 1), cdf], dim=-1)


def banded_palette(rgb: torch.Tensor, bands: int, levels: int = PALETTE_LEVELS) -> torch.Tensor:
    """An image's palette per brightness band: N×B×3×levels channel quantiles of the pixels whose luma
    rank falls in each of `bands` equal shares (the darkest 1/bands, the next, ...). A mix of styles mixes
    these band by band (the 1-D Wasserstein barycentre of each).

    Why: palette() matches each channel over the whole image, so a near-gray photo gets one tone curve
    per channel, and where the painting puts different hues at different brightness (Van Gogh's yellow
    lamps and blue-violet night) the photo gets an average of them. Matched band by band, the photo's
    shadows take the painting's shadow colours and its lights the painting's lights."""
    out = rgb.new_empty(rgb.shape[0], bands, 3, levels, dtype=torch.float32)
    for n in range(rgb.shape[0]):
        image = rgb[n].float().contiguous()
        cdf = _cdfs_of(_banded_histograms(image, _luma_ranks(image), bands)).view(bands * 3, -1)
        out[n] = _quantiles(cdf, levels).view(bands, 3, levels)
    return out


def match_banded_palette(rgb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """match_palette band by band: rgb N×3×H×W in [0, 1], target N×B×3×L or 1×B×3×L (banded_palette).

    Each band's map (value -> its quantile among the photo's pixels of that band -> the painting's band
    value at that quantile) is tabulated at the histogram's bin edges; a pixel reads its channel's
    tables of the two bands nearest its luma rank, interpolated between them (one grid_sample for all
    three channels), so a gradient of brightness crosses band edges without a seam."""
    bands = target.shape[1]
    out = torch.empty_like(rgb)
    for n in range(rgb.shape[0]):
        image = rgb[n].contiguous()
        goal = target[min(n, target.shape[0] - 1)].float()  # B×3×L
        ranks = _luma_ranks(image)
        shares = _cdfs_of(_banded_histograms(image, ranks, bands))  # B×3×(levels+1): bin edges' quantiles in their band
        tables = _on_uniform_grids(shares.reshape(bands * 3, -1), goal.reshape(bands * 3, -1))
        tables = tables.view(bands, 3, -1).permute(1, 0, 2).unsqueeze(1)  # 3×1×B×(levels+1): a channel per row
        # grid_sample coordinates (align_corners): x the pixel's value, y its band position (band centres
        # at (b + 0.5) / B of the ranks; outside the first and last centre the nearest band's table).
        grid = torch.empty(3, 1, ranks.numel(), 2, dtype=image.dtype, device=image.device)  # 3×1×HW×(x, y)
        torch.mul(image.reshape(3, 1, -1), 2.0, out=grid[..., 0]).sub_(1.0)
        spacing = max(bands - 1, 1)  # band centres (b + 0.5) / B of the ranks -> rows -1 .. 1 of the tables
        grid[..., 1] = ranks.mul_(2.0 * bands / spacing).sub_(1.0 / spacing + 1.0)
        matched = F.grid_sample(tables, grid, mode="bilinear", padding_mode="border", align_corners=True)
        out[n] = matched.view(3, *image.shape[1:])
    return out


class Decoder(nn.Module):
    """Features (N×C×H/s×W/s, s = encoder downsampling) -> RGB N×3×H×W.

    Mirrors the encoder: 3×3 convs with reflection padding (no border artefacts) and nearest
    upsampling, no normalisation layers (they would wash out the statistics AdaIN just set).
    Width halves at every upsampling, from `width` (default: the encoder's own width).
    """

    def __init__(self, in_channels: int, upsamplings: int, width: int | None = None, padding: str = "reflect"):
        super().__init__()
        layers: list[nn.Module] = []
        channels = width or in_channels
        if channels != in_channels:
            layers.append(self._conv(in_channels, channels, padding))
        for _ in range(upsamplings):
            layers += [self._conv(channels, channels // 2, padding), nn.Upsample(scale_factor=2, mode="nearest"),
                       self._conv(channels // 2, channels // 2, padding)]
            channels //= 2
        layers += [self._conv(channels, channels, padding), nn.Conv2d(channels, 3, 3, padding=1, padding_mode=padding)]
        self.net = nn.Sequential(*layers)

    @staticmethod
    def _conv(in_ch: int, out_ch: int, padding: str) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode=padding), nn.ReLU(inplace=True))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


def style_loss(output_features: list[torch.Tensor], style_features: list[torch.Tensor]) -> torch.Tensor:
    """Σ over layers of L1 between channel means and between channel stds (per image, then mean)."""
    total = output_features[0].new_zeros(())
    for out, sty in zip(output_features, style_features):
        o_mean, o_std = channel_stats(out)
        s_mean, s_std = channel_stats(sty)
        total = total + (o_mean - s_mean).abs().mean() + (o_std - s_std).abs().mean()
    return total


def feature_scale(features: torch.Tensor) -> torch.Tensor:
    """Mean channel std of each image's feature maps (N×1×1×1), detached: the unit a layer's loss is
    measured in. Per image, not per batch, so a loss over a batch is the mean of its images' losses
    (and a batch split across data-parallel processes gives the same gradients)."""
    return channel_stats(features)[1].mean(dim=(1, 2, 3), keepdim=True).detach()


def relative_style_loss(output_features: list[torch.Tensor], style_features: list[torch.Tensor]) -> torch.Tensor:
    """style_loss with each layer in units of the style's own feature scale.

    EfficientNet's BatchNorm'd block outputs and its stem differ in scale by an order of magnitude;
    unnormalised, one layer drowns the others and the decoder learns no texture (measured: the
    judge's style loss fell 6 % instead of 46 % after 300 steps)."""
    total = output_features[0].new_zeros(())
    for out, sty in zip(output_features, style_features):
        scale = feature_scale(sty)
        total = total + style_loss([out / scale], [sty / scale])
    return total


def relative_content_loss(output_feature: torch.Tensor, target_feature: torch.Tensor) -> torch.Tensor:
    """content_loss in units of the target's feature scale (see relative_style_loss)."""
    scale = feature_scale(target_feature)
    return content_loss(output_feature / scale, target_feature / scale)


def relative_gram_style_loss(output_features: list[torch.Tensor], style_features: list[torch.Tensor]) -> torch.Tensor:
    """Σ over layers of L1 between the Gram matrices f·fᵀ/(h·w) of features in units of the style's own
    feature scale (see relative_style_loss): entries are channel correlations of order 1 in every layer,
    so no layer drowns the others. Gatys et al.'s texture statistic; relative_style_loss keeps only its
    diagonal (and the means)."""
    total = output_features[0].new_zeros(())
    for out, sty in zip(output_features, style_features):
        scale = feature_scale(sty)
        channels = out.shape[1]
        total = total + channels * (_gram(out / scale) - _gram(sty / scale)).abs().mean()
    return total


def gram_style_loss(output_features: list[torch.Tensor], style_features: list[torch.Tensor]) -> torch.Tensor:
    """Σ over layers of L1 between normalised Gram matrices (Gatys et al.), the other common choice."""
    total = output_features[0].new_zeros(())
    for out, sty in zip(output_features, style_features):
        total = total + (_gram(out) - _gram(sty)).abs().mean()
    return total


def _gram(features: torch.Tensor) -> torch.Tensor:
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (c * h * w)


def content_loss(output_feature: torch.Tensor, target_feature: torch.Tensor) -> torch.Tensor:
    """L2 (mean squared error) at the deepest (content) layer."""
    return nn.functional.mse_loss(output_feature, target_feature)
