"""Decoding untrusted image files into RGB uint8 arrays, with errors a person can act on.

One decoder for every entry point (validation, CLI, service) so that a file accepted in one
place is accepted everywhere, and rejected with the same words.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import (BmpImagePlugin, GifImagePlugin, Image, ImageOps, JpegImagePlugin, MpoImagePlugin,  # noqa: F401
                 PngImagePlugin, PpmImagePlugin, TiffImagePlugin, UnidentifiedImageError, WebPImagePlugin)

log = logging.getLogger("chromastyle.imaging")

# The image files the project reads anywhere (gallery, photo folders, the CLI's folders and globs).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm"}
DEFAULT_MAX_PIXELS = 40_000_000  # ~6300², far above any photo we train on, far below a bomb
# Progressive JPEGs decode scan by scan, each pass over the whole coefficient buffer (~2.4 ms per
# scan at 16 MP here), and nothing in the format bounds the number of scans: a 156 kB file with one
# tiny scan repeated 2,000 times took 18 s to decode. Encoders write ~10 (libjpeg) to ~20 scans.
DEFAULT_MAX_JPEG_SCANS = 100
MAX_JPEG_SEGMENTS = 2000  # header segments of the first picture: real files have tens; bounds the parse
# In entropy-coded data a marker is 0xFF followed by a code that is not a stuffed zero, a restart
# marker (RST0-7) or a fill byte.
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_JPEG_STANDALONE = frozenset({0x01, 0xD8, *range(0xD0, 0xD8)})  # markers without a length field
# Formats Pillow may decode. Photos come in these; everything else (EPS/PostScript, which would
# run Ghostscript, PDF, PSD, exotic containers) is refused before any plugin parses it.
# The plugins imported above register exactly these (JPEG also opens multi-picture MPO files from
# phones); Image.open(formats=...) never tries another.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM")


class ImageDecodeError(ValueError):
    """The bytes are not a usable image; the message says why, `code` names the kind (the
    service's error code): invalid_image, image_too_large or too_many_scans."""

    def __init__(self, message: str, code: str = "invalid_image"):
        super().__init__(message)
        self.code = code


def count_jpeg_scans(data: bytes, stop_after: int = DEFAULT_MAX_JPEG_SCANS) -> int:
    """The number of scans (SOS markers) of a JPEG's first picture, from its bytes alone.

    Walks the marker stream (segment lengths, then a regex over each scan's entropy-coded data),
    so it costs microseconds where decoding the scans could cost minutes. Stops counting past
    `stop_after` scans or MAX_JPEG_SEGMENTS segments (either is already refused), at EOI, or where
    the stream is broken (the decoder then says how).
    """
    scans = segments = 0
    position = 2  # after SOI
    while position + 1 < len(data) and scans <= stop_after and segments <= MAX_JPEG_SEGMENTS:
        if data[position] != 0xFF or data[position + 1] == 0xFF:  # garbage or fill bytes: resynchronise
            found = _JPEG_MARKER.search(data, position)
            if found is None:
                break
            position = found.start()
            continue
        code = data[position + 1]
        if code == 0xD9:  # EOI: the rest (an MPO's other pictures) is never decoded
            break
        segments += 1
        if code in _JPEG_STANDALONE:
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if length < 2:
            break
        position += 2 + length
        if code == 0xDA:  # SOS: skip its entropy-coded data up to the next marker
            scans += 1
            found = _JPEG_MARKER.search(data, position)
            if found is None:
                break
            position = found.start()
    return scans if segments <= MAX_JPEG_SEGMENTS else max(scans, stop_after + 1)


def _check_jpeg_scans(name: str, raw: bytes, max_scans: int) -> None:
    """Refuse a JPEG with more scans than any encoder writes, before a single one is decoded."""
    scans = count_jpeg_scans(raw, stop_after=max_scans)
    if scans > max_scans:
        raise ImageDecodeError(f"{name}: JPEG with more than {max_scans} scans (or header segments); "
                               f"real progressive JPEGs have about 10; re-save the image", "too_many_scans")


def decode_image(data: bytes | Path | str, max_pixels: int = DEFAULT_MAX_PIXELS,
                 check_size: Callable[[int, int], None] | None = None,
                 max_jpeg_scans: int = DEFAULT_MAX_JPEG_SCANS) -> np.ndarray:
    """Decode an image into an H×W×3 uint8 sRGB array.

    The format is sniffed from the bytes (never from a name or a declared type) and must be one
    of ALLOWED_FORMATS. EXIF orientation is applied; grayscale, palette, CMYK, 16-bit and alpha
    images are converted (alpha is composited on white, as a viewer shows it); animated images
    yield their first frame. `check_size(width, height)` runs on the header's size before any
    pixel is decoded (the service's geometry limits). A JPEG with more than `max_jpeg_scans`
    scans is refused unread (a scan bomb costs CPU without bound). Raises ImageDecodeError for
    empty, non-image, unsupported, truncated, oversized or scan-bomb input.
    """
    return _read(data, max_pixels, check_size, max_jpeg_scans, decode=True)


def inspect_image(data: bytes | Path | str, max_pixels: int = DEFAULT_MAX_PIXELS,
                  check_size: Callable[[int, int], None] | None = None,
                  max_jpeg_scans: int = DEFAULT_MAX_JPEG_SCANS) -> tuple[int, int]:
    """(width, height) after every check of decode_image that needs no pixel: the format, the header's
    size against the limits, a JPEG's scans. Microseconds to milliseconds: what a server can afford
    before it gives a request a place to compute (a scan bomb is refused without waiting for one)."""
    return _read(data, max_pixels, check_size, max_jpeg_scans, decode=False)


def _read(data: bytes | Path | str, max_pixels: int, check_size: Callable[[int, int], None] | None,
          max_jpeg_scans: int, decode: bool):
    name = str(data) if isinstance(data, (str, Path)) else "upload"
    raw = Path(data).read_bytes() if isinstance(data, (str, Path)) else data
    if not raw:
        raise ImageDecodeError(f"{name}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageDecodeError(
                    f"{name}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}",
                    "image_too_large")
            if check_size is not None:
                check_size(width, height)
            if image.format in ("JPEG", "MPO"):
                _check_jpeg_scans(name, raw, max_jpeg_scans)
            if not decode:
                return width, height
            image.seek(0)  # first frame of an animation
            image.load()
            return to_rgb_array(image)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError(f"{name}: not an image in a supported format "
                               f"({', '.join(ALLOWED_FORMATS)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageDecodeError(f"{name}: decompression bomb (too many pixels for its size)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, ZeroDivisionError) as err:
        raise ImageDecodeError(f"{name}: truncated or corrupt image ({err})") from None


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> H×W×3 uint8 RGB, honouring EXIF rotation."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit / 32-bit integer grayscale: rescale the used range to 8 bits, not clip it.
        arr = np.asarray(image, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if image.mode == "F":
        arr = np.asarray(image, dtype=np.float64)
        arr = (arr - arr.min()) / max(arr.max() - arr.min(), 1e-12) * 255.0
        return np.repeat(arr.astype(np.uint8)[..., None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


ENCODINGS = {  # format -> (Pillow format, media type, save options chosen for speed)
    "png": ("PNG", "image/png", {"compress_level": 1}),  # lossless; level 1 is ~5x faster than 6, ~10 % larger
    "jpeg": ("JPEG", "image/jpeg", {"quality": 92}),
    "webp": ("WEBP", "image/webp", {"quality": 90, "method": 0}),
}


# libwebp's fast method 0 picks its block modes without watching the size of the VP8 header
# partition (512 kB at most): on a detailed picture of many megapixels (4000² of texture) that
# partition overflows and the encoder fails ("encoding error 6", VP8_ENC_ERROR_PARTITION0_OVERFLOW).
# Method 4 (libwebp's default, ~2x slower) chose modes that fit on every such picture tried here.
WEBP_RETRY_OPTIONS = {"quality": 90, "method": 4}
WEBP_MAX_SIDE = 16383  # the format's limit per side


def encode_image(rgb: np.ndarray, fmt: str = "png") -> tuple[bytes, str]:
    """H×W×3 uint8 -> (encoded bytes, media type) in `fmt` (png | jpeg | webp). WebP falls back to
    PNG (the media type says so) where the WebP encoder cannot encode the picture, never raising."""
    if fmt == "webp":
        return _encode_webp(rgb)
    pillow_format, media_type, options = ENCODINGS[fmt]
    return _save(rgb, pillow_format, options), media_type


def _encode_webp(rgb: np.ndarray) -> tuple[bytes, str]:
    """WebP at the fast setting, then at libwebp's default, then lossless PNG."""
    if max(rgb.shape[:2]) <= WEBP_MAX_SIDE:
        for options in (ENCODINGS["webp"][2], WEBP_RETRY_OPTIONS):
            try:
                return _save(rgb, "WEBP", options), "image/webp"
            except (ValueError, OSError) as err:  # Pillow reports libwebp's failures as ValueError
                log.info("WebP encoding (%s) of a %dx%d picture failed (%s)", options, rgb.shape[1], rgb.shape[0], err)
    log.warning("a %dx%d picture cannot be encoded as WebP; answered as PNG", rgb.shape[1], rgb.shape[0])
    return encode_image(rgb, "png")


def _save(rgb: np.ndarray, pillow_format: str, options: dict) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=pillow_format, **options)
    return buffer.getvalue()


def encode_png(rgb: np.ndarray) -> bytes:
    """H×W×3 uint8 -> PNG bytes."""
    return encode_image(rgb, "png")[0]
