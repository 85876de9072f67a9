"""Chroma-gain calibration: the rule, and that it changes what the saved model does."""

import numpy as np
import pytest
import torch

from chromastyle.model.integrated import Chromastyle, ModelConfig
from chromastyle.train.calibrate import calibrate_chroma_gain, choose_gain, gain_table
from conftest import photo


def test_best_psnr_within_the_colourfulness_budget_else_the_smallest_gap():
    rows = [{"gain": 1.0, "psnr": 21.0, "delta_cf": 14.0}, {"gain": 1.2, "psnr": 20.8, "delta_cf": 9.0},
            {"gain": 1.4, "psnr": 20.5, "delta_cf": 4.0}, {"gain": 1.6, "psnr": 20.0, "delta_cf": 1.0}]
    assert choose_gain(rows, max_delta_cf=10.0)["gain"] == 1.2
    assert choose_gain(rows, max_delta_cf=20.0)["gain"] == 1.0
    assert choose_gain(rows, max_delta_cf=0.5)["gain"] == 1.6


class Muted(torch.nn.Module):
    """A 'colouriser' that returns half of the true chroma it is given through a side channel."""

    MULTIPLE = 16

    def __init__(self):
        super().__init__()
        self.ab = None

    def encoder_parameters(self):
        return []

    def forward(self, lightness):
        return torch.nn.functional.interpolate(self.ab, size=lightness.shape[-2:], mode="bilinear") * 0.5


def test_calibration_undoes_a_uniform_desaturation_and_is_saved(tmp_path):
    from chromastyle.colour import AB_SCALE, rgb_to_l_ab, uint8_to_tensor

    photos = [photo(3, size=(64, 64))]
    colorizer = Muted()
    colorizer.ab = rgb_to_l_ab(uint8_to_tensor(photos[0]))[1] / AB_SCALE
    model = Chromastyle(ModelConfig(base_channels=8, work_side=64), colorizer=colorizer)
    rows = gain_table(model, photos, np.array([1.0, 2.0]))
    assert rows[1]["psnr"] > rows[0]["psnr"] + 3 and rows[1]["delta_cf"] < rows[0]["delta_cf"]
    model, table = calibrate_chroma_gain(model, photos, max_gain=2.5, max_delta_cf=100.0, step=0.25)
    assert model.cfg.chroma_gain == pytest.approx(2.0) and len(table) == 7
    assert model.cfg.chroma_gain == pytest.approx(max(table, key=lambda r: r["psnr"])["gain"])


class Vivid(Muted):
    """A 'colouriser' that paints 1.6× the true chroma: confidently too colourful."""

    def forward(self, lightness):
        return super().forward(lightness) * 3.2


def test_calibration_mutes_a_model_that_is_too_colourful():
    from chromastyle.colour import AB_SCALE, rgb_to_l_ab, uint8_to_tensor

    photos = [photo(4, size=(64, 64))]
    colorizer = Vivid()
    colorizer.ab = rgb_to_l_ab(uint8_to_tensor(photos[0]))[1] / AB_SCALE
    model = Chromastyle(ModelConfig(base_channels=8, work_side=64), colorizer=colorizer)
    model, table = calibrate_chroma_gain(model, photos, max_gain=2.0, max_delta_cf=100.0, step=0.05, min_gain=0.5)
    assert min(row["gain"] for row in table) == pytest.approx(0.5)
    assert model.cfg.chroma_gain == pytest.approx(1 / 1.6, abs=0.05)
