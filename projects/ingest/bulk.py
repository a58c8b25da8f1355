"""Bulk item inserts that the ORM would do row by row.

One function builds the rows (`_values`: every column's model default, then each parsed
row's own cells) for every database; only the transport differs: COPY on PostgreSQL,
an executemany INSERT of the same rows elsewhere. COPY's text encoding (its NULL marker
and booleans) is the one thing the rows are told about the database.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from projects.ingest.parsers import ParsedRow
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
    """Insert parsed rows in one statement stream; the caller holds the transaction.

    COPY and the INSERT carry the same rows: a transport difference, not a second rule.
    """
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
    """Every row's cells: the defaults are converted once, then a row sets only its own
    (converting every cell of every row one by one would dominate a large import)."""
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
