"""Image features, thumbnails and safe decoding; no database, all data built here."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from strategies.images import (
    IMAGE_FEATURE_DIM,
    THUMBNAIL_FORMAT,
    ImageRejected,
    image_features,
    images_features,
    normalise_image,
    thumbnail_bytes,
)

MAX_PIXELS = 50_000_000


def encode(img: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


def scene(size: tuple[int, int] = (48, 32)) -> Image.Image:
    """An asymmetric colour picture so rotations and colour changes show."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx < w // 3) * 200])
    return Image.fromarray(rgb.transpose(1, 2, 0).astype(np.uint8), "RGB")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims the given size, with one tiny IDAT: a bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# -- features -----------------------------------------------------------------


def test_features_have_fixed_length_and_dtype_whatever_the_size() -> None:
    for size in [(1, 1), (3, 200), (48, 32), (640, 480)]:
        vector = image_features(scene(size))
        assert vector.shape == (IMAGE_FEATURE_DIM,)
        assert vector.dtype == np.float32
        assert np.isfinite(vector).all()


def test_features_are_deterministic() -> None:
    data = encode(scene(), "JPEG")
    first = image_features(Image.open(io.BytesIO(data)))
    second = image_features(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(first, second)


def test_features_do_not_depend_on_the_pixel_mode_of_the_same_picture() -> None:
    rgb = scene()
    reference = image_features(rgb)
    opaque = rgb.convert("RGBA")
    palette = rgb.quantize(colors=256).convert("RGB")  # exact palette image
    for img in (opaque, palette.convert("P")):
        np.testing.assert_allclose(image_features(img), image_features(img.convert("RGB")))
    np.testing.assert_allclose(image_features(opaque), reference, atol=1e-6)
    grey = rgb.convert("L")
    np.testing.assert_allclose(image_features(grey), image_features(grey.convert("RGB")))


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGBA", "CMYK", "I", "I;16", "F"])
def test_every_mode_gives_a_finite_vector(mode: str) -> None:
    img = scene().convert(mode) if mode not in {"I;16", "F", "I"} else None
    if img is None:
        grey = np.asarray(scene().convert("L"), dtype=np.float64)
        if mode == "I;16":
            img = Image.fromarray((grey * 257).astype(np.uint16))  # I;16
        elif mode == "F":
            img = Image.fromarray((grey / 255).astype(np.float32))
        else:
            img = Image.fromarray((grey * 1000).astype(np.int32))
    assert img.mode == mode
    vector = image_features(img)
    assert vector.shape == (IMAGE_FEATURE_DIM,)
    assert np.isfinite(vector).all()
    assert np.linalg.norm(vector) > 0


def test_sixteen_bit_grey_matches_its_eight_bit_version() -> None:
    grey = scene().convert("L")
    wide = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)  # I;16
    assert wide.mode == "I;16"
    np.testing.assert_allclose(image_features(wide), image_features(grey), atol=1e-5)


def test_transparent_pixels_count_as_white() -> None:
    clear = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    white = Image.new("RGB", (20, 20), "white")
    np.testing.assert_allclose(image_features(clear), image_features(white))


def test_different_pictures_give_different_features() -> None:
    a = image_features(scene())
    b = image_features(scene().transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert not np.allclose(a, b)


def test_a_huge_jpeg_is_featurised_like_its_small_version() -> None:
    big = scene((3000, 2000))
    from_file = image_features(Image.open(io.BytesIO(encode(big, "JPEG", quality=95))))
    small = image_features(big.resize((300, 200), Image.Resampling.BOX))
    assert np.corrcoef(from_file, small)[0, 1] > 0.98


def test_images_features_stacks_one_row_per_image() -> None:
    matrix = images_features([scene(), scene((5, 5)), Image.new("L", (1, 1))])
    assert matrix.shape == (3, IMAGE_FEATURE_DIM)
    assert matrix.dtype == np.float32
    assert images_features([]).shape == (0, IMAGE_FEATURE_DIM)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
)
def test_random_images_give_finite_bounded_features(w: int, h: int, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    vector = image_features(Image.fromarray(pixels, "RGB"))
    assert np.isfinite(vector).all()
    assert np.linalg.norm(vector) <= np.sqrt(3) + 1e-4  # three unit-norm blocks at most


# -- EXIF and animation -------------------------------------------------------


def test_exif_orientation_is_applied() -> None:
    upright = scene()
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    data = encode(stored, "PNG", exif=exif)
    img, fmt = normalise_image(data, max_pixels=MAX_PIXELS)
    assert fmt == "PNG"
    assert img.size == upright.size
    np.testing.assert_array_equal(np.asarray(img.convert("RGB")), np.asarray(upright))
    from_file = image_features(Image.open(io.BytesIO(data)))
    np.testing.assert_allclose(from_file, image_features(upright), atol=1e-6)


def test_gif_uses_its_first_frame() -> None:
    red, blue = Image.new("RGB", (16, 16), "red"), Image.new("RGB", (16, 16), "blue")
    data = encode(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    img, fmt = normalise_image(data, max_pixels=MAX_PIXELS)
    assert fmt == "GIF"
    assert img.convert("RGB").getpixel((8, 8)) == (255, 0, 0)
    expected = image_features(red)
    np.testing.assert_allclose(image_features(Image.open(io.BytesIO(data))), expected, atol=1e-6)


# -- normalise_image: untrusted bytes -----------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF"])
def test_accepted_formats_open_and_load(fmt: str) -> None:
    img, found = normalise_image(encode(scene(), fmt), max_pixels=MAX_PIXELS)
    assert found == fmt
    assert img.size == (48, 32)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, world", b"%PDF-1.4\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20],
    ids=["empty", "text", "pdf", "png-signature-only"],
)
def test_non_images_are_rejected(data: bytes) -> None:
    with pytest.raises(ImageRejected):
        normalise_image(data, max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF", "ICO"])
def test_other_image_formats_are_rejected_with_the_allowed_list(fmt: str) -> None:
    with pytest.raises(ImageRejected, match="JPEG, PNG, WebP or GIF"):
        normalise_image(encode(scene(), fmt), max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_truncated_images_are_rejected(fmt: str) -> None:
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(ImageRejected, match="broken|truncated|not an image"):
        normalise_image(data[: len(data) // 2], max_pixels=MAX_PIXELS)


@pytest.mark.parametrize("side", [10_000, 100_000])
def test_a_png_header_claiming_huge_dimensions_is_a_bomb(side: int) -> None:
    # 10k² trips Pillow's warning threshold, 100k² its error threshold.
    with pytest.raises(ImageRejected, match="pixels"):
        normalise_image(png_header_only(side, side), max_pixels=side * side * 2)


def test_a_header_over_our_limit_is_refused_before_decoding() -> None:
    with pytest.raises(ImageRejected, match="over the limit of 1000000"):
        normalise_image(png_header_only(2000, 2000), max_pixels=1_000_000)


def test_a_real_image_over_max_pixels_is_rejected() -> None:
    data = encode(scene((400, 300)), "PNG")
    with pytest.raises(ImageRejected, match="400×300"):
        normalise_image(data, max_pixels=100_000)
    img, _ = normalise_image(data, max_pixels=120_000)
    assert img.size == (400, 300)


def test_decoding_does_not_change_global_warning_filters() -> None:
    before = list(warnings.filters)
    with pytest.raises(ImageRejected):
        normalise_image(png_header_only(10_000, 10_000), max_pixels=10**9)
    assert warnings.filters == before


# -- thumbnails ---------------------------------------------------------------


def test_thumbnail_keeps_aspect_and_fits_the_box() -> None:
    thumb = Image.open(io.BytesIO(thumbnail_bytes(scene((1000, 500)), size=256)))
    assert thumb.format == THUMBNAIL_FORMAT
    assert thumb.size == (256, 128)


def test_thumbnail_never_upscales_and_handles_transparency() -> None:
    small = Image.new("RGBA", (40, 10), (0, 0, 0, 0))
    thumb = Image.open(io.BytesIO(thumbnail_bytes(small)))
    assert thumb.size == (40, 10)
    red, _, _ = thumb.convert("RGB").split()
    assert red.getpixel((5, 5)) == pytest.approx(255, abs=15)  # white, not black


def test_thumbnail_of_a_big_jpeg_is_small() -> None:
    big = Image.open(io.BytesIO(encode(scene((4000, 3000)), "JPEG")))
    data = thumbnail_bytes(big, size=128)
    assert Image.open(io.BytesIO(data)).size == (128, 96)
    assert len(data) < 20_000
