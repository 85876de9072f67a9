"""Evaluate: the model, the grayscale input and the current champion, on the same test images.

Figures per system: colourfulness (mean, paper category), ΔCF against ground truth, offline
Fréchet distance and KID, PSNR and SSIM. For the stylizer: style loss to each evaluation style
at α = 0 (plain colourisation), 0.5 and 1, content loss, and the decoder's reconstruction error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

from chromastyle.colour import grayscale_rgb, rgb_to_l_ab, tensor_to_uint8, uint8_to_tensor
from chromastyle.metrics.colourfulness import colourfulness, colourfulness_category
from chromastyle.metrics.fid import fid_unavailable_reason, standard_fid
from chromastyle.metrics.frechet import FEATURE_NAME, frechet_and_kid
from chromastyle.metrics.grid import image_grid
from chromastyle.model.integrated import Chromastyle
from chromastyle.model.stylizer import content_loss, style_loss

log = logging.getLogger(__name__)
KID_SUBSET = 50


@dataclass
class Evaluation:
    metrics: dict  # nested: {"model": {...}, "grayscale": {...}, "champion"?: {...}, "style": {...}}
    per_image: pd.DataFrame
    grid: np.ndarray


def system_metrics(outputs: np.ndarray, truth: np.ndarray) -> dict[str, float | str]:
    """Quality figures of one system's outputs against ground truth (both N×H×W×3 uint8)."""
    if outputs.shape != truth.shape:
        raise ValueError(f"outputs {outputs.shape} and ground truth {truth.shape} differ: "
                         f"evaluate on the same images")
    cf_out = float(np.mean([colourfulness(x) for x in outputs]))
    cf_true = float(np.mean([colourfulness(x) for x in truth]))
    out_t, true_t = uint8_to_tensor(outputs), uint8_to_tensor(truth)
    frechet, kid_mean, kid_std = frechet_and_kid(_as_uint8_nchw(truth), _as_uint8_nchw(outputs))
    figures = {
        "colourfulness": cf_out,
        "colourfulness_category": colourfulness_category(cf_out),
        "delta_cf": abs(cf_out - cf_true),
        "frechet_offline": frechet,
        "kid_offline": kid_mean,
        "psnr": float(peak_signal_noise_ratio(out_t, true_t, data_range=1.0)),
        "ssim": float(structural_similarity_index_measure(out_t, true_t, data_range=1.0)),
    }
    if len(truth) > KID_SUBSET:  # with fewer images every KID subset is the whole set: its std is noise
        figures["kid_offline_std"] = kid_std
    return figures


def _as_uint8_nchw(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


@torch.no_grad()
def colourise_all(model: Chromastyle, truth: np.ndarray, batch_size: int = 16) -> np.ndarray:
    """Colourise the lightness of every ground-truth image; N×H×W×3 uint8."""
    outputs = []
    for start in range(0, len(truth), batch_size):
        lightness, _ = rgb_to_l_ab(uint8_to_tensor(truth[start:start + batch_size]))
        outputs.append(tensor_to_uint8(model.colorize(lightness)))
    return np.concatenate(outputs)


@torch.no_grad()
def style_metrics(model: Chromastyle, colourised: np.ndarray, styles: np.ndarray, style_names: list[str],
                  alphas: list[float]) -> dict[str, float]:
    """Style loss (to the style image) of plain and stylised outputs; content loss; reconstruction."""
    content = uint8_to_tensor(colourised)
    encoder = model.encoder
    content_features = encoder(content)
    figures: dict[str, float] = {}
    for name, style_image in zip(style_names, styles):
        style = uint8_to_tensor(style_image)
        style_features = [f.expand(len(content), -1, -1, -1) for f in encoder(style)]
        figures[f"{name}/style_loss_alpha0"] = float(style_loss(content_features, style_features))
        for alpha in alphas:
            out = model.stylize(content, [style], alpha=alpha)
            out_features = encoder(out)
            figures[f"{name}/style_loss_alpha{alpha:g}"] = float(style_loss(out_features, style_features))
            figures[f"{name}/content_loss_alpha{alpha:g}"] = float(
                content_loss(out_features[-1], content_features[-1]))
    reconstruction = model.decoder(encoder.encode(content))[..., : content.shape[2], : content.shape[3]]
    figures["decoder_reconstruction_l1"] = float((reconstruction.clamp(0, 1) - content).abs().mean())
    return figures


def evaluate(model: Chromastyle, truth: np.ndarray, names: list[str], styles: np.ndarray, style_names: list[str],
             alphas: list[float], champion: Chromastyle | None = None, grid_images: int = 6) -> Evaluation:
    """All figures, a per-image table and a sample grid, for the model and its baselines."""
    model.eval()
    outputs = {"model": colourise_all(model, truth),
               "grayscale": tensor_to_uint8(grayscale_rgb(uint8_to_tensor(truth)))}
    if champion is not None:
        outputs["champion"] = colourise_all(champion.eval(), truth)
    metrics: dict = {name: system_metrics(out, truth) for name, out in outputs.items()}
    metrics["style"] = style_metrics(model, outputs["model"], styles, style_names, alphas)
    metrics["frechet_backbone"] = FEATURE_NAME
    reason = fid_unavailable_reason()
    if reason is None:
        for system, out in outputs.items():
            metrics[system]["fid"] = standard_fid(_as_uint8_nchw(truth), _as_uint8_nchw(out))
    else:
        metrics["fid_unavailable"] = reason
    metrics["test_images"] = len(truth)
    per_image = _per_image_table(outputs, truth, names)
    grid = _sample_grid(model, outputs, truth, styles, style_names, grid_images)
    for system in outputs:
        log.info("%-9s CF %.1f  ΔCF %.1f  Fréchet(offline) %.3f  PSNR %.2f", system,
                 metrics[system]["colourfulness"], metrics[system]["delta_cf"], metrics[system]["frechet_offline"],
                 metrics[system]["psnr"])
    return Evaluation(metrics, per_image, grid)


def _per_image_table(outputs: dict[str, np.ndarray], truth: np.ndarray, names: list[str]) -> pd.DataFrame:
    rows = []
    for i, name in enumerate(names):
        row = {"image": name, "cf_ground_truth": colourfulness(truth[i])}
        true_t = uint8_to_tensor(truth[i])
        for system, out in outputs.items():
            row[f"cf_{system}"] = colourfulness(out[i])
            row[f"psnr_{system}"] = float(peak_signal_noise_ratio(uint8_to_tensor(out[i]), true_t, data_range=1.0))
        rows.append(row)
    return pd.DataFrame(rows)


@torch.no_grad()
def _sample_grid(model: Chromastyle, outputs: dict[str, np.ndarray], truth: np.ndarray, styles: np.ndarray,
                 style_names: list[str], count: int) -> np.ndarray:
    count = min(count, len(truth))
    columns = [outputs["grayscale"][:count], outputs["model"][:count]]
    titles = ["input (L)", "model"]
    if "champion" in outputs:
        columns.append(outputs["champion"][:count])
        titles.append("champion")
    columns.append(truth[:count])
    titles.append("ground truth")
    content = uint8_to_tensor(outputs["model"][:count])
    for name, style in zip(style_names, styles):
        columns.append(tensor_to_uint8(model.stylize(content, [uint8_to_tensor(style)], alpha=1.0)))
        titles.append(name)
    return image_grid(columns, titles)
