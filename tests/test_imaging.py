import io

import numpy as np
import pytest
from PIL import Image

from chromastyle.imaging import ImageDecodeError, decode_image
from conftest import photo, png_bytes


def test_rgb_png_round_trip():
    rgb = photo(1)
    assert np.array_equal(decode_image(png_bytes(rgb)), rgb)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "I;16", "1"])
def test_every_mode_becomes_rgb_uint8(mode):
    rgb = photo(2)
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    out = decode_image(png_bytes(rgb, mode=mode, fmt=fmt))
    assert out.dtype == np.uint8 and out.shape == rgb.shape


def test_16_bit_keeps_its_range():
    ramp = (np.linspace(0, 65535, 64 * 64).reshape(64, 64)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, format="PNG")
    out = decode_image(buffer.getvalue())
    assert out.min() <= 1 and out.max() >= 254  # rescaled, not clipped to white


def test_alpha_is_composited_on_white():
    rgba = np.zeros((8, 8, 4), np.uint8)  # fully transparent black
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    assert (decode_image(buffer.getvalue()) == 255).all()


def test_exif_rotation_is_honoured():
    rgb = photo(3, size=(40, 80))  # landscape
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue()).shape[:2] == (80, 40)


def test_animated_gif_gives_first_frame():
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (10, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert decode_image(buffer.getvalue()).mean() < 50


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello, I am text", "not an image"),
])
def test_bad_bytes_are_named(data, message):
    with pytest.raises(ImageDecodeError, match=message):
        decode_image(data)


def test_truncated_file():
    data = png_bytes(photo(4), fmt="JPEG")
    with pytest.raises(ImageDecodeError, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2])


def test_pixel_limit_and_bomb():
    big = png_bytes(np.zeros((300, 300, 3), np.uint8))
    with pytest.raises(ImageDecodeError, match="exceeds the limit"):
        decode_image(big, max_pixels=10_000)
