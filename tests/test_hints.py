"""Colour hints: where a hint lands, what colour the simulated ones carry, and that a model without
hints and a hint model given none colourise the same way."""

from pathlib import Path

import numpy as np
import pytest
import torch

from chromastyle.colour import AB_SCALE, normalize_l, rgb_to_l_ab, uint8_to_tensor
from chromastyle.config import PackageConfig
from chromastyle.inference import colorize_photo
from chromastyle.model.hints import (PALETTE_SIZE, GuidedHead, Hint, draw_hint_plan, hint_points, parse_hints_json,
                                     reference_palette, render_plan, simulated_user_hints)
from chromastyle.model.integrated import Chromastyle, ModelConfig
from chromastyle.model.onnx_runtime import export_onnx, load_for_inference
from conftest import photo


def test_a_hint_lands_on_its_pixel_at_the_working_size():
    points = hint_points([Hint(x=299, y=0, a=22.0, b=-44.0), Hint(x=0, y=150, a=0.0, b=5.0)], height=200,
                         width=300, work_h=20, work_w=30)
    assert points.shape == (1, 2, 5)
    assert points[0, 0].tolist() == pytest.approx([0, 29, 22.0 / AB_SCALE, -44.0 / AB_SCALE, 1.0])
    assert points[0, 1, :2].tolist() == [15, 0]
    void = hint_points([], 200, 300, 20, 30)
    assert void.shape == (1, 1, 5) and void[0, 0, 4] == 0  # no hints: one void point, every graph has a row


def test_simulated_hints_carry_the_true_mean_colour_of_their_patch():
    torch.manual_seed(0)
    ab = torch.rand(4, 2, 32, 32) - 0.5
    plan = draw_hint_plan(np.random.default_rng(3), 4, 32, none_p=0.0, mean_points=4, max_points=6, max_radius=2,
                          palette_p=1.0)
    points, palette = render_plan(ab, plan)
    for n in range(4):
        count = int(plan.counts[n])
        assert count >= 1 and points[n, :count, 4].eq(1).all() and points[n, count:, 4].eq(0).all()
        for k in range(count):
            row, col = plan.centres[n, k].tolist()
            radius = int(plan.radii[n, k])
            patch = ab[n, :, max(0, row - radius):row + radius + 1, max(0, col - radius):col + radius + 1]
            assert points[n, k, :2].tolist() == [row, col]
            assert torch.allclose(points[n, k, 2:4], patch.mean(dim=(1, 2)), atol=1e-6)
    assert torch.allclose(palette[:, :-1].sum(dim=1), torch.ones(4)) and torch.equal(palette[:, -1], torch.ones(4))


def test_crops_drawn_without_hints_or_palette_get_none():
    ab = torch.rand(8, 2, 16, 16) - 0.5
    plan = draw_hint_plan(np.random.default_rng(0), 8, 16, none_p=1.0, mean_points=4, max_points=4, max_radius=1,
                          palette_p=0.0)
    points, palette = render_plan(ab, plan)
    assert not points[..., 4].any() and not points[..., 2:4].any() and not palette.any()


def test_a_hint_spreads_to_similar_pixels_and_exactly_nothing_without_hints():
    """The propagation: the hint's colour error reaches the pixels whose embedding is its point's, not the
    others; a void point changes nothing."""
    head = GuidedHead(feature_channels=2, bottleneck_channels=4)
    with torch.no_grad():
        head.embed.weight.copy_(torch.eye(8, 2)[:, :, None, None] * 10)
        head.embed.bias.zero_()
        head.null_logit.fill_(-4.0)
        head.log_reach.fill_(2.0)  # reach far: the embedding alone decides
    features = torch.zeros(1, 2, 8, 8)  # the decoder's features at half the size of ab (16×16)
    features[:, 0, :, :4] = 1.0  # two regions: left and right halves
    ab = torch.zeros(1, 2, 16, 16)
    none = torch.zeros(1, PALETTE_SIZE)
    assert torch.equal(head(ab, features, torch.zeros(1, 1, 5), none), ab)
    guided = head(ab, features, torch.tensor([[[4.0, 2.0, 0.4, -0.2, 1.0]]]), none)
    assert torch.allclose(guided[0, :, :, :7], torch.tensor([0.4, -0.2])[:, None, None].expand(2, 16, 7), atol=0.01)
    assert guided[0, :, :, 9:].abs().max() < 0.01


def test_a_palette_pulls_colours_towards_its_own():
    head = GuidedHead(feature_channels=2, bottleneck_channels=4)
    with torch.no_grad():
        head.pull_logit.fill_(10.0)
    ab = torch.full((1, 2, 4, 4), 0.1)  # a muted orange-ish everywhere
    vivid = torch.full((1, 2, 4, 4), 0.45)
    from chromastyle.model.hints import palette_of
    palette = palette_of(vivid)
    pulled = head(ab, torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 5), palette)
    assert (pulled > 0.3).all()  # towards the palette's one colour (its bin centre)
    unpulled = head(ab, torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 5), torch.zeros(1, PALETTE_SIZE))
    assert torch.equal(unpulled, ab)


def test_the_api_hint_list_is_checked_item_by_item():
    assert parse_hints_json('[{"x": 4, "y": 5, "color": "#00c000"}]', 8)[0].a < -30  # green: a* < 0
    for text, message in [('[{"x": 4, "y": 5}]', "hints[0].color: Field required"),
                          ('[{"x": 4, "y": 5, "color": "#00c000", "z": 1}]', "hints[0].z"),
                          ('[{"x": "left", "y": 5, "color": "#00c000"}]', "hints[0].x"),
                          ('{"x": 4}', "hints: Input should be a valid array"),
                          ('[{"x": 4, "y": 5, "color": "#00c000"}', "hints: Invalid JSON"),
                          ('[' + ','.join(['{"x": 1, "y": 1, "color": "#000000"}'] * 3) + ']', "at most 2")]:
        with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_hints_json(text, 2)


def test_user_hints_are_simulated_reproducibly_with_the_photos_colours():
    rgb = np.zeros((60, 80, 3), np.uint8)
    rgb[:, :40] = (200, 40, 40)  # red left half, blue right half
    rgb[:, 40:] = (40, 40, 200)
    first = simulated_user_hints(rgb, 6, np.random.default_rng([0, 6, 1]), work_side=30)
    assert first == simulated_user_hints(rgb, 6, np.random.default_rng([0, 6, 1]), work_side=30)
    for hint in first:
        if abs(hint.x - 39.5) > 3:  # clear of the border, a patch is one colour
            truth = rgb_to_l_ab(uint8_to_tensor(rgb[int(hint.y):int(hint.y) + 1, int(hint.x):int(hint.x) + 1]))[1]
            assert (hint.a, hint.b) == pytest.approx((float(truth[0, 0]), float(truth[0, 1])), abs=0.01)


@pytest.fixture(scope="module")
def hint_model() -> Chromastyle:
    torch.manual_seed(0)
    return Chromastyle(ModelConfig(base_channels=8, work_side=64, encoder="efficientnet-lite0", hints=True,
                                   chroma_gain=2.0)).eval()


def test_no_hints_is_the_automatic_colourisation_with_its_gain(hint_model):
    lightness = rgb_to_l_ab(uint8_to_tensor(photo(1, (64, 96))))[0]
    automatic = hint_model.predict_ab_working(lightness)
    unguided = hint_model.predict_ab_working(lightness, hints=[])
    assert torch.equal(automatic, unguided)
    small = torch.nn.functional.interpolate(lightness, size=hint_model.working_size(64, 96), mode="bilinear",
                                            align_corners=False, antialias=True)
    direct = hint_model.colorizer(normalize_l(small)) * AB_SCALE
    assert torch.allclose(automatic, 2.0 * direct, atol=1e-5)  # the calibrated gain: automatic output only
    guided = hint_model.predict_ab_working(lightness, hints=[Hint(3, 3, 10.0, 10.0)])
    assert not torch.allclose(guided, automatic)


def test_a_model_trained_without_hints_refuses_them():
    model = Chromastyle(ModelConfig(base_channels=8, work_side=32)).eval()
    with pytest.raises(ValueError, match="trained without hints"):
        colorize_photo(model, photo(1, (40, 40)), PackageConfig(), hints=[Hint(1, 1, 0, 0)])
    with pytest.raises(ValueError, match="trained without hints"):
        colorize_photo(model, photo(1, (40, 40)), PackageConfig(), reference=photo(2, (40, 40)))


def test_too_many_hints_or_one_outside_the_photo_are_refused(hint_model):
    rgb = photo(1, (40, 50))
    with pytest.raises(ValueError, match="at most package.max_hints = 2"):
        colorize_photo(hint_model, rgb, PackageConfig(max_hints=2), hints=[Hint(1, 1, 0, 0)] * 3)
    with pytest.raises(ValueError, match=r"hint 1: \(50, 3\) lies outside the 50×40 image"):
        colorize_photo(hint_model, rgb, PackageConfig(), hints=[Hint(1, 1, 0, 0), Hint(50, 3, 0, 0)])


def test_onnx_runs_the_hint_inputs_as_torch_does(hint_model, tmp_path: Path):
    hint_model.save(tmp_path / "m")
    export_onnx(Chromastyle.load(tmp_path / "m"), tmp_path / "m" / "onnx")
    onnx = load_for_inference(tmp_path / "m", "onnx", threads=1)
    eager = Chromastyle.load(tmp_path / "m")
    rgb = photo(3, (70, 90))
    hints = [Hint(10, 20, 40.0, -30.0), Hint(80, 60, -20.0, 50.0)]
    reference = photo(4, (50, 50))
    for kwargs in ({}, {"hints": hints}, {"reference": reference}, {"hints": hints, "reference": reference}):
        ours, theirs = (colorize_photo(m, rgb, PackageConfig(), **kwargs).astype(int) for m in (eager, onnx))
        assert np.abs(ours - theirs).max() <= 1, kwargs


def test_a_reference_palette_is_a_histogram_of_its_colours():
    rgb = np.zeros((300, 200, 3), np.uint8)
    rgb[:150] = (30, 160, 40)
    rgb[150:] = (210, 160, 90)
    palette = reference_palette(rgb)
    assert palette.shape == (1, PALETTE_SIZE) and palette[0, -1] == 1
    assert sorted(palette[0, :-1].tolist())[-2:] == pytest.approx([0.5, 0.5], abs=0.02)  # two colours, half each


def test_the_evaluation_measures_each_hint_count_and_the_palette_against_the_automatic_output(hint_model):
    from chromastyle.metrics.evaluate import hint_figures, hinted_outputs, mark_hints, user_hints
    from chromastyle.metrics.report import headline_metrics

    photos = [photo(i, (48 + 8 * i, 64)) for i in range(3)]
    automatic = [colorize_photo(hint_model, rgb, PackageConfig()) for rgb in photos]
    guided = hinted_outputs(hint_model, photos, [1, 5], seed=0, limits=PackageConfig())
    assert list(guided) == ["hints1", "hints5", "palette"]
    again = hinted_outputs(hint_model, photos, [1, 5], seed=0, limits=PackageConfig())
    assert all(np.array_equal(a, b) for name in guided for a, b in zip(guided[name], again[name]))  # seeded
    table = hint_figures(automatic, guided, photos)
    for name in guided:
        assert table[name]["psnr_gain"] == pytest.approx(table[name]["psnr"] - table["automatic"]["psnr"])
    assert user_hints(photos, 5, 0, 64)[1] != user_hints(photos, 5, 1, 64)[1]
    marked = mark_hints(photos[0], user_hints(photos, 5, 0, 64)[0])
    assert marked.shape == photos[0].shape and not np.array_equal(marked, photos[0])
    assert headline_metrics({"model": {}, "style": {}, "hints": {"external-test": table}})["hints"][
        "external-test"]["hints5"]["psnr_gain"] == table["hints5"]["psnr_gain"]
