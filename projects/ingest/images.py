"""Image ZIP imports: cheap checks and streaming in the request, decoding in the worker.

The request checks the whole ZIP (entry count, paths, bombs, sizes) before
inflating anything, streams each image into a private staging folder reading only
its header (format, pixel count), then in one transaction stores the images under
generated names (`projects.item_images`: the artifact store every host reads) and
inserts their items. The staging folder is always removed, and if the transaction
fails the images it stored are deleted: nothing of a refused or failed import is
half-kept.
The worker (``import_job_run``) decodes each image once, with the per-image
pixel limit, to make its thumbnail and features; an image that does not decode
is reported by name in the job's errors and its item removed. It reports
progress on the ``ImportJob`` row and is safe to run again.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from projects import item_images, item_search, tasks
from projects.batches import refresh as refreshes
from projects.ingest import bulk
from projects.ingest.parsers import ImportRejected, ParsedRow
from projects.ingest.zips import (
    MANIFEST_NAME,
    ImageEntry,
    ZipLimits,
    ZipRejected,
    read_image_zip,
    read_jsonl_manifest,
)
from projects.models import HAS_FINAL_LABEL, ImportJob, Item, Project
from projects.pool import features
from projects.pool import snapshot as pool
from projects.settings_schema import BUILTIN_EMBEDDER
from projects.state import ITEMS_ARRIVED, project_move
from projects.training import services as training_services
from strategies.images import (
    IMAGE_FEATURE_DIM,
    ImageRejected,
    image_features,
    image_load,
    image_open,
    thumbnail_bytes,
)
from winnow.broker import task_send

log = logging.getLogger(__name__)

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}
FEATURE_CHUNK = 256  # images featurised per feature shard and progress update
MAX_ERRORS = 1000


def max_image_pixels() -> int:
    return int(settings.WINNOW_MAX_IMAGE_PIXELS)


def max_zip_bytes() -> int:
    return int(settings.WINNOW_MAX_ZIP_BYTES)


def max_zip_files() -> int:
    return int(settings.WINNOW_MAX_ZIP_FILES)


def zip_limits() -> ZipLimits:
    return ZipLimits(
        max_files=max_zip_files(),
        max_uncompressed_bytes=max_zip_bytes(),
        max_image_bytes=int(settings.WINNOW_MAX_IMAGE_BYTES),
        max_pixels=max_image_pixels(),
    )


@dataclass
class ImageRow:
    entry: ImageEntry
    label: str | None
    meta: dict[str, Any]


# -- the request: validate, store files and items, enqueue the worker ----------


def import_image_upload(
    *, project: Project, upload: IO[bytes], name: str, user: User
) -> dict[str, Any]:
    """Import a ZIP of images from a seekable binary file.

    Returns ``{"created", "skipped", "errors", "job"}``; whole-ZIP problems raise
    ``ImportRejected`` before anything is inflated.
    """
    staging = _staging_folder(project)
    try:
        rows, errors = _read_rows(project, upload, staging)
        if not rows:
            return {"created": 0, "skipped": len(errors), "errors": errors[:MAX_ERRORS]}
        job = image_items_import(
            project=project, rows=rows, filename=name, user=user, errors=errors
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {
        "created": len(rows),
        "skipped": len(errors),
        "errors": errors[:MAX_ERRORS],
        "job": job.pk,
    }


def _staging_folder(project: Project) -> Path:
    """A private folder on this host for the ZIP's images until they are stored."""
    root = Path(settings.DATA_DIR) / "incoming"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"project_{project.pk}-", dir=root))


def _read_rows(
    project: Project, upload: IO[bytes], staging: Path
) -> tuple[list[ImageRow], list[dict[str, Any]]]:
    try:
        read = read_image_zip(upload, folder=staging, limits=zip_limits())
    except ZipRejected as exc:
        raise ImportRejected(f"The ZIP was refused: {exc}.") from None
    errors: list[dict[str, Any]] = [dict(e) for e in read.errors]
    candidates = [ImageRow(e, e.label, {"path": e.name}) for e in read.entries]
    if read.manifest_lines is not None:
        candidates = _apply_manifest(read.manifest_lines, candidates, errors)
    known = set(project.labels)
    rows = []
    for row in candidates:
        if row.label is not None and row.label not in known:
            errors.append(
                {
                    "name": row.entry.name,
                    "error": f"unknown label {row.label!r}; "
                    f"the project's labels are {sorted(known)}",
                }
            )
            continue
        rows.append(row)
    return rows, errors


def _apply_manifest(
    lines: list[str], rows: list[ImageRow], errors: list[dict[str, Any]]
) -> list[ImageRow]:
    """A manifest line gives its image a label (over the folder's) and meta.

    Images the manifest does not list are still imported with their folder label.
    """
    result = read_jsonl_manifest(lines, [row.entry for row in rows])
    errors.extend({"name": MANIFEST_NAME, **e} for e in result.errors)
    listed = {
        item.entry.name: ImageRow(item.entry, item.label, {**item.meta, "path": item.entry.name})
        for item in result.items
    }
    return [listed.get(row.entry.name, row) for row in rows]


def image_items_import(
    *,
    project: Project,
    rows: list[ImageRow],
    filename: str,
    user: User | None,
    errors: list[dict[str, Any]] | None = None,
) -> ImportJob:
    """Store the staged images under their names and insert their items in one transaction.

    The worker does the rest.
    """
    written: list[str] = []
    try:
        with transaction.atomic():
            job = ImportJob.objects.create(
                project=project,
                created_by_id=None if user is None else user.pk,
                filename=filename[:255],
                total=len(rows),
                created=len(rows),
                skipped=len(errors or []),
                errors=(errors or [])[:MAX_ERRORS],
                status=ImportJob.Status.PENDING,
            )
            paths = [_place_image(project, job, row.entry, written) for row in rows]
            # A class folder on a multi-label project seeds the set of that one label.
            sets = project.task == Project.Task.MULTILABEL
            parsed = [
                ParsedRow(line=i, meta=row.meta, label=None if sets else row.label)
                if not (sets and row.label)
                else ParsedRow(line=i, meta=row.meta, labels=[row.label])
                for i, row in enumerate(rows, 1)
            ]
            first_id = item_search.next_item_id()
            bulk.items_insert(project.pk, parsed, paths)
            item_search.words_owe(project.pk, first_id)
            _mark_collecting(project)
            transaction.on_commit(lambda: _enqueue(job.pk))
    except BaseException:
        item_images.images_delete(written)
        raise
    return job


def image_prefix(project: Project | int, job: ImportJob | int) -> str:
    """Every image of one import job is stored under this relative path prefix."""
    project_id = project if isinstance(project, int) else project.pk
    job_id = job if isinstance(job, int) else job.pk
    return f"project_{project_id}/j{job_id}-"


def _place_image(project: Project, job: ImportJob, entry: ImageEntry, written: list[str]) -> str:
    relative = f"{image_prefix(project, job)}{uuid.uuid4().hex}{EXTENSIONS[entry.format]}"
    written.append(relative)
    item_images.image_save(relative, entry.path.read_bytes())  # a fresh uuid: no overwrite
    return relative


def _mark_collecting(project: Project) -> None:
    if project.state in ITEMS_ARRIVED.sources:
        project_move(project, to=ITEMS_ARRIVED.to, from_=ITEMS_ARRIVED.sources)


def _enqueue(job_id: int) -> None:

    task_send(tasks.image_import_process, job_id)


# -- the worker: thumbnails, features, progress ---------------------------------


def import_job_run(*, job_id: int) -> bool:
    """Thumbnail and featurise every image of the job not featurised yet; False if gone.

    Idempotent: items whose features are stored are skipped, so a re-sent task
    resumes where a lost worker stopped.
    """
    job = ImportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None or job.status == ImportJob.Status.DONE:
        return False
    project = job.project
    ImportJob.objects.filter(pk=job_id).update(status=ImportJob.Status.RUNNING)
    try:
        _featurise_job(project, job)
    except Exception as exc:
        log.exception("image import job %s failed", job_id)
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.FAILED,
            finished_at=timezone.now(),
            errors=[
                *ImportJob.objects.get(pk=job_id).errors,
                {"name": "", "error": f"feature extraction failed: {exc!r}"},
            ],
        )
        raise
    _finish_job(project, job)
    return True


def job_items(project: Project, job: ImportJob) -> np.ndarray:
    ids = Item.objects.filter(project=project, image__startswith=image_prefix(project, job))
    return np.fromiter(ids.order_by("id").values_list("id", flat=True), dtype=np.int64)


def _featurise_job(project: Project, job: ImportJob) -> None:
    ids = job_items(project, job)
    table = features.features_load(project.pk)
    todo = ids if table is None else table.missing(ids)
    done = len(ids) - len(todo)
    ImportJob.objects.filter(pk=job.pk).update(total=len(ids), processed=done)
    for start in range(0, len(todo), FEATURE_CHUNK):
        chunk = todo[start : start + FEATURE_CHUNK]
        _featurise_chunk(project, job, chunk)
        done += len(chunk)
        ImportJob.objects.filter(pk=job.pk).update(processed=done)


def _featurise_chunk(project: Project, job: ImportJob, chunk: np.ndarray) -> None:
    """Features for the chunk's images; the ones that do not decode leave the pool."""
    items = Item.objects.only("id", "image", "meta").in_bulk(chunk.tolist())
    ordered = [items[int(pk)] for pk in chunk]
    X, broken = images_thumbnail_and_featurise(
        [item.image for item in ordered], max_pixels=max_image_pixels()
    )
    if broken:
        _drop_broken(job, {ordered[row]: error for row, error in broken.items()})
    decoded = np.array([row not in broken for row in range(len(chunk))], dtype=bool)
    rows = X[decoded]
    if project.embedder != BUILTIN_EMBEDDER:  # the server's image embedder makes the rows
        rows = pool.compute_features(project, chunk[decoded])
    features.features_add(project.pk, chunk[decoded], rows)


def images_thumbnail_and_featurise(
    paths: list[str], *, max_pixels: int
) -> tuple[np.ndarray, dict[int, str]]:
    """Write each stored image's thumbnail; the feature matrix, and why rows failed.

    Each image is decoded here, once, for the first time: the request read only
    its header. The pixel limit is checked again before decoding (the file is
    the one the request checked, but the limit is this function's to keep).
    Rows that do not decode stay zero in the matrix and are returned by index
    with the reason.
    """
    X = np.zeros((len(paths), IMAGE_FEATURE_DIM), dtype=np.float32)
    broken: dict[int, str] = {}
    for row, relative in enumerate(paths):
        try:
            data = item_images.image_read(relative)
        except FileNotFoundError:
            broken[row] = "the stored image is missing"
            continue
        try:
            with image_open(data, max_pixels=max_pixels) as img:
                image_load(img)
                X[row] = image_features(img)
                item_images.image_save(item_images.thumbnail_of(relative), thumbnail_bytes(img))
        except ImageRejected as exc:
            broken[row] = str(exc)
    return X, broken


def _drop_broken(job: ImportJob, broken: dict[Item, str]) -> None:
    """Items whose image does not decode leave the pool; the job reports them by name."""
    errors = [{"name": item.meta.get("path", ""), "error": error} for item, error in broken.items()]
    files = [item.image for item in broken]
    with transaction.atomic():
        Item.objects.filter(pk__in=[item.pk for item in broken]).delete()
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        locked.errors = [*locked.errors, *errors][:MAX_ERRORS]
        locked.created -= len(broken)
        locked.skipped += len(broken)
        locked.save(update_fields=["errors", "created", "skipped"])
        transaction.on_commit(lambda: item_images.images_delete(files))


def _finish_job(project: Project, job: ImportJob) -> None:
    """Job done: a retrain if the import brought seed labels, else a coverage batch."""

    seeded = Item.objects.filter(
        HAS_FINAL_LABEL, project=project, image__startswith=image_prefix(project, job)
    ).exists()
    with transaction.atomic():
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, finished_at=timezone.now()
        )
        project.refresh_from_db()
        if seeded and project.state in (Project.State.COLLECTING, Project.State.TRAINING):
            training_services.retrain_request(project=project, trigger="import")
    if not seeded and project.state in (Project.State.COLLECTING, Project.State.TRAINING):
        refreshes.batch_refresh_unless_training(project=project)


def import_job_status(job: ImportJob) -> dict[str, Any]:
    """What the import page polls: progress and the per-file errors."""
    return {
        "id": job.pk,
        "filename": job.filename,
        "status": job.status,
        "total": job.total,
        "processed": job.processed,
        "created": job.created,
        "skipped": job.skipped,
        "errors": job.errors,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "progress": round(job.processed / job.total, 4) if job.total else 1.0,
    }
