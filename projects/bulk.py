"""Bulk writes that the ORM would do row by row: COPY on Postgres, executemany on SQLite."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import OperationalError, connection, transaction
from django.db.models import Field
from django.utils import timezone

from projects.importers import ParsedRow
from projects.models import Item


def _item_columns() -> list[Field[Any, Any]]:
    return [f for f in Item._meta.concrete_fields if not f.primary_key]


def _defaults(now: str) -> dict[str, object]:
    """Every column's default, so raw inserts keep up with new model fields."""
    values: dict[str, object] = {}
    for field in _item_columns():
        if field.name == "created_at":
            values[field.attname] = now
        elif field.has_default():
            values[field.attname] = field.get_default()
        else:
            values[field.attname] = None if field.null else ""
    return values


def _row_values(
    defaults: dict[str, object], project_id: int, row: ParsedRow, image: str
) -> dict[str, object]:
    return {
        **defaults,
        "project_id": project_id,
        "text": row.text,
        "image": image,
        "meta": row.meta,
        "vector": row.vector,
        "state": Item.State.LABELED if row.label else Item.State.POOL,
        "label": row.label,
        "label_source": Item.LabelSource.SEED if row.label else "",
    }


def _cell(value: object, *, postgres: bool) -> object:
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool) and postgres:
        return "t" if value else "f"
    return value


def items_insert(project_id: int, rows: Sequence[ParsedRow], images: Sequence[str] = ()) -> int:
    """Insert parsed rows in one statement stream; the caller holds the transaction."""
    defaults = _defaults(timezone.now().isoformat())
    columns = list(defaults)
    postgres = connection.vendor == "postgresql"
    values = _values(defaults, project_id, rows, images, postgres=postgres)
    if postgres:
        _copy_postgres(columns, values)
    else:
        placeholders = ", ".join(["%s"] * len(columns))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO projects_item ({', '.join(columns)}) VALUES ({placeholders})",
                values,
            )
    return len(values)


def _values(
    defaults: dict[str, object],
    project_id: int,
    rows: Sequence[ParsedRow],
    images: Sequence[str],
    *,
    postgres: bool,
) -> list[list[Any]]:
    """Every row's cells: the defaults are converted once, then a row sets only its own.

    (Converting all ~20 cells of 100k rows one by one took most of a 100k-row import.)
    """
    null = "\\N" if postgres else None
    base = [null if v is None else _cell(v, postgres=postgres) for v in defaults.values()]
    at = {name: i for i, name in enumerate(defaults)}
    values = []
    for i, row in enumerate(rows):
        own = _row_values({}, project_id, row, images[i] if images else "")
        cells = base.copy()
        for name, value in own.items():
            cells[at[name]] = null if value is None else _cell(value, postgres=postgres)
        values.append(cells)
    return values


def _copy_postgres(columns: list[str], values: list[list[object]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(values)  # None is already the NULL marker
    buffer.seek(0)
    not_null = [f.attname for f in _item_columns() if not f.null]
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(  # type: ignore[attr-defined]
            f"COPY projects_item ({', '.join(columns)}) FROM STDIN "
            f"WITH (FORMAT csv, NULL '\\N', FORCE_NOT_NULL ({', '.join(not_null)}))",
            buffer,
        )


SCORE_CHUNK = 5000
_UPDATE_SCORES = (
    "UPDATE projects_item AS i SET score = s.score, prediction = s.pred, scored_version = %s "
    "FROM unnest(%s::bigint[], %s::float8[], %s::int[]) AS s(id, score, pred) WHERE i.id = s.id"
)
# The same, but rows a request holds right now are left alone instead of waited for.
_UPDATE_SCORES_UNLOCKED = (
    "WITH s AS (SELECT * FROM unnest(%s::bigint[], %s::float8[], %s::int[]) AS s(id, score, pred)),"
    " free AS (SELECT i.id FROM projects_item i JOIN s ON s.id = i.id"
    " FOR UPDATE OF i SKIP LOCKED) "
    "UPDATE projects_item AS i SET score = s.score, prediction = s.pred, scored_version = %s "
    "FROM s JOIN free ON free.id = s.id WHERE i.id = s.id"
)


def scores_write(
    ids: np.ndarray,
    scores: np.ndarray,
    predictions: np.ndarray,
    version: int,
    *,
    chunk_size: int = SCORE_CHUNK,
) -> None:
    """Store one model version's score and prediction for many items, in short chunks.

    One UPDATE of the whole pool held 100k row locks for seconds and deadlocked with
    requests that queue or label items (each waiting for a row the other held). So each
    chunk is its own short transaction that waits at most 100 ms for a row lock; if a
    request holds one longer, the chunk is redone skipping the rows held. The writer
    never waits long, so the deadlock detector never has to pick a request to kill. A
    skipped row keeps its old score and `scored_version`, so the selector does not
    mistake it for this version's. Rows that requests lock with SKIP LOCKED (items
    being handed out, the top of the ranking) want a smaller `chunk_size`: a request
    that finds every row it could take locked by this write comes away with nothing.
    """
    order = np.argsort(ids)
    ids_list = ids[order].astype(np.int64).tolist()
    score_list = scores[order].astype(np.float64).tolist()
    pred_list = predictions[order].astype(np.int64).tolist()
    for start in range(0, len(ids_list), chunk_size):
        chunk = slice(start, start + chunk_size)
        if connection.vendor == "postgresql":
            _scores_write_postgres(ids_list[chunk], score_list[chunk], pred_list[chunk], version)
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE projects_item SET score = %s, prediction = %s, scored_version = %s "
                "WHERE id = %s",
                [
                    (score, pred, version, item_id)
                    for score, pred, item_id in zip(
                        score_list[chunk], pred_list[chunk], ids_list[chunk], strict=True
                    )
                ],
            )


def _scores_write_postgres(
    ids: list[int], scores: list[float], preds: list[int], version: int
) -> None:
    _update_postgres(
        (_UPDATE_SCORES, [version, ids, scores, preds]),
        (_UPDATE_SCORES_UNLOCKED, [ids, scores, preds, version]),
    )


def _update_postgres(waiting: tuple[str, list[Any]], skipping: tuple[str, list[Any]]) -> None:
    """One chunk's UPDATE that waits at most 100 ms for a row lock, else skips held rows."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '100ms'")
            cursor.execute(waiting[0], waiting[1])
            cursor.execute("SET LOCAL lock_timeout = DEFAULT")
    except OperationalError:  # lock_timeout: a request holds one of these rows
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(skipping[0], skipping[1])


_CLEAR_SCORES = "UPDATE projects_item SET score = NULL WHERE id = ANY(%s::bigint[])"
_CLEAR_SCORES_UNLOCKED = (
    "UPDATE projects_item SET score = NULL WHERE id IN (SELECT id FROM projects_item"
    " WHERE id = ANY(%s::bigint[]) FOR UPDATE SKIP LOCKED)"
)


def scores_clear(ids: np.ndarray, *, chunk_size: int = SCORE_CHUNK) -> None:
    """Take rows out of the stored ranking (score NULL), in short chunks like `scores_write`.

    A row skipped as locked keeps its older `scored_version`, which the ranking filters out.
    """
    ids_list = np.sort(ids).astype(np.int64).tolist()
    for start in range(0, len(ids_list), chunk_size):
        chunk = ids_list[start : start + chunk_size]
        if connection.vendor == "postgresql":
            _update_postgres((_CLEAR_SCORES, [chunk]), (_CLEAR_SCORES_UNLOCKED, [chunk]))
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE projects_item SET score = NULL WHERE id = %s", [(i,) for i in chunk]
            )


def items_tidy() -> None:
    """Vacuum and analyze the item table after a pool-wide write (Postgres): an import.

    Left to autovacuum (off on some servers, behind on busy ones), the statistics of
    a fresh 100k-row import made the ranking and hand-out queries of annotators'
    requests scan instead of seek.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if connection.in_atomic_block:  # VACUUM cannot run in a transaction
            cursor.execute(f"ANALYZE {Item._meta.db_table}")
        else:
            cursor.execute(f"VACUUM (ANALYZE) {Item._meta.db_table}")


# Dead rows, as a share of live ones, past which a rescore vacuums the item table:
# autovacuum's default threshold, for servers where it is off or falls behind.
TIDY_DEAD_SHARE = 0.2


def items_tidy_after_rescore() -> None:
    """Fresh statistics of the ranking columns; a vacuum only once dead rows pile up.

    A rescore writes only the top of its ranking (a few thousand rows), so vacuuming the
    whole table each time (0.3-0.6 s) is not needed. But the ranking query's filter
    `scored_version >= newest` is estimated from these statistics: stale, the planner
    expected no row of the new version and sorted the whole pool instead of reading the
    top of the ranking index (10-17 ms instead of 0.1-0.3 ms per pick at 100k items).
    """
    if connection.vendor != "postgresql":
        return
    table = Item._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE relid = %s::regclass",
            [table],
        )
        live, dead = cursor.fetchone() or (0, 0)
        if dead > TIDY_DEAD_SHARE * live + 50 and not connection.in_atomic_block:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        else:
            cursor.execute(f"ANALYZE {table} (score, scored_version)")
