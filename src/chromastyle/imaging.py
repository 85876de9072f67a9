"""Decoding untrusted image files into RGB uint8 arrays, with errors a person can act on.

One decoder for every entry point (validation, CLI, service) so that a file accepted in one
place is accepted everywhere, and rejected with the same words.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import (BmpImagePlugin, GifImagePlugin, Image, ImageOps, JpegImagePlugin, MpoImagePlugin,  # noqa: F401
                 PngImagePlugin, PpmImagePlugin, TiffImagePlugin, UnidentifiedImageError, WebPImagePlugin)

DEFAULT_MAX_PIXELS = 40_000_000  # ~6300², far above any photo we train on, far below a bomb
# Formats Pillow may decode. Photos come in these; everything else (EPS/PostScript, which would
# run Ghostscript, PDF, PSD, exotic containers) is refused before any plugin parses it.
# The plugins imported above register exactly these (JPEG also opens multi-picture MPO files from
# phones); Image.open(formats=...) never tries another.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM")


class ImageDecodeError(ValueError):
    """The bytes are not a usable image; the message says why."""


def decode_image(data: bytes | Path | str, max_pixels: int = DEFAULT_MAX_PIXELS,
                 check_size: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Decode an image into an H×W×3 uint8 sRGB array.

    The format is sniffed from the bytes (never from a name or a declared type) and must be one
    of ALLOWED_FORMATS. EXIF orientation is applied; grayscale, palette, CMYK, 16-bit and alpha
    images are converted (alpha is composited on white, as a viewer shows it); animated images
    yield their first frame. `check_size(width, height)` runs on the header's size before any
    pixel is decoded (the service's geometry limits). Raises ImageDecodeError for empty,
    non-image, unsupported, truncated or oversized input.
    """
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
                    f"{name}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}"
                )
            if check_size is not None:
                check_size(width, height)
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


def encode_image(rgb: np.ndarray, fmt: str = "png") -> tuple[bytes, str]:
    """H×W×3 uint8 -> (encoded bytes, media type) in `fmt` (png | jpeg | webp)."""
    pillow_format, media_type, options = ENCODINGS[fmt]
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=pillow_format, **options)
    return buffer.getvalue(), media_type


def encode_png(rgb: np.ndarray) -> bytes:
    """H×W×3 uint8 -> PNG bytes."""
    return encode_image(rgb, "png")[0]
