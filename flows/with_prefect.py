"""Run a command (e.g. `dvc repro`) with one Prefect server for all of its flows.

    python -m flows.with_prefect dvc repro

Without PREFECT_API_URL every stage's flow starts its own temporary Prefect server (10-20 s each
on 2 cores, once per stage). This starts one `prefect server start` on 127.0.0.1 (its database in
$PREFECT_HOME, so the runs stay browsable afterwards with `prefect server start`), points every
flow at it through PREFECT_API_URL, runs the command, and stops the server. With PREFECT_API_URL
already set (a team's server), it only runs the command.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from chromastyle.offline import disable_telemetry

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 180


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def prefect_server(home: Path):
    """A `prefect server start` on 127.0.0.1 for the duration of the block; yields its API URL."""
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_UI_ENABLED": "false", "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}
    env.pop("PREFECT_API_URL", None)
    log = (home / "server.log").open("ab")
    server = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port), "--no-scheduler", "--no-late-runs"],
                              env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.time() + STARTUP_TIMEOUT_S
        while not _healthy(url):
            if server.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the Prefect server did not start; see {home / 'server.log'}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def main(command: list[str]) -> int:
    if not command:
        sys.exit("usage: python -m flows.with_prefect COMMAND [ARGS...]   (e.g. dvc repro)")
    disable_telemetry()
    if os.environ.get("PREFECT_API_URL"):
        return subprocess.call(command)
    home = Path(os.environ.get("PREFECT_HOME", ROOT / ".prefect"))
    home.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with prefect_server(home) as url:
        print(f"Prefect server {url} ready in {time.perf_counter() - started:.1f} s; running: {' '.join(command)}",
              flush=True)
        return subprocess.call(command, env={**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(home)})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
