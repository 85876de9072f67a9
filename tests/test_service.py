"""The BentoML service over real HTTP: good requests, and every class of bad request a client can send.

One server for the module, started under an address-space limit (RLIMIT_AS, inherited by its
worker): hostile shapes must be refused or served within it, by the same worker process, with a
4xx in the one error shape and one log line each, never a traceback.
"""

import http.server
import io
import json
import socket
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from chromastyle.colour import rgb_to_l_ab, uint8_to_tensor
from chromastyle.model.hints import hex_to_ab
from conftest import photo, png_bytes
from serving import make_hint_model_store, make_model_store, scan_bomb, start_server

ADDRESS_SPACE = 3 * 1024**3  # the test's ceiling for the supervisor and the worker (each)
WORKER_PEAK_RSS = 1.5 * 1024**3  # what the hostile set may cost the worker at most (VmHWM)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml")
    make_model_store(home)
    server = start_server(home, home / "server.log", {"CHROMASTYLE_MAX_UPLOAD_BYTES": "3000000"},
                          address_space_bytes=ADDRESS_SPACE)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(served):
    return served.base


@pytest.fixture(scope="module")
def hint_served(tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml-hints")
    tag = make_hint_model_store(home)
    server = start_server(home, home / "server.log", {"CHROMASTYLE_BENTO_MODEL": tag})
    yield server
    server.stop()


@pytest.fixture(scope="module")
def hint_server(hint_served):
    return hint_served.base


def post(base, api, files, data=None, **kwargs):
    return httpx.post(f"{base}/{api}", files=files, data=data or {}, timeout=120, **kwargs)


def as_image(response) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The one error shape: a JSON object {error, message, field}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error", "message", "field"}, body
    assert isinstance(body["message"], str) and body["message"]
    if code:
        assert body["error"] == code, body
    if field:
        assert body["field"] == field, body
    return body


def flat_jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 130, 140)).save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


# -- what works ----------------------------------------------------------------------------------
def test_colorize_returns_a_png_at_full_resolution(server):
    gray = png_bytes(photo(1, size=(75, 101)), mode="L")
    response = post(server, "colorize", {"image": ("g.png", gray, "image/png")})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert as_image(response).shape == (75, 101, 3)


def test_a_jpeg_upload_gets_a_jpeg_back_unless_asked_otherwise(server):
    photo_jpeg = png_bytes(photo(2), fmt="JPEG")
    assert post(server, "colorize", {"image": ("p.jpg", photo_jpeg)}).headers["content-type"] == "image/jpeg"
    forced = post(server, "colorize", {"image": ("p.jpg", photo_jpeg)}, {"format": "png"})
    assert forced.headers["content-type"] == "image/png"


@pytest.mark.parametrize("fmt, media_type", [("jpeg", "image/jpeg"), ("webp", "image/webp")])
def test_response_format_option(server, fmt, media_type):
    response = post(server, "colorize", {"image": ("g.png", png_bytes(photo(2), mode="L"))}, {"format": fmt})
    assert response.status_code == 200 and response.headers["content-type"] == media_type
    assert Image.open(io.BytesIO(response.content)).format == fmt.upper()


@pytest.mark.parametrize("fmt, name", [("WEBP", "photo.webp"), ("BMP", "photo.bmp"), ("TIFF", "photo.tif"),
                                       ("JPEG", "photo")])
def test_any_declared_type_is_accepted_and_the_format_sniffed(server, fmt, name):
    """What `curl -F image=@photo.webp` sends: application/octet-stream, or no extension at all."""
    content = png_bytes(photo(3), fmt=fmt)
    response = post(server, "colorize", {"image": (name, content, "application/octet-stream")})
    assert response.status_code == 200, response.text
    assert as_image(response).shape == (96, 80, 3)


def test_stylize_with_gallery_styles_weights_and_an_upload(server):
    image = ("p.jpg", png_bytes(photo(2), fmt="JPEG"), "image/jpeg")
    assert post(server, "stylize", {"image": image}, {"style_name": "greatwave", "alpha": "0.5"}).status_code == 200
    one_weight = post(server, "stylize", {"image": image}, {"style_name": "greatwave", "weights": "0.7"})
    assert one_weight.status_code == 200, one_weight.text
    mixed = post(server, "stylize", {"image": image}, {"style_name": "greatwave,kandinky", "weights": "0.7,0.3"})
    assert mixed.status_code == 200, mixed.text
    uploaded = post(server, "stylize_upload", {"image": image, "style_image": ("s.png", png_bytes(photo(3)))},
                    {"alpha": "1.0", "preserve_color": "true"})
    assert uploaded.status_code == 200, uploaded.text


def test_the_runtime_is_the_packaged_default(server):
    from chromastyle.config import PackageConfig

    assert httpx.get(f"{server}/info").json()["runtime"] == PackageConfig().runtime


def test_styles_and_thumbnails_list_only_images(server):
    gallery = httpx.get(f"{server}/styles").json()
    assert [style["name"] for style in gallery] == ["greatwave", "kandinky"]
    assert httpx.get(f"{server}{gallery[0]['thumbnail']}").headers["content-type"] == "image/jpeg"
    assert_error(httpx.get(f"{server}/ui/thumbnail/CREDITS"), 404, "unknown_style")


@pytest.mark.parametrize("content", [png_bytes(photo(4), mode="CMYK", fmt="JPEG"),
                                     png_bytes(photo(5), mode="P"), png_bytes(photo(6), mode="RGBA"),
                                     png_bytes(photo(7), mode="LA")], ids=["cmyk", "palette", "rgba", "gray+alpha"])
def test_unusual_but_valid_images_are_accepted(server, content):
    assert post(server, "colorize", {"image": ("x", content)}).status_code == 200


def test_exif_rotation_is_honoured_and_gif_gives_its_first_frame(server):
    image = Image.fromarray(photo(12, size=(40, 80)))
    exif = image.getexif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    rotated = post(server, "colorize", {"image": ("r.jpg", buffer.getvalue())})
    assert rotated.status_code == 200 and as_image(rotated).shape[:2] == (80, 40)
    frames = [Image.fromarray(photo(i, size=(24, 24))) for i in (13, 14)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    assert post(server, "colorize", {"image": ("a.gif", gif.getvalue())}).status_code == 200


# -- hostile geometry, under the address-space limit -------------------------------------------------
HOSTILE_SHAPES = [((10000, 1), 400, "image_too_small"), ((1000, 1), 400, "image_too_small"),
                  ((1, 5000), 400, "image_too_small"), ((7, 7), 400, "image_too_small"),
                  ((1000, 16), 400, "aspect_ratio"), ((16, 400), 400, "aspect_ratio"),
                  ((3000, 250), 200, None), ((16, 16), 200, None)]


@pytest.mark.parametrize("api", ["colorize", "stylize"])
@pytest.mark.parametrize("size, status, code", HOSTILE_SHAPES, ids=[f"{w}x{h}" for (w, h), _, _ in HOSTILE_SHAPES])
def test_hostile_geometry_is_refused_or_bounded(server, api, size, status, code):
    data = {"style_name": "greatwave"} if api == "stylize" else {}
    response = post(server, api, {"image": ("s.png", png_bytes(np.zeros((size[1], size[0], 3), np.uint8)))}, data)
    if status == 200:
        assert response.status_code == 200 and as_image(response).shape[:2] == (size[1], size[0])
    else:
        assert_error(response, status, code, "image")


def test_tiny_style_upload_is_refused(server):
    response = post(server, "stylize_upload", {"image": ("p.png", png_bytes(photo(1))),
                                               "style_image": ("s.png", png_bytes(np.zeros((5, 300, 3), np.uint8)))})
    assert_error(response, 400, "image_too_small", "style_image")


def test_image_and_style_upload_together_are_refused_from_the_style_header(server):
    """package.max_request_pixels (20 MP) bounds both uploads together: with a 16 MP content image a 3000²
    style is refused from its header, before it is decoded (this one is truncated after its header:
    decoding it would fail otherwise), and names the combined limit."""
    big = flat_jpeg(4000, 4000)
    header_only = png_bytes(np.zeros((3000, 3000, 3), np.uint8))[:2000]
    body = assert_error(post(server, "stylize_upload", {"image": ("b.jpg", big), "style_image": ("s.png", header_only)}),
                        400, "image_too_large", "style_image")
    assert "together exceed 20000000 pixels" in body["message"], body
    alone = post(server, "stylize_upload", {"image": ("p.png", png_bytes(photo(1))), "style_image": ("s.png", header_only)})
    assert_error(alone, 400, None, "style_image")
    assert alone.json()["error"] != "image_too_large", "a style within the budget is decoded (and found corrupt)"


def test_the_largest_allowed_photos_stay_within_the_memory_ceiling(served):
    """16 MP (the pixel limit) through colourise, stylise and as a style upload, then the worker's
    peak resident memory: the same worker, alive, below the ceiling."""
    workers = served.worker_pids()
    big = flat_jpeg(4000, 4000)
    assert post(served.base, "colorize", {"image": ("b.jpg", big)}).status_code == 200
    assert post(served.base, "stylize", {"image": ("b.jpg", big)}, {"style_name": "greatwave"}).status_code == 200
    small = ("p.png", png_bytes(photo(1)))
    assert post(served.base, "stylize_upload", {"image": small, "style_image": ("b.jpg", big)}).status_code == 200
    assert served.worker_pids() == workers, "the worker was restarted"
    status = open(f"/proc/{workers[0]}/status").read()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    assert peak_kb * 1024 < WORKER_PEAK_RSS, f"worker peak RSS {peak_kb / 1024:.0f} MB"


def test_webp_of_a_detailed_16_mp_result_is_not_a_server_error(server):
    """libwebp's fast mode failed on it ("encoding error 6") and the answer was a 500."""
    from test_imaging import detailed_gray

    upload = ("detail.png", png_bytes(detailed_gray()))
    response = post(server, "colorize", {"image": upload}, {"format": "webp"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp" and "x-chromastyle-format-fallback" not in response.headers
    assert Image.open(io.BytesIO(response.content)).size == (4000, 4000)


def test_too_many_pixels_and_bombs_are_refused(server):
    buffer = io.BytesIO()
    Image.new("L", (9000, 9000)).save(buffer, format="PNG")  # 81 Mpx in a few hundred kB
    assert_error(post(server, "colorize", {"image": ("bomb.png", buffer.getvalue())}), 400, "image_too_large")
    assert_error(post(server, "colorize", {"image": ("w.jpg", flat_jpeg(5000, 4000))}), 400, "image_too_large")


def test_a_progressive_jpeg_scan_bomb_is_refused_at_once(server):
    """2,000 copies of one tiny scan in a 4 MP progressive JPEG (~30 kB): 4 s of decoding before
    the scan count was checked; refused from its bytes now."""
    started = time.perf_counter()
    response = post(server, "colorize", {"image": ("bomb.jpg", scan_bomb(2000, 2000))})
    assert_error(response, 400, "too_many_scans", "image")
    assert time.perf_counter() - started < 3, "refused before decoding"
    progressive = png_bytes(photo(3), fmt="JPEG", progressive=True)
    assert post(server, "colorize", {"image": ("p.jpg", progressive)}).status_code == 200


# -- malformed requests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"%PDF-1.4 not an image", "not an image"),
    (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image"),  # must never reach Ghostscript
    (png_bytes(photo(8), fmt="JPEG")[:600], "truncated"),
])
def test_bad_images_get_a_400_naming_the_problem(server, content, message):
    body = assert_error(post(server, "colorize", {"image": ("bad.jpg", content, "image/jpeg")}), 400, "invalid_image",
                        "image")
    assert message in body["message"]


def raw_post(base, api, body: bytes, content_type: str):
    return httpx.post(f"{base}/{api}", content=body, headers={"content-type": content_type}, timeout=60)


def multipart(parts: list[bytes], boundary: str = "b0undary") -> bytes:
    return b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts) + \
        b"--" + boundary.encode() + b"--\r\n"


def file_part(name: str, content: bytes, filename: str = "p.png") -> bytes:
    return (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + content


def test_multipart_malformations_get_a_400(server):
    image = png_bytes(photo(1))
    body = multipart([file_part("image", image)])
    assert_error(raw_post(server, "colorize", body, "multipart/form-data"), 400, "malformed_multipart")
    assert_error(raw_post(server, "colorize", body, "multipart/form-data; boundary=other"), 400, "malformed_multipart")
    nameless = multipart([b'Content-Disposition: form-data; filename="p.png"\r\n\r\n' + image])
    assert_error(raw_post(server, "colorize", nameless, "multipart/form-data; boundary=b0undary"), 400,
                 "malformed_multipart")
    many = multipart([file_part("image", image)] + [f'Content-Disposition: form-data; name="f{i}"\r\n\r\nx'.encode()
                                                     for i in range(1001)])
    assert_error(raw_post(server, "colorize", many, "multipart/form-data; boundary=b0undary"), 400,
                 "malformed_multipart")
    unterminated = body[: len(body) // 2]
    assert 400 <= raw_post(server, "colorize", unterminated, "multipart/form-data; boundary=b0undary").status_code < 500
    assert_error(raw_post(server, "colorize", b'{"image": "x"}', "application/json"), 415, "unsupported_media_type")


@pytest.mark.parametrize("field", ["file", "Image", "images"])
def test_a_misspelt_field_is_named(server, field):
    body = assert_error(post(server, "colorize", {field: ("p.png", png_bytes(photo(1)))}), 400, "unknown_field", field)
    assert "image" in body["message"]


def test_two_images_in_one_field_and_a_missing_field(server):
    two = multipart([file_part("image", png_bytes(photo(1))), file_part("image", png_bytes(photo(2)))])
    assert 400 == raw_post(server, "colorize", two, "multipart/form-data; boundary=b0undary").status_code
    assert_error(post(server, "colorize", {}, {"format": "png"}), 400, "missing_field", "image")


def test_text_in_a_file_field_is_never_fetched_as_a_url(server):
    hits = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(png_bytes(photo(1)))

        def log_message(self, *args):
            pass

    listener = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{listener.server_address[1]}/photo.png"
        assert_error(post(server, "colorize", {}, {"image": url}), 400, "expected_file", "image")
        assert_error(post(server, "colorize", {}, {"image": "abc"}), 400, "expected_file", "image")
    finally:
        listener.shutdown()
    assert hits == [], "the service fetched a URL a client sent"


def test_a_long_filename_is_fine(server):
    response = post(server, "colorize", {"image": ("x" * 250 + ".png", png_bytes(photo(1)))})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("data, code, field", [
    ({"style_name": "nope"}, "unknown_style", "style_name"),
    ({"style_name": ",".join(["greatwave"] * 5)}, "too_many_styles", "style_name"),
    ({"style_name": ",".join(["greatwave"] * 2000)}, "malformed_multipart", None),  # a 20 kB text part
    ({"style_name": "greatwave", "alpha": "1.5"}, "invalid_parameter", "alpha"),
    ({"style_name": "greatwave", "alpha": "nan"}, "invalid_parameter", "alpha"),
    ({"style_name": "greatwave", "preserve_color": "maybe"}, "invalid_parameter", "preserve_color"),
    ({"style_name": "greatwave", "format": "gif"}, "invalid_parameter", "format"),
    ({"style_name": "greatwave,kandinky", "weights": "1"}, "invalid_parameter", "weights"),
    ({"style_name": "greatwave", "weights": "a,b"}, "invalid_parameter", "weights"),
    ({"style_name": "greatwave,kandinky", "weights": "1,nan"}, "invalid_parameter", "weights"),
    ({"style_name": "greatwave", "weights": "nan"}, "invalid_parameter", "weights"),
    ({"style_name": "greatwave", "weights": "inf"}, "invalid_parameter", "weights"),
    ({"style_name": "greatwave,kandinky", "weights": "1e308,1e308"}, "invalid_parameter", "weights"),
    ({"style_name": "greatwave,kandinky", "weights": "0,0"}, "invalid_parameter", "weights"),
    ({"style_name": "greatwave,kandinky", "weights": "-1,2"}, "invalid_parameter", "weights"),
])
def test_bad_parameters_get_a_400_naming_the_field(server, data, code, field):
    response = post(server, "stylize", {"image": ("p.png", png_bytes(photo(9)))}, data)
    assert_error(response, 400, code, field)


def test_body_limit_applies_before_the_body_is_read(server):
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:  # a 9 GB upload, announced
        connection.sendall(b"POST /colorize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                           b"Content-Length: 9000000000\r\n\r\n" + b"x" * 1000)
        answer = b""
        while b"payload_too_large" not in answer.partition(b"\r\n\r\n")[2]:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b'"error": "payload_too_large"' in answer, answer

    def chunks():  # a well-formed 4 MB part, chunked (no Content-Length): cut off at the 3 MB limit
        yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n\r\n'
        for _ in range(400):
            yield b"y" * 10_000
        yield b"\r\n--b--\r\n"

    streamed = httpx.post(f"{server}/colorize", content=chunks(), timeout=60,
                          headers={"content-type": "multipart/form-data; boundary=b"})
    assert_error(streamed, 413, "payload_too_large")
    noise = np.random.default_rng(0).integers(0, 256, (1100, 1100, 3), dtype=np.uint8)
    assert_error(post(server, "colorize", {"image": ("noise.png", png_bytes(noise))}), 413, "payload_too_large")


def test_unknown_routes_and_methods_get_the_same_error_shape(server):
    assert_error(httpx.get(f"{server}/nope"), 404, "not_found")
    response = httpx.get(f"{server}/colorize")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers.get("allow", "")


def test_openapi_documents_the_error_shape_and_the_multipart_bodies(server):
    spec = httpx.get(f"{server}/docs.json").json()
    colorize = spec["paths"]["/colorize"]["post"]
    schema = colorize["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["image"]["format"] == "binary" and "image" in schema["required"]
    assert colorize["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert set(spec["components"]["schemas"]["ErrorBody"]["properties"]) == {"error", "message", "field"}


def test_the_docs_page_is_the_projects_own(server):
    page = httpx.get(f"{server}/").text
    assert "swagger-ui-bundle.js" in page and "googletagmanager" not in page and "https://" not in page
    info = httpx.get(f"{server}/docs.json").json()["info"]
    assert "shields.io" not in json.dumps(info)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_fastapi_docs_pages_and_second_spec_are_gone(server, path):
    """FastAPI's own pages load scripts and fonts from CDNs, and /openapi.json was a second,
    unfiltered spec: only the project's page at / and /docs.json remain."""
    assert_error(httpx.get(f"{server}{path}"), 404, "not_found")


# -- colour hints and a reference photo ----------------------------------------------------------------
GREEN = "#00c000"


def ab_of(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 -> H×W×2 CIELAB (a*, b*)."""
    return rgb_to_l_ab(uint8_to_tensor(rgb))[1][0].permute(1, 2, 0).numpy()


def test_a_hint_pulls_the_colours_around_it_towards_its_colour(hint_server):
    """Three green points at (40, 30) of a 120×80 photo: the colours there move towards green (along the
    hint's ab direction) several times more than the far corner's; the size is the input's."""
    gray = png_bytes(photo(11, size=(80, 120)), mode="L")
    plain = post(hint_server, "colorize", {"image": ("g.png", gray)})
    points = [{"x": 40 + dx, "y": 30 + dy, "color": GREEN} for dx, dy in ((0, 0), (3, 0), (0, 3))]
    hinted = post(hint_server, "colorize", {"image": ("g.png", gray)}, {"hints": json.dumps(points)})
    assert plain.status_code == 200 and hinted.status_code == 200, hinted.text
    assert as_image(hinted).shape == (80, 120, 3)
    towards_green = np.asarray(hex_to_ab(GREEN)) / np.linalg.norm(hex_to_ab(GREEN))
    shift = (ab_of(as_image(hinted)) - ab_of(as_image(plain))) @ towards_green
    near, far = shift[26:38, 36:48].mean(), shift[60:, 90:].mean()
    assert near > 8 and near > 4 * abs(far), f"shift towards green near the hint {near:.1f}, far {far:.1f}"


def hint_list(count: int, x: float = 5, y: float = 5) -> str:
    return json.dumps([{"x": x, "y": y, "color": GREEN}] * count)


@pytest.mark.parametrize("text, code, fragment", [
    ('[{"x": 5, "y": 5, "color": "#00c000"}', "invalid_parameter", "hints"),  # malformed JSON
    ('{"x": 5, "y": 5, "color": "#00c000"}', "invalid_parameter", "valid array"),
    ('[{"x": "left", "y": 5, "color": "#00c000"}]', "invalid_parameter", "hints[0].x"),
    ('[{"x": 5, "y": 5, "color": 65280}]', "invalid_parameter", "hints[0].color"),
    ('[{"x": 5, "color": "#00c000"}]', "invalid_parameter", "hints[0].y"),
    ('[{"x": 5, "y": 5, "color": "#00c000", "radius": 3}]', "invalid_parameter", "hints[0].radius"),
    ('[{"x": 5, "y": 5, "color": "green"}]', "invalid_parameter", "hints[0].color"),
    ('[{"x": 5, "y": 5, "color": "#00c00"}]', "invalid_parameter", "hints[0].color"),
    ('[{"x": 5, "y": 5, "color": "#00c000"}, {"x": -1, "y": 5, "color": "#00c000"}]', "invalid_parameter",
     "hints[1].x"),
    ('[{"x": NaN, "y": 5, "color": "#00c000"}]', "invalid_parameter", "hints"),
    ('[{"x": 80, "y": 5, "color": "#00c000"}]', "hint_outside_image", "outside the 80×96 image"),  # x < width
    ('[{"x": 5, "y": 5000, "color": "#00c000"}]', "hint_outside_image", "outside"),
    (hint_list(65), "invalid_parameter", "at most 64"),
])
def test_bad_hints_get_a_400_naming_the_field(hint_server, text, code, fragment):
    response = post(hint_server, "colorize", {"image": ("p.png", png_bytes(photo(9)))}, {"hints": text})
    body = assert_error(response, 400, code, "hints")
    assert fragment in body["message"], body


def test_hints_are_checked_before_the_image_is_read_and_64_fit_in_a_text_part(hint_server):
    """Cheap checks first: bad hints are refused even beside an unreadable image. The most hints a
    request may carry, with long decimals, fit within the text part's byte limit."""
    bad = post(hint_server, "colorize", {"image": ("x.png", b"not an image")}, {"hints": "[{"})
    assert_error(bad, 400, "invalid_parameter", "hints")
    many = json.dumps([{"x": 5.123456789012345, "y": 7.987654321098765, "color": GREEN}] * 64, indent=1)
    assert len(many) > 4096
    assert post(hint_server, "colorize", {"image": ("p.png", png_bytes(photo(9)))}, {"hints": many}).status_code == 200
    as_file = post(hint_server, "colorize", {"image": ("p.png", png_bytes(photo(9))), "hints": ("h.json", b"[]")})
    assert_error(as_file, 400, "expected_text", "hints")


def test_a_reference_photo_steers_the_colours_and_a_bad_one_is_refused(hint_server):
    gray = ("g.png", png_bytes(photo(11, size=(75, 101)), mode="L"))
    plain = post(hint_server, "colorize", {"image": gray})
    guided = post(hint_server, "colorize", {"image": gray, "reference": ("r.jpg", png_bytes(photo(3), fmt="JPEG"))})
    assert guided.status_code == 200, guided.text
    assert as_image(guided).shape == (75, 101, 3)
    assert not np.array_equal(as_image(guided), as_image(plain)), "the reference's palette changed nothing"
    corrupt = post(hint_server, "colorize", {"image": gray, "reference": ("r.jpg", b"\xff\xd8\xff not a photo")})
    assert_error(corrupt, 400, "invalid_image", "reference")
    assert_error(post(hint_server, "colorize", {"image": gray}, {"reference": "http://127.0.0.1/r.jpg"}),
                 400, "expected_file", "reference")
    tiny = post(hint_server, "colorize", {"image": gray, "reference": ("r.png", png_bytes(np.zeros((5, 300, 3), np.uint8)))})
    assert_error(tiny, 400, "image_too_small", "reference")


def test_image_and_reference_together_are_refused_from_the_reference_header(hint_server):
    """As for style_image: a 16 MP photo leaves no room for a 9 MP reference within max_request_pixels;
    refused from the reference's header (it is truncated after it: decoding would fail otherwise)."""
    header_only = png_bytes(np.zeros((3000, 3000, 3), np.uint8))[:2000]
    response = post(hint_server, "colorize", {"image": ("b.jpg", flat_jpeg(4000, 4000)),
                                              "reference": ("r.png", header_only)})
    body = assert_error(response, 400, "image_too_large", "reference")
    assert "together exceed" in body["message"], body


def test_a_model_trained_without_hints_refuses_hints_and_references(server):
    image = {"image": ("p.png", png_bytes(photo(9)))}
    assert_error(post(server, "colorize", image, {"hints": hint_list(1)}), 400, "hints_unsupported", "hints")
    reference = {**image, "reference": ("r.png", png_bytes(photo(3)))}
    assert_error(post(server, "colorize", reference), 400, "hints_unsupported", "reference")
    assert post(server, "colorize", image, {"hints": "[]"}).status_code == 200, "no hints is the plain colourisation"
    assert httpx.get(f"{server}/info").json()["hints"] is False


def test_openapi_documents_hints_and_the_optional_reference(hint_server):
    spec = httpx.get(f"{hint_server}/docs.json").json()
    schema = spec["paths"]["/colorize"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["properties"]["reference"]["format"] == "binary"
    assert schema["properties"]["hints"]["type"] == "string" and '"color"' in schema["properties"]["hints"]["description"]
    assert schema["required"] == ["image"], "hints and reference are optional"
    stylize = spec["paths"]["/stylize"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "hints" not in stylize["properties"] and "reference" not in stylize["properties"]
    assert httpx.get(f"{hint_server}/info").json()["hints"] is True


def test_the_hint_server_logged_no_traceback(hint_served):
    assert "Traceback" not in hint_served.output()


def test_logs_have_one_line_per_rejection_and_no_traceback(served):
    """Runs after the tests above (module order): every refused request so far left one warning
    line, and nothing left a traceback."""
    marker = "unique-marker-field"
    post(served.base, "colorize", {marker: ("p.png", png_bytes(photo(1)))})
    output = served.output()
    assert "Traceback" not in output
    assert sum(marker in line and "WARNING" in line for line in output.splitlines()) == 1
    assert httpx.get(f"{served.base}/healthz").status_code == 200
