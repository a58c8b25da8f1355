"""Turn an uploaded file into pool items (CSV / JSONL now; image ZIPs go to the worker)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from projects import tasks
from projects.ingest import images as image_import
from projects.ingest import parsers as importers
from projects.ingest import services as ingest
from projects.ingest.parsers import ImportRejected
from projects.models import Item, Project
from winnow.broker import task_send


def import_upload(*, project: Project, upload: UploadedFile, user: User) -> dict[str, Any]:
    """Parse and store the rows of an upload; whole-file problems raise ImportRejected."""
    if project.state == Project.State.ARCHIVED:
        raise ImportRejected("The project is archived: unarchive it to import.")
    name = upload.name or "upload"
    if project.kind == Project.Kind.IMAGE:
        # The ZIP is read in place (it may be large): never loaded into memory whole.
        _check_size(upload)
        return image_import.import_image_upload(
            project=project, upload=upload, name=name, user=user
        )
    data = _read_capped(upload)
    parsed = importers.parse_upload(
        data,
        name,
        kind=project.kind,
        labels=list(project.labels),
        max_text_chars=settings.WINNOW_MAX_TEXT_CHARS,
        multilabel=project.task == Project.Task.MULTILABEL,
        spans=project.task == Project.Task.SPANS,
        allow_empty_set=project.allow_empty_set,
    )
    if project.kind == Project.Kind.TEXT:
        own_features_check(project, parsed.rows)
    created = 0
    seeded = sum(1 for row in parsed.rows if row.seeded)
    with transaction.atomic():
        if parsed.rows:
            created = ingest.items_import(project=project, rows=parsed.rows)
            transaction.on_commit(lambda: _prepare(project.pk))
        ingest.import_record(
            project=project,
            user=user,
            filename=name,
            created=created,
            skipped=len(parsed.errors),
            seeded=seeded if created else 0,
            errors=parsed.errors,
        )
    return {
        "created": created,
        "skipped": len(parsed.errors),
        "errors": parsed.errors[:1000],
        "seeded": seeded if created else 0,
    }


# How much of an upload a preview reads: enough for its first rows, never the whole file.
PREVIEW_BYTES = 64 * 1024


def import_preview(*, project: Project, upload: UploadedFile) -> importers.Preview:
    """The columns and first rows of an upload as they would import; nothing is written."""
    if project.kind == Project.Kind.IMAGE:
        raise ImportRejected("Image ZIPs have no preview: each image is checked as it imports.")
    head = upload.read(PREVIEW_BYTES + 1)
    if not head:
        raise ImportRejected("The file is empty.")
    return importers.preview_upload(
        head[:PREVIEW_BYTES],
        upload.name or "upload",
        complete=len(head) <= PREVIEW_BYTES,
        kind=project.kind,
        labels=list(project.labels),
        max_text_chars=settings.WINNOW_MAX_TEXT_CHARS,
        multilabel=project.task == Project.Task.MULTILABEL,
        spans=project.task == Project.Task.SPANS,
        allow_empty_set=project.allow_empty_set,
    )


def own_features_check(project: Project, rows: list[importers.ParsedRow]) -> None:
    """A text project's rows all bring `features` (of one length) or none does.

    Its rows must all come from one representation: its own vectors if its first import
    brought them, else its text features (`pool.snapshot.representation`).
    """
    given = [row.vector is not None for row in rows]
    if not any(given):
        if Item.objects.filter(project=project, vector__isnull=False).exists():
            raise ImportRejected("This project trains on its own features: give `features`.")
        return
    if not all(given):
        raise ImportRejected("Give `features` on every line, or on none.")
    existing = Item.objects.filter(project=project).values_list("vector", flat=True).first()
    has_items = Item.objects.filter(project=project).exists()
    if has_items and existing is None:
        raise ImportRejected(
            "This project's items are featurised from their text; own `features` must come "
            "with its first import."
        )
    dim = len(existing) if isinstance(existing, list) else len(rows[0].vector or [])
    if any(len(row.vector or []) != dim for row in rows):
        raise ImportRejected(f"Every `features` list must have {dim} numbers.")


def _prepare(project_id: int) -> None:

    task_send(tasks.pool_prepare, project_id)  # features are computed at the first train if lost


def _check_size(upload: UploadedFile) -> None:
    # The upload handler already refused bodies over the cap; an upload built in
    # code (not read from a request) is held to the same limits here.
    limit = settings.WINNOW_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise ImportRejected(f"The file is larger than the {limit}-byte limit.")
    if not upload.size:
        raise ImportRejected("The file is empty.")


def _read_capped(upload: UploadedFile) -> bytes:
    limit = settings.WINNOW_MAX_UPLOAD_BYTES
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ImportRejected(f"The file is larger than the {limit}-byte limit.")
    if not data:
        raise ImportRejected("The file is empty.")
    return data
