"""Turn an uploaded file into pool items (CSV / JSONL now; image ZIPs go to the worker)."""

from __future__ import annotations

from collections.abc import Iterator
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
    if upload.size == 0:
        raise ImportRejected("The file is empty.")
    errors = importers.RowErrors()
    rows = _Checked(project)
    parsed = importers.parse_stream(
        upload,
        name,
        errors=errors,
        kind=project.kind,
        labels=list(project.labels),
        max_text_chars=settings.WINNOW_MAX_TEXT_CHARS,
        multilabel=project.task == Project.Task.MULTILABEL,
        spans=project.task == Project.Task.SPANS,
        allow_empty_set=project.allow_empty_set,
        limit=settings.WINNOW_MAX_UPLOAD_BYTES,
    )
    # Parsed, checked and inserted a chunk at a time as the file is read: a whole-file
    # problem found on the way rolls back the rows already inserted.
    with transaction.atomic():
        created = ingest.items_import(project=project, rows=rows.stream(parsed))
        if created:
            transaction.on_commit(lambda: _prepare(project.pk))
        ingest.import_record(
            project=project,
            user=user,
            filename=name,
            created=created,
            skipped=errors.count,
            seeded=rows.seeded if created else 0,
            errors=errors.first,
        )
    return {
        "created": created,
        "skipped": errors.count,
        "errors": errors.first[:1000],
        "seeded": rows.seeded if created else 0,
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


class _Checked:
    """An upload's rows as they stream by: seed labels counted, and a text project's rows
    all bring `features` (of one length) or none does.

    Its rows must all come from one representation: its own vectors if its first import
    brought them, else its text features (`pool.snapshot.representation`). The first row
    decides (with what the project already holds); every later one must agree.
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self.seeded = 0
        self.given: bool | None = None
        self.dim = 0

    def stream(self, rows: Iterator[importers.ParsedRow]) -> Iterator[importers.ParsedRow]:
        text = self.project.kind == Project.Kind.TEXT
        for row in rows:
            if text:
                self._features(row)
            self.seeded += row.seeded
            yield row

    def _features(self, row: importers.ParsedRow) -> None:
        given = row.vector is not None
        if self.given is None:
            self.given = given
            self._first(row)
        elif given != self.given:
            raise ImportRejected("Give `features` on every line, or on none.")
        if given and len(row.vector or []) != self.dim:
            raise ImportRejected(f"Every `features` list must have {self.dim} numbers.")

    def _first(self, row: importers.ParsedRow) -> None:
        items = Item.objects.filter(project=self.project)
        if row.vector is None:
            if items.filter(vector__isnull=False).exists():
                raise ImportRejected("This project trains on its own features: give `features`.")
            return
        existing = items.values_list("vector", flat=True).first()
        if items.exists() and existing is None:
            raise ImportRejected(
                "This project's items are featurised from their text; own `features` must "
                "come with its first import."
            )
        self.dim = len(existing) if isinstance(existing, list) else len(row.vector)


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
