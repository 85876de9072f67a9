"""The BentoML service over real HTTP: good requests, every bad input a client can send -> 4xx."""

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from conftest import photo, png_bytes

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`bentoml serve` of the service source on 127.0.0.1, with a tiny model in a private store."""
    home = tmp_path_factory.mktemp("bentoml")
    env = {**os.environ, "BENTOML_HOME": str(home), "CHROMASTYLE_MAX_PIXELS": "4000000"}
    styles = tmp_path_factory.mktemp("styles")
    for name in ("greatwave", "kandinky"):
        shutil.copy2(ROOT / "data" / "styles" / f"{name}.jpg", styles / f"{name}.jpg")
    model_dir = tmp_path_factory.mktemp("model")
    code = (
        "import torch, sys\n"
        "from chromastyle.model.integrated import Chromastyle, ModelConfig\n"
        "from chromastyle.service.packaging import import_model\n"
        "torch.manual_seed(0); Chromastyle(ModelConfig(base_channels=8, work_side=32)).save(sys.argv[1])\n"
        "import_model(__import__('pathlib').Path(sys.argv[1]), __import__('pathlib').Path(sys.argv[2]),"
        " 'chromastyle', {'mlflow_version': 'test'})\n"
    )
    subprocess.run([sys.executable, "-c", code, str(model_dir), str(styles)], env=env, check=True)
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "bentoml"), "serve", "chromastyle.service.service:Chromastyle",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT / "src", env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise RuntimeError(process.stdout.read().decode()[-3000:])
        time.sleep(1)
    else:
        process.kill()
        raise RuntimeError("bentoml serve did not become ready in 120 s")
    yield base
    os.killpg(process.pid, 15)
    process.wait(timeout=30)


def post(base, api, files, data=None):
    return httpx.post(f"{base}/{api}", files=files, data=data or {}, timeout=60)


def as_image(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_colorize_returns_a_png_at_full_resolution(server):
    gray = png_bytes(photo(1, size=(75, 101)), mode="L")
    response = post(server, "colorize", {"image": ("g.png", gray, "image/png")})
    assert response.status_code == 200, response.text
    assert as_image(response).shape == (75, 101, 3)


def test_stylize_with_a_gallery_style_and_an_upload(server):
    image = ("p.jpg", png_bytes(photo(2), fmt="JPEG"), "image/jpeg")
    styled = post(server, "stylize", {"image": image}, {"style_name": "greatwave", "alpha": "0.5"})
    assert styled.status_code == 200, styled.text
    uploaded = post(server, "stylize_upload", {"image": image, "style_image": ("s.png", png_bytes(photo(3)), "image/png")},
                    {"alpha": "1.0", "preserve_color": "true"})
    assert uploaded.status_code == 200, uploaded.text
    assert httpx.post(f"{server}/styles", json={}).json() == ["greatwave", "kandinky"]


def _cmyk():
    return png_bytes(photo(4), mode="CMYK", fmt="JPEG")


def _sixteen_bit():
    buffer = io.BytesIO()
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("content", [_cmyk(), _sixteen_bit(), png_bytes(photo(5), mode="P"),
                                     png_bytes(photo(6), mode="RGBA"), png_bytes(photo(7), mode="LA")],
                         ids=["cmyk", "16-bit", "palette", "rgba", "gray+alpha"])
def test_unusual_but_valid_images_are_accepted(server, content):
    assert post(server, "colorize", {"image": ("x", content, "image/png")}).status_code == 200


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"%PDF-1.4 not an image", "not an image"),
    (png_bytes(photo(8), fmt="JPEG")[:600], "truncated"),
])
def test_bad_images_get_a_400_naming_the_problem(server, content, message):
    response = post(server, "colorize", {"image": ("bad.jpg", content, "image/jpeg")})
    assert response.status_code == 400 and message in response.text


def test_too_many_pixels_is_refused(server):
    big = png_bytes(np.zeros((2100, 2100, 3), np.uint8))
    response = post(server, "colorize", {"image": ("big.png", big, "image/png")})
    assert response.status_code == 400 and "exceeds the limit" in response.text


@pytest.mark.parametrize("data, message", [({"style_name": "nope"}, "unknown style"),
                                           ({"style_name": "greatwave", "alpha": "1.5"}, "alpha")])
def test_bad_parameters_get_a_400(server, data, message):
    response = post(server, "stylize", {"image": ("p.png", png_bytes(photo(9)), "image/png")}, data)
    assert response.status_code == 400 and message in response.text


def test_missing_field_is_a_4xx_and_the_service_keeps_serving(server):
    assert 400 <= post(server, "colorize", {}).status_code < 500
    assert httpx.get(f"{server}/healthz").status_code == 200
    assert post(server, "colorize", {"image": ("p.png", png_bytes(photo(10)), "image/png")}).status_code == 200


def test_web_page_and_thumbnails_are_served_offline(server):
    page = httpx.get(f"{server}/ui/")
    assert page.status_code == 200 and "chromastyle" in page.text
    assert "http" not in page.text.replace("http-equiv", ""), "no external (CDN) resources"
    assert httpx.get(f"{server}/ui/app.js").status_code == 200
    thumb = httpx.get(f"{server}/ui/thumbnail/greatwave")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert httpx.get(f"{server}/ui/thumbnail/nope").status_code == 404
