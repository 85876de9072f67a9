"""The BentoML service over real HTTP: good requests, every bad input a client can send -> 4xx."""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import free_port, photo, png_bytes, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`bentoml serve` of the service source on 127.0.0.1, with a tiny model in a private store."""
    home = tmp_path_factory.mktemp("bentoml")
    env = {**os.environ, "BENTOML_HOME": str(home), "CHROMASTYLE_MAX_PIXELS": "4000000",
           "CHROMASTYLE_MAX_UPLOAD_BYTES": "3000000"}
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
    wait_until_ready(f"{base}/readyz", process)
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
    mixed = post(server, "stylize", {"image": image}, {"style_name": "greatwave,kandinky", "weights": "0.7,0.3"})
    assert mixed.status_code == 200, mixed.text
    gallery = httpx.post(f"{server}/styles", json={}).json()
    assert [style["name"] for style in gallery] == ["greatwave", "kandinky"]
    assert httpx.get(f"{server}{gallery[0]['thumbnail']}").headers["content-type"] == "image/jpeg"


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
                                           ({"style_name": "greatwave", "alpha": "1.5"}, "alpha"),
                                           ({"style_name": "greatwave,kandinky", "weights": "1"}, "weights"),
                                           ({"style_name": "greatwave", "weights": "a,b"}, "weights")])
def test_bad_parameters_get_a_400(server, data, message):
    response = post(server, "stylize", {"image": ("p.png", png_bytes(photo(9)), "image/png")}, data)
    assert response.status_code == 400 and message in response.text


def test_decompression_bomb_and_oversized_upload_are_refused(server):
    buffer = io.BytesIO()
    Image.new("L", (9000, 9000)).save(buffer, format="PNG")  # 81 Mpx in a few hundred kB
    bomb = post(server, "colorize", {"image": ("bomb.png", buffer.getvalue(), "image/png")})
    assert bomb.status_code == 400 and "pixels" in bomb.text
    noise = np.random.default_rng(0).integers(0, 256, (1100, 1100, 3), dtype=np.uint8)
    big = post(server, "colorize", {"image": ("noise.png", png_bytes(noise), "image/png")})
    assert big.status_code == 400 and "exceeds the limit" in big.text


def test_exif_rotation_is_honoured_and_gif_gives_its_first_frame(server):
    image = Image.fromarray(photo(12, size=(40, 80)))
    exif = image.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    rotated = post(server, "colorize", {"image": ("r.jpg", buffer.getvalue(), "image/jpeg")})
    assert rotated.status_code == 200 and as_image(rotated).shape[:2] == (80, 40)
    frames = [Image.fromarray(photo(i, size=(24, 24))) for i in (13, 14)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert post(server, "colorize", {"image": ("a.gif", gif.getvalue(), "image/gif")}).status_code == 200


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


@pytest.mark.skipif(not Path(shutil.which("chromium") or "/usr/bin/chromium").exists()
                    and not os.environ.get("CHROMASTYLE_REQUIRE_BROWSER"), reason="Debian's chromium not installed")
def test_web_page_in_a_browser_colourises_and_shows_errors(server, tmp_path):
    from playwright.sync_api import sync_playwright

    from test_mlflow_ui import CHROMIUM, CHROMIUM_FLAGS

    gray = tmp_path / "gray.png"
    gray.write_bytes(png_bytes(photo(11, size=(64, 96)), mode="L"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(f"{server}/ui/", wait_until="load")
        page.locator(".thumb[data-style='greatwave']").wait_for(timeout=20_000)
        page.set_input_files("#file", str(gray))
        page.click("#go")
        page.wait_for_function("document.getElementById('after').naturalWidth > 0", timeout=30_000)
        pixels = page.evaluate("""() => {
            const img = document.getElementById('after');
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d'); ctx.drawImage(img, 0, 0);
            const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            let spread = 0;
            for (let i = 0; i < data.length; i += 4) spread += Math.abs(data[i] - data[i + 1]) + Math.abs(data[i + 1] - data[i + 2]);
            return {width: canvas.width, height: canvas.height, chroma: spread / (data.length / 4)};
        }""")
        page.screenshot(path=str(tmp_path / "web_colourised.png"), full_page=True)
        assert (pixels["width"], pixels["height"]) == (96, 64)
        assert pixels["chroma"] > 1.0, "the result is coloured, not gray"
        assert page.locator("#download").is_visible()

        page.set_input_files("#file", str(bad))
        page.click("#go")
        page.locator("#error").wait_for(state="visible", timeout=30_000)
        assert "not an image" in page.inner_text("#error")
        page.screenshot(path=str(tmp_path / "web_error.png"), full_page=True)
        browser.close()
