"""Chroma-gain calibration on the validation split: one number that undoes L1's desaturation.

A regression colouriser hedges: where a colour is uncertain, the L1 optimum is a muted one, so
its photos come out less colourful than real ones (large ΔCF). Multiplying ab by a gain g > 1
restores colourfulness, but costs PSNR where the hue is wrong; a gain g < 1 mutes a model that is
confidently wrong (a muted right hue costs less than a vivid wrong one), so both directions are
searched. The gain is chosen on the validation split — whole photos at their own size, through
`Chromastyle.colorize`, as users see them — as the highest-PSNR gain among those whose colourfulness gap is within `max_delta_cf`
(or the smallest gap, when none is). The test split and external-test never take part.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import torch

from chromastyle.colour import l_ab_to_rgb, rgb_to_l_ab, tensor_to_uint8, uint8_to_tensor
from chromastyle.metrics.colourfulness import colourfulness
from chromastyle.metrics.fidelity import psnr
from chromastyle.model.integrated import Chromastyle

log = logging.getLogger(__name__)


@torch.no_grad()
def gain_table(model: Chromastyle, photos: list[np.ndarray], gains: np.ndarray) -> list[dict[str, float]]:
    """Mean PSNR, colourfulness and ΔCF of the colourised photos at each gain (one forward pass each)."""
    model.eval()
    predictions = []
    for rgb in photos:
        lightness, _ = rgb_to_l_ab(uint8_to_tensor(rgb))
        predictions.append((lightness, model.predict_ab(lightness) / model.cfg.chroma_gain))
    truth_cf = float(np.mean([colourfulness(rgb) for rgb in photos]))
    rows = []
    for gain in gains:
        outputs = [tensor_to_uint8(l_ab_to_rgb(lightness, ab * float(gain)))[0] for lightness, ab in predictions]
        cf = float(np.mean([colourfulness(out) for out in outputs]))
        rows.append({"gain": float(gain), "psnr": float(np.mean([psnr(o, t) for o, t in zip(outputs, photos)])),
                     "colourfulness": cf, "delta_cf": abs(cf - truth_cf)})
    return rows


def choose_gain(rows: list[dict[str, float]], max_delta_cf: float) -> dict[str, float]:
    """Best PSNR within the ΔCF budget; the smallest ΔCF when no gain meets it."""
    within = [row for row in rows if row["delta_cf"] <= max_delta_cf]
    return max(within, key=lambda row: row["psnr"]) if within else min(rows, key=lambda row: row["delta_cf"])


def calibrate_chroma_gain(model: Chromastyle, photos: list[np.ndarray], max_gain: float,
                          max_delta_cf: float, step: float = 0.05,
                          min_gain: float = 1.0) -> tuple[Chromastyle, list[dict[str, float]]]:
    """Set model.cfg.chroma_gain from the validation photos; returns the model and the gain table."""
    if not photos:
        log.warning("no validation photos: chroma gain stays %.2f", model.cfg.chroma_gain)
        return model, []
    rows = gain_table(model, photos, np.round(np.arange(min_gain, max_gain + 1e-9, step), 4))
    chosen = choose_gain(rows, max_delta_cf)
    model.cfg = replace(model.cfg, chroma_gain=chosen["gain"])
    log.info("chroma gain %.2f on %d validation photos: PSNR %.2f dB, colourfulness %.1f (ΔCF %.1f)",
             chosen["gain"], len(photos), chosen["psnr"], chosen["colourfulness"], chosen["delta_cf"])
    return model, rows
