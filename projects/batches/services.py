"""Batches: opening, filling, progress and closing (PRODUCT.md §2.3).

A batch opens from the latest ranking (or for coverage), its items are queued with
the number of annotations each needs, and it closes once none waits; the close
records the owed retrain.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.db.models import Max

from projects.batches import adding, closing, selection
from projects.batches.room import BatchRoom, batch_room
from projects.models import Batch, Project
from winnow.after_response import after_response


def batch_item_completed(*, batch_id: int) -> None:
    """An item of a batch got all its annotations (or left it): check progress after commit.

    The check runs once the caller's transaction has committed, so annotations never
    queue on the batch row while they hold their own locks; every completer re-counts
    committed items, and the batch row lock is taken only when a batch looks finished.
    """
    transaction.on_commit(lambda: batch_progress(batch_id=batch_id))


def batch_progress(*, batch_id: int) -> None:
    """Refresh a batch's `remaining`; once no item waits, close it and open the next.

    The next batch opens after the response, if the open ones run short (`batch_open_ahead`):
    from the previous ranking, so annotators never wait for the retrain the close owes,
    which then refreshes its untouched items (PRODUCT.md §2.4).
    """
    if closing.remaining_refresh(batch_id=batch_id):
        return
    closed = closing.batch_close_rows(batch_id=batch_id)
    if closed is not None:
        # The services below read only the project's id.
        batch_open_ahead(project=Project(pk=closed.project_id))


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
    return adding.items_add(project=project, batch=batch, picks=picks, start_rank=start_rank)
