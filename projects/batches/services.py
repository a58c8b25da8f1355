"""Batches: opening, filling, progress and closing (PRODUCT.md §2.3).

A batch opens from the latest ranking (or for coverage), its items are queued with
the number of annotations each needs, and it closes once none waits; the close
records the owed retrain.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.db.models import F, Max
from django.utils import timezone

from projects.batches.room import BatchRoom, batch_room
from projects.models import (
    Batch,
    Item,
    Membership,
    ModelVersion,
    Project,
    SelectionLog,
)
from projects.state import RETRAIN_OWED
from projects.training.services import retrain_request, retrain_send
from winnow.after_response import after_response
from winnow.db import execute_prepared


def batch_item_completed(*, batch_id: int) -> None:
    """An item of a batch got all its annotations (or left it): check progress after commit.

    The check runs once the caller's transaction has committed, so annotations never
    queue on the batch row while they hold their own locks; every completer re-counts
    committed items, and the batch row lock is taken only when a batch looks finished.
    """
    transaction.on_commit(lambda: batch_progress(batch_id=batch_id))


def batch_progress(*, batch_id: int) -> None:
    """Refresh a batch's `remaining` and close it once no item waits for annotations."""
    if _batch_remaining_refresh(batch_id):
        return
    if connection.vendor == "postgresql":
        _batch_close_in_one_statement(batch_id)
        return
    waiting = Item.objects.filter(batch_id=batch_id, state=Item.State.QUEUED)
    with transaction.atomic():
        batch = (
            # Only the batch row (`of`): the join to the project would lock its row in
            # the same statement, in plan order, and deadlocked with a retrain's finish.
            Batch.objects.select_for_update(no_key=True, of=("self",))
            .select_related("project")
            .filter(pk=batch_id, state=Batch.State.OPEN)
            .first()
        )
        if batch is not None and not waiting.exists():
            batch_close(batch=batch)


_REMAINING_REFRESH = """
WITH waiting AS (SELECT count(*) AS n FROM {item}
                 WHERE batch_id = %(batch)s AND state = '{queued}'),
free AS (SELECT id FROM {batch} WHERE id = %(batch)s AND state = '{open}'
         FOR NO KEY UPDATE SKIP LOCKED),
refreshed AS (UPDATE {batch} AS b SET remaining = waiting.n FROM waiting, free
              WHERE b.id = free.id AND b.remaining <> waiting.n)
SELECT n, set_config('synchronous_commit', 'off', true) FROM waiting
"""


def _batch_remaining_refresh(batch_id: int) -> int:
    """Count the batch's waiting items and store it: one statement, in autocommit.

    Progress only: a batch row that is locked right now (a retrain refreshing it) is
    left to the next count rather than waited for, and the commit does not wait for the
    WAL flush (a crash loses at most a count the next one redoes).
    """
    if connection.vendor != "postgresql":
        left = Item.objects.filter(batch_id=batch_id, state=Item.State.QUEUED).count()
        Batch.objects.filter(pk=batch_id, state=Batch.State.OPEN).exclude(remaining=left).update(
            remaining=left
        )
        return left
    sql = _REMAINING_REFRESH.format(
        item=Item._meta.db_table,
        batch=Batch._meta.db_table,
        queued=Item.State.QUEUED.value,
        open=Batch.State.OPEN.value,
    )
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, {"batch": batch_id})
        return int(cursor.fetchone()[0])


_BATCH_LOCK = (
    "SELECT project_id FROM {batch} WHERE id = %(batch)s AND state = '{open}' FOR NO KEY UPDATE"
)


# Run with the batch row locked, so the check for waiting items sees every commit before
# the lock (a statement's snapshot is taken when it starts). As `batch_close`: the batch
# closes, a retrain is recorded as owed unless one is (`one_retrain_owed`; a conflict with
# a concurrent request's record does nothing), and the project moves to `training`. The
# columns the ORM fills from field defaults are written out here; a test compares the row
# with one the ORM creates.
_BATCH_CLOSE = """
WITH waiting AS (
    SELECT 1 FROM {item} WHERE batch_id = %(batch)s AND state = '{queued}' LIMIT 1
), closed AS (
    UPDATE {batch} SET state = '{closed}', closed_at = %(now)s, remaining = 0
    WHERE id = %(batch)s AND state = '{open}' AND NOT EXISTS (SELECT 1 FROM waiting)
    RETURNING number, project_id, closed_at
), owed AS (
    SELECT id FROM {version} WHERE project_id = %(project)s AND status = '{pending}'
), created AS (
    INSERT INTO {version} (project_id, version, status, trigger, requested_at, attempts,
                           train_size, pool_size, labels_total, annotation_seconds, timings,
                           stopping, model_file, error)
    SELECT closed.project_id,
           COALESCE((SELECT max(version) FROM {version} WHERE project_id = %(project)s), 0) + 1,
           '{pending}', 'batch ' || closed.number, closed.closed_at, 0, 0, 0, 0, 0, '{{}}', '[]',
           '', ''
    FROM closed WHERE NOT EXISTS (SELECT 1 FROM owed)
    ON CONFLICT DO NOTHING
    RETURNING id
), training AS (
    UPDATE {project} SET state = '{training}'
    WHERE id = %(project)s AND state = '{collecting}' AND EXISTS (SELECT 1 FROM created)
)
SELECT (SELECT number FROM closed), (SELECT id FROM created), (SELECT id FROM owed)
"""


def _batch_close_in_one_statement(batch_id: int) -> None:
    """`batch_progress`'s close on PostgreSQL: the batch row's lock, then one statement.

    Through the ORM a close was some fifteen statements in a transaction, the slowest
    annotations of all under load, and they held the batch row the worker's end of a
    retrain waits for. The next batch, if one is wanted, opens after the response.
    """
    tables = {
        "batch": Batch._meta.db_table,
        "item": Item._meta.db_table,
        "version": ModelVersion._meta.db_table,
        "project": Project._meta.db_table,
        "open": Batch.State.OPEN.value,
        "closed": Batch.State.CLOSED.value,
        "queued": Item.State.QUEUED.value,
        "pending": ModelVersion.Status.PENDING.value,
        "training": RETRAIN_OWED.to.value,
        "collecting": RETRAIN_OWED.source.value,
    }
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        execute_prepared(cursor, _BATCH_LOCK.format(**tables), {"batch": batch_id})
        row = cursor.fetchone()
        if row is None:
            return  # closed already
        params = {"batch": batch_id, "project": row[0], "now": timezone.now()}
        execute_prepared(cursor, _BATCH_CLOSE.format(**tables), params)
        number, created, owed = cursor.fetchone()
        if number is None:
            return  # an item came back to the batch meanwhile
        project = Project(pk=params["project"])  # the services below read only its id
        if created is not None:
            transaction.on_commit(lambda: retrain_send(project_id=project.pk, version_id=created))
        elif owed is None:  # a concurrent record that this snapshot can't see: look again
            retrain_request(project=Project.objects.get(pk=project.pk), trigger=f"batch {number}")
    batch_open_ahead(project=project)


def batch_close(*, batch: Batch) -> None:
    """Close a finished batch, ask for a retrain, and open the next batch at once.

    The next batch comes from the previous ranking so annotators never wait for
    the retrain; the retrain then refreshes its untouched items (PRODUCT.md §2.4).
    """
    batch.state = Batch.State.CLOSED
    batch.closed_at = timezone.now()
    batch.remaining = 0
    batch.save(update_fields=["state", "closed_at", "remaining"])
    retrain_request(project=batch.project, trigger=f"batch {batch.number}")
    batch_open(project=batch.project, wait=False)  # else whoever is opening one now will


def batch_open_ahead(*, project: Project, room: BatchRoom | None = None) -> None:
    """Open the next batch before the open ones run dry, unless someone else is at it.

    In a request, once its response has been sent: the caller's answer doesn't
    depend on it, and it was the slowest part of the requests that did it."""
    room = batch_room(project) if room is None else room
    if room.enough_free or not room.may_open_another:
        return
    after_response(lambda: batch_open(project=project, another=True, wait=False))


def batch_open(
    *,
    project: Project,
    quick: bool = True,
    another: bool = False,
    prepared: Any = None,
    wait: bool = True,
) -> Batch | None:
    """Open the project's next batch unless one is open (or nothing is left).

    `quick` (the request path) only reads stored scores; the worker passes False
    to run the full selector. `another` opens the next batch while others are still
    open, once their free items no longer cover those being worked on, while
    `BatchRoom.may_open_another`. `prepared` are
    full-selector picks a retrain made before taking any lock (`selection.Prepared`).
    With `wait=False` it gives up (None) when another transaction is changing the
    project's batches.
    """
    from projects.batches import selection

    with transaction.atomic(savepoint=False):  # as retrain_request: no savepoint round trips
        if not batches_lock(project, wait=wait):
            return None
        project = Project.objects.get(pk=project.pk)
        open_batch = Batch.objects.filter(project=project, state=Batch.State.OPEN).first()
        if project.state in (Project.State.STOPPED, Project.State.ARCHIVED, Project.State.SETUP):
            return open_batch
        if open_batch is not None:
            room = batch_room(project)
            if not another or room.enough_free or not room.may_open_another:
                return open_batch
        picks = selection.batch_picks(
            project=project, k=project.batch_size, quick=quick, prepared=prepared
        )
        if not picks.item_ids:
            return None
        number = (Batch.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
        batch = Batch.objects.create(
            project=project,
            number=number,
            kind=picks.kind,
            strategy=picks.strategy,
            selector=project.selector,
            model_version=picks.model_version,
        )
        if not batch_add_items(project=project, batch=batch, picks=picks, start_rank=0):
            batch.delete()  # every pick was taken meanwhile; the next call picks afresh
            return None
        return batch


# Advisory lock space for "changing a project's open batches" (key: the project id).
_BATCHES_LOCK = 72_101


def batches_lock(project: Project, *, wait: bool = True) -> bool:
    """Serialise changes to a project's open batches (opening, refreshing) until the
    transaction ends; False if `wait` is off and another transaction holds it.

    An advisory lock rather than the project row: batch closes and the worker's retrain
    bookkeeping update that row, and a queue of annotators opening the next batch behind
    them starved everyone of items (and kept batches from closing). SQLite's IMMEDIATE
    transactions serialise writers already.
    """
    if connection.vendor != "postgresql":
        return True
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [_BATCHES_LOCK, project.pk % 2**31])
        return wait or bool(cursor.fetchone()[0])


def batch_add_items(*, project: Project, batch: Batch, picks: Any, start_rank: int) -> int:
    """Put picked items in a batch with their required annotation counts, and log why.

    Picks were chosen without locks; only those still in the pool and not locked right
    now (by a retrain writing their scores, or another batch taking them) are taken,
    topped up from `picks.spares`. So a request opening a batch never waits on the
    worker, and no item lands in two batches. Returns how many items were added.
    """
    if connection.vendor == "postgresql":
        return _batch_add_in_one_statement(project, batch, picks, start_rank)
    ids = _still_free(picks)
    if not ids:
        return 0
    required = _required_annotations(project, len(ids), seed=batch.number * 7919 + start_rank)
    _items_queue(
        batch,
        [
            (item_id, rank, need, item_id in picks.holdout)
            for rank, (item_id, need) in enumerate(
                zip(ids, required, strict=True), start=start_rank
            )
        ],
    )
    SelectionLog.objects.bulk_create(
        SelectionLog(
            batch=batch,
            item_id=item_id,
            rank=rank,
            reason="holdout" if item_id in picks.holdout else picks.kind,
            model_version=picks.model_version.version if picks.model_version else None,
            strategy="random" if item_id in picks.holdout else picks.strategy,
            score=picks.scores.get(item_id),
            components=picks.components.get(item_id, {}),
        )
        for rank, item_id in enumerate(ids, start=start_rank)
    )
    Batch.objects.filter(pk=batch.pk).update(
        size=F("size") + len(ids), remaining=F("remaining") + len(ids)
    )
    return len(ids)


# batch_add_items on Postgres: the first `k` candidates (the picks, then the spares) still
# in the pool and not locked, queued in the batch with their ranks and required counts,
# logged, and counted into the batch: what took five statements and building twenty
# SelectionLog instances in the request that opens a batch.
_BATCH_ADD = """
WITH candidate AS (
    SELECT c.id, c.ord FROM unnest(%(candidates)s) WITH ORDINALITY AS c(id, ord)
), free AS (
    SELECT i.id FROM projects_item i
    WHERE i.id = ANY(%(candidates)s) AND i.state = 'pool'
    FOR UPDATE OF i SKIP LOCKED
), taken AS (
    SELECT c.id, c.ord, (row_number() OVER (ORDER BY c.ord))::int - 1 AS pos
    FROM candidate c JOIN free f ON f.id = c.id
    ORDER BY c.ord LIMIT %(k)s
), annotators AS (
    SELECT GREATEST(count(*), 1)::int AS n FROM projects_membership WHERE project_id = %(project)s
), queued AS (
    UPDATE projects_item i
    SET batch_id = %(batch)s, state = 'queued', assigned = 0,
        batch_rank = %(start)s + t.pos,
        required = CASE
            WHEN (%(extra)s)[t.pos + 1]
            THEN LEAST(GREATEST(%(agreement_overlap)s, LEAST(%(overlap)s, a.n)), a.n)
            ELSE LEAST(%(overlap)s, a.n)
        END,
        is_holdout = i.id = ANY(%(holdout)s)
    FROM taken t, annotators a
    WHERE i.id = t.id
    RETURNING i.id, i.batch_rank, i.is_holdout, t.ord
), logged AS (
    INSERT INTO projects_selectionlog
        (batch_id, item_id, rank, reason, model_version, strategy, score, components,
         withdrawn, created_at)
    SELECT %(batch)s, q.id, q.batch_rank,
           CASE WHEN q.is_holdout THEN 'holdout' ELSE %(kind)s END, %(version)s,
           CASE WHEN q.is_holdout THEN 'random' ELSE %(strategy)s END,
           (%(scores)s)[q.ord], COALESCE((%(components)s)[q.ord], '{}'::jsonb), false, %(now)s
    FROM queued q
    RETURNING 1
), sized AS (
    UPDATE projects_batch b
    SET size = b.size + (SELECT count(*) FROM queued),
        remaining = b.remaining + (SELECT count(*) FROM queued)
    WHERE b.id = %(batch)s
    RETURNING 1
)
SELECT (SELECT count(*) FROM queued), (SELECT count(*) FROM logged), (SELECT count(*) FROM sized)
"""


_BATCH_ADD_TYPES = (
    ("candidates", "bigint[]"), ("k", "integer"), ("project", "bigint"), ("batch", "bigint"),
    ("start", "integer"), ("extra", "boolean[]"), ("agreement_overlap", "integer"),
    ("overlap", "integer"), ("holdout", "bigint[]"), ("kind", "text"), ("version", "integer"),
    ("strategy", "text"), ("scores", "double precision[]"), ("components", "jsonb[]"),
    ("now", "timestamp with time zone"),
)  # fmt: skip


def _batch_add_in_one_statement(project: Project, batch: Batch, picks: Any, start_rank: int) -> int:
    """batch_add_items as one statement (see _BATCH_ADD); the same rows as the portable path."""
    wanted = list(picks.item_ids)
    candidates = wanted + [i for i in getattr(picks, "spares", []) if i not in set(wanted)]
    if not wanted:
        return 0
    extra = [False] * len(wanted)
    if project.agreement_fraction > 0:  # the same seeded draw as _required_annotations
        rng = np.random.default_rng(project.random_state + batch.number * 7919 + start_rank)
        extra = (rng.random(len(wanted)) < project.agreement_fraction).tolist()
    params: dict[str, Any] = {
        "candidates": candidates,
        "k": len(wanted),
        "project": project.pk,
        "batch": batch.pk,
        "start": start_rank,
        "extra": extra,
        "agreement_overlap": project.agreement_overlap,
        "overlap": project.overlap,
        "holdout": sorted(picks.holdout),
        "kind": picks.kind,
        "version": picks.model_version.version if picks.model_version else None,
        "strategy": picks.strategy,
        "scores": [picks.scores.get(i) for i in candidates],
        "components": [
            json.dumps(picks.components[i]) if i in picks.components else None for i in candidates
        ],
        "now": timezone.now(),
    }
    with connection.cursor() as cursor:
        execute_prepared(cursor, _BATCH_ADD, params, types=_BATCH_ADD_TYPES)
        queued, logged, sized = cursor.fetchone()
    assert queued == logged and (sized == 1 or queued == 0)
    return int(queued)


_QUEUE_ROW = "SELECT %s AS id, %s AS batch_rank, %s AS required, %s AS is_holdout"


_QUEUE_ITEMS = (
    "UPDATE {item} SET batch_id = %s, state = %s, assigned = 0, batch_rank = v.batch_rank,"
    " required = v.required, is_holdout = v.is_holdout FROM ({rows}) AS v WHERE {item}.id = v.id"
)


def _items_queue(batch: Batch, rows: list[tuple[int, int, int, bool]]) -> None:
    """Put items in the batch with their (id, rank, required, holdout), in one statement.

    An annotator's request opens the next batch; through the ORM this took an UPDATE
    plus bulk_update's CASE per field and row, most of that request's time.
    """
    sql = _QUEUE_ITEMS.format(
        item=Item._meta.db_table, rows=" UNION ALL ".join([_QUEUE_ROW] * len(rows))
    )
    params: list[Any] = [batch.pk, Item.State.QUEUED]
    for row in rows:
        params.extend(row)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _still_free(picks: Any) -> list[int]:
    """The picks in order, less those taken or locked meanwhile, filled from the spares."""
    wanted = list(picks.item_ids)
    spares = list(getattr(picks, "spares", []))
    free = set(
        Item.objects.select_for_update(skip_locked=True)
        .filter(pk__in=wanted + spares, state=Item.State.POOL)
        .values_list("pk", flat=True)
    )
    ids = [i for i in wanted if i in free]
    ids += [i for i in spares if i in free][: len(wanted) - len(ids)]
    return ids


def _required_annotations(project: Project, n: int, *, seed: int) -> list[int]:
    """`overlap` annotators per item; a seeded `agreement_fraction` gets `agreement_overlap`."""
    annotators = Membership.objects.filter(project=project).count()
    base = min(project.overlap, max(annotators, 1))
    extra = min(max(project.agreement_overlap, base), max(annotators, 1))
    need = np.full(n, base, dtype=int)
    if project.agreement_fraction > 0 and extra > base:
        rng = np.random.default_rng(project.random_state + seed)
        chosen = rng.random(n) < project.agreement_fraction
        need[chosen] = extra
    return need.tolist()
