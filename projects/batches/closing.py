"""A batch's progress: its `remaining` count, and its close once no item waits.

The close leaves these rows: the batch closed, one retrain owed, the project training.

Two executors of one rule (STYLE.md, "One rule, one home", the shared-rule choice):
PostgreSQL takes the batch row's lock and then runs one statement with data-modifying
CTEs; elsewhere the ORM does the same under the same lock. SQLite has no data-modifying
CTEs and no row locks, and the close is on the annotation path that was slowest under
load, so a portable statement sequence would cost every PostgreSQL close. What both
share is written once here: the close condition (open, and no item waiting, checked
under the batch row's lock; `WAITING` and `waiting_sql`), what the close does to the
items left (`RELEASED`), the owed retrain's trigger (`close_trigger`) and its row's
defaults (`ModelVersion`'s field defaults, `_owed_defaults`; `retrain_request` writes
the ORM's). `tests/projects/test_batch_executors.py` drives random scenarios through
both executors on one PostgreSQL database and asserts they leave the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from projects.models import Batch, Item, ModelVersion, Project
from projects.state import RETRAIN_OWED
from projects.training.services import retrain_request, retrain_send
from winnow.db import execute_prepared


@dataclass(frozen=True)
class Closed:
    """A batch that this call closed."""

    project_id: int
    number: int


def close_trigger(number: int) -> str:
    return f"batch {number}"


# An item holds its batch open while it is queued, unless someone gave it back (a skip)
# and nobody holds a lease on it now (`assigned` counts live leases plus annotations).
# So one annotator's skip never keeps a batch, and the retrain it owes, waiting; other
# annotators may still claim the item while the batch is open, and the close returns
# what is left of it to the pool, where a later batch may pick it for someone else.
WAITING = Q(state=Item.State.QUEUED) & (Q(skips=0) | Q(assigned__gt=F("annotation_count")))


def waiting_sql(item: str) -> str:
    """`WAITING` as a WHERE clause over alias `item`."""
    return (
        f"{item}.state = '{Item.State.QUEUED.value}'"
        f" AND ({item}.skips = 0 OR {item}.assigned > {item}.annotation_count)"
    )


# What the close does to the items left in the batch (skipped ones, `WAITING` false):
# back to the pool, as if never picked. Their annotations, if any, stay.
RELEASED = {"state": Item.State.POOL.value, "batch": None, "batch_rank": None,
            "required": 0, "assigned": 0}  # fmt: skip


_REMAINING_REFRESH = """
WITH waiting AS (SELECT count(*) AS n FROM {item} i
                 WHERE i.batch_id = %(batch)s AND {waiting}),
free AS (SELECT id FROM {batch} WHERE id = %(batch)s AND state = '{open}'
         FOR NO KEY UPDATE SKIP LOCKED),
refreshed AS (UPDATE {batch} AS b SET remaining = waiting.n FROM waiting, free
              WHERE b.id = free.id AND b.remaining <> waiting.n)
SELECT n, set_config('synchronous_commit', 'off', true) FROM waiting
"""


def remaining_refresh(*, batch_id: int) -> int:
    """Count the batch's waiting items and store it in the open batch's `remaining`.

    Progress only. On PostgreSQL one statement in autocommit: a batch row that is locked
    right now (a retrain refreshing it) is left to the next count rather than waited for,
    and the commit does not wait for the WAL flush (a crash loses at most a count the next
    one redoes). SQLite has neither data-modifying CTEs nor row locks: there the ORM counts
    and stores. Every completed item runs this, so the PostgreSQL statement stays; the
    executors are compared in `tests/projects/test_batch_executors.py`.
    """
    if connection.vendor != "postgresql":
        return remaining_refresh_through_orm(batch_id)
    return remaining_refresh_in_one_statement(batch_id)


def remaining_refresh_through_orm(batch_id: int) -> int:
    left = Item.objects.filter(WAITING, batch_id=batch_id).count()
    open_batch = Batch.objects.filter(pk=batch_id, state=Batch.State.OPEN)
    open_batch.exclude(remaining=left).update(remaining=left)
    return left


def remaining_refresh_in_one_statement(batch_id: int) -> int:
    sql = _REMAINING_REFRESH.format(
        item=Item._meta.db_table,
        batch=Batch._meta.db_table,
        waiting=waiting_sql("i"),
        open=Batch.State.OPEN.value,
    )
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, {"batch": batch_id})
        return int(cursor.fetchone()[0])


def batch_close_rows(*, batch_id: int) -> Closed | None:
    """Close the batch if it is open and no item waits (`WAITING`); record the owed retrain.

    Items left in it (given back, held by nobody) return to the pool (`RELEASED`).

    None if it was closed already or an item waits. The caller decides what opens next.
    """
    if connection.vendor == "postgresql":
        return close_in_one_statement(batch_id)
    return close_through_orm(batch_id)


def close_through_orm(batch_id: int) -> Closed | None:
    """The close through the ORM: the batch row's lock, the check, the rows."""
    with transaction.atomic():
        batch = (
            # Only the batch row (`of`): the join to the project would lock its row in
            # the same statement, in plan order, and deadlocked with a retrain's finish.
            Batch.objects.select_for_update(no_key=True, of=("self",))
            .select_related("project")
            .filter(pk=batch_id, state=Batch.State.OPEN)
            .first()
        )
        if batch is None or Item.objects.filter(WAITING, batch_id=batch_id).exists():
            return None
        left = Item.objects.filter(batch_id=batch_id, state=Item.State.QUEUED)
        left.update(**RELEASED)
        batch.state = Batch.State.CLOSED
        batch.closed_at = timezone.now()
        batch.remaining = 0
        batch.save(update_fields=["state", "closed_at", "remaining"])
        retrain_request(project=batch.project, trigger=close_trigger(batch.number))
        return Closed(project_id=batch.project_id, number=batch.number)


_BATCH_LOCK = (
    "SELECT project_id, number FROM {batch} WHERE id = %(batch)s AND state = '{open}'"
    " FOR NO KEY UPDATE"
)


# Run with the batch row locked, so the check for waiting items sees every commit before
# the lock (a statement's snapshot is taken when it starts). The batch closes, a retrain
# is recorded as owed unless one is (`one_retrain_owed`; a conflict with a concurrent
# request's record does nothing), and the project moves to `training`. `{defaults}` are
# the other columns, from the model's field defaults (`_owed_defaults`).
_BATCH_CLOSE = """
WITH waiting AS (
    SELECT 1 FROM {item} i WHERE i.batch_id = %(batch)s AND {waiting} LIMIT 1
), closed AS (
    UPDATE {batch} SET state = '{closed}', closed_at = %(now)s, remaining = 0
    WHERE id = %(batch)s AND state = '{open}' AND NOT EXISTS (SELECT 1 FROM waiting)
    RETURNING number, project_id, closed_at
), released AS (
    UPDATE {item} SET {released}
    WHERE batch_id = %(batch)s AND state = '{queued}' AND EXISTS (SELECT 1 FROM closed)
), owed AS (
    SELECT id FROM {version} WHERE project_id = %(project)s AND status = '{pending}'
), created AS (
    INSERT INTO {version} (project_id, version, status, trigger, requested_at{columns})
    SELECT closed.project_id,
           COALESCE((SELECT max(version) FROM {version} WHERE project_id = %(project)s), 0) + 1,
           '{pending}', %(trigger)s, closed.closed_at{defaults}
    FROM closed WHERE NOT EXISTS (SELECT 1 FROM owed)
    ON CONFLICT DO NOTHING
    RETURNING id
), training AS (
    UPDATE {project} SET state = '{training}'
    WHERE id = %(project)s AND state = '{collecting}' AND EXISTS (SELECT 1 FROM created)
)
SELECT (SELECT number FROM closed), (SELECT id FROM created), (SELECT id FROM owed)
"""

# Set by the close itself; every other column takes the model field's default.
_SET_BY_THE_CLOSE = ("id", "project_id", "version", "status", "trigger", "requested_at")


def _owed_defaults() -> dict[str, tuple[str, Any]]:
    """Each other column of a new ModelVersion: (its database type, its default's value)."""
    return {
        f.column: (f.db_type(connection) or "", f.get_db_prep_save(f.get_default(), connection))
        for f in ModelVersion._meta.concrete_fields
        if f.attname not in _SET_BY_THE_CLOSE
    }


def _released_sql() -> str:
    """`RELEASED` as a SET list (its values are constants of the model: no parameters)."""
    columns = {f.name: f.column for f in Item._meta.concrete_fields}
    fields = {columns[name]: value for name, value in RELEASED.items()}
    return ", ".join(f"{column} = {_literal(value)}" for column, value in fields.items())


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    return f"'{value}'" if isinstance(value, str) else str(value)


@cache
def _close_sql(vendor: str) -> str:
    """The statement for this database (its column types name the defaults' casts)."""
    defaults = _owed_defaults()
    return _BATCH_CLOSE.format(
        batch=Batch._meta.db_table,
        item=Item._meta.db_table,
        version=ModelVersion._meta.db_table,
        project=Project._meta.db_table,
        open=Batch.State.OPEN.value,
        closed=Batch.State.CLOSED.value,
        queued=Item.State.QUEUED.value,
        waiting=waiting_sql("i"),
        released=_released_sql(),
        pending=ModelVersion.Status.PENDING.value,
        training=RETRAIN_OWED.to.value,
        collecting=RETRAIN_OWED.source.value,
        columns="".join(f", {column}" for column in defaults),
        defaults="".join(
            f", CAST(%(default_{column})s AS {kind})" for column, (kind, _) in defaults.items()
        ),
    )


def close_in_one_statement(batch_id: int) -> Closed | None:
    """The close on PostgreSQL: the batch row's lock, then one statement.

    The next batch, if one is wanted, opens after the response (the caller's part).
    """
    lock = _BATCH_LOCK.format(batch=Batch._meta.db_table, open=Batch.State.OPEN.value)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        execute_prepared(cursor, lock, {"batch": batch_id})
        row = cursor.fetchone()
        if row is None:
            return None  # closed already
        project_id, number = row
        params = {
            "batch": batch_id,
            "project": project_id,
            "now": timezone.now(),
            "trigger": close_trigger(number),
            **{f"default_{c}": value for c, (_, value) in _owed_defaults().items()},
        }
        execute_prepared(cursor, _close_sql(connection.vendor), params)
        closed, created, owed = cursor.fetchone()
        if closed is None:
            return None  # an item came back to the batch meanwhile
        if created is not None:
            transaction.on_commit(lambda: retrain_send(project_id=project_id, version_id=created))
        elif owed is None:  # a concurrent record that this snapshot can't see: look again
            project = Project.objects.get(pk=project_id)
            retrain_request(project=project, trigger=close_trigger(number))
    return Closed(project_id=project_id, number=number)
