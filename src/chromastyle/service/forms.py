"""Requests of the image APIs: strict multipart parsing, typed parameters, bounded image decoding.

The service parses its own multipart bodies (Starlette's parser with explicit limits) instead of
letting a framework turn fields into typed arguments, because every way a body can be wrong must
end in a 4xx that names the field: a missing or misspelt part, text where a file belongs (never
read as a URL to download), two files in one field, a part without a name, no boundary, too many
parts. Text fields are validated by pydantic models whose JSON schema is also the OpenAPI
description of the request body, so the documentation and the checks cannot drift apart.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request

from chromastyle.config import DEFAULT_ALPHA, PackageConfig
from chromastyle.imaging import ImageDecodeError, decode_image, inspect_image
from chromastyle.model.hints import Hint, parse_hints_json
from chromastyle.model.integrated import normalised_weights
from chromastyle.service.errors import ApiError

# The largest text part: package.max_hints (64) hints as JSON take about 3-5 kB (50-70 bytes a point,
# more with long decimals), style_name and weights far less; 16 kB leaves a margin and still bounds a part.
MAX_TEXT_PART_BYTES = 16384
ImageFormat = Literal["auto", "png", "jpeg", "webp"]
JPEG_MAGIC = b"\xff\xd8\xff"


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format: ImageFormat = Field("auto", description="response image format: auto (JPEG for a JPEG upload, "
                                                    "else PNG), png (lossless, fast level), jpeg (quality 92) "
                                                    "or webp (quality 90)")

    def response_format(self, upload: bytes) -> str:
        """`auto` answers in the upload's family: a JPEG photo gets a JPEG back (no fidelity it had is
        lost, at a twentieth of PNG's encoding time), anything else lossless PNG."""
        if self.format != "auto":
            return self.format
        return "jpeg" if upload.startswith(JPEG_MAGIC) else "png"


class ColorizeForm(_Form):
    hints: str = Field("", max_length=MAX_TEXT_PART_BYTES,
                       description='colour hints as a JSON list, e.g. `[{"x": 40, "y": 30, "color": "#2a8c3c"}]`: '
                                   'x, y in the uploaded image\'s pixels (after EXIF orientation, 0 = left/top '
                                   'edge), the colour as #rrggbb (its hue and saturation; the photo keeps its '
                                   'lightness); at most package.max_hints points (GET /info)')


class _StylizeOptions(_Form):
    alpha: float = Field(DEFAULT_ALPHA, ge=0.0, le=1.0, allow_inf_nan=False,
                         description="content/style trade-off: 0 = the plain colourisation, 1 = full style")
    preserve_color: bool = Field(False, description="keep the colourised hues, take only the texture")


class StylizeForm(_StylizeOptions):
    style_name: str = Field(..., min_length=1, max_length=1000,
                            description="gallery style name(s) (GET /styles), several as `greatwave,kandinky`")
    weights: str = Field("", max_length=1000, description="mixing weights, one per style, e.g. `0.7,0.3`")


class StylizeUploadForm(_StylizeOptions):
    pass


FILE_FIELDS = {ColorizeForm: ("image",), StylizeForm: ("image",), StylizeUploadForm: ("image", "style_image")}
OPTIONAL_FILE_FIELDS = {ColorizeForm: ("reference",)}
FILE_DESCRIPTIONS = {"image": "the photo (JPEG, PNG, WebP, BMP, TIFF, GIF; grayscale or colour)",
                     "style_image": "a painting whose style to use",
                     "reference": "optional: a colour photo whose palette (its mix of colours) the colourisation "
                                  "follows; image and reference together within package.max_request_pixels"}


def openapi_body(form: type[_Form]) -> dict:
    """The OpenAPI requestBody of a route: the form's text fields plus its file parts."""
    schema = form.model_json_schema()
    files = FILE_FIELDS[form]
    schema["properties"] = {**{name: {"type": "string", "format": "binary", "description": FILE_DESCRIPTIONS[name]}
                               for name in (*files, *OPTIONAL_FILE_FIELDS.get(form, ()))},
                            **schema.get("properties", {})}
    schema["required"] = [*files, *schema.get("required", [])]
    schema.pop("additionalProperties", None)
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


async def read_form(request: Request, form: type[_Form], limits: PackageConfig,
                    timeout_s: float | None = None) -> tuple[dict[str, bytes], _Form]:
    """Parse and check a multipart request: ({file field: bytes}, validated text fields), an optional file
    field only where it was sent; the body must arrive within `timeout_s` (default package.upload_timeout_s),
    else 408."""
    timeout_s = limits.upload_timeout_s if timeout_s is None else max(timeout_s, 0.001)
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise ApiError(415, "unsupported_media_type",
                       f"send multipart/form-data with the photo as a file part named 'image' "
                       f"(curl -F image=@photo.jpg), got Content-Type {content_type or 'none'!r}")
    files, optional = FILE_FIELDS[form], OPTIONAL_FILE_FIELDS.get(form, ())
    try:
        parsed = await asyncio.wait_for(
            request.form(max_files=len(files) + len(optional), max_fields=len(form.model_fields),
                         max_part_size=MAX_TEXT_PART_BYTES),
            timeout=timeout_s)
    except TimeoutError:
        raise ApiError(408, "upload_timeout", f"the request body did not arrive within {timeout_s:.3g} s "
                                              f"(package.upload_timeout_s)") from None
    except (MultiPartException, HTTPException) as err:  # Starlette wraps the former in the latter
        raise ApiError(400, "malformed_multipart", f"multipart body: {getattr(err, 'detail', err)}") from None
    except ClientDisconnect:
        raise ApiError(400, "client_disconnected", "the client closed the connection mid-upload") from None
    try:
        return await _split_fields(parsed, form, files, optional)
    finally:
        await parsed.close()


async def _split_fields(parsed, form: type[_Form], files: tuple[str, ...],
                        optional: tuple[str, ...]) -> tuple[dict[str, bytes], _Form]:
    allowed = [*files, *optional, *form.model_fields]
    for key in parsed.keys():
        if key not in allowed:
            raise ApiError(400, "unknown_field", f"{key[:60]!r}: unknown field; this API takes {', '.join(allowed)}",
                           key[:60])
        if len(parsed.getlist(key)) > 1:
            raise ApiError(400, "repeated_field", f"{key}: given {len(parsed.getlist(key))} times; send it once", key)
    uploads: dict[str, bytes] = {}
    for name in (*files, *optional):
        value = parsed.get(name)
        if value is None and name in optional:
            continue
        if value is None:
            raise ApiError(400, "missing_field", f"{name}: missing; send the image as a file part "
                                                 f"(curl -F {name}=@photo.jpg)", name)
        if not isinstance(value, UploadFile):
            raise ApiError(400, "expected_file", f"{name}: expected a file part (curl -F {name}=@photo.jpg), "
                                                 f"got a text value", name)
        uploads[name] = await value.read()
    texts = {}
    for name in form.model_fields:
        value = parsed.get(name)
        if isinstance(value, UploadFile):
            raise ApiError(400, "expected_text", f"{name}: expected a text value, got a file", name)
        if value is not None:
            texts[name] = value
    try:
        return uploads, form.model_validate(texts)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise ApiError(400, "invalid_parameter", f"{field}: {first['msg']} (got {str(first.get('input'))[:60]!r})",
                       field) from None


def decode_upload(data: bytes, field: str, limits: PackageConfig, max_pixels: int | None = None) -> np.ndarray:
    """Decode an uploaded image under the service's limits (pixels, sides, aspect ratio, JPEG scans)
    or raise 400."""
    return _under_limits(decode_image, data, field, limits, max_pixels)


def inspect_upload(data: bytes, field: str, limits: PackageConfig, max_pixels: int | None = None) -> int:
    """decode_upload's checks that need no pixel (imaging.inspect_image), or 400; returns the pixel count.
    Run before a request waits for a compute place: a bad header never queues behind real work."""
    width, height = _under_limits(inspect_image, data, field, limits, max_pixels)
    return width * height


def _under_limits(read, data: bytes, field: str, limits: PackageConfig, max_pixels: int | None):
    max_pixels = min(limits.max_pixels, max_pixels or limits.max_pixels)

    def check_size(width: int, height: int) -> None:
        if min(width, height) < limits.min_side:
            raise ApiError(400, "image_too_small", f"{field}: {width}x{height}; each side must be at least "
                                                   f"{limits.min_side} px", field)
        if max(width, height) / min(width, height) > limits.max_aspect_ratio:
            raise ApiError(400, "aspect_ratio", f"{field}: {width}x{height} is more elongated than "
                                                f"{limits.max_aspect_ratio:g}:1; crop it first", field)

    try:
        return read(data, max_pixels=max_pixels, check_size=check_size, max_jpeg_scans=limits.max_jpeg_scans)
    except ImageDecodeError as err:
        raise ApiError(400, err.code, f"{field}: {str(err).removeprefix('upload: ')}", field) from None


def parse_style_names(text: str, gallery: dict, max_styles: int) -> list[str]:
    """`a,b` -> ['a', 'b'], each a gallery name; at most max_styles."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ApiError(400, "invalid_parameter", "style_name: give at least one gallery style (GET /styles)",
                       "style_name")
    if len(names) > max_styles:
        raise ApiError(400, "too_many_styles", f"style_name: {len(names)} styles; at most {max_styles} per request",
                       "style_name")
    unknown = [name for name in names if name not in gallery]
    if unknown:
        raise ApiError(400, "unknown_style", f"style_name: unknown style {unknown[0][:60]!r}; available: "
                                             f"{', '.join(gallery)}", "style_name")
    return names


def parse_hints(text: str, max_hints: int) -> list[Hint]:
    """The `hints` field (JSON, see ColorizeForm) -> hints in the upload's pixels; '' -> none. Checked before
    the request queues; whether each point lies inside the image is known only once it is decoded."""
    if not text.strip():
        return []
    try:
        return parse_hints_json(text, max_hints)
    except ValueError as err:
        raise ApiError(400, "invalid_parameter", str(err), "hints") from None


def parse_weights(text: str, count: int) -> list[float] | None:
    """'0.7,0.3' -> weights normalised to sum 1 (one per style; finite, non-negative); '' -> equal."""
    if not text.strip():
        return None
    try:
        return normalised_weights([float(part) for part in text.split(",")], count)
    except ValueError as err:
        message = str(err) if "style weights" in str(err) else "expected comma-separated numbers like 0.7,0.3"
        raise ApiError(400, "invalid_parameter", f"weights: {message} (got {text[:60]!r})", "weights") from None



