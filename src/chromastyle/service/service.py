"""The BentoML service: colourise and stylise over HTTP, from the model the package stage imported.

Uploads are taken as files and decoded by chromastyle.imaging (not as PIL parameters, which turn
every bad upload into a 500): bad input gets a 400 with the decoder's message, and the service
keeps serving. /healthz, /readyz, /metrics and the OpenAPI docs at / come from BentoML; the web
page (plain HTML/CSS/JS in static/, no CDN) is mounted at /ui.
"""

import io
import os
from pathlib import Path
from typing import Annotated

from chromastyle.offline import disable_telemetry

disable_telemetry()

import bentoml  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from bentoml.exceptions import InvalidArgument  # noqa: E402
from bentoml.validators import ContentType  # noqa: E402
from fastapi import FastAPI, HTTPException  # noqa: E402
from fastapi.responses import FileResponse, Response  # noqa: E402
from PIL import Image  # noqa: E402

from chromastyle.colour import rgb_to_l_ab, tensor_to_uint8, uint8_to_tensor  # noqa: E402
from chromastyle.imaging import ImageDecodeError, decode_image  # noqa: E402
from chromastyle.model.integrated import Chromastyle as ChromastyleModel  # noqa: E402

MODEL_TAG = os.environ.get("CHROMASTYLE_BENTO_MODEL", "chromastyle:latest")
REQUEST_TIMEOUT_S = int(os.environ.get("CHROMASTYLE_REQUEST_TIMEOUT_S", 120))
# Upload limits: package.* in params.yaml (stored as the BentoML model's metadata); env overrides.
DEFAULT_LIMITS = {"max_upload_bytes": 20_000_000, "max_pixels": 16_000_000}
STYLE_SIDE = 256  # style images are statistics: a 256² view carries them at a fraction of the cost


def service_limits(metadata: dict) -> dict[str, int]:
    """The upload limits: env CHROMASTYLE_MAX_UPLOAD_BYTES / _MAX_PIXELS, else the model's metadata."""
    return {key: int(os.environ.get(f"CHROMASTYLE_{key.upper()}", metadata.get(key, default)))
            for key, default in DEFAULT_LIMITS.items()}


def read_upload(path: Path, field: str, limits: dict[str, int]) -> np.ndarray:
    """Decode an uploaded file or raise InvalidArgument (HTTP 400) naming the field and the problem."""
    size = path.stat().st_size
    if size > limits["max_upload_bytes"]:
        raise InvalidArgument(f"{field}: upload of {size} bytes exceeds the limit of {limits['max_upload_bytes']}")
    try:
        return decode_image(path.read_bytes(), max_pixels=limits["max_pixels"])
    except ImageDecodeError as err:
        raise InvalidArgument(f"{field}: {str(err).replace('upload: ', '')}") from None


def _parse_weights(text: str) -> list[float] | None:
    if not text.strip():
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise InvalidArgument(f"weights: expected comma-separated numbers like 0.7,0.3, got {text!r}") from None


def _style_tensor(rgb: np.ndarray) -> torch.Tensor:
    image = Image.fromarray(rgb)
    image.thumbnail((STYLE_SIDE, STYLE_SIDE), Image.Resampling.LANCZOS)
    return uint8_to_tensor(np.asarray(image))


STATIC_DIR = Path(__file__).parent / "static"
THUMBNAIL_SIDE = 112
web = FastAPI(title="chromastyle web page")


@web.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")


@web.get("/{asset}", include_in_schema=False)
def asset(asset: str) -> FileResponse:
    if asset not in {"app.js", "style.css"}:
        raise HTTPException(404, f"no such file: {asset}")
    return FileResponse(STATIC_DIR / asset)


@web.get("/thumbnail/{name}", include_in_schema=False)
def thumbnail(name: str) -> Response:
    matches = [p for p in (Path(bentoml.models.get(MODEL_TAG).path) / "styles").glob("*") if p.stem == name]
    if not matches:
        raise HTTPException(404, f"unknown style {name!r}")
    image = Image.open(matches[0]).convert("RGB")
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return Response(buffer.getvalue(), media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@bentoml.asgi_app(web, path="/ui")
@bentoml.service(name="chromastyle", traffic={"timeout": REQUEST_TIMEOUT_S}, workers=1)
class Chromastyle:
    bento_model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        torch.set_num_threads(max(1, os.cpu_count() or 1))
        model_path = Path(self.bento_model.path)
        self.model = ChromastyleModel.load(model_path)
        self.labels = dict(self.bento_model.info.labels)
        self.limits = service_limits(dict(self.bento_model.info.metadata))
        self.gallery = {p.stem: p for p in sorted((model_path / "styles").glob("*")) if p.suffix.lower() in
                        {".jpg", ".jpeg", ".png"}}
        self._style_cache: dict[str, torch.Tensor] = {}

    def _gallery_style(self, name: str) -> torch.Tensor:
        if name not in self.gallery:
            raise InvalidArgument(f"style_name: unknown style {name!r}; available: {', '.join(self.gallery)}")
        if name not in self._style_cache:
            self._style_cache[name] = _style_tensor(decode_image(self.gallery[name]))
        return self._style_cache[name]

    @torch.no_grad()
    def _colourise(self, rgb: np.ndarray) -> torch.Tensor:
        lightness, _ = rgb_to_l_ab(uint8_to_tensor(rgb))
        return self.model.colorize(lightness)

    @bentoml.api
    def colorize(self, image: Annotated[Path, ContentType("image/*")]) -> Image.Image:
        """Colourise a (grayscale or any) photo; returns a PNG at the input's full resolution."""
        return Image.fromarray(tensor_to_uint8(self._colourise(read_upload(image, "image", self.limits)))[0])

    def _stylise(self, image: Path, styles: list[torch.Tensor], weights: list[float] | None, alpha: float,
                 preserve_color: bool) -> Image.Image:
        if not 0.0 <= alpha <= 1.0:
            raise InvalidArgument(f"alpha: must lie in [0, 1], got {alpha}")
        content_rgb = read_upload(image, "image", self.limits)
        try:
            with torch.no_grad():
                out = self.model.stylize(self._colourise(content_rgb), styles, weights, alpha, preserve_color)
        except ValueError as err:  # e.g. weights that do not match the styles
            raise InvalidArgument(str(err)) from None
        return Image.fromarray(tensor_to_uint8(out)[0])

    @bentoml.api
    def stylize(self, image: Annotated[Path, ContentType("image/*")], style_name: str, alpha: float = 0.7,
                preserve_color: bool = False, weights: str = "") -> Image.Image:
        """Colourise, then repaint in gallery style(s) (names: /styles; several as `a,b` with
        `weights` like `0.7,0.3` to mix them); α = content/style trade-off in [0, 1]."""
        names = [name.strip() for name in style_name.split(",") if name.strip()]
        if not names:
            raise InvalidArgument("style_name: give at least one gallery style (see /styles)")
        return self._stylise(image, [self._gallery_style(n) for n in names], _parse_weights(weights), alpha,
                             preserve_color)

    @bentoml.api
    def stylize_upload(self, image: Annotated[Path, ContentType("image/*")],
                       style_image: Annotated[Path, ContentType("image/*")], alpha: float = 0.7,
                       preserve_color: bool = False) -> Image.Image:
        """Colourise, then repaint in the style of an uploaded painting."""
        style = _style_tensor(read_upload(style_image, "style_image", self.limits))
        return self._stylise(image, [style], None, alpha, preserve_color)

    @bentoml.api
    def styles(self) -> list[dict[str, str]]:
        """The gallery: each style's name (for stylize's style_name) and its thumbnail's URL."""
        return [{"name": name, "thumbnail": f"/ui/thumbnail/{name}"} for name in self.gallery]

    @bentoml.api
    def info(self) -> dict:
        """Model provenance: MLflow version and run, loss network, device."""
        return {"bento_model": str(self.bento_model.tag), "labels": self.labels,
                "loss_network": self.model.cfg.loss_network, "device": "cpu", "limits": self.limits}
