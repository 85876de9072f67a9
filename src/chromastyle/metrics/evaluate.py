"""Evaluate as users see the model: whole photos at their own size through `Chromastyle.colorize`
(the CLI's and the service's code path: working resolution, ab upsampled onto the full-size L).

Three photo sets, reported separately: the test split of the training sources (the regression check
the gate judges), the validation split (whole sources held out of training: what recipe choices are
made on) and, when given, external-test (sources used nowhere else; read for the final report only,
never for a choice).
Systems on the same photos: the model, the grayscale input, and the current champion.
Figures per system: colourfulness (mean, paper category), ΔCF against ground truth, offline
Fréchet distance and KID, learned Fréchet distance and KID (EfficientNet-Lite0 features),
semantic agreement, PSNR and SSIM (means over photos).
For the stylizer, on 256² test crops: style loss to each evaluation style at α = 0 (plain
colourisation), 0.5 and 1 and content loss, in the loss network it was trained against and in the
seeded random network (the judge: a network the stylizer never saw); the decoder's reconstruction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageDraw

from chromastyle.colour import grayscale_rgb, l_ab_to_rgb, rgb_to_l_ab, tensor_to_uint8, uint8_to_tensor
from chromastyle.metrics.colourfulness import colourfulness, colourfulness_category
from chromastyle.metrics.fid import fid_unavailable_reason, standard_fid
from chromastyle.metrics.fidelity import hue_accuracy, psnr, ssim
from chromastyle.metrics.frechet import FEATURE_NAME, LabStatisticsFeatures, frechet_distance, kernel_distance
from chromastyle.metrics.grid import fit_cell, image_grid, label
from chromastyle.metrics.learned import LEARNED_NAME, LearnedFeatureMetrics
from chromastyle.config import PackageConfig
from chromastyle.data.prepare import load_originals, load_photo_folder
from chromastyle.inference import colorize_photo
from chromastyle.model.hints import Hint, simulated_user_hints
from chromastyle.model.integrated import Chromastyle
from chromastyle.model.loss_network import FeatureNetwork
from chromastyle.model.stylizer import content_loss, style_loss

log = logging.getLogger(__name__)

SYSTEMS = ("model", "grayscale", "champion")
STYLE_SIDE = 256  # the stylizer is judged on 256² test crops
CELL = 160  # px per side of a photo in sample grids and contact sheets
HINT_SHEET_PHOTOS = 12  # external-test photos on the hint sheet
KID_SUBSET = 50  # torchmetrics KID subset size used by kernel_distance


@dataclass
class PhotoSet:
    """Photos as users have them: each H×W×3 uint8 at its own size, with names."""

    name: str
    photos: list[np.ndarray]
    names: list[str]


def load_photo_sets(raw_dir: Path, prepared_dir: Path, external_dir: Path, limit: int) -> list[PhotoSet]:
    """test, validation and external-test, each photo whole and at its own size (at most `limit` each)."""
    return [PhotoSet("test", *load_originals(raw_dir, prepared_dir, "test", limit=limit)),
            PhotoSet("validation", *load_originals(raw_dir, prepared_dir, "val", limit=limit)),
            PhotoSet("external-test", *load_photo_folder(external_dir, limit))]


@dataclass
class Evaluation:
    metrics: dict  # {"model", "grayscale", "champion"?: test split; "external": {...}; "style": {...}; ...}
    per_image: pd.DataFrame
    grid: np.ndarray  # test split: input | model | (champion) | truth | styles
    external_sheet: np.ndarray | None  # external-test: input | model | truth
    hint_sheet: np.ndarray | None = None  # external-test: automatic | 5 hints | own palette | truth (hint models)


@torch.no_grad()
def colourise_photos(model: Chromastyle, photos: list[np.ndarray], limits: PackageConfig | None = None) -> list[np.ndarray]:
    """Each photo at its own size through chromastyle.inference.colorize_photo under the service's
    bounds (package.*): the code path of the CLI and the service, byte for byte."""
    model.eval()
    limits = limits or PackageConfig()
    return [colorize_photo(model, rgb, limits) for rgb in photos]


def user_hints(photos: list[np.ndarray], count: int, seed: int, work_side: int) -> list[list[Hint]]:
    """`count` simulated user hints per photo, seeded by (seed, count, photo index): the same on every run."""
    return [simulated_user_hints(rgb, count, np.random.default_rng([seed, count, index]), work_side)
            for index, rgb in enumerate(photos)]


def hinted_outputs(model: Chromastyle, photos: list[np.ndarray], counts: list[int], seed: int,
                   limits: PackageConfig) -> dict[str, list[np.ndarray]]:
    """Each photo colourised with k simulated user hints for each k of `counts` ("hints<k>") and with its
    own palette ("palette")."""
    outputs = {f"hints{k}": [colorize_photo(model, rgb, limits, hints) for rgb, hints in
                             zip(photos, user_hints(photos, k, seed, model.cfg.work_side))] for k in counts}
    outputs["palette"] = [colorize_photo(model, rgb, limits, reference=rgb) for rgb in photos]
    return outputs


def mark_hints(rgb: np.ndarray, hints: list[Hint]) -> np.ndarray:
    """The photo with each hint drawn where it was given: a dot of its colour ringed in white and black."""
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image)
    radius = max(4, round(min(rgb.shape[:2]) * 0.025))  # visible on the sheet's shrunk photos
    for hint in hints:
        colour = tuple(int(v) for v in tensor_to_uint8(l_ab_to_rgb(torch.full((1, 1, 1, 1), 60.0),
                                                                   torch.tensor([[[[hint.a]], [[hint.b]]]])))[0, 0, 0])
        box = (hint.x - radius, hint.y - radius, hint.x + radius, hint.y + radius)
        draw.ellipse(box, fill=colour, outline=(0, 0, 0), width=max(1, radius // 3))
        draw.ellipse((box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1), outline=(255, 255, 255), width=1)
    return np.asarray(image)


def hint_figures(automatic: list[np.ndarray], guided: dict[str, list[np.ndarray]],
                 truth: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """PSNR, ΔCF and hue accuracy of the automatic and each guided output, with each guided one's PSNR
    gain over the automatic output of the same model on the same photos."""
    cf_true = float(np.mean([colourfulness(t) for t in truth]))

    def figures(outputs: list[np.ndarray]) -> dict[str, float]:
        return {"psnr": float(np.mean([psnr(o, t) for o, t in zip(outputs, truth)])),
                "delta_cf": abs(float(np.mean([colourfulness(o) for o in outputs])) - cf_true),
                "hue_accuracy": hue_accuracy(outputs, truth)}

    table = {"automatic": figures(automatic)}
    for name, outputs in guided.items():
        table[name] = figures(outputs)
        table[name]["psnr_gain"] = table[name]["psnr"] - table["automatic"]["psnr"]
    return table


def grayscale_photos(photos: list[np.ndarray]) -> list[np.ndarray]:
    """The grayscale baseline: what a user's black-and-white photo looks like (L kept, ab = 0)."""
    return [tensor_to_uint8(grayscale_rgb(uint8_to_tensor(rgb)))[0] for rgb in photos]


def offline_features(images: list[np.ndarray]) -> torch.Tensor:
    """The weight-free colour + structure features, one row per own-size image."""
    extractor = LabStatisticsFeatures()
    with torch.no_grad():
        return torch.cat([extractor(torch.from_numpy(np.ascontiguousarray(i)).permute(2, 0, 1)[None]) for i in images])


def system_metrics(outputs: list[np.ndarray], truth: list[np.ndarray], learned: LearnedFeatureMetrics | None = None,
                   truth_features: torch.Tensor | None = None) -> dict[str, float | str]:
    """Quality figures of one system's outputs against ground truth (same photos, same sizes)."""
    if len(outputs) != len(truth) or any(o.shape != t.shape for o, t in zip(outputs, truth)):
        raise ValueError("outputs and ground truth differ in count or size: evaluate on the same images")
    cf_out = float(np.mean([colourfulness(x) for x in outputs]))
    cf_true = float(np.mean([colourfulness(x) for x in truth]))
    real = truth_features if truth_features is not None else offline_features(truth)
    fake = offline_features(outputs)
    with torch.random.fork_rng():
        torch.manual_seed(0)  # KID draws random subsets: the same draw for every system and run
        kid_mean, kid_std = kernel_distance(real, fake)
        figures = {
            "colourfulness": cf_out,
            "colourfulness_category": colourfulness_category(cf_out),
            "delta_cf": abs(cf_out - cf_true),
            "frechet_offline": frechet_distance(real, fake),
            "kid_offline": kid_mean,
            "psnr": float(np.mean([psnr(o, t) for o, t in zip(outputs, truth)])),
            "ssim": float(np.mean([ssim(o, t) for o, t in zip(outputs, truth)])),
            "hue_accuracy": hue_accuracy(outputs, truth),
        }
        if len(truth) > KID_SUBSET:  # with fewer images every KID subset is the whole set: its std is noise
            figures["kid_offline_std"] = kid_std
        if learned is not None:
            figures.update(learned(outputs))
    return figures


def evaluate_set(photo_set: PhotoSet, systems: dict[str, list[np.ndarray]], learned: bool = True,
                 fid_inception_path: Path | None = None,
                 known: dict[str, dict] | None = None) -> tuple[dict, pd.DataFrame]:
    """Figures of every system on one photo set, and its per-image table. `known`: figures of systems
    already measured on these photos by the same code (the grayscale baseline's stage), taken as they are."""
    truth = photo_set.photos
    known = known or {}
    measured = {name: out for name, out in systems.items() if name not in known}
    learned_metrics = LearnedFeatureMetrics(truth) if learned and measured else None
    truth_features = offline_features(truth) if measured else None
    metrics = {name: system_metrics(out, truth, learned_metrics, truth_features) for name, out in measured.items()}
    if fid_unavailable_reason(fid_inception_path) is None:
        for name, out in measured.items():
            metrics[name]["fid"] = standard_fid(truth, out, fid_inception_path)
    metrics = {name: known[name] if name in known else metrics[name] for name in systems}
    for name in systems:
        figures = metrics[name]
        log.info("%s %-9s CF %.1f  ΔCF %.1f  PSNR %.2f  Fréchet(%s) %s  agreement %s", photo_set.name, name,
                 figures["colourfulness"], figures["delta_cf"], figures["psnr"], LEARNED_NAME,
                 f"{figures.get(f'frechet_{LEARNED_NAME}', float('nan')):.2f}",
                 f"{figures.get('semantic_agreement', float('nan')):.2f}")
    return metrics, _per_image_table(photo_set, systems)


def grayscale_baseline(photo_sets: list[PhotoSet], learned: bool = True,
                       fid_inception_path: Path | None = None) -> dict[str, dict]:
    """The grayscale input's figures on each photo set, with the photos' names: they depend on the
    photos alone, so DVC's `grayscale-baseline` stage measures them once per data version (46 s
    on 2 cores, 2026-12-06) and every evaluation of every model reuses them."""
    return {s.name: {"images": s.names,
                     "figures": evaluate_set(s, {"grayscale": grayscale_photos(s.photos)}, learned,
                                             fid_inception_path)[0]["grayscale"]}
            for s in photo_sets if s.photos}


def known_baseline(baseline: dict[str, dict] | None, photo_set: PhotoSet) -> dict[str, dict]:
    """{"grayscale": figures} of `photo_set` from grayscale_baseline's output, or {} without one; an
    output for other photos is an error (stale, or another evaluate.max_images), not silently used."""
    if baseline is None:
        return {}
    entry = baseline.get(photo_set.name)
    if entry is None or entry["images"] != photo_set.names:
        raise ValueError(f"the grayscale baseline was measured on other {photo_set.name} photos than these: "
                         "run `dvc repro grayscale-baseline`")
    return {"grayscale": entry["figures"]}


def _per_image_table(photo_set: PhotoSet, systems: dict[str, list[np.ndarray]]) -> pd.DataFrame:
    rows = []
    for i, (name, truth) in enumerate(zip(photo_set.names, photo_set.photos)):
        row = {"set": photo_set.name, "image": name, "cf_ground_truth": colourfulness(truth)}
        for system, outputs in systems.items():
            row[f"cf_{system}"] = colourfulness(outputs[i])
            row[f"psnr_{system}"] = psnr(outputs[i], truth)
        rows.append(row)
    return pd.DataFrame(rows)


def alpha_curve(figures: dict[str, float], style_names: list[str], alphas: list[float]) -> dict[str, float]:
    """The judge's mean style loss at α = 0 and each evaluated α, and whether it falls with every step of α
    (1.0) or not (0.0): α must mean "more of the painting" all the way, not only at its ends."""
    steps = [0.0, *sorted(alphas)]
    curve = {a: float(np.mean([figures[f"{n}/judge_style_loss_alpha{a:g}"] for n in style_names])) for a in steps}
    out = {f"judge_style_loss_alpha{a:g}": value for a, value in curve.items()}
    out["alpha_monotonic"] = float(all(curve[b] < curve[a] for a, b in zip(steps, steps[1:])))
    return out


@torch.no_grad()
def style_metrics(model: Chromastyle, content: np.ndarray, styles: np.ndarray, style_names: list[str],
                  alphas: list[float], judge: FeatureNetwork) -> dict[str, float]:
    """Style and content losses of plain (α = 0) and stylised outputs of `content` (N×S×S×3 uint8),
    in the training loss network and in the judge; the judge's mean style-loss drop at α = 1."""
    content_t = uint8_to_tensor(content)
    figures: dict[str, float] = {}
    networks = {"": model.encoder, "judge_": judge}
    content_features = {prefix: net(content_t) for prefix, net in networks.items()}
    drops = []
    for name, style_image in zip(style_names, styles):
        style = uint8_to_tensor(style_image)
        style_features = {prefix: [f.expand(len(content_t), -1, -1, -1) for f in net(style)]
                          for prefix, net in networks.items()}
        for prefix in networks:
            figures[f"{name}/{prefix}style_loss_alpha0"] = float(style_loss(content_features[prefix],
                                                                            style_features[prefix]))
        for alpha, out in zip(alphas, model.stylize_alphas(content_t, [style], alphas)):
            for prefix, net in networks.items():
                out_features = net(out)
                figures[f"{name}/{prefix}style_loss_alpha{alpha:g}"] = float(style_loss(out_features,
                                                                                       style_features[prefix]))
                figures[f"{name}/{prefix}content_loss_alpha{alpha:g}"] = float(
                    content_loss(out_features[-1], content_features[prefix][-1]))
        if 1.0 in alphas:
            drops.append(1.0 - figures[f"{name}/judge_style_loss_alpha1"] / figures[f"{name}/judge_style_loss_alpha0"])
    if drops:
        figures["judge_style_loss_drop_alpha1"] = float(np.mean(drops))
    figures.update(alpha_curve(figures, style_names, alphas))
    reconstruction = model.decoder(model.encoder.encode(content_t))[..., : content_t.shape[2], : content_t.shape[3]]
    figures["decoder_reconstruction_l1"] = float((reconstruction.clamp(0, 1) - content_t).abs().mean())
    return figures


def evaluate(model: Chromastyle, test: PhotoSet, style_content: np.ndarray, styles: np.ndarray,
             style_names: list[str], alphas: list[float], judge: FeatureNetwork, champion: Chromastyle | None = None,
             external: PhotoSet | None = None, grid_images: int = 6, learned: bool = True,
             fid_inception_path: Path | None = None, limits: PackageConfig | None = None,
             validation: PhotoSet | None = None, baseline: dict[str, dict] | None = None,
             hint_counts: list[int] | None = None, hint_seed: int = 0) -> Evaluation:
    """All figures, per-image tables, the test grid and the external contact sheet. The champion is
    compared on the test split (the gate) and external-test, not on validation (choices between
    recipes compare experiments, and each experiment's validation figures are its own).
    baseline: grayscale_baseline's output for these photo sets (else the grayscale input is measured here).
    A hint model is also measured with `hint_counts` simulated hints and with each photo's own palette on
    the test split and external-test (metrics["hints"]); the gate judges the automatic output only."""
    metrics: dict = {}
    tables, outputs_by_set = [], {}
    limits = limits or PackageConfig()
    guided_by_set: dict[str, dict[str, list[np.ndarray]]] = {}
    for photo_set in [s for s in (test, validation, external) if s is not None and s.photos]:
        systems = {"model": colourise_photos(model, photo_set.photos, limits),
                   "grayscale": grayscale_photos(photo_set.photos)}
        if champion is not None and photo_set is not validation:
            systems["champion"] = colourise_photos(champion, photo_set.photos, limits)
        figures, table = evaluate_set(photo_set, systems, learned, fid_inception_path,
                                      known_baseline(baseline, photo_set))
        if photo_set is test:
            metrics.update(figures)
            metrics["test_images"] = len(test.photos)
        elif photo_set is validation:
            metrics["validation"] = {**figures, "images": len(photo_set.photos)}
        else:
            metrics["external"] = {**figures, "images": len(photo_set.photos)}
        tables.append(table)
        outputs_by_set[photo_set.name] = systems
        if model.cfg.hints and hint_counts is not None and photo_set is not validation:
            guided = hinted_outputs(model, photo_set.photos, hint_counts, hint_seed, limits)
            metrics.setdefault("hints", {})[photo_set.name] = hint_figures(systems["model"], guided, photo_set.photos)
            guided_by_set[photo_set.name] = guided
    metrics["style"] = style_metrics(model, style_content, styles, style_names, alphas, judge)
    metrics["style_judge"] = judge.spec.describe()
    metrics["frechet_backbone"] = FEATURE_NAME
    if learned:
        metrics["learned_backbone"] = "efficientnet-lite0 (ImageNet weights, pooled 1280-d head features at 224²)"
    reason = fid_unavailable_reason(fid_inception_path)
    if reason is not None:
        metrics["fid_unavailable"] = reason
    grid = _sample_grid(model, outputs_by_set[test.name], test.photos, styles, style_names, grid_images)
    sheet = None
    if external is not None and external.photos:
        systems = outputs_by_set[external.name]
        sheet = contact_sheet([systems["grayscale"], systems["model"], external.photos], ["input", "model", "truth"])
    hint_sheet = None
    if external is not None and external.name in guided_by_set:
        guided = guided_by_set[external.name]
        shown = external.photos[:HINT_SHEET_PHOTOS]
        count = 5 if 5 in (hint_counts or []) else (hint_counts or [0])[0]
        marked = [mark_hints(out, hints) for out, hints in
                  zip(guided[f"hints{count}"], user_hints(shown, count, hint_seed, model.cfg.work_side))]
        columns = [outputs_by_set[external.name]["model"][:HINT_SHEET_PHOTOS], marked,
                   guided["palette"][:HINT_SHEET_PHOTOS], shown]
        hint_sheet = contact_sheet(columns, ["automatic", f"{count} hints (dots)", "own palette", "truth"])
    return Evaluation(metrics, pd.concat(tables, ignore_index=True), grid, sheet, hint_sheet)


def contact_sheet(columns: list[list[np.ndarray]], titles: list[str], per_row: int = 2, cell: int = CELL) -> np.ndarray:
    """Photos of any size fitted into cells: `per_row` photos side by side, each as its columns."""
    count = len(columns[0])
    fitted = [np.stack([fit_cell(image, cell, round(cell * 1.5)) for image in column]) for column in columns]
    blank = np.full_like(fitted[0][:1], 255)
    groups, group_titles = [], []
    for offset in range(per_row):
        for column, title in zip(fitted, titles):
            rows = [column[i] if i < count else blank[0] for i in range(offset, count + per_row - 1, per_row)]
            groups.append(np.stack(rows[: (count + per_row - 1) // per_row]))
            group_titles.append(title)
    return image_grid(groups, group_titles)


@torch.no_grad()
def _sample_grid(model: Chromastyle, outputs: dict[str, list[np.ndarray]], truth: list[np.ndarray],
                 styles: np.ndarray, style_names: list[str], count: int) -> np.ndarray:
    count = min(count, len(truth))
    columns = [outputs["grayscale"][:count], outputs["model"][:count]]
    titles = ["input (L)", "model"]
    if "champion" in outputs:
        columns.append(outputs["champion"][:count])
        titles.append("champion")
    columns.append(truth[:count])
    titles.append("ground truth")
    for name, style in zip(style_names, styles):
        stylised = [tensor_to_uint8(model.stylize(uint8_to_tensor(image), [uint8_to_tensor(style)], alpha=1.0))[0]
                    for image in outputs["model"][:count]]
        columns.append(stylised)
        titles.append(name)
    return image_grid([np.stack([fit_cell(image, CELL, CELL) for image in column]) for column in columns], titles)


@torch.no_grad()
def style_sheet(model: Chromastyle, photo: np.ndarray, styles: list[np.ndarray], names: list[str],
                columns: int = 6, inset: int = 96, alphas: tuple[float, ...] = (0.25, 0.5, 0.75, 1.0)) -> np.ndarray:
    """The photo colourised (first cell), then stylised at α = 1 in each style at the photo's size,
    with the painting as an inset in each cell's corner: texture is judged by eye here. The last row:
    the first style at each of `alphas` (α = 0 is the first cell), to see what α does."""
    lightness, _ = rgb_to_l_ab(uint8_to_tensor(photo))
    content = model.colorize(lightness)
    cells = [label(tensor_to_uint8(content)[0], "colourised (α = 0)")]
    inset = min(inset, min(photo.shape[:2]) // 3)  # the painting's inset always fits its cell
    for style, name in zip(styles, names):
        cell = tensor_to_uint8(model.stylize(content, [uint8_to_tensor(style)], alpha=1.0))[0].copy()
        cell[-inset - 4:-4, -inset - 4:-4] = fit_cell(style, inset, inset)
        cells.append(label(cell, name))

    def rows_of(cells: list[np.ndarray]) -> list[np.ndarray]:
        cells = cells + [np.full_like(cells[0], 255)] * (-len(cells) % columns)
        return [np.concatenate(cells[r:r + columns], axis=1) for r in range(0, len(cells), columns)]

    alpha_row = [label(tensor_to_uint8(content)[0], f"{names[0]} α = 0")]
    alpha_row += [label(tensor_to_uint8(out)[0], f"{names[0]} α = {a:g}")
                  for a, out in zip(alphas, model.stylize_alphas(content, [uint8_to_tensor(styles[0])], list(alphas)))]
    return np.concatenate(rows_of(cells) + rows_of(alpha_row), axis=0)
