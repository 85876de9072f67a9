import numpy as np
import pytest
import torch

from chromastyle.colour import grayscale_rgb, l_ab_to_rgb, rgb_to_l_ab, tensor_to_uint8, uint8_to_tensor
from chromastyle.metrics.colourfulness import colourfulness, colourfulness_category
from conftest import photo


def test_lab_round_trip_is_lossless_at_8_bits():
    rgb = photo(5)
    lightness, ab = rgb_to_l_ab(uint8_to_tensor(rgb))
    assert 0 <= lightness.min() and lightness.max() <= 100
    back = tensor_to_uint8(l_ab_to_rgb(lightness, ab))[0]
    assert np.abs(back.astype(int) - rgb.astype(int)).max() <= 1


def test_grayscale_baseline_has_no_chroma_and_keeps_lightness():
    rgb = uint8_to_tensor(photo(6))
    gray = grayscale_rgb(rgb)
    l_gray, ab_gray = rgb_to_l_ab(gray)
    assert ab_gray.abs().max() < 0.5
    assert torch.allclose(l_gray, rgb_to_l_ab(rgb)[0], atol=0.5)


def test_colourfulness_of_gray_is_zero():
    assert colourfulness(np.full((10, 10, 3), 77, np.uint8)) == 0.0


def test_colourfulness_of_a_two_colour_image_by_hand():
    image = np.zeros((2, 2, 3), np.uint8)
    image[0] = (255, 0, 0)  # red: rg = 255, yb = 127.5
    image[1] = (0, 0, 255)  # blue: rg = 0, yb = -255
    # σ_rg = 127.5, σ_yb = 191.25; μ_rg = 127.5, μ_yb = -63.75
    expected = np.hypot(127.5, 191.25) + 0.3 * np.hypot(127.5, -63.75)
    assert colourfulness(image) == pytest.approx(expected, rel=1e-12)


def test_categories():
    assert colourfulness_category(0.0) == "not colourful"
    assert colourfulness_category(60) == "quite colourful"
    assert colourfulness_category(120) == "extremely colourful"
