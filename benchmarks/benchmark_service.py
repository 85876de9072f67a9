"""Serving benchmark: a bounded async load against the bento on 127.0.0.1, beside the raw model
in-process, so the serving overhead is a ratio measured in the same run.

    python benchmarks/benchmark_service.py                 # starts `bentoml serve chromastyle:latest`
    python benchmarks/benchmark_service.py --url http://127.0.0.1:3000   # an already running service

Prints requests/s and p50/p95/p99 latency at concurrency 1, 4, 16 for 256² and 512² colourise
and stylise, the error count, and the in-process model throughput at batch 1 and 4 (whether
batching would pay: adaptive batching is only worth it if batch 4 beats batch 1 per image).
Every loop is bounded by a request count and a time limit; it only talks to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import io
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

SIZES = (256, 512)
CONCURRENCY = (1, 4, 16)


def test_image(size: int) -> bytes:
    rng = np.random.default_rng(size)
    y, x = np.mgrid[0:size, 0:size] / size
    gray = (127 + 60 * np.sin(8 * x) * np.cos(6 * y) + rng.normal(0, 10, (size, size))).clip(0, 255)
    buffer = io.BytesIO()
    Image.fromarray(gray.astype(np.uint8), "L").save(buffer, format="PNG")
    return buffer.getvalue()


async def load(url: str, api: str, payload: bytes, concurrency: int, requests: int, time_limit: float):
    latencies, errors = [], 0
    data = {"style_name": "greatwave", "alpha": "0.7"} if api == "stylize" else {}
    queue = asyncio.Queue()
    for _ in range(requests):
        queue.put_nowait(None)
    deadline = time.perf_counter() + time_limit

    async def worker(client: httpx.AsyncClient):
        nonlocal errors
        while not queue.empty() and time.perf_counter() < deadline:
            queue.get_nowait()
            start = time.perf_counter()
            response = await client.post(f"{url}/{api}", files={"image": ("x.png", payload, "image/png")}, data=data)
            latencies.append(time.perf_counter() - start)
            errors += response.status_code != 200

    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, errors


def percentile(values: list[float], q: float) -> float:
    return 1000 * float(np.percentile(values, q)) if values else float("nan")


def raw_model_throughput(size: int, batch: int, repeats: int = 5) -> float:
    import torch

    from chromastyle.colour import rgb_to_l_ab
    from chromastyle.model.integrated import Chromastyle
    import bentoml

    model = Chromastyle.load(Path(bentoml.models.get("chromastyle:latest").path))
    lightness = rgb_to_l_ab(torch.rand(batch, 3, size, size))[0]
    with torch.no_grad():
        model.colorize(lightness)
        start = time.perf_counter()
        for _ in range(repeats):
            model.colorize(lightness)
    return batch * repeats / (time.perf_counter() - start)


def start_bento(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "bentoml"), "serve", "chromastyle:latest", "--host", "127.0.0.1",
         "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(120):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(1)
    os.killpg(process.pid, signal.SIGTERM)
    raise RuntimeError("the bento did not become ready in 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--requests", type=int, default=40, help="per (api, size, concurrency) cell")
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds per cell")
    args = parser.parse_args()
    process = None
    if args.url is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        process = start_bento(port)
        args.url = f"http://127.0.0.1:{port}"
    try:
        print(f"service {args.url}; {args.requests} requests or {args.time_limit:.0f} s per cell")
        print(f"{'api':<9}{'size':>6}{'conc':>6}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
        best: dict[tuple[str, int], float] = {}
        for api in ("colorize", "stylize"):
            for size in SIZES:
                payload = test_image(size)
                for concurrency in CONCURRENCY:
                    rate, latencies, errors = asyncio.run(
                        load(args.url, api, payload, concurrency, args.requests, args.time_limit))
                    best[(api, size)] = max(best.get((api, size), 0.0), rate)
                    print(f"{api:<9}{size:>6}{concurrency:>6}{rate:>9.2f}{percentile(latencies, 50):>9.1f}"
                          f"{percentile(latencies, 95):>9.1f}{percentile(latencies, 99):>9.1f}{errors:>8}")
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
    print("\nin-process model (colourise), images/s — and the serving overhead")
    for size in SIZES:
        single, batched = raw_model_throughput(size, 1), raw_model_throughput(size, 4)
        print(f"{size:>4}²  batch 1 {single:7.2f}  batch 4 {batched:7.2f} (×{batched / single:.2f} per image)"
              f"   served/raw {best[('colorize', size)] / single:.2f}")


if __name__ == "__main__":
    main()
