"""A real `bentoml serve` of the service on 127.0.0.1 with a tiny model, for the HTTP tests."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from conftest import free_port, launch_logged, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
BENTOML = str(Path(sys.executable).parent / "bentoml")
SERVICE = "chromastyle.service.service:Chromastyle"


def make_model_store(home: Path, styles: tuple[str, ...] = ("greatwave", "kandinky")) -> None:
    """A BentoML home holding a tiny, seeded chromastyle model (+ gallery, with a non-image file)."""
    gallery = home / "gallery"
    gallery.mkdir(parents=True)
    for name in styles:
        shutil.copy2(ROOT / "data" / "styles" / f"{name}.jpg", gallery / f"{name}.jpg")
    shutil.copy2(ROOT / "data" / "styles" / "CREDITS.tsv", gallery / "CREDITS.tsv")
    code = (
        "import sys, torch\n"
        "from pathlib import Path\n"
        "from chromastyle.config import PackageConfig\n"
        "from chromastyle.model.integrated import Chromastyle, ModelConfig\n"
        "from chromastyle.service.packaging import import_model\n"
        "torch.manual_seed(0)\n"
        "model = Chromastyle(ModelConfig(base_channels=8, work_side=32))\n"
        "model.save(Path(sys.argv[1]) / 'model')\n"
        "from chromastyle.model.onnx_runtime import export_onnx\n"
        "export_onnx(model, Path(sys.argv[1]) / 'model' / 'onnx')  # as the train stage does: both runtimes can serve it\n"
        "import_model(Path(sys.argv[1]) / 'model', Path(sys.argv[1]) / 'gallery', 'chromastyle',\n"
        "             {'mlflow_version': 'test'}, PackageConfig().service_limits())\n"
    )
    subprocess.run([sys.executable, "-c", code, str(home)], env={**os.environ, "BENTOML_HOME": str(home)},
                   check=True)


HINT_TRAINING_STEPS = 100  # about 40 s on 2 cores; at 40 a green hint moved a* by ~8, at 100 by ~25, untrained by 0


def make_hint_model_store(home: Path) -> str:
    """make_model_store's store plus a tiny hint model trained briefly; returns its tag, to serve with
    CHROMASTYLE_BENTO_MODEL. Trained, because an untrained one ignores its hints: no test could see one work."""
    make_model_store(home)
    code = (
        "import sys, numpy as np, torch\n"
        "from pathlib import Path\n"
        "sys.path.insert(0, sys.argv[3])\n"
        "from conftest import photo\n"
        "from chromastyle.config import AugmentConfig, PackageConfig, TrainConfig\n"
        "from chromastyle.model.integrated import Chromastyle, ModelConfig, build_colorizer\n"
        "from chromastyle.model.onnx_runtime import export_onnx\n"
        "from chromastyle.service.packaging import import_model\n"
        "from chromastyle.train.trainer import Trainer\n"
        "home = Path(sys.argv[1])\n"
        "cfg = TrainConfig(device='cpu', image_size=32, batch_size=8, base_channels=8, work_side=32, encoder='scratch',\n"
        "                  colorizer_steps=int(sys.argv[2]), finetune_steps=0, adversarial_steps=0, stylizer_steps=0,\n"
        "                  adversarial_weight=0.0, lr_generator=3e-3, checkpoint_every=10000, hints=True)\n"
        "model_cfg = ModelConfig(base_channels=8, work_side=32, encoder='scratch', loss_network='random', hints=True)\n"
        "torch.manual_seed(0)\n"
        "model = Chromastyle(model_cfg, colorizer=build_colorizer(model_cfg, pretrained=True))\n"
        "images = np.stack([photo(i, size=(48, 48)) for i in range(6)])\n"
        "Trainer(cfg, AugmentConfig(), model, images, images[:2], images[:2], home / 'checkpoints', 'hints').run()\n"
        "model.eval().save(home / 'hint_model')\n"
        "export_onnx(model, home / 'hint_model' / 'onnx')\n"
        "print(import_model(home / 'hint_model', home / 'gallery', 'chromastyle', {'mlflow_version': 'test-hints'},\n"
        "                   PackageConfig().service_limits()))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(home), str(HINT_TRAINING_STEPS), str(Path(__file__).parent)],
                          env={**os.environ, "BENTOML_HOME": str(home)}, check=True, capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    base: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in found.split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)


PORT_ATTEMPTS = 3  # start_server: ports tried when the chosen one was taken before the server bound it


def start_server(home: Path, log: Path, env: dict[str, str] | None = None,
                 address_space_bytes: int | None = None) -> Server:
    """`bentoml serve` of the service source (cwd src/, as the bento does), optionally under an
    address-space limit (RLIMIT_AS) that the supervisor and its workers inherit.

    free_port's port is free when it is chosen, not when the server binds it: an outgoing connection
    of the suite can take it as its ephemeral port in between (seen once in CI: every test of a module
    failed on "Address already in use"). Such a start is retried on a new port; any other failure is not."""
    full_env = {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", **(env or {})}

    def limit() -> None:
        if address_space_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (address_space_bytes, address_space_bytes))

    for attempt in range(PORT_ATTEMPTS):  # the last attempt returns or raises
        port = free_port()
        log.unlink(missing_ok=True)
        process = launch_logged([BENTOML, "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)], log,
                                cwd=ROOT / "src", env=full_env, preexec_fn=limit)
        server = Server(f"http://127.0.0.1:{port}", process, log)
        try:
            wait_until_ready(f"{server.base}/readyz", process, timeout=180)
            return server
        except Exception as err:
            server.stop()
            if "Address already in use" not in str(err) or attempt == PORT_ATTEMPTS - 1:
                raise


def wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def scan_bomb(side: int = 2000, copies: int = 1000) -> bytes:
    """A progressive JPEG whose smallest scan is repeated `copies` times before EOI: a small file
    (~14 bytes per copy) whose decoding costs one pass over the whole picture per copy."""
    import io
    import itertools

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (120, 130, 140)).save(buffer, format="JPEG", progressive=True, quality=80)
    data = buffer.getvalue()
    starts = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\xda"] + [len(data) - 2]
    scans = [data[a:b] for a, b in itertools.pairwise(starts[1:])]  # each scan (with any tables before the next)
    return data[:-2] + min(scans, key=len) * copies + data[-2:]
