"""Stylizer: AdaIN arbitrary style transfer (Huang & Belongie 2017) with the seed's fusion

    H_SF = α·AdaIN(H_S, H_T) + (1 − α)·H_S

H_S = E(content), H_T = E(style), E the loss network's encoder; a trained decoder maps H_SF
back to an image. Several styles mix as Σ w_k·AdaIN(H_S, H_T_k) with weights summing to 1.
"""

from __future__ import annotations

import torch
from torch import nn

EPS = 1e-5


def channel_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over space: N×C×H×W -> (N×C×1×1, N×C×1×1)."""
    mean = features.mean(dim=(2, 3), keepdim=True)
    std = (features.var(dim=(2, 3), keepdim=True, unbiased=False) + EPS).sqrt()
    return mean, std


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


def _cdf(channel: torch.Tensor, bins: int = PALETTE_LEVELS) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, cumulative share) at the bins' edges of one channel in [0, 1]: its distribution, from a
    histogram (a sort of every pixel costs ~20× more on a 512² photo)."""
    hist = torch.histc(channel.float(), bins=bins, min=0.0, max=1.0)
    cdf = torch.cat([hist.new_zeros(1), hist.cumsum(0) / hist.sum().clamp_min(1.0)])
    return torch.linspace(0.0, 1.0, bins + 1, device=channel.device), cdf


def palette(rgb: torch.Tensor, levels: int = PALETTE_LEVELS) -> torch.Tensor:
    """Per-image, per-channel quantiles of the pixels: N×3×levels. An image's palette as three 1-D
    distributions; a mix of styles mixes these (quantile averaging is the 1-D Wasserstein barycentre)."""
    # Just inside (0, 1): the first and last quantiles are where the occupied bins begin and end.
    shares = torch.linspace(0.0, 1.0, levels, device=rgb.device).clamp(1e-6, 1.0 - 1e-6)
    out = rgb.new_empty(rgb.shape[0], rgb.shape[1], levels, dtype=torch.float32)
    for n in range(rgb.shape[0]):
        for c in range(rgb.shape[1]):
            values, cdf = _cdf(rgb[n, c])
            out[n, c] = _interpolate(shares, cdf, values)
    return out


def _interpolate(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """np.interp for 1-D tensors: piecewise-linear through (xp, fp), xp non-decreasing; flat outside."""
    index = torch.searchsorted(xp, x.contiguous()).clamp(1, xp.numel() - 1)
    x0, x1, f0, f1 = xp[index - 1], xp[index], fp[index - 1], fp[index]
    t = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0.0, 1.0)
    return f0 + t * (f1 - f0)


def _on_uniform_grid(x: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """_interpolate where xp is the uniform grid 0..1 of len(fp) points: an index computation, not a
    search (5× faster on a 512² photo)."""
    position = x.clamp(0.0, 1.0) * (fp.numel() - 1)
    index = position.floor().long().clamp(max=fp.numel() - 2)
    return torch.lerp(fp[index], fp[index + 1], position - index)


def match_palette(rgb: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Histogram specification per channel: each pixel value goes to the target palette's value at the
    same quantile, so the image takes the painting's colours and keeps its own order of light and dark.

    rgb N×3×H×W in [0, 1]; target N×3×L or 1×3×L (palette()). Why: the decoder, trained minutes on
    feature statistics, moves the colours only part of the way (measured in a judge network: the /2
    stage's style loss fell 45 % with the stylizer against 70 % for a real peer), and a painting's
    palette is the first thing a viewer recognises it by."""
    rgb = rgb.contiguous()  # channel planes contiguous: a channels_last photo costs 2× otherwise
    out = torch.empty_like(rgb)
    for n in range(rgb.shape[0]):
        goal = target[min(n, target.shape[0] - 1)]
        for c in range(rgb.shape[1]):
            share = _on_uniform_grid(rgb[n, c], _cdf(rgb[n, c])[1])  # the pixel's quantile in its own image
            out[n, c] = _on_uniform_grid(share, goal[c])
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
