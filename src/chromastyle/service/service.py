"""The BentoML service: colourise and stylise over HTTP, from the model the package stage imported.

    bentoml serve chromastyle:latest            # binds 127.0.0.1:3000 unless --host says otherwise

Routes (OpenAPI at /docs.json, its page at /): POST /colorize, /stylize, /stylize_upload
(multipart: `image`, parameters as text parts; /colorize also takes colour `hints` and a `reference`
photo), GET /styles, /info, the web page at /ui/, and
BentoML's /healthz, /readyz, /metrics.

Why the image routes are FastAPI routes on the BentoML service rather than @bentoml.api methods:
BentoML's own multipart handling reads a text value in a file field as a URL and downloads it,
answers 400s as a JSON list, writes every upload to a temporary folder that a killed worker
leaves behind, and runs all sync APIs on one thread. Here the service parses its bodies itself
(chromastyle.service.forms) under explicit limits, every refusal has one JSON shape (errors.py),
and each API class has its own admission gate and threads (admission.py), so overload is shed
early and a stylisation never blocks a colourisation. BentoML still does what it is good at:
the process supervisor and workers, the model store, bentos, health and metrics endpoints.

Bounds on work (package.* in params.yaml, stored with the model; env CHROMASTYLE_<KEY> overrides):
bytes per request, pixels per image and per request, minimum side, aspect ratio, the colouriser's
and the stylizer's working sizes, styles and hints per request, concurrency and queue per API
class, and the worker's address-space ceiling.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

from chromastyle.offline import disable_telemetry

disable_telemetry()

import bentoml  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from fastapi import FastAPI, Request  # noqa: E402
from fastapi.responses import FileResponse, RedirectResponse, Response  # noqa: E402
from PIL import Image  # noqa: E402

from chromastyle.config import PackageConfig  # noqa: E402
from chromastyle.imaging import IMAGE_SUFFIXES, decode_image, encode_image  # noqa: E402
from chromastyle.inference import colorize_photo, fit_within, stylize_photo  # noqa: E402
from chromastyle.model.hints import Hint, check_hints  # noqa: E402
from chromastyle.model.onnx_runtime import load_for_inference  # noqa: E402
from chromastyle.service.admission import AdmissionGate, Overloaded, UploadLimit  # noqa: E402
from chromastyle.service.errors import (ERROR_MARKER, ERROR_RESPONSES, ApiError, error_json, log_rejection)
from chromastyle.service.forms import (ColorizeForm, StylizeForm, StylizeUploadForm, decode_upload, inspect_upload,  # noqa: E402
                                       openapi_body, parse_hints, parse_style_names, parse_weights, read_form)
from chromastyle.service.guard import BodyTooLarge, RequestGuard  # noqa: E402
from chromastyle.service.process import die_with_parent, limit_address_space, limit_malloc_arenas  # noqa: E402



def served_model_tag() -> str:
    """The BentoML model to serve: the exact tag the bento was built with (a bento argument set by
    the package stage), so a built bento serves its own champion even after newer imports move
    `latest` in the store; `CHROMASTYLE_BENTO_MODEL` overrides; `latest` in development."""
    built_with = getattr(bentoml.use_arguments(), "model", None)
    return os.environ.get("CHROMASTYLE_BENTO_MODEL") or built_with or "chromastyle:latest"


MODEL_TAG = served_model_tag()
REQUEST_TIMEOUT_S = int(os.environ.get("CHROMASTYLE_REQUEST_TIMEOUT_S", 120))
# BentoML's timeout answers 504 in its own shape, and only if the route has sent nothing yet: the
# routes answer a little earlier (503 `timeout`, or 408 for an upload) so every answer is the project's.
ANSWER_WITHIN_S = REQUEST_TIMEOUT_S - min(2.0, max(1.0, 0.1 * REQUEST_TIMEOUT_S), REQUEST_TIMEOUT_S / 2)
STATIC_DIR = Path(__file__).parent / "static"
THUMBNAIL_SIDE = 112
IMAGE_RESPONSES = {200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
                         "description": "the result at the input's full resolution"}, **ERROR_RESPONSES}


def load_limits(metadata: dict) -> PackageConfig:
    """The service's limits: the BentoML model's metadata (package.* at packaging time), then any
    CHROMASTYLE_<KEY> environment variable on top."""
    values = {key: metadata[key] for key in PackageConfig.model_fields if key in metadata}
    for key in PackageConfig.model_fields:
        if f"CHROMASTYLE_{key.upper()}" in os.environ:
            values[key] = os.environ[f"CHROMASTYLE_{key.upper()}"]
    return PackageConfig.model_validate(values)


def configured_workers() -> int:
    """Worker processes: `package.workers` of the served model, CHROMASTYLE_WORKERS on top. Read
    when the service class is declared (BentoML starts the workers from it); 1 without a model."""
    try:
        metadata = dict(bentoml.models.get(MODEL_TAG).info.metadata)
    except bentoml.exceptions.NotFound:
        metadata = {}
    return load_limits(metadata).workers


# No /docs, /redoc or /openapi.json: FastAPI's pages load scripts and fonts from CDNs, and its spec
# would be a second one beside /docs.json (BentoML builds that from these routes) and its page at /.
api = FastAPI(title="chromastyle", description="Colourise grayscale photos and repaint them in a painting's style.",
              docs_url=None, redoc_url=None, openapi_url=None)


@api.exception_handler(ApiError)
async def _api_error(request: Request, err: ApiError) -> Response:
    log_rejection(request.method, request.url.path, err.status, err.code, err.message)
    body = error_json(err.status, err.code, err.message, err.field)
    # The body of a 408 or 413 was not read to its end: what the client sends after the answer is not a
    # next request, so the connection is closed (a slow client otherwise kept it open, trickling on).
    closing = {"Connection": "close"} if err.status in (408, 413) else {}
    return Response(body, status_code=err.status, media_type="application/json",
                    headers={ERROR_MARKER: err.code, **closing, **err.headers})


@api.exception_handler(Overloaded)
async def _overloaded(request: Request, err: Overloaded) -> Response:
    return await _api_error(request, ApiError(503, err.code, str(err),
                                              headers={"Retry-After": str(err.retry_after_s)}))


@api.exception_handler(BodyTooLarge)
async def _too_large(request: Request, err: BodyTooLarge) -> Response:
    return await _api_error(request, ApiError(413, "payload_too_large", str(err)))


def _image_response(body: bytes, media_type: str, requested: str) -> Response:
    """The result image; where the requested format could not be produced (WebP past its encoder's
    limits falls back to PNG), X-Chromastyle-Format-Fallback says so beside the Content-Type."""
    headers = {}
    if requested != "auto" and media_type != f"image/{requested}":
        headers["X-Chromastyle-Format-Fallback"] = f"{requested} -> {media_type.removeprefix('image/')}"
    return Response(body, media_type=media_type, headers=headers)


def _out_of_memory(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or (isinstance(err, RuntimeError) and "allocate" in str(err))


@bentoml.asgi_app(api, path="/")
@bentoml.service(name="chromastyle", workers=configured_workers(), traffic={"timeout": REQUEST_TIMEOUT_S},
                 http={"host": "127.0.0.1", "port": 3000})
class Chromastyle:
    """chromastyle: automatic colourisation of grayscale photos and style transfer from paintings.
    POST a photo as multipart `image` to /colorize (optionally with colour `hints` and a `reference`
    photo); /stylize adds a gallery style (GET /styles);
    /stylize_upload takes your own painting as `style_image`. Errors are JSON objects
    {error, message, field}. The web page is at /ui/."""

    bento_model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.limits = load_limits(dict(self.bento_model.info.metadata))
        die_with_parent()
        limit_malloc_arenas()
        limit_address_space(self.limits.memory_limit_mb)
        # Requests run side by side on the gates' threads: one intra-op thread each by default
        # (cores / concurrency) instead of every request spinning up all cores against the others.
        threads = self.limits.torch_threads or max(1, (os.cpu_count() or 1) // self.limits.colorize_concurrency)
        torch.set_num_threads(threads)
        model_path = Path(self.bento_model.path)
        self.model = load_for_inference(model_path, self.limits.runtime, threads)
        self.labels = dict(self.bento_model.info.labels)
        self.gallery = {p.stem: p for p in sorted((model_path / "styles").glob("*"))
                        if p.suffix.lower() in IMAGE_SUFFIXES}
        self._styles: dict[str, np.ndarray] = {}
        self._thumbnails: dict[str, bytes] = {}
        limits = self.limits
        self.colorize_gate = AdmissionGate("colorize", limits.colorize_concurrency, limits.queue_size,
                                           limits.queue_timeout_s)
        self.stylize_gate = AdmissionGate("stylize", limits.stylize_concurrency, limits.queue_size,
                                          limits.queue_timeout_s)
        self.uploads = UploadLimit(limits.max_uploads_in_flight)

    # -- the image APIs -----------------------------------------------------------------------------
    @api.post("/colorize", response_class=Response, responses=IMAGE_RESPONSES,
              openapi_extra=openapi_body(ColorizeForm))
    async def colorize(self, request: Request) -> Response:
        """Colourise a (grayscale or any) photo; the result has the input's full resolution. Optional
        `hints` (JSON points with a colour each) and a `reference` photo (its palette) steer the colours."""
        deadline = time.monotonic() + ANSWER_WITHIN_S
        uploads, form = await self._receive(request, ColorizeForm, self.colorize_gate, deadline)
        hints = parse_hints(form.hints, self.limits.max_hints)
        self._check_guidance(hints, uploads)
        self._check_headers(uploads)
        body, media_type = await self.colorize_gate.run(deadline - time.monotonic(), self._guarded,
                                                        self._colorize_bytes, uploads["image"],
                                                        uploads.get("reference"), hints,
                                                        form.response_format(uploads["image"]))
        return _image_response(body, media_type, form.format)

    @api.post("/stylize", response_class=Response, responses=IMAGE_RESPONSES,
              openapi_extra=openapi_body(StylizeForm))
    async def stylize(self, request: Request) -> Response:
        """Colourise, then repaint in gallery style(s): `style_name` (several as `a,b`, mixed by
        `weights` like `0.7,0.3`), `alpha` in [0, 1], `preserve_color`."""
        deadline = time.monotonic() + ANSWER_WITHIN_S
        uploads, form = await self._receive(request, StylizeForm, self.stylize_gate, deadline)
        self._check_headers(uploads)
        names = parse_style_names(form.style_name, self.gallery, self.limits.max_styles)
        weights = parse_weights(form.weights, len(names))
        body, media_type = await self.stylize_gate.run(deadline - time.monotonic(), self._guarded,
                                                       self._stylize_bytes, uploads["image"], names, None, weights,
                                                       form)
        return _image_response(body, media_type, form.format)

    @api.post("/stylize_upload", response_class=Response, responses=IMAGE_RESPONSES,
              openapi_extra=openapi_body(StylizeUploadForm))
    async def stylize_upload(self, request: Request) -> Response:
        """Colourise, then repaint in the style of an uploaded painting (`style_image`)."""
        deadline = time.monotonic() + ANSWER_WITHIN_S
        uploads, form = await self._receive(request, StylizeUploadForm, self.stylize_gate, deadline)
        self._check_headers(uploads)
        body, media_type = await self.stylize_gate.run(deadline - time.monotonic(), self._guarded,
                                                       self._stylize_bytes, uploads["image"], [],
                                                       uploads["style_image"], None, form)
        return _image_response(body, media_type, form.format)

    @api.get("/styles", responses=ERROR_RESPONSES)
    async def styles(self) -> list[dict[str, str]]:
        """The gallery: each style's name (for stylize's style_name) and its thumbnail's URL."""
        return [{"name": name, "thumbnail": f"/ui/thumbnail/{name}"} for name in self.gallery]

    @api.get("/info", responses=ERROR_RESPONSES)
    async def info(self) -> dict:
        """Model provenance (MLflow version and run), loss network, whether /colorize takes hints and a
        reference (a hint model), the service's limits, and the process id of the worker that answered
        (several workers share the port)."""
        return {"bento_model": str(self.bento_model.tag), "labels": self.labels, "worker_pid": os.getpid(),
                "loss_network": self.model.cfg.loss_network, "device": "cpu", "runtime": self.limits.runtime,
                "hints": self.model.cfg.hints, "limits": self.limits.service_limits()}

    async def _receive(self, request: Request, form, gate: AdmissionGate, deadline: float):
        """The request's upload and fields, read before its gate admits it (a client trickling its body
        in holds no compute place), under the upload limit, and within the request's deadline."""
        gate.check()  # a full gate sheds at once, before any of the body is read
        with self.uploads:
            timeout_s = min(self.limits.upload_timeout_s, deadline - time.monotonic())
            return await read_form(request, form, self.limits, timeout_s)

    def _check_headers(self, uploads: dict[str, bytes]) -> None:
        """Every check of the uploaded images that needs no pixel (format, size, geometry, JPEG scans, the
        request's pixel budget), before the request waits for a compute place: a scan bomb or an
        oversized header is refused in microseconds, never queued behind real work or shed as busy."""
        pixels = inspect_upload(uploads["image"], "image", self.limits)
        for field in ("style_image", "reference"):
            if uploads.get(field) is not None:
                self._second_image(uploads[field], field, pixels, inspect_upload)

    def _check_guidance(self, hints: list[Hint], uploads: dict[str, bytes]) -> None:
        """Hints or a reference for a model trained without them: refused before the request queues."""
        if self.model.cfg.hints:
            return
        for field, given in (("hints", bool(hints)), ("reference", "reference" in uploads)):
            if given:
                raise ApiError(400, "hints_unsupported", f"{field}: the served model was trained without hints "
                                                         f"(train.hints: false); colourise without {field}, or "
                                                         f"serve a hint model", field)

    # -- the work (on the gate's threads) ---------------------------------------------------------
    @staticmethod
    def _guarded(function, *args):
        """Run `function`; an allocation failure (the memory ceiling) becomes a 503, not a dead worker."""
        try:
            return function(*args)
        except (MemoryError, RuntimeError) as err:
            if not _out_of_memory(err):
                raise
            raise ApiError(503, "out_of_memory", "the worker's memory ceiling (package.memory_limit_mb) was "
                                                 "reached by this request; send a smaller image",
                           headers={"Retry-After": "5"}) from None

    def _colorize_bytes(self, image: bytes, reference_upload: bytes | None, hints: list[Hint],
                        fmt: str) -> tuple[bytes, str]:
        rgb = decode_upload(image, "image", self.limits)
        try:
            check_hints(hints, *rgb.shape[:2])
        except ValueError as err:
            raise ApiError(400, "hint_outside_image", str(err), "hints") from None
        reference = None
        if reference_upload is not None:
            reference = self._second_image(reference_upload, "reference", rgb.shape[0] * rgb.shape[1], decode_upload)
        return encode_image(colorize_photo(self.model, rgb, self.limits, hints, reference), fmt)

    def _stylize_bytes(self, image: bytes, names: list[str], style_upload: bytes | None,
                       weights: list[float] | None, form) -> tuple[bytes, str]:
        content = decode_upload(image, "image", self.limits)
        if style_upload is not None:
            styles = [self._decode_style_upload(style_upload, content)]
        else:
            styles = [self._gallery_style(name) for name in names]
        out = stylize_photo(self.model, content, styles, self.limits, weights, form.alpha, form.preserve_color)
        return encode_image(out, form.response_format(image))

    def _decode_style_upload(self, upload: bytes, content: np.ndarray) -> np.ndarray:
        return self._second_image(upload, "style_image", content.shape[0] * content.shape[1], decode_upload)

    def _second_image(self, upload: bytes, field: str, content_pixels: int, read):
        """`read` (decode_upload or inspect_upload) of the request's second image (style_image, reference)
        within what the content image left of package.max_request_pixels: refused from its header when the
        two together would exceed it."""
        total = self.limits.max_request_pixels
        left = max(1, total - content_pixels)
        try:
            return read(upload, field, self.limits, max_pixels=left)
        except ApiError as err:
            if err.code != "image_too_large" or left >= self.limits.max_pixels:
                raise
            raise ApiError(400, "image_too_large", f"image ({content_pixels} pixels) and {field} "
                                                   f"together exceed {total} pixels; {err.message}",
                           field) from None

    def _gallery_style(self, name: str) -> np.ndarray:
        if name not in self._styles:
            self._styles[name] = fit_within(decode_image(self.gallery[name]), self.limits.style_side)
        return self._styles[name]

    # -- the web page -------------------------------------------------------------------------------
    @api.get("/ui", include_in_schema=False)
    async def ui_redirect(self) -> Response:
        return RedirectResponse("/ui/")

    @api.get("/ui/", include_in_schema=False)
    async def ui_index(self) -> Response:
        return FileResponse(STATIC_DIR / "index.html")

    @api.get("/ui/{asset}", include_in_schema=False)
    async def ui_asset(self, asset: str) -> Response:
        if asset not in {"app.js", "style.css", "docs.js"}:
            raise ApiError(404, "not_found", f"no such file: /ui/{asset[:60]}")
        return FileResponse(STATIC_DIR / asset)

    @api.get("/ui/thumbnail/{name}", include_in_schema=False)
    async def ui_thumbnail(self, name: str) -> Response:
        if name not in self.gallery:
            raise ApiError(404, "unknown_style", f"unknown style {name[:60]!r}; GET /styles lists them")
        if name not in self._thumbnails:
            image = Image.fromarray(fit_within(self._gallery_style(name), THUMBNAIL_SIDE))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=85)
            self._thumbnails[name] = buffer.getvalue()
        return Response(self._thumbnails[name], media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


def _max_body_bytes() -> int:
    """The body limit of the model being served (its metadata, env overrides): read once, lazily."""
    return load_limits(dict(bentoml.models.get(MODEL_TAG).info.metadata)).max_upload_bytes


Chromastyle.add_asgi_middleware(RequestGuard, max_body_bytes=_max_body_bytes,
                                api_key=os.environ.get("CHROMASTYLE_API_KEY"),
                                description=" ".join(Chromastyle.inner.__doc__.split()))
