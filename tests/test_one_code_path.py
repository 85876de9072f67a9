"""The CLI, the service and the evaluation are one code path (chromastyle.inference): the same photo
gives the same bytes from all three, under the same working-size bounds (package.*): the stylise
case has a style larger than style_side and a photo wider than max_style_work_side, both of which the
CLI used to take unbounded. All three run the torch runtime here: ONNX Runtime (the served
default) agrees with it within 2 levels per pixel (tests/test_onnx.py), not byte for byte."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from PIL import Image

from chromastyle.cli import main
from chromastyle.config import PackageConfig
from chromastyle.metrics.evaluate import colourise_photos
from chromastyle.model.integrated import Chromastyle
from conftest import photo, png_bytes
from serving import make_model_store, start_server


@pytest.fixture(scope="module")
def torch_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml-one-path")
    make_model_store(home)
    server = start_server(home, home / "server.log", {"CHROMASTYLE_RUNTIME": "torch"})
    yield server, home / "model"
    server.stop()


@pytest.mark.parametrize("size", [(120, 90), (100, 1100)])
def test_cli_service_and_evaluation_give_the_same_bytes(torch_server, tmp_path, size):
    server, model_dir = torch_server
    rgb = photo(11, size=size)
    source = tmp_path / "photo.png"
    source.write_bytes(png_bytes(rgb))

    served = httpx.post(f"{server.base}/colorize", files={"image": ("photo.png", source.read_bytes())},
                        data={"format": "png"}, timeout=120)
    assert served.status_code == 200, served.text
    assert main(["colorize", str(source), "--model", str(model_dir), "--runtime", "torch", "-o",
                 str(tmp_path / "cli")]) == 0
    from_cli = np.asarray(Image.open(tmp_path / "cli" / "photo_colorized.png"))
    from_service = np.asarray(Image.open(io.BytesIO(served.content)))
    from_evaluation = colourise_photos(Chromastyle.load(model_dir), [rgb], PackageConfig())[0]
    assert from_cli.shape == rgb.shape
    assert np.array_equal(from_cli, from_service), "CLI and service differ"
    assert np.array_equal(from_cli, from_evaluation), "CLI and evaluation differ"


def test_stylise_from_the_cli_and_the_service_gives_the_same_bytes(torch_server, tmp_path):
    server, model_dir = torch_server
    source = tmp_path / "photo.png"
    source.write_bytes(png_bytes(photo(12, size=(130, 700))))
    style = tmp_path / "wave.png"
    style.write_bytes(png_bytes(photo(13, size=(600, 400))))  # larger than style_side: fitted by both
    served = httpx.post(f"{server.base}/stylize_upload", timeout=120, data={"format": "png", "alpha": "0.6"},
                        files={"image": ("photo.png", source.read_bytes()), "style_image": ("wave.png", style.read_bytes())})
    assert served.status_code == 200, served.text
    assert main(["stylize", str(source), "--style", str(style), "--alpha", "0.6", "--model", str(model_dir),
                 "--runtime", "torch", "-o", str(tmp_path / "cli")]) == 0
    from_cli = np.asarray(Image.open(tmp_path / "cli" / "photo_wave_a0.6_stylized.png"))
    assert np.array_equal(from_cli, np.asarray(Image.open(io.BytesIO(served.content))))
