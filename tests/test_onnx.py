"""ONNX export and ONNX Runtime against eager PyTorch, on random and real photos of odd sizes.

Tolerance: the networks agree to ~1e-6 in float32 (different kernels, different summation order);
after the Lab conversion and rounding to 8 bits, outputs may differ by one level at a pixel that
sits on a rounding boundary, never more than 2."""

from pathlib import Path

import numpy as np
import pytest
import torch

from chromastyle.imaging import decode_image
from chromastyle.inference import colorize_array, stylize_array
from chromastyle.model.integrated import Chromastyle, ModelConfig
from chromastyle.model.onnx_runtime import FILES, export_onnx, load_for_inference, parity, use_onnx
from conftest import photo

ROOT = Path(__file__).resolve().parent.parent
NETWORK_TOLERANCE = 1e-4
PIXEL_TOLERANCE = 2


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    model = Chromastyle(ModelConfig(base_channels=8, work_side=48))
    model.save(folder)
    paths = export_onnx(model, folder / "onnx")
    return folder, paths


def test_three_graphs_are_written(exported):
    folder, paths = exported
    assert sorted(p.name for p in paths.values()) == sorted(FILES.values())
    assert all(p.stat().st_size > 1000 for p in paths.values())


def test_networks_agree_with_eager_on_any_size(exported):
    folder, _ = exported
    eager, onnx = load_for_inference(folder, "torch"), load_for_inference(folder, "onnx")
    for height, width in [(48, 48), (64, 112), (96, 48)]:
        lightness = torch.randn(2, 1, height, width)
        with torch.no_grad():
            assert torch.allclose(eager.colorizer(lightness), onnx.colorizer(lightness), atol=NETWORK_TOLERANCE)
            rgb = torch.rand(1, 3, height, width)
            features = eager.encoder.encode(rgb)
            assert torch.allclose(features, onnx.encoder.encode(rgb), atol=NETWORK_TOLERANCE)
            assert torch.allclose(eager.decoder(features), onnx.decoder(features), atol=NETWORK_TOLERANCE)


@pytest.mark.parametrize("source", ["random", "real"])
def test_whole_photos_agree_through_the_inference_code_path(exported, source):
    folder, _ = exported
    eager, onnx = load_for_inference(folder, "torch"), load_for_inference(folder, "onnx")
    images = [photo(1, size=(77, 133)), photo(2, size=(200, 61))] if source == "random" else \
        [decode_image(p) for p in sorted((ROOT / "data" / "sample").glob("*.jpg"))[:3]]
    style = photo(3, size=(64, 64))
    for rgb in images:
        plain = colorize_array(eager, rgb)
        assert np.abs(plain.astype(int) - colorize_array(onnx, rgb)).max() <= PIXEL_TOLERANCE
        styled = stylize_array(eager, plain, [style], None, 0.8, False, 128)
        assert np.abs(styled.astype(int) - stylize_array(onnx, plain, [style], None, 0.8, False, 128)).max() \
            <= PIXEL_TOLERANCE


def test_parity_check_of_the_train_stage(exported):
    folder, _ = exported
    assert parity(Chromastyle.load(folder), folder / "onnx") < NETWORK_TOLERANCE


def test_a_model_without_graphs_runs_on_torch_and_a_bad_runtime_is_refused(tmp_path, caplog):
    torch.manual_seed(0)
    Chromastyle(ModelConfig(base_channels=8, work_side=32)).save(tmp_path / "model")
    model = load_for_inference(tmp_path / "model", "onnx")
    assert type(model.colorizer).__name__ != "OnnxModule" and "no ONNX graphs" in caplog.text
    with pytest.raises(FileNotFoundError, match="export_onnx"):
        use_onnx(model, tmp_path / "model" / "onnx")
    with pytest.raises(ValueError, match="runtime"):
        load_for_inference(tmp_path / "model", "tensorrt")
