"""Many items' features computed by every free worker at once (issue 17).

Computing a large pool's rows (a 1M-item import) is one process's work for a minute or
more. Above ROWS_AT_ONCE missing items, `features_split` splits them (sorted by id) into
id ranges of at most WINNOW_FEATURE_CHUNK_ITEMS (`chunk_size`), records one
`FeatureChunk` per range and sends one `tasks.features_chunk` message each (acks_late);
the caller claims chunks too, from the last while the messages hand them out from the
first, then waits for those others hold. Each chunk stores its rows as a shard of its
own (`features.features_add`), so nothing is merged here: the next `features_load`
reads every shard.

Another caller that needs the same project's rows meanwhile (the import's pool_prepare
and the first retrain, on two workers) joins the split in flight rather than computing
them again. A chunk whose worker died is claimed again once its claim is stale (the
holder renews it after every ROWS_AT_ONCE rows); a row computed twice is dropped on load.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import scipy.sparse as sp
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from projects import tasks
from projects.feature_chunk import FeatureChunk
from projects.models import Item, Project
from projects.pool import features
from winnow.broker import task_send

log = logging.getLogger(__name__)
Status = FeatureChunk.Status
WAIT_SECONDS = 0.1
# Rows computed at once within a chunk (the claim is renewed after each).
ROWS_AT_ONCE = 20_000
# How a project's rows are computed: given the project, a function of item ids (sorted)
# to their rows (`snapshot.rows_function`: the representation is read once per split).
RowsFunction = Callable[[Project], Callable[[np.ndarray], features.Matrix]]
# Chunk rows left behind by a split whose every worker died are removed after this.
FORGOTTEN_AFTER = timedelta(hours=6)


def features_split(project: Project, missing: np.ndarray, rows: RowsFunction) -> bool:
    """Compute the rows of `missing` (sorted ids) over every free worker; False when they
    are too few to split (the caller computes them itself)."""
    size = chunk_size(len(missing))
    if len(missing) <= size:
        return False
    job = _job_join_or_create(project, missing, size)
    chunks = FeatureChunk.objects.filter(job=job)
    rows = _once(rows)  # the representation read once for all the chunks this caller takes
    try:
        while True:
            chunk = _claim(chunks, last_first=True)
            if chunk is not None:
                _compute(project, chunk, rows)
                continue
            if not chunks.exclude(status=Status.DONE).exists():
                return True
            time.sleep(WAIT_SECONDS)
    finally:
        if not chunks.exclude(status=Status.DONE).exists():
            chunks.delete()


def _once(rows: RowsFunction) -> RowsFunction:
    made: list[Callable[[np.ndarray], features.Matrix]] = []

    def first(project: Project) -> Callable[[np.ndarray], features.Matrix]:
        if not made:
            made.append(rows(project))
        return made[0]

    return first


# Advisory lock space for "computing a project's features" (key: the project id); the
# batches' lock is 72_101 (`batches.services`).
_FEATURES_LOCK = 72_102


def features_lock(project_id: int) -> None:
    """Serialise splits and vocabulary fits of one project until the transaction ends.

    An advisory lock, not the project row, which retrains update meanwhile. SQLite's
    IMMEDIATE transactions serialise writers already.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_FEATURES_LOCK, project_id % 2**31])


def chunk_size(missing: int) -> int:
    """Items per chunk: a quarter of them (two workers share even a 100k import, and a
    second caller joins rather than computing them again), at least ROWS_AT_ONCE, at most
    WINNOW_FEATURE_CHUNK_ITEMS."""
    return min(int(settings.WINNOW_FEATURE_CHUNK_ITEMS), max(ROWS_AT_ONCE, -(-missing // 4)))


def _job_join_or_create(project: Project, missing: np.ndarray, size: int) -> str:
    """The split in flight for this project, if any, else a new one (messages sent)."""
    with transaction.atomic():
        features_lock(project.pk)
        mine = FeatureChunk.objects.filter(project=project)
        mine.filter(created_at__lt=timezone.now() - FORGOTTEN_AFTER).delete()
        open_job = mine.exclude(status=Status.DONE).values_list("job", flat=True).first()
        if open_job is not None:
            return str(open_job)
        job = uuid.uuid4().hex
        bounds = range(0, len(missing), size)
        FeatureChunk.objects.bulk_create(
            FeatureChunk(
                project=project,
                job=job,
                index=i,
                first_id=int(missing[start]),
                last_id=int(missing[min(start + size, len(missing)) - 1]),
            )
            for i, start in enumerate(bounds)
        )
        ids = FeatureChunk.objects.filter(job=job).order_by("index").values_list("pk", flat=True)
        for chunk_id in list(ids)[:-1]:  # the last is this worker's first
            transaction.on_commit(_sender(chunk_id))
    return job


def _sender(chunk_id: int) -> Callable[[], None]:
    def send() -> None:
        task_send(tasks.features_chunk, chunk_id)

    return send


def _stale() -> timedelta:
    """How old a claim may be before its worker counts as dead (as a retrain's heartbeat)."""
    return timedelta(seconds=3 * settings.WINNOW_RETRAIN_HEARTBEAT_SECONDS)


def _claim(chunks: QuerySet[FeatureChunk], *, last_first: bool = False) -> FeatureChunk | None:
    """Take one pending chunk, or one whose holder's claim went stale (it died)."""
    stale = timezone.now() - _stale()
    claimable = Q(status=Status.PENDING) | Q(status=Status.RUNNING, claimed_at__lt=stale)
    for chunk in chunks.filter(claimable).order_by("-index" if last_first else "index")[:4]:
        taken = FeatureChunk.objects.filter(claimable, pk=chunk.pk, claims=chunk.claims).update(
            status=Status.RUNNING, claimed_at=timezone.now(), claims=F("claims") + 1
        )
        if taken:
            chunk.claims += 1
            return chunk
    return None


def _compute(project: Project, chunk: FeatureChunk, rows: RowsFunction) -> None:
    """The chunk's rows, computed FEATURE_CHUNK at a time and stored as one shard."""
    started = time.perf_counter()
    ids = np.fromiter(
        Item.objects.filter(project=project, pk__gte=chunk.first_id, pk__lte=chunk.last_id)
        .order_by("id")
        .values_list("id", flat=True)
        .iterator(chunk_size=ROWS_AT_ONCE),
        dtype=np.int64,
    )
    compute = rows(project)
    mine = FeatureChunk.objects.filter(pk=chunk.pk, claims=chunk.claims)
    blocks = []
    for start in range(0, len(ids), ROWS_AT_ONCE):
        blocks.append(compute(ids[start : start + ROWS_AT_ONCE]))
        mine.update(claimed_at=timezone.now())  # still alive: not to be claimed again
    if blocks:
        features.features_add(project.pk, ids, _stack(blocks))
    mine.update(status=Status.DONE)
    log.info(
        "feature chunk %s of project %s: %d rows in %.2f s",
        chunk.index,
        project.pk,
        len(ids),
        time.perf_counter() - started,
    )


def _stack(blocks: list[features.Matrix]) -> features.Matrix:
    if sp.issparse(blocks[0]):
        return sp.vstack(blocks, format="csr")
    return np.vstack(blocks)


def chunk_compute(*, chunk_id: int, rows: RowsFunction) -> bool:
    """Compute one chunk in this worker (the task's body); False if there was nothing to do."""
    chunk = _claim(FeatureChunk.objects.filter(pk=chunk_id))
    if chunk is None:
        return False
    project = Project.objects.filter(pk=chunk.project_id).first()
    if project is None:
        return False
    _compute(project, chunk, rows)
    return True
