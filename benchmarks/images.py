"""Image import throughput: ZIP → validated images → features + thumbnails.

Run ``python benchmarks/images.py [--images N]``. It builds N PNGs from
scikit-learn's digits (8×8 upscaled to 64×64, plus noise) in class folders,
zips them in memory and times each stage of the import path the platform
uses. ``featurise_zip`` is the reusable part (e.g. for a learning-curve
benchmark on image features).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from projects.zip_import import ZipEntryError, read_image_zip  # noqa: E402
from strategies.images import (  # noqa: E402
    IMAGE_FEATURE_DIM,
    image_features,
    normalise_image,
    thumbnail_bytes,
)

MAX_UNCOMPRESSED_BYTES = 2_000_000_000
MAX_PIXELS = 50_000_000
MAX_FILES = 100_000


@dataclass
class FeaturisedZip:
    """Everything an image project keeps from a ZIP, in entry order."""

    names: list[str]
    labels: list[str | None]
    features: np.ndarray  # (n, IMAGE_FEATURE_DIM) float32
    thumbnails: list[bytes]
    errors: list[ZipEntryError]
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage


def featurise_zip(
    fileobj: IO[bytes],
    *,
    max_uncompressed_bytes: int,
    max_pixels: int,
    max_files: int,
    thumbnails: bool = True,
) -> FeaturisedZip:
    """Read a ZIP of images and compute features (and thumbnails) as an import would."""
    started = time.perf_counter()
    read = read_image_zip(
        fileobj,
        max_uncompressed_bytes=max_uncompressed_bytes,
        max_pixels=max_pixels,
        max_files=max_files,
    )
    seconds = {"read_image_zip": time.perf_counter() - started}
    features = np.zeros((len(read.entries), IMAGE_FEATURE_DIM), dtype=np.float32)
    thumbs: list[bytes] = []
    stage = {"normalise_image": 0.0, "image_features": 0.0, "thumbnail_bytes": 0.0}
    for i, entry in enumerate(read.entries):
        t0 = time.perf_counter()
        img, _ = normalise_image(entry.data, max_pixels=max_pixels)
        t1 = time.perf_counter()
        features[i] = image_features(img)
        t2 = time.perf_counter()
        if thumbnails:
            thumbs.append(thumbnail_bytes(img))
        t3 = time.perf_counter()
        stage["normalise_image"] += t1 - t0
        stage["image_features"] += t2 - t1
        stage["thumbnail_bytes"] += t3 - t2
    seconds.update(stage, total=time.perf_counter() - started)
    return FeaturisedZip(
        names=[entry.name for entry in read.entries],
        labels=[entry.label for entry in read.entries],
        features=features,
        thumbnails=thumbs,
        errors=read.errors,
        seconds=seconds,
    )


def digits_zip(n_images: int, *, random_state: int = 0) -> io.BytesIO:
    """N noisy 64×64 digit PNGs in class folders (``3/00042.png``), zipped in memory."""
    digits = load_digits()
    rng = np.random.default_rng(random_state)
    picks = rng.integers(0, len(digits.images), n_images)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed
        for i, k in enumerate(picks):
            small = Image.fromarray((digits.images[k] * (255 / 16)).astype(np.uint8), "L")
            big = np.asarray(small.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)
            noisy = np.clip(big + rng.normal(0, 12, big.shape), 0, 255).astype(np.uint8)
            png = io.BytesIO()
            Image.fromarray(noisy, "L").save(png, "PNG")
            archive.writestr(f"{digits.target[k]}/{i:05d}.png", png.getvalue())
    out.seek(0)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    buffer = digits_zip(args.images)
    print(
        f"built {args.images} PNGs, {buffer.getbuffer().nbytes / 1e6:.1f} MB ZIP "
        f"in {time.perf_counter() - t0:.1f}s (not counted)"
    )
    result = featurise_zip(
        buffer,
        max_uncompressed_bytes=MAX_UNCOMPRESSED_BYTES,
        max_pixels=MAX_PIXELS,
        max_files=MAX_FILES,
    )
    n = len(result.names)
    assert n == args.images and not result.errors, result.errors[:3]
    for stage, secs in result.seconds.items():
        print(f"{stage:>16}: {secs:7.2f}s  {n / secs:9.0f} images/s")
    print(
        f"features {result.features.shape}, thumbnails "
        f"{sum(map(len, result.thumbnails)) / n:.0f} B each on average"
    )


if __name__ == "__main__":
    main()
