"""The service as an operator runs it: overload shed early, colourise never starved by stylise,
optional API key, no orphaned worker after the supervisor is SIGKILLed, no upload left behind by
a killed worker, a fuzzer over the OpenAPI finds no 5xx, and pages that load nothing from outside.
"""

import asyncio
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import photo, png_bytes
from serving import make_hint_model_store, make_model_store, scan_bomb, start_server, wait_for
from test_service import GREEN, ab_of, assert_error

API_KEY = "s3cret-test-key"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_browser = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CHROMASTYLE_REQUIRE_BROWSER"),
                                   reason="Debian's chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml")
    make_model_store(home)
    return home


@pytest.fixture(scope="module")
def guarded(store, tmp_path_factory):
    """A server with an API key and small gates: 1 stylise computing + 1 waiting, 2 colourise; on
    eager PyTorch (the other runtime than the default: both are served over HTTP in the tests)."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    server = start_server(store, log, {"CHROMASTYLE_API_KEY": API_KEY, "CHROMASTYLE_STYLIZE_CONCURRENCY": "1",
                                       "CHROMASTYLE_QUEUE_SIZE": "1", "CHROMASTYLE_QUEUE_TIMEOUT_S": "60",
                                       "CHROMASTYLE_MAX_STYLE_WORK_SIDE": "2048",
                                       "CHROMASTYLE_RUNTIME": "torch"})
    yield server
    server.stop()


def test_two_workers_share_the_port_and_the_load(store, tmp_path):
    """package.workers (here via its CHROMASTYLE_WORKERS override): two worker processes, each with
    the model, both answering requests on the one port."""
    server = start_server(store, tmp_path / "server.log", {"CHROMASTYLE_WORKERS": "2"})
    try:
        assert wait_for(lambda: len(server.worker_pids()) == 2, timeout=60), server.worker_pids()

        async def colourise_and_ask_who(client: httpx.AsyncClient) -> int:
            done = await client.post(f"{server.base}/colorize", files={"image": ("p.png", png_bytes(photo(2)))})
            assert done.status_code == 200, done.text
            return (await client.get(f"{server.base}/info")).json()["worker_pid"]

        async def burst() -> set[int]:
            # Rounds of fresh connections (the kernel spreads them over the workers that accept) until both
            # have answered or 90 s passed: a worker's process exists before it has loaded the model and
            # accepts, and on a busy CI machine five quick rounds all went to the first one.
            answered: set[int] = set()
            deadline = time.monotonic() + 90
            while len(answered) < 2 and time.monotonic() < deadline:
                async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_keepalive_connections=0)) as client:
                    answered |= set(await asyncio.gather(*[colourise_and_ask_who(client) for _ in range(8)]))
            return answered

        assert asyncio.run(burst()) == set(server.worker_pids())
    finally:
        server.stop()


def big_photo(side: int) -> bytes:
    image = Image.fromarray(photo(0, size=(side, side)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def test_api_key_is_required_when_set(guarded):
    image = {"image": ("p.png", png_bytes(photo(1)))}
    refused = httpx.post(f"{guarded.base}/colorize", files=image)
    assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
    assert httpx.post(f"{guarded.base}/colorize", files=image, headers={"X-API-Key": "wrong"}).status_code == 401
    assert httpx.post(f"{guarded.base}/colorize", files=image, headers={"X-API-Key": API_KEY}).status_code == 200
    bearer = httpx.get(f"{guarded.base}/styles", headers={"Authorization": f"Bearer {API_KEY}"})
    assert bearer.status_code == 200
    for bare in (API_KEY, f"Basic {API_KEY}", "Bearer", f"Bearer{API_KEY}"):  # the key without its scheme is refused
        assert_error(httpx.get(f"{guarded.base}/styles", headers={"Authorization": bare}), 401, "unauthorized")
    assert httpx.get(f"{guarded.base}/healthz").status_code == 200, "health stays open for probes"
    assert httpx.get(f"{guarded.base}/ui/").status_code == 200, "the page loads; it asks for the key"
    info = httpx.get(f"{guarded.base}/info", headers={"X-API-Key": API_KEY}).json()
    assert info["runtime"] == "torch", "the answers above came from eager PyTorch"


def test_overload_is_shed_early_and_colourise_is_not_starved(guarded):
    """12 slow stylisations at once against 1 running + 1 waiting: the rest get 503 with Retry-After
    at once; a colourisation sent meanwhile is answered while the stylisations still run."""
    headers = {"X-API-Key": API_KEY}
    slow = big_photo(1400)

    async def scenario():
        async with httpx.AsyncClient(timeout=120, headers=headers) as client:
            async def stylise():
                started = time.perf_counter()
                response = await client.post(f"{guarded.base}/stylize", files={"image": ("b.jpg", slow)},
                                             data={"style_name": "greatwave"})
                return response, time.perf_counter() - started

            async def colourise():
                await asyncio.sleep(0.5)
                started = time.perf_counter()
                response = await client.post(f"{guarded.base}/colorize",
                                             files={"image": ("p.png", png_bytes(photo(2)))})
                return response, time.perf_counter() - started

            return await asyncio.gather(*(stylise() for _ in range(12)), colourise())

    results = asyncio.run(scenario())
    stylised, (colourised, colourise_s) = results[:-1], results[-1]
    statuses = sorted(response.status_code for response, _ in stylised)
    shed = [(response, seconds) for response, seconds in stylised if response.status_code == 503]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 2 and len(shed) >= 8, sorted({r.text[:150] for r, _ in stylised if r.status_code != 200})  # noqa: E501
    assert all(seconds < 5 for _, seconds in shed), "overload is answered at once, not after a timeout"
    assert all(int(response.headers["retry-after"]) >= 1 and response.json()["error"] == "overloaded"
               for response, _ in shed)
    slowest_stylise = max(seconds for response, seconds in stylised if response.status_code == 200)
    assert colourised.status_code == 200 and colourise_s < slowest_stylise, (colourise_s, slowest_stylise)


@pytest.fixture(scope="module")
def strict(store, tmp_path_factory):
    """Short timeouts and a small colourise gate (1 computing + 1 waiting): request timeout 5 s,
    upload timeout 3 s, at most 6 uploads in flight; JPEG scans unbounded, so that a scan bomb is
    slow but allowed work."""
    log = tmp_path_factory.mktemp("logs") / "server.log"
    server = start_server(store, log, {"CHROMASTYLE_REQUEST_TIMEOUT_S": "5", "CHROMASTYLE_UPLOAD_TIMEOUT_S": "3",
                                       "CHROMASTYLE_COLORIZE_CONCURRENCY": "1", "CHROMASTYLE_QUEUE_SIZE": "1",
                                       "CHROMASTYLE_MAX_UPLOADS_IN_FLIGHT": "6", "CHROMASTYLE_MAX_JPEG_SCANS": "1000000"})
    yield server
    server.stop()


def colourise_small(base: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = httpx.post(f"{base}/colorize", files={"image": ("p.png", png_bytes(photo(2)))}, timeout=60)
    return response, time.perf_counter() - started


def open_slow_upload(base: str) -> socket.socket:
    """A colourise request whose headers arrive at once and whose 100 kB body never does."""
    host, port = base.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=30)
    connection.sendall(b"POST /colorize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                       b"Content-Length: 100000\r\n\r\n--b\r\n")
    return connection


def test_slow_uploads_hold_no_compute_place(strict):
    """Four clients trickling their bodies in (a byte every 0.5 s) against a gate of two places:
    colourisations sent meanwhile are answered at once (they were all 503 while uploads counted),
    and the slow ones get a 408 in the project's shape when the upload time is up."""
    slow = [open_slow_upload(strict.base) for _ in range(4)]
    done = threading.Event()

    def trickle() -> None:
        while not done.wait(0.5):
            for connection in slow:
                try:
                    connection.send(b"x")
                except OSError:
                    pass

    threading.Thread(target=trickle, daemon=True).start()
    try:
        answers = [colourise_small(strict.base) for _ in range(3)]
        assert [response.status_code for response, _ in answers] == [200] * 3, [r.text for r, _ in answers]
        assert all(seconds < 5 for _, seconds in answers), answers
        for connection in slow:
            reply = read_reply(connection, b'"error": "upload_timeout"')
            assert reply.startswith(b"HTTP/1.1 408") and b'"error": "upload_timeout"' in reply, reply
            assert b"connection: close" in reply.lower(), reply
        for connection in slow:  # still trickling: the server has closed its end, not kept it for more bytes
            assert closed_by_server(connection, within_s=10), "the connection stayed open after its 408"
    finally:
        done.set()
        for connection in slow:
            connection.close()


def closed_by_server(connection: socket.socket, within_s: float) -> bool:
    """Whether the server closes the connection (EOF or reset) within `within_s`, whatever remains unread."""
    connection.settimeout(within_s)
    try:
        while connection.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def read_reply(connection: socket.socket, until: bytes) -> bytes:
    reply = b""
    while until not in reply and (chunk := connection.recv(65536)):
        reply += chunk
    return reply


def test_uploads_in_flight_have_their_own_cap(strict):
    """Six bodies still arriving fill package.max_uploads_in_flight: the next request gets 503 at
    once, and is served once they have been cut off (408)."""
    slow = [open_slow_upload(strict.base) for _ in range(6)]
    try:
        assert wait_for(lambda: colourise_small(strict.base)[0].status_code == 503, timeout=2.5, interval=0.1)
        refused, seconds = colourise_small(strict.base)
        assert "uploads in progress" in assert_error(refused, 503, "overloaded")["message"] and seconds < 2
        for connection in slow:
            assert read_reply(connection, b'"error": "upload_timeout"').startswith(b"HTTP/1.1 408")
    finally:
        for connection in slow:
            connection.close()
    assert colourise_small(strict.base)[0].status_code == 200


def test_a_timed_out_request_is_answered_in_shape_and_keeps_its_slot(strict):
    """A scan bomb (seconds of decoding) on a 5 s request timeout: a 503 `timeout` before BentoML's
    own 504; until its thread really ends, its slot stays taken, so the next colourisations get a
    503 at once (they hung until a 504 while the slot was handed on at the timeout); then 200."""
    started = time.perf_counter()
    timed_out = httpx.post(f"{strict.base}/colorize", files={"image": ("b.jpg", scan_bomb(4000, 1500))}, timeout=60)
    assert_error(timed_out, 503, "timeout")
    assert time.perf_counter() - started < 5 and int(timed_out.headers["retry-after"]) >= 1
    statuses = []
    for _ in range(3):
        response, seconds = colourise_small(strict.base)
        statuses.append(response.status_code)
        if response.status_code == 503:
            assert_error(response, 503, "overloaded")
            assert seconds < 3, f"503 after {seconds:.1f} s"
    assert statuses[0] == 503 and set(statuses) <= {200, 503}, statuses
    assert wait_for(lambda: colourise_small(strict.base)[0].status_code == 200, timeout=90), "the slot never came back"
    assert "work of a timed-out request ended" in strict.output() and "Traceback" not in strict.output()


def test_a_bad_header_is_refused_without_waiting_for_the_busy_compute_place(strict):
    """While a scan bomb (allowed here: seconds of decoding) holds the one colourise place, an upload
    whose header is already wrong (8×8 px) gets its 400 at once: the header checks run before the gate
    (it used to wait in the queue for the place, then time out as a 503)."""
    finished = {}

    def bomb() -> None:
        httpx.post(f"{strict.base}/colorize", files={"image": ("b.jpg", scan_bomb(4000, 1500))}, timeout=60)
        finished["bomb"] = time.perf_counter()

    worker = threading.Thread(target=bomb)
    worker.start()
    time.sleep(1.0)  # the bomb's small body is in and decoding
    started = time.perf_counter()
    tiny = httpx.post(f"{strict.base}/colorize", files={"image": ("t.png", png_bytes(photo(1, size=(8, 8))))},
                      timeout=60)
    answered = time.perf_counter()
    assert_error(tiny, 400, "image_too_small", "image")
    worker.join()
    assert answered - started < 3 and answered < finished["bomb"], (answered - started, finished["bomb"] - answered)
    assert wait_for(lambda: colourise_small(strict.base)[0].status_code == 200, timeout=90), "the slot never came back"


def test_a_killed_supervisor_takes_its_worker_with_it(store, tmp_path):
    server = start_server(store, tmp_path / "server.log")
    try:
        workers = server.worker_pids()
        assert workers
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)

        def gone(pid: int) -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

        assert wait_for(lambda: all(gone(pid) for pid in workers), timeout=30), "the worker outlived its supervisor"
        port = int(server.base.rsplit(":", 1)[1])
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, "the port is still served"
    finally:
        server.stop()


def test_a_killed_worker_leaves_no_upload_behind(store, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    server = start_server(store, tmp_path / "server.log", {"TMPDIR": str(tmp)})
    try:
        before = set(os.listdir(tmp))
        upload = big_photo(2000)  # > 1 MB: Starlette spools it to a temporary file

        def slow_upload():
            yield b'--b\r\nContent-Disposition: form-data; name="image"; filename="big.jpg"\r\n\r\n'
            yield upload[: len(upload) // 2]
            time.sleep(2)  # the worker is killed meanwhile
            yield upload[len(upload) // 2:] + b"\r\n--b--\r\n"

        worker = server.worker_pids()[0]
        killer = subprocess.Popen([sys.executable, "-c", f"import os,time; time.sleep(1); os.kill({worker}, 9)"])
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"{server.base}/stylize", content=slow_upload(), timeout=30,
                       headers={"content-type": "multipart/form-data; boundary=b"})
        killer.wait(timeout=10)
        assert set(os.listdir(tmp)) - before == set(), "files left in TMPDIR"
    finally:
        server.stop()


@pytest.mark.parametrize("model", ["automatic", "hints"])
def test_a_fuzzer_over_the_openapi_finds_no_server_error(model, store, hint_store, tmp_path):
    """schemathesis (loopback only, bounded): every generated request gets a documented, non-5xx
    answer, from the automatic model and from a hint model (whose hints and reference photo are then
    read, not refused up front). `positive_data_acceptance` is left out: no schema can say "a decodable
    image of at least 16 px", so schema-valid uploads are rightly refused."""
    home, env = (store, {}) if model == "automatic" else (hint_store[0], {"CHROMASTYLE_BENTO_MODEL": hint_store[1]})
    server = start_server(home, tmp_path / "server.log", env)
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "run", f"{server.base}/docs.json",
             "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", "40",
             "--seed", "7", "--workers", "1", "--request-timeout", "60", "--no-color"],
            capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-6000:]
        assert "Traceback" not in server.output()
    finally:
        server.stop()


@needs_browser
def test_pages_load_nothing_from_outside_and_the_web_page_works(store, tmp_path):
    from playwright.sync_api import sync_playwright

    from test_mlflow_ui import CHROMIUM_FLAGS

    server = start_server(store, tmp_path / "server.log")
    gray = tmp_path / "gray.png"
    gray.write_bytes(png_bytes(photo(11, size=(64, 96)), mode="L"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    requested: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.goto(f"{server.base}/", wait_until="networkidle")
            page.locator(".opblock-summary-path").first.wait_for(timeout=20_000)
            page.screenshot(path=str(tmp_path / "docs_page.png"))
            for gone in ("/docs", "/redoc"):  # FastAPI's CDN-loading pages are not served
                assert page.goto(f"{server.base}{gone}").status == 404

            page.goto(f"{server.base}/ui/", wait_until="load")
            page.locator(".thumb[data-style='greatwave']").wait_for(timeout=20_000)
            assert page.is_hidden("#before") and page.is_hidden("#after") and page.is_hidden("#download"), \
                "no broken-image placeholder before an upload"
            assert page.locator(".thumb[data-style='greatwave'] span").is_visible()
            assert page.inner_text(".thumb[data-style='greatwave']").strip() == "greatwave", "thumbnails are named"
            assert page.inner_text("#go") == "Colourise"
            page.click(".thumb[data-style='greatwave']")
            assert page.inner_text("#go") == "Stylise", "the button names what it does"
            page.click(".thumb[data-style='']")
            assert page.inner_text("#go") == "Colourise"
            page.set_input_files("#file", str(gray))
            page.click("#go")
            page.wait_for_function("document.getElementById('after').naturalWidth > 0", timeout=30_000)
            size = page.evaluate("[document.getElementById('after').naturalWidth, "
                                 "document.getElementById('after').naturalHeight]")
            assert size == [96, 64]
            assert page.is_hidden("#hint-panel") and page.is_hidden("#pins"), "this model takes no hints"
            assert page.is_visible("#after") and page.is_visible("#download")
            page.set_input_files("#style-file", str(bad))  # same photo, an unusable painting
            assert page.inner_text("#go") == "Stylise"
            page.click("#go")
            page.locator("#error").wait_for(state="visible", timeout=30_000)
            assert "style_image" in page.inner_text("#error")
            assert page.is_hidden("#after") and page.is_hidden("#download"), "an error clears the previous result"
            page.set_input_files("#style-file", [])
            page.set_input_files("#file", str(bad))
            page.click("#go")
            page.wait_for_function("document.getElementById('error').textContent.includes('image:')", timeout=30_000)
            message = page.inner_text("#error")
            assert "not an image" in message and "{" not in message, "the message is shown as text"
            page.screenshot(path=str(tmp_path / "web_error.png"), full_page=True)
            browser.close()
    finally:
        server.stop()
    outside = [url for url in requested if not url.startswith((server.base, "data:", "blob:"))]
    assert outside == [], outside
    assert any(url.endswith("/docs.json") for url in requested)


@pytest.fixture(scope="module")
def hint_store(tmp_path_factory):
    home = tmp_path_factory.mktemp("bentoml-hints")
    return home, make_hint_model_store(home)


# The shown result's pixels in a (2r+1)² window around (x, y) of the photo, as H×W×4 RGBA.
RESULT_WINDOW_JS = """([x, y, r]) => {
  const image = document.getElementById('after');
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth;
  canvas.height = image.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(image, 0, 0);
  return Array.from(context.getImageData(x - r, y - r, 2 * r + 1, 2 * r + 1).data);
}"""


# Each /colorize request's hints and whether it had a reference, as sent (Chromium's request events
# leave out bodies with files in them).
RECORD_HINTS_JS = """window.posted = [];
const pageFetch = window.fetch;
window.fetch = (url, options) => {
  if (String(url).endsWith('/colorize')) {
    window.posted.push({hints: options.body.get('hints'), reference: options.body.has('reference')});
  }
  return pageFetch(url, options);
};"""


def result_window(page, x: int, y: int, radius: int) -> np.ndarray:
    side = 2 * radius + 1
    return np.array(page.evaluate(RESULT_WINDOW_JS, [x, y, radius]), np.uint8).reshape(side, side, 4)[..., :3]


def next_result(page, previous: str | None) -> str:
    """Wait until the page shows a new result (another blob URL, decoded); its URL."""
    page.wait_for_function("(previous) => { const a = document.getElementById('after');"
                           " return !a.hidden && a.src && a.src !== previous && a.complete && a.naturalWidth > 0; }",
                           arg=previous, timeout=30_000)
    return page.get_attribute("#after", "src")


def towards_green(before: np.ndarray, after: np.ndarray) -> float:
    direction = np.array(ab_of(np.array([[[0, 192, 0]]], np.uint8))[0, 0])
    return float(((ab_of(after) - ab_of(before)) @ (direction / np.linalg.norm(direction))).mean())


@needs_browser
def test_the_web_page_pins_colour_hints_on_the_photo(hint_store, tmp_path):
    """A 1200×800 photo shown at about 450 px: a click pins a hint at the photo's own pixel there, in
    the colour the model chose; made green, the result turns green around it (not far away); dragged,
    it moves by the scaled distance; right-clicked, it is gone and the result is the plain one again;
    a reference photo is sent along and changes the colours."""
    from playwright.sync_api import sync_playwright

    from test_mlflow_ui import CHROMIUM_FLAGS

    home, tag = hint_store
    server = start_server(home, tmp_path / "server.log", {"CHROMASTYLE_BENTO_MODEL": tag})
    gray = tmp_path / "gray.png"
    gray.write_bytes(png_bytes(photo(11, size=(800, 1200)), mode="L"))
    reference = tmp_path / "reference.jpg"
    reference.write_bytes(png_bytes(photo(3), fmt="JPEG"))

    def posted() -> list[list[dict]]:
        return [json.loads(sent["hints"]) if sent["hints"] else [] for sent in page.evaluate("window.posted")]

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.add_init_script(RECORD_HINTS_JS)
            page.goto(f"{server.base}/ui/", wait_until="load")
            page.set_input_files("#file", str(gray))
            page.click("#go")
            shown = next_result(page, None)
            assert page.is_visible("#hint-panel") and page.is_visible("#reference-file")
            box = page.locator("#before").bounding_box()
            scale = 1200 / box["width"]
            assert scale > 2, "the photo is shown scaled down: the page must scale hints up"
            x, y = 360, 320  # where to click, in the photo's pixels
            plain = result_window(page, x, y, 12)
            far = (1020, 680)
            plain_far = result_window(page, *far, 12)

            page.mouse.click(box["x"] + (x + 0.5) / scale, box["y"] + (y + 0.5) / scale)
            shown = next_result(page, shown)
            assert page.locator(".pin").count() == 1
            (hint,) = posted()[-1]
            # Pointer events land on whole CSS pixels: a shown pixel is `scale` photo pixels.
            assert abs(hint["x"] - x) <= scale and abs(hint["y"] - y) <= scale, hint
            model_colour = plain[12 + hint["y"] - y, 12 + hint["x"] - x]
            assert hint["color"] == "#" + bytes(model_colour).hex(), "a new hint starts as the model's colour"
            assert np.linalg.norm(ab_of(model_colour[None, None])[0, 0] - ab_of(np.array([[[0, 192, 0]]], np.uint8))[0, 0]) > 40

            page.locator("#hints input[type=color]").fill(GREEN)
            shown = next_result(page, shown)
            assert posted()[-1] == [{**hint, "color": GREEN}]
            near_shift = towards_green(plain, result_window(page, x, y, 12))
            far_shift = towards_green(plain_far, result_window(page, *far, 12))
            assert near_shift > 10 and near_shift > 4 * abs(far_shift), (near_shift, far_shift)
            page.screenshot(path=str(tmp_path / "web_hint.png"), full_page=True)

            pin = page.locator(".pin").bounding_box()
            page.mouse.move(pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] / 2)
            page.mouse.down()
            page.mouse.move(pin["x"] + pin["width"] / 2 + 40, pin["y"] + pin["height"] / 2, steps=5)
            page.mouse.up()
            shown = next_result(page, shown)
            assert page.locator(".pin").count() == 1, "a drag adds no hint"
            (moved,) = posted()[-1]
            assert abs(moved["x"] - (hint["x"] + 40 * scale)) <= 2 * scale and abs(moved["y"] - hint["y"]) <= scale, moved

            page.click(".pin", button="right")
            shown = next_result(page, shown)
            assert posted()[-1] == [] and page.locator(".pin").count() == 0
            assert np.array_equal(result_window(page, x, y, 12), plain), "without hints: the plain colourisation"

            page.set_input_files("#reference-file", str(reference))
            next_result(page, shown)
            assert page.evaluate("window.posted.at(-1).reference")
            assert not np.array_equal(result_window(page, x, y, 12), plain), "the reference's palette changed nothing"
            browser.close()
    finally:
        server.stop()
    assert "Traceback" not in server.output()
