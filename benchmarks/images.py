"""Image import throughput: ZIP → validated images → features + thumbnails.

Run ``python benchmarks/images.py [--images N]``; ``--learn`` runs the learning
benchmark on digits through the image pipeline (default strategy vs random). It builds N PNGs from
scikit-learn's digits (8×8 upscaled to 64×64, plus noise) in class folders,
zips them in memory and times each stage of the import path the platform
uses. ``featurise_zip`` is the reusable part (e.g. for a learning-curve
benchmark on image features).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from projects.ingest.zips import ZipEntryError, ZipLimits, read_image_zip  # noqa: E402
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
    limits = ZipLimits(
        max_files=max_files,
        max_uncompressed_bytes=max_uncompressed_bytes,
        max_image_bytes=max_uncompressed_bytes,
        max_pixels=max_pixels,
    )
    with tempfile.TemporaryDirectory() as folder:
        read = read_image_zip(fileobj, folder=Path(folder), limits=limits)
        images = [entry.path.read_bytes() for entry in read.entries]
    seconds = {"read_image_zip": time.perf_counter() - started}
    features = np.zeros((len(read.entries), IMAGE_FEATURE_DIM), dtype=np.float32)
    thumbs: list[bytes] = []
    stage = {"normalise_image": 0.0, "image_features": 0.0, "thumbnail_bytes": 0.0}
    for i, data in enumerate(images):
        t0 = time.perf_counter()
        img, _ = normalise_image(data, max_pixels=max_pixels)
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


def learning(n_images: int, *, repeats: int, budget: int, batch_size: int) -> dict[str, object]:
    """Active learning on digits through the image pipeline: PNG → ZIP → image features.

    The features are exactly what an image project stores (``image_features`` of
    each decoded PNG, no rescaling); the loop is ``strategies.simulate``'s, so the
    default strategy and random see the same splits, seed sets and budget.
    """
    from sklearn.model_selection import train_test_split

    from strategies.datasets import Split
    from strategies.metrics import learning_curve_auc
    from strategies.simulate import resolve
    from strategies.simulate_loop import run_loop, strategy_chooser

    result = featurise_zip(
        digits_zip(n_images),
        max_uncompressed_bytes=MAX_UNCOMPRESSED_BYTES,
        max_pixels=MAX_PIXELS,
        max_files=MAX_FILES,
        thumbnails=False,
    )
    X = result.features.astype(np.float64)
    y = np.array([int(label) for label in result.labels if label is not None])
    curves: dict[str, list[list[dict[str, float]]]] = {"default": [], "random": []}
    for repeat in range(repeats):
        pool, test = train_test_split(
            np.arange(len(y)), test_size=0.25, random_state=repeat, stratify=y
        )
        stop_rows = np.sort(
            np.random.default_rng(repeat).choice(
                len(pool), size=min(len(pool), 1000), replace=False
            )
        )
        split = Split(X[pool], y[pool], X[test], y[test], 10, repeat, stop_rows)
        for name in curves:
            run = run_loop(
                split,
                strategy_chooser(*resolve(name)),
                batch_size=batch_size,
                seed_size=batch_size,
                budget=budget,
                rules=[],
            )
            curves[name].append(run["curve"])
    return {
        name: {
            "auc": round(float(np.mean([learning_curve_auc(c) for c in runs])), 4),
            "curve": [
                {
                    "labels": points[0]["labels"],
                    "accuracy": round(float(np.mean([p["accuracy"] for p in points])), 4),
                }
                for points in zip(*runs, strict=True)
            ],
        }
        for name, runs in curves.items()
    }


def print_learning(summary: dict[str, object], n_images: int, repeats: int) -> None:
    default, random = summary["default"], summary["random"]
    assert isinstance(default, dict) and isinstance(random, dict)
    print(f"digits through the image pipeline: {n_images} PNGs, {repeats} repeats (mean)")
    print(f"{'labels':>7} {'default':>9} {'random':>9}")
    for a, b in zip(default["curve"], random["curve"], strict=True):
        print(f"{a['labels']:>7} {a['accuracy']:>9.4f} {b['accuracy']:>9.4f}")
    print(
        f"area under the learning curve: default {default['auc']:.4f}, random {random['auc']:.4f}"
    )


def platform(n_images: int) -> dict[str, float]:
    """The platform's own path: the import request, then the worker's job, in-process.

    Uses DATABASE_URL (default: SQLite under a temporary WINNOW_DATA_DIR).
    """
    import os
    import tempfile

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "winnow.settings")
    os.environ.setdefault("DEBUG", "true")  # a local measurement, with the development key
    os.environ.setdefault("WINNOW_DATA_DIR", tempfile.mkdtemp(prefix="winnow-images-"))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from projects import services
    from projects.ingest import images as image_import
    from projects.models import ImportJob

    call_command("migrate", verbosity=0, interactive=False)
    user, _ = get_user_model().objects.get_or_create(username="bench-images")
    project = services.project_create(
        user=user,
        name=f"images bench {time.time():.0f}",
        kind="image",
        labels=[str(d) for d in range(10)],
    )
    data = digits_zip(n_images).getvalue()
    t0 = time.perf_counter()
    answer = image_import.import_image_upload(
        project=project, upload=io.BytesIO(data), name="d.zip", user=user
    )
    t1 = time.perf_counter()
    image_import.import_job_run(job_id=int(answer["job"]))
    t2 = time.perf_counter()
    job = ImportJob.objects.get(pk=answer["job"])
    assert job.status == "done" and job.processed == n_images, job.errors[:3]
    return {"request_seconds": t1 - t0, "worker_seconds": t2 - t1, "total_seconds": t2 - t0}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--learn", action="store_true", help="the learning benchmark instead")
    parser.add_argument(
        "--platform",
        action="store_true",
        help="time the platform's import request and worker job (needs a database)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args(argv)
    if args.platform:
        seconds = platform(args.images)
        for stage, secs in seconds.items():
            print(f"{stage:>16}: {secs:7.2f}s  {args.images / secs:9.0f} images/s")
        return
    if args.learn:
        summary = learning(
            args.images, repeats=args.repeats, budget=args.budget, batch_size=args.batch_size
        )
        print_learning(summary, args.images, args.repeats)
        return
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
