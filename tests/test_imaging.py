import io
import time

import numpy as np
import pytest
from PIL import Image

from chromastyle.imaging import ImageDecodeError, decode_image, inspect_image
from conftest import photo, png_bytes
from serving import scan_bomb


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


def test_jpeg_scans_are_counted_from_the_bytes():
    from chromastyle.imaging import count_jpeg_scans

    progressive = png_bytes(photo(5, size=(64, 64)), fmt="JPEG", progressive=True)
    assert count_jpeg_scans(progressive) == 10  # libjpeg's default progression for colour
    assert count_jpeg_scans(png_bytes(photo(5), fmt="JPEG")) == 1
    assert count_jpeg_scans(scan_bomb(64, 5000)) == 101, "stops counting past the limit"
    assert decode_image(progressive).shape == (64, 64, 3)


def test_a_scan_bomb_is_refused_before_decoding(tmp_path):
    """The CLI's path too: a file with thousands of scans is a clear error, at once."""
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(scan_bomb(2000, 1000))
    started = time.perf_counter()
    with pytest.raises(ImageDecodeError, match="more than 100 scans") as caught:
        decode_image(bomb)
    assert time.perf_counter() - started < 1.0 and caught.value.code == "too_many_scans"
    assert decode_image(scan_bomb(64, 50)).shape == (64, 64, 3), "a few extra scans are fine"


def test_inspection_checks_the_header_and_the_scans_without_decoding_a_pixel():
    """What the service runs before a request waits for a compute place: the same refusals as decoding
    where the header or the marker stream decides, the size where they pass, and nothing decoded (a
    truncated body passes the inspection and is refused by the decode that follows)."""
    data = png_bytes(photo(4, size=(300, 500)), fmt="JPEG")
    truncated = data[: len(data) * 3 // 4]  # the header whole, a quarter of the picture missing
    assert inspect_image(data) == inspect_image(truncated) == (500, 300)
    with pytest.raises(ImageDecodeError, match="truncated or corrupt"):
        decode_image(truncated)
    with pytest.raises(ImageDecodeError, match="more than 100 scans") as caught:
        inspect_image(scan_bomb(2000, 1000))
    assert caught.value.code == "too_many_scans"
    with pytest.raises(ImageDecodeError, match="exceeds the limit") as caught:
        inspect_image(png_bytes(np.zeros((300, 300, 3), np.uint8)), max_pixels=10_000)
    assert caught.value.code == "image_too_large"
    with pytest.raises(ImageDecodeError, match="not an image"):
        inspect_image(b"hello, I am text")


def detailed_gray(side: int = 4000, tile: int = 64) -> np.ndarray:
    """Noise tiled over a large picture: every block detailed for a WebP encoder, yet ~330 kB as PNG."""
    texture = np.random.default_rng(0).integers(0, 256, (tile, tile), dtype=np.uint8)
    return np.tile(texture, (side // tile + 1, side // tile + 1))[:side, :side]


def test_webp_of_a_detailed_large_picture_is_encoded():
    """Method 0 overflows VP8's header partition here (encoding error 6); the retry fits."""
    from chromastyle.imaging import encode_image

    data, media_type = encode_image(np.repeat(detailed_gray()[..., None], 3, axis=2), "webp")
    assert media_type == "image/webp" and Image.open(io.BytesIO(data)).size == (4000, 4000)


def test_webp_past_its_side_limit_falls_back_to_png():
    from chromastyle.imaging import encode_image

    data, media_type = encode_image(np.zeros((16, 16400, 3), np.uint8), "webp")
    assert media_type == "image/png" and Image.open(io.BytesIO(data)).size == (16400, 16)
