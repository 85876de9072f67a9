"""Metrics against independent references: scipy's closed form, invariances, refusals."""

import numpy as np
import pytest
import torch
from scipy import linalg

from chromastyle.metrics.evaluate import system_metrics
from chromastyle.metrics.frechet import LabStatisticsFeatures, frechet_and_kid, frechet_distance, kernel_distance
from conftest import photo


def scipy_frechet(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def test_frechet_matches_scipy_on_gaussian_samples():
    rng = np.random.default_rng(0)
    a = rng.multivariate_normal(np.zeros(4), np.diag([1.0, 2.0, 0.5, 1.0]), size=3000)
    b = rng.multivariate_normal(np.array([1.0, 0, 0, -1]), np.eye(4) * 1.5, size=3000)
    ours = frechet_distance(torch.from_numpy(a), torch.from_numpy(b))
    assert ours == pytest.approx(scipy_frechet(a, b), rel=1e-6)
    # And close to the closed form of the true distributions: |Δμ|² + Σ(σa² + σb² - 2σaσb).
    variances_a, variance_b = np.array([1.0, 2.0, 0.5, 1.0]), 1.5
    truth = 2.0 + float(np.sum(variances_a + variance_b - 2 * np.sqrt(variances_a * variance_b)))
    assert ours == pytest.approx(truth, abs=0.15)


def test_kid_is_unbiased_on_samples_of_one_distribution():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    mean, std = kernel_distance(torch.from_numpy(a), torch.from_numpy(b), subset_size=100)
    assert abs(mean) < max(3 * std, 1e-3)
    shifted, _ = kernel_distance(torch.from_numpy(a), torch.from_numpy(b + 1.0), subset_size=100)
    assert shifted > 10 * max(abs(mean), 1e-4)


def _images(count: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([photo(seed + i, size=(32, 32)) for i in range(count)])).permute(0, 3, 1, 2)


def test_offline_features_are_permutation_invariant_and_zero_on_identical_sets():
    real, fake = _images(8, 0), _images(8, 100)
    order = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    # 8 photos, 48 features: singular covariances, whose matrix square root is exact to ~1e-8 only
    assert frechet_and_kid(real, fake)[0] == pytest.approx(frechet_and_kid(real[order], fake)[0], rel=1e-6)
    assert frechet_and_kid(real, real)[0] == pytest.approx(0.0, abs=1e-6)
    gray = real.float().mean(1, keepdim=True).expand(-1, 3, -1, -1).round().to(torch.uint8)
    assert frechet_and_kid(real, gray)[0] > frechet_and_kid(real, fake)[0]


def test_features_are_weight_free_and_fixed():
    extractor = LabStatisticsFeatures()
    assert not list(extractor.parameters())
    assert extractor(_images(2, 5)).shape == (2, LabStatisticsFeatures.num_features)


def test_mismatched_image_sets_are_refused():
    with pytest.raises(ValueError, match="evaluation sets differ"):
        frechet_and_kid(_images(4, 0), _images(3, 0))
    truth = [photo(i, size=(16, 16)) for i in range(3)]
    with pytest.raises(ValueError, match="same images"):
        system_metrics(truth[:2], truth)
    with pytest.raises(ValueError, match="same images"):
        system_metrics([photo(0, size=(16, 18))] + truth[1:], truth)


def test_system_metrics_of_ground_truth_itself():
    truth = [photo(i, size=(32, 32)) for i in range(4)]
    figures = system_metrics(truth, truth)
    assert figures["delta_cf"] == 0.0 and figures["ssim"] == pytest.approx(1.0)
    assert figures["frechet_offline"] == pytest.approx(0.0, abs=1e-6)


def test_standard_fid_is_absent_with_a_reason_when_unavailable(monkeypatch, tmp_path):
    from chromastyle.metrics import fid

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    reason = fid.fid_unavailable_reason()
    assert reason and ("torch-fidelity" in reason or "weights" in reason)


# -- learned features, FID wiring, own-size evaluation --------------------------------------------
class StandInFeatures(torch.nn.Module):
    """A stand-in for ImageNetFeatures with a known 'classifier': the dominant RGB channel is the class."""

    side = 32
    num_features = 3

    def pooled_and_logits(self, images):
        pooled = images.float().mean(dim=(2, 3)) / 255
        return pooled, pooled

    def forward(self, images):
        return self.pooled_and_logits(images)[0].double()


def _coloured(channel: int, seed: int) -> np.ndarray:
    image = np.random.default_rng(seed).integers(0, 60, (40, 30, 3)).astype(np.uint8)
    image[..., channel] += 150
    return image


def test_semantic_agreement_is_the_share_of_equal_top1_classes():
    from chromastyle.metrics.learned import LearnedFeatureMetrics

    truth = [_coloured(i % 3, i) for i in range(6)]
    metrics = LearnedFeatureMetrics(truth, StandInFeatures(), kid_subset=3)
    assert metrics(truth)["semantic_agreement"] == 1.0
    half = [_coloured((i + 1) % 3, 50 + i) if i < 3 else truth[i] for i in range(6)]
    assert metrics(half)["semantic_agreement"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same images"):
        metrics(truth[:5])


def test_learned_frechet_on_imagenet_features_separates_gray_from_colour():
    from chromastyle.metrics.evaluate import grayscale_photos
    from chromastyle.metrics.learned import LEARNED_NAME, LearnedFeatureMetrics

    truth = [photo(i, size=(48 + 4 * i, 64)) for i in range(6)]
    metrics = LearnedFeatureMetrics(truth, kid_subset=6)
    same, gray = metrics(truth), metrics(grayscale_photos(truth))
    assert same[f"frechet_{LEARNED_NAME}"] == pytest.approx(0.0, abs=1e-3)
    assert gray[f"frechet_{LEARNED_NAME}"] > 10 * max(same[f"frechet_{LEARNED_NAME}"], 1e-3)
    assert gray[f"kid_{LEARNED_NAME}"] > same[f"kid_{LEARNED_NAME}"]


class _ScriptedInception(torch.nn.Module):
    """Stand-in for NVIDIA's TorchScript FID Inception: same call signature, 2048 features."""

    def forward(self, images: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(images / 255.0, 16).flatten(1)
        return pooled.repeat(1, 3)[:, :2048]


def test_fid_uses_the_inception_file_given_by_path(tmp_path):
    from chromastyle.metrics import fid

    path = tmp_path / "inception.pt"
    torch.jit.script(_ScriptedInception()).save(str(path))
    assert fid.fid_unavailable_reason(path) is None
    assert "not found" in fid.fid_unavailable_reason(tmp_path / "missing.pt")
    truth = [photo(i, size=(40, 52)) for i in range(5)]
    assert fid.standard_fid(truth, truth, path) == pytest.approx(0.0, abs=1e-3)
    assert fid.standard_fid(truth, [np.full_like(t, 128) for t in truth], path) > 1.0


def test_own_size_metrics_per_photo():
    truth = [photo(i, size=(30 + 10 * i, 50)) for i in range(4)]
    figures = system_metrics(truth, truth)
    assert figures["psnr"] > 90 and figures["delta_cf"] == 0.0
    noisy = [np.clip(t.astype(int) + 10, 0, 255).astype(np.uint8) for t in truth]
    expected = np.mean([10 * np.log10(255 ** 2 / np.mean((n.astype(float) - t) ** 2)) for n, t in zip(noisy, truth)])
    assert system_metrics(noisy, truth)["psnr"] == pytest.approx(expected)


def test_contact_sheet_puts_photos_of_any_size_side_by_side():
    from chromastyle.metrics.evaluate import contact_sheet

    photos = [photo(i, size=(30 + 20 * i, 90)) for i in range(5)]
    sheet = contact_sheet([photos, photos, photos], ["input", "model", "truth"], per_row=2, cell=40)
    assert sheet.ndim == 3 and sheet.shape[1] > 6 * 60 and sheet.shape[0] > 3 * 40


def test_hue_accuracy_counts_chromatic_pixels_whose_hue_is_within_30_degrees():
    import torch

    from chromastyle.colour import l_ab_to_rgb, rgb_to_l_ab, tensor_to_uint8, uint8_to_tensor
    from chromastyle.metrics.fidelity import hue_accuracy
    from conftest import photo

    truth = photo(9, size=(48, 40))
    lightness, ab = rgb_to_l_ab(uint8_to_tensor(truth))

    def rotated(degrees: float):
        angle = torch.tensor(degrees).deg2rad()
        a, b = ab[:, :1], ab[:, 1:]
        turned = torch.cat([a * angle.cos() - b * angle.sin(), a * angle.sin() + b * angle.cos()], dim=1)
        return tensor_to_uint8(l_ab_to_rgb(lightness, turned))[0]

    assert hue_accuracy([truth], [truth]) == 1.0
    gray = tensor_to_uint8(l_ab_to_rgb(lightness, torch.zeros_like(ab)))[0]
    assert hue_accuracy([gray], [truth]) == 0.0, "no colour is no right hue"
    assert hue_accuracy([rotated(15)], [truth]) > 0.9
    assert hue_accuracy([rotated(90)], [truth]) < 0.05
    # Pooled over photos: a photo with no chromatic pixel adds nothing.
    assert hue_accuracy([truth, gray], [truth, gray]) == 1.0


def test_the_alpha_curve_is_the_judges_mean_over_styles_and_says_whether_it_falls_all_the_way():
    from chromastyle.metrics.evaluate import alpha_curve

    losses = {"a": [4.0, 3.0, 2.0, 1.5, 1.0], "b": [2.0, 1.8, 1.6, 1.4, 1.2]}
    alphas = [0.25, 0.5, 0.75, 1.0]
    figures = {f"{n}/judge_style_loss_alpha{a:g}": v[i] for n, v in losses.items() for i, a in enumerate([0.0, *alphas])}
    curve = alpha_curve(figures, ["a", "b"], list(reversed(alphas)))
    assert curve["judge_style_loss_alpha0"] == 3.0 and curve["judge_style_loss_alpha1"] == pytest.approx(1.1)
    assert curve["alpha_monotonic"] == 1.0
    figures["a/judge_style_loss_alpha0.75"] = 2.5  # a step of α that brings the output further from the painting
    assert alpha_curve(figures, ["a", "b"], alphas)["alpha_monotonic"] == 0.0


def test_the_style_sheet_ends_with_a_row_of_alphas():
    from chromastyle.metrics.evaluate import style_sheet
    from chromastyle.model.integrated import Chromastyle, ModelConfig

    torch.manual_seed(0)
    model = Chromastyle(ModelConfig(base_channels=8, work_side=32))
    styles = [photo(i, size=(40, 40)) for i in range(7)]
    sheet = style_sheet(model, photo(9, size=(64, 64)), styles, [f"s{i}" for i in range(7)], columns=6)
    assert sheet.shape == (3 * 64, 6 * 64, 3), "8 cells in 2 rows of 6, then α = 0, .25, .5, .75, 1 (+ 1 blank)"
    alpha_row = sheet[128:, :]
    assert not np.array_equal(alpha_row[20:, :64], alpha_row[20:, 4 * 64:5 * 64]), "α = 0 differs from α = 1"
    assert (alpha_row[:, 5 * 64:] == 255).all(), "the row is padded with white"


def test_the_cached_grayscale_baseline_gives_the_figures_of_measuring_it_with_the_model(monkeypatch):
    """The grayscale-baseline stage measures the grayscale input once per data version; the evaluate
    stage takes its figures (through JSON, as the stage writes them) instead of measuring them again:
    every figure and the per-image table must be what measuring both systems together gives."""
    import json

    from chromastyle.metrics import evaluate as evaluate_module
    from chromastyle.metrics.evaluate import PhotoSet, evaluate_set, grayscale_baseline, grayscale_photos, known_baseline

    truth = [photo(i, size=(40 + 6 * i, 56)) for i in range(5)]
    photo_set = PhotoSet("test", truth, [f"p{i}.jpg" for i in range(5)])
    model = [np.clip(t.astype(int) + 12 * (i % 2) - 6, 0, 255).astype(np.uint8) for i, t in enumerate(truth)]
    systems = {"model": model, "grayscale": grayscale_photos(truth)}
    together, table = evaluate_set(photo_set, systems)
    baseline = json.loads(json.dumps(grayscale_baseline([photo_set])))
    measured = []
    real_system_metrics = evaluate_module.system_metrics
    monkeypatch.setattr(evaluate_module, "system_metrics",
                        lambda outputs, *args: measured.append(outputs) or real_system_metrics(outputs, *args))
    cached, cached_table = evaluate_set(photo_set, systems, known=known_baseline(baseline, photo_set))
    assert measured == [model], "only the model is measured: the grayscale figures are the baseline's"
    assert cached == together
    assert cached_table.equals(table)

    other = PhotoSet("test", truth[:4], photo_set.names[:4])
    with pytest.raises(ValueError, match="dvc repro grayscale-baseline"):
        known_baseline(baseline, other)
