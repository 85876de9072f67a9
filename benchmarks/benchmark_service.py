"""Serving benchmark: a bounded load against the bento on 127.0.0.1, beside the same model in
process, so the serving overhead is a ratio measured in the same run on the same photo.

    python benchmarks/benchmark_service.py                 # starts `bentoml serve` of models/bento.json's bento
    python benchmarks/benchmark_service.py --url http://127.0.0.1:3000   # an already running service

In-process baseline: `chromastyle.inference.colorize_array` on the decoded photo (what a Python
user calls), batch 1, with each runtime (torch, ONNX Runtime) on all cores; the faster is the
baseline. Served: POST /colorize with the photo as a PNG upload, answered as PNG (the
default) or JPEG, at concurrency 1, 2, 4; `served/in-process` = best served req/s / in-process
images/s. Then stylise cells, and an overload cell (many concurrent stylise requests): how many
were shed with 503 + Retry-After and how fast. Nothing else should run on the machine meanwhile.
Every loop is bounded by a request count and a time limit; it only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BENTO_FILE = ROOT / "models" / "bento.json"
SIZES = (256, 512)
PHOTO = ROOT / "data" / "sample" / "erase_alpaca.jpg"


def gray_photo(size: int) -> np.ndarray:
    """A real photo (grass, sky, animals), centre-cropped to size², as a user's grayscale scan."""
    image = Image.open(PHOTO).convert("L")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB"))


def five_hints(size: int) -> str:
    """The `hints` field of a guided request: 5 points spread over a size² photo, in five colours."""
    colours = ["#3a7d2c", "#d9a066", "#4a7fc1", "#b03a2e", "#e0c050"]
    points = [(0.2, 0.2), (0.8, 0.25), (0.5, 0.5), (0.25, 0.8), (0.75, 0.75)]
    return json.dumps([{"x": round(x * (size - 1)), "y": round(y * (size - 1)), "color": colour}
                       for (x, y), colour in zip(points, colours)])


def png_bytes(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("L").save(buffer, format="PNG")
    return buffer.getvalue()


async def load(url: str, api: str, payload: bytes, data: dict, concurrency: int, requests: int,
               time_limit: float) -> tuple[float, list[float], dict[int, int]]:
    latencies, statuses = [], {}
    remaining = requests
    deadline = time.perf_counter() + time_limit

    async def worker(client: httpx.AsyncClient):
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < deadline:
            remaining -= 1
            start = time.perf_counter()
            response = await client.post(f"{url}/{api}", files={"image": ("x.png", payload, "image/png")}, data=data)
            latencies.append(time.perf_counter() - start)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with httpx.AsyncClient(timeout=180, limits=httpx.Limits(max_connections=concurrency)) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return statuses.get(200, 0) / elapsed, latencies, statuses


def ms(values: list[float], q: float) -> float:
    return 1000 * float(np.percentile(values, q)) if values else float("nan")


def in_process_rates(model, size: int, repeats: int) -> dict[str, float]:
    """images/s of colorize_array (array in, array out) and of stylize_array, batch 1."""
    from chromastyle.inference import colorize_array, stylize_array

    rgb = gray_photo(size)
    style = np.asarray(Image.open(ROOT / "data" / "styles" / "greatwave.jpg").convert("RGB").resize((256, 256)))
    rates = {}
    for name, call in (("colorize", lambda: colorize_array(model, rgb, 768)),
                       ("stylize", lambda: stylize_array(model, colorize_array(model, rgb, 768), [style], None, 0.7,
                                                         False, 512))):
        call()
        start = time.perf_counter()
        for _ in range(repeats):
            call()
        rates[name] = repeats / (time.perf_counter() - start)
    return rates


def start_bento(target: str, port: int, workers: int, model: str) -> subprocess.Popen:
    env = {**os.environ, "BENTOML_DO_NOT_TRACK": "true"}
    if target.endswith(":Chromastyle"):  # the service's source: serve the same model as in process
        env["CHROMASTYLE_BENTO_MODEL"] = model
    command = [str(Path(sys.executable).parent / "bentoml"), "serve", target, "--host", "127.0.0.1",
               "--port", str(port)]
    if workers > 1:
        env["CHROMASTYLE_WORKERS"] = str(workers)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                               cwd=ROOT / "src", start_new_session=True)
    for _ in range(180):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(1)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError("the bento did not become ready in 180 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--requests", type=int, default=60, help="per cell")
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds per cell")
    parser.add_argument("--workers", type=int, default=1, help="BentoML workers when this script starts the bento")
    built = json.loads(BENTO_FILE.read_text()) if BENTO_FILE.is_file() else {}
    parser.add_argument("--target", default=built.get("bento", "chromastyle:latest"),
                        help="what `bentoml serve` serves: the pipeline's bento (models/bento.json, default), "
                             "another bento tag, or chromastyle.service.service:Chromastyle")
    parser.add_argument("--model", default=built.get("model", "chromastyle:latest"),
                        help="the BentoML model run in process (default: the one in the pipeline's bento)")
    args = parser.parse_args()
    import bentoml
    import torch

    from chromastyle.model.onnx_runtime import load_for_inference

    torch.set_num_threads(os.cpu_count() or 1)
    folder = Path(bentoml.models.get(args.model).path)
    by_runtime = {}
    for runtime in ("torch", "onnx"):
        model = load_for_inference(folder, runtime, os.cpu_count() or 1)
        by_runtime[runtime] = {size: in_process_rates(model, size, repeats=max(5, args.requests // 4))
                               for size in SIZES}
        del model
    raw = {size: {api: max(rates[size][api] for rates in by_runtime.values()) for api in ("colorize", "stylize")}
           for size in SIZES}
    process = None
    if args.url is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        process = start_bento(args.target, port, args.workers, args.model)
        args.url = f"http://127.0.0.1:{port}"
    rows, best = [], {}
    try:
        for size in SIZES:
            payload = png_bytes(gray_photo(size))
            cells = [("colorize", {"format": fmt}, c) for fmt in ("png", "jpeg") for c in (1, 2, 4)]
            cells += [("colorize", {"format": "png", "hints": five_hints(size)}, 1)]  # a guided request
            cells += [("stylize", {"style_name": "greatwave", "alpha": "0.7", "format": "png"}, c) for c in (1, 2)]
            for api, data, concurrency in cells:
                rate, latencies, statuses = asyncio.run(
                    load(args.url, api, payload, data, concurrency, args.requests, args.time_limit))
                key = (api + ("+5 hints" if "hints" in data else ""), size)
                best[key] = max(best.get(key, 0.0), rate)
                rows.append((key[0], size, data["format"], concurrency, rate, latencies, statuses))
        overload = asyncio.run(load(args.url, "stylize", png_bytes(gray_photo(512)),
                                    {"style_name": "greatwave"}, 40, 40, 120))
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)

    print(f"service {args.url} ({args.target}, model {args.model}), {args.workers} worker(s); {args.requests} requests or {args.time_limit:.0f} s per cell")  # noqa: E501
    print(f"{'api':<17}{'size':>5}{'format':>7}{'conc':>5}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}  statuses")
    for api, size, fmt, concurrency, rate, latencies, statuses in rows:
        print(f"{api:<17}{size:>5}{fmt:>7}{concurrency:>5}{rate:>8.2f}{ms(latencies, 50):>8.1f}{ms(latencies, 95):>8.1f}"
              f"{ms(latencies, 99):>8.1f}  {statuses}")
    _, latencies, statuses = overload
    shed = [t for t in latencies if t < 5]
    print(f"\noverload: 40 concurrent stylise 512² -> {statuses}; {len(shed)} answered within 5 s "
          f"(p50 {ms(latencies, 50):.0f} ms, max {ms(latencies, 100):.0f} ms)")
    print("\nin process (chromastyle.inference, batch 1, all cores), images/s")
    for runtime, rates in by_runtime.items():
        print(f"  {runtime:<6}" + "".join(f"  {size}² colourise {rates[size]['colorize']:7.2f} stylise "
                                          f"{rates[size]['stylize']:6.2f}" for size in SIZES))
    print("\nserved/in-process (best served req/s over the faster in-process runtime)")
    for size in SIZES:
        print(f"{size:>4}²  colourise {raw[size]['colorize']:7.2f}  served/in-process "
              f"{best[('colorize', size)] / raw[size]['colorize']:.2f}   |   stylise {raw[size]['stylize']:6.2f}"
              f"  served/in-process {best[('stylize', size)] / raw[size]['stylize']:.2f}")
    print("\nguided / automatic colourise (p50 latency, concurrency 1, PNG; the issue's bound: 1.2)")
    for size in SIZES:
        p50 = {api: ms(latencies, 50) for api, s, fmt, c, _, latencies, _ in rows
               if s == size and fmt == "png" and c == 1 and api.startswith("colorize")}
        print(f"{size:>4}²  automatic {p50['colorize']:.1f} ms, 5 hints {p50['colorize+5 hints']:.1f} ms: "
              f"{p50['colorize+5 hints'] / p50['colorize']:.2f}")


if __name__ == "__main__":
    main()
