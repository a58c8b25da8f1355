"""Image features, thumbnails and safe decoding for image projects.

Pure library (numpy + Pillow, no Django): the platform calls
``normalise_image`` on every uploaded file, stores ``image_features`` once at
import so rescoring is a matrix product, and serves ``thumbnail_bytes``.

The feature vector concatenates three blocks, each scaled to unit L2 norm so
that no block dominates a linear model by sheer length:

* a 16×16 grey thumbnail, standardised (zero mean, unit variance) so that
  brightness and contrast changes do not move it;
* a joint HSV colour histogram (8 hue × 3 saturation × 3 value bins);
* a HOG-like histogram of gradient orientations (Dalal & Triggs, 2005):
  unsigned orientations in 9 bins, magnitude-weighted, over a 4×4 grid of
  cells of a 64×64 grey image.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from typing import IO

import numpy as np
from PIL import Image, ImageOps, features

__all__ = [
    "ALLOWED_FORMATS",
    "IMAGE_FEATURE_DIM",
    "THUMBNAIL_EXTENSION",
    "THUMBNAIL_FORMAT",
    "ImageRejected",
    "image_features",
    "images_features",
    "image_load",
    "image_open",
    "normalise_image",
    "thumbnail_bytes",
]

ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "GIF"})

_WORK_SIZE = 64  # every image is featurised at this size
_GREY_SIZE = 16
_HUE_BINS, _SAT_BINS, _VAL_BINS = 8, 3, 3
_HOG_CELLS = 4
_HOG_BINS = 9

_GREY_DIM = _GREY_SIZE * _GREY_SIZE
_COLOUR_DIM = _HUE_BINS * _SAT_BINS * _VAL_BINS
_HOG_DIM = _HOG_CELLS * _HOG_CELLS * _HOG_BINS

IMAGE_FEATURE_DIM: int = _GREY_DIM + _COLOUR_DIM + _HOG_DIM

# Lookup tables built once: per-pixel numpy trigonometry costs more than the
# rest of the features together. First HOG bin of each pixel's cell:
_rows, _cols = np.indices((_WORK_SIZE, _WORK_SIZE)) // (_WORK_SIZE // _HOG_CELLS)
_HOG_CELL_OFFSET = ((_rows * _HOG_CELLS + _cols) * _HOG_BINS).astype(np.intp)
# Unsigned orientation bin of every integer gradient (gx, gy) in [-255, 255]²:
_gy, _gx = np.mgrid[-255:256, -255:256]
_ORIENT_BIN = np.minimum(
    (np.arctan2(_gy, _gx) % np.pi * (_HOG_BINS / np.pi)).astype(np.intp), _HOG_BINS - 1
).ravel()
# Joint HSV bin offset contributed by each channel value (0..255):
_levels = np.arange(256)
_HUE_OFFSET = (_levels * _HUE_BINS // 256) * _SAT_BINS * _VAL_BINS
_SAT_OFFSET = (_levels * _SAT_BINS // 256) * _VAL_BINS
_VAL_OFFSET = _levels * _VAL_BINS // 256
del _rows, _cols, _gy, _gx, _levels

# WebP is smaller for the same quality; fall back to JPEG if Pillow lacks it.
THUMBNAIL_FORMAT: str = "WEBP" if features.check("webp") else "JPEG"
THUMBNAIL_EXTENSION: str = ".webp" if THUMBNAIL_FORMAT == "WEBP" else ".jpg"

# Pillow opens JPEGs carrying several pictures (phone photos) as MPO.
_FORMAT_ALIASES = {"MPO": "JPEG"}


class ImageRejected(ValueError):
    """An uploaded file is not an image we accept; the message is for the user."""


# -- decoding untrusted bytes -------------------------------------------------


ImageSource = bytes | str | os.PathLike[str] | IO[bytes]


def image_open(source: ImageSource, *, max_pixels: int) -> Image.Image:
    """Open untrusted image bytes lazily: format and pixel count checked, no pixel decoded.

    Pillow reads only the header here, so a tiny file declaring 40,000² pixels
    costs microseconds; ``load()`` (or anything that reads pixels) is where a
    decompression bomb would go off, and it is refused before that. Raises
    ``ImageRejected`` for formats other than ``ALLOWED_FORMATS`` and for more
    than ``max_pixels`` pixels; ``img.format`` is normalised (MPO is JPEG).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open(io.BytesIO(source) if isinstance(source, bytes) else source)
    fmt = _FORMAT_ALIASES.get(img.format or "", img.format or "")
    if fmt not in ALLOWED_FORMATS:
        img.close()
        raise ImageRejected(f"{img.format} images are not accepted (use JPEG, PNG, WebP or GIF)")
    try:
        _check_pixels(img.size, max_pixels)
    except ImageRejected:
        img.close()
        raise
    img.format = fmt
    return img


def normalise_image(data: bytes, *, max_pixels: int) -> tuple[Image.Image, str]:
    """Decode untrusted bytes into a loaded, upright image and its format name.

    Only JPEG, PNG, WebP and GIF are accepted (the formats browsers show, and
    the fewest decoders exposed to untrusted input). The pixel count is checked
    from the header before any pixel is decoded (``image_open``), so a small
    file claiming huge dimensions is refused cheaply; Pillow's own
    decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) still applies as an
    outer bound and is reported the same way. Animated GIF/WebP keep their
    first frame. EXIF orientation is applied so features and thumbnails see
    the image upright. Returns ``(image, fmt)`` with ``fmt`` one of
    ``ALLOWED_FORMATS``.
    """
    img = image_open(data, max_pixels=max_pixels)
    fmt = img.format or ""
    image_load(img)
    return _upright_first_frame(img), fmt


def _open(source: str | os.PathLike[str] | IO[bytes]) -> Image.Image:
    try:
        return Image.open(source, formats=sorted(ALLOWED_FORMATS))
    except Image.UnidentifiedImageError:
        raise ImageRejected("not an image (expected JPEG, PNG, WebP or GIF)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("image has too many pixels (possible decompression bomb)") from None
    except Exception as exc:  # malformed headers surface as many exception types
        raise ImageRejected(f"broken image header ({exc})") from None


def _check_pixels(size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise ImageRejected("image has no pixels")
    if width * height > max_pixels:
        raise ImageRejected(
            f"image is {width}×{height} = {width * height} pixels, over the limit of {max_pixels}"
        )


def image_load(img: Image.Image) -> None:
    """Decode the pixels of an image from ``image_open``; any failure is ``ImageRejected``."""
    # Decoders of untrusted bytes fail with OSError, SyntaxError, ValueError,
    # struct.error, EOFError...; every failure means the same to the user.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("image has too many pixels (possible decompression bomb)") from None
    except Exception as exc:
        raise ImageRejected(f"broken or truncated image ({exc})") from None


def _upright_first_frame(img: Image.Image) -> Image.Image:
    if getattr(img, "is_animated", False):
        img.seek(0)
    try:
        upright = ImageOps.exif_transpose(img)
    except Exception:  # a corrupt EXIF block should not cost the whole image
        return img
    return upright if upright is not None else img


# -- features -----------------------------------------------------------------


def image_features(img: Image.Image) -> np.ndarray:
    """Fixed-length float32 feature vector of one image (see the module docstring).

    Accepts any Pillow mode; EXIF orientation is applied, animations use their
    first frame and transparency is composited over white. Large JPEGs are
    decoded at reduced scale (``Image.draft``) and everything is box-filtered
    to 64×64 first, so the cost hardly depends on the input size.
    """
    rgb = _working_rgb(img)
    if rgb is None:
        return np.zeros(IMAGE_FEATURE_DIM, dtype=np.float32)
    grey = rgb.convert("L")  # ITU-R 601 luma
    blocks = (_grey_block(grey), _colour_block(rgb), _hog_block(grey))
    return np.concatenate([_unit(b) for b in blocks]).astype(np.float32)


def images_features(imgs: Sequence[Image.Image]) -> np.ndarray:
    """Feature matrix of shape ``(len(imgs), IMAGE_FEATURE_DIM)``, float32."""
    out = np.zeros((len(imgs), IMAGE_FEATURE_DIM), dtype=np.float32)
    for i, img in enumerate(imgs):  # decoding is per image; the maths inside is vectorised
        out[i] = image_features(img)
    return out


def _working_rgb(img: Image.Image) -> Image.Image | None:
    """The image upright, flattened to RGB and resized to the working square."""
    if getattr(img, "is_animated", False):
        img.seek(0)
    if img.format == "JPEG" and getattr(img, "tile", None):
        img.draft("RGB", (_WORK_SIZE * 2, _WORK_SIZE * 2))  # decode at 1/2…1/8 scale
    img = _upright_first_frame(img)
    if img.width == 0 or img.height == 0:
        return None
    return _to_rgb(img).resize((_WORK_SIZE, _WORK_SIZE), Image.Resampling.BOX, reducing_gap=2.0)


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        return _scale_wide(img).convert("RGB")
    if "A" in mode or "a" in mode or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return img.convert("RGB")
    except ValueError:  # modes without an RGB conversion (e.g. LAB): use the first band
        return img.getchannel(0).convert("RGB")


def _scale_wide(img: Image.Image) -> Image.Image:
    """Map 16/32-bit or float grey to 8 bits; Pillow's own convert clips at 255."""
    arr = np.asarray(img, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    if lo >= 0 and hi <= 255:
        scaled = arr
    elif lo >= 0 and hi <= 65535:
        scaled = arr / 257.0  # 16-bit samples: keep absolute levels, not min-max
    else:
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")


def _grey_block(grey: Image.Image) -> np.ndarray:
    small = grey.resize((_GREY_SIZE, _GREY_SIZE), Image.Resampling.BOX)
    pixels = np.asarray(small, dtype=np.float32).ravel()
    std = float(pixels.std())
    return (pixels - pixels.mean()) / std if std > 1e-3 else np.zeros_like(pixels)


def _colour_block(rgb: Image.Image) -> np.ndarray:
    hsv = np.asarray(rgb.convert("HSV"))
    index = _HUE_OFFSET[hsv[..., 0]] + _SAT_OFFSET[hsv[..., 1]] + _VAL_OFFSET[hsv[..., 2]]
    counts = np.bincount(index.ravel(), minlength=_COLOUR_DIM)
    return counts.astype(np.float32) / index.size


def _hog_block(grey: Image.Image) -> np.ndarray:
    g = np.asarray(grey, dtype=np.int16)
    gx = np.zeros_like(g)
    gy = np.zeros_like(g)
    # Half the central difference, kept in whole grey levels; borders stay 0.
    gx[:, 1:-1] = (g[:, 2:] - g[:, :-2]) // 2
    gy[1:-1, :] = (g[2:, :] - g[:-2, :]) // 2
    magnitude = np.hypot(gx, gy, dtype=np.float32)
    orient = _ORIENT_BIN[(gy.astype(np.intp) + 255) * 511 + (gx + 255)]
    hist = np.bincount(
        (_HOG_CELL_OFFSET + orient).ravel(), weights=magnitude.ravel(), minlength=_HOG_DIM
    )
    return np.sqrt(hist)  # square-root damping, as in Hellinger-normalised HOG


def _unit(block: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(block))
    return block / norm if norm > 1e-12 else block


# -- thumbnails ---------------------------------------------------------------


def thumbnail_bytes(img: Image.Image, size: int = 256) -> bytes:
    """Encoded thumbnail fitting in ``size``×``size``, aspect kept, in ``THUMBNAIL_FORMAT``.

    Transparency is composited over white so JPEG fallbacks and WebP look the
    same; never upscales.
    """
    if getattr(img, "is_animated", False):
        img.seek(0)
    if img.format == "JPEG" and getattr(img, "tile", None):
        img.draft("RGB", (size, size))
    thumb = _to_rgb(_upright_first_frame(img))
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = io.BytesIO()
    # WebP's fastest method encodes about 4× faster for ~7% more bytes.
    thumb.save(out, THUMBNAIL_FORMAT, quality=80, method=0)
    return out.getvalue()
