"""Imports into the pool: parsed rows become items; seed labels owe a retrain."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from projects import item_search
from projects.batches.refresh import batch_refresh_unless_training
from projects.ingest import bulk
from projects.ingest.parsers import ParsedRow
from projects.models import ImportJob, ModelVersion, Project
from projects.pool import snapshot as pool
from projects.pool import stats
from projects.state import ITEMS_ARRIVED, project_move
from projects.training.services import OWED, retrain_request
from winnow.priority import urgently


@transaction.atomic
def items_import(
    *, project: Project, rows: Iterable[ParsedRow], images: list[str] | None = None
) -> int:
    """Add parsed rows to the pool; imported labels are seed labels and trigger a retrain.

    `rows` may be a stream, read once (an upload parsed as it is read)."""
    seeded = [0]

    def counted(rows: Iterable[ParsedRow]) -> Iterator[ParsedRow]:
        for row in rows:
            seeded[0] += row.seeded
            yield row

    first_id = item_search.next_item_id()
    created = bulk.items_insert(project.pk, counted(rows), images or [])
    if created:
        item_search.words_owe(project.pk, first_id, send=False)  # pool_prepared writes them
    if created and project.state in ITEMS_ARRIVED.sources:
        project_move(project, to=ITEMS_ARRIVED.to, from_=ITEMS_ARRIVED.sources)
    if seeded[0]:
        retrain_request(project=project, trigger="import")
    return created


def pool_prepared(*, project_id: int) -> None:
    """After an import: compute the new items' features, open a proper batch, then write
    the new items' search words (after what the first model waits for: after the model
    itself if it is being trained)."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return
    stats.items_tidy()  # fresh statistics for the new rows, before anything ranks them
    ids = pool.candidate_ids_all(project)
    if len(ids) and project.kind == Project.Kind.TEXT:
        pool.representation(project, ids=ids)  # a vocabulary's sample drawn from `ids`
    pool.features_ready(project, ids)
    if project.state in (Project.State.COLLECTING, Project.State.TRAINING):
        # Under the batches lock, which annotators wait on: at the worker's starting priority.
        urgently(lambda: batch_refresh_unless_training(project=project))
    if ModelVersion.objects.filter(project=project, status__in=OWED).exists():
        # On two cores, writing them beside the first model's train, score and picks
        # slowed those by seconds: that retrain's end sends them (run.retrain_run).
        return
    item_search.words_write(project_id)


# Errors kept with an import's record for its history; the answer lists more.
RECORDED_ERRORS = 50


def import_record(
    *,
    project: Project,
    user: User | None,
    filename: str,
    created: int,
    skipped: int,
    seeded: int,
    errors: list[dict[str, Any]],
) -> ImportJob:
    """Record a finished CSV/JSONL import for the import page's history (image ZIPs have
    their job row from the start); one whose every row was refused is `failed`."""
    now = timezone.now()
    return ImportJob.objects.create(
        project=project,
        created_by=user if user is not None and user.pk else None,
        filename=filename[:255],
        status=ImportJob.Status.DONE if created or not skipped else ImportJob.Status.FAILED,
        total=created + skipped,
        processed=created + skipped,
        created=created,
        skipped=skipped,
        seeded=seeded,
        errors=errors[:RECORDED_ERRORS],
        finished_at=now,
    )
