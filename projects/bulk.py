"""Bulk writes that the ORM would do row by row: COPY on Postgres, executemany on SQLite."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

import numpy as np
from django.db import connection
from django.utils import timezone

from projects.importers import ParsedRow
from projects.models import Item

_COLUMNS = (
    "project_id", "text", "image", "meta", "vector", "state", "label", "label_source",
    "is_holdout", "from_stream", "required", "assigned", "annotation_count", "created_at",
)


def _row_values(project_id: int, row: ParsedRow, image: str, now: str) -> tuple[object, ...]:
    state = Item.State.LABELED if row.label else Item.State.POOL
    return (
        project_id, row.text, image, json.dumps(row.meta),
        None if row.vector is None else json.dumps(row.vector),
        state, row.label, Item.LabelSource.SEED if row.label else "",
        False, False, 0, 0, 0, now,
    )


def items_insert(project_id: int, rows: Sequence[ParsedRow], images: Sequence[str] = ()) -> int:
    """Insert parsed rows in one statement stream; the caller holds the transaction."""
    now = timezone.now().isoformat()
    values = [
        _row_values(project_id, row, images[i] if images else "", now) for i, row in enumerate(rows)
    ]
    if connection.vendor == "postgresql":
        _copy_postgres(values)
    else:
        placeholders = ", ".join(["%s"] * len(_COLUMNS))
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO projects_item ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                values,
            )
    return len(values)


def _copy_postgres(values: list[tuple[object, ...]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in values:
        writer.writerow(["\\N" if v is None else v for v in row])
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(  # type: ignore[attr-defined]
            f"COPY projects_item ({', '.join(_COLUMNS)}) FROM STDIN "
            "WITH (FORMAT csv, NULL '\\N', "
            "FORCE_NOT_NULL (text, image, meta, state, label_source))",
            buffer,
        )


def scores_write(ids: np.ndarray, scores: np.ndarray, predictions: np.ndarray, version: int) -> None:
    """Store one model version's score and prediction for many items at once."""
    if len(ids) == 0:
        return
    ids_list = ids.astype(np.int64).tolist()
    score_list = scores.astype(np.float64).tolist()
    pred_list = predictions.astype(np.int64).tolist()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "UPDATE projects_item AS i SET score = s.score, prediction = s.pred, "
                "scored_version = %s FROM unnest(%s::bigint[], %s::float8[], %s::int[]) "
                "AS s(id, score, pred) WHERE i.id = s.id",
                [version, ids_list, score_list, pred_list],
            )
        else:
            cursor.executemany(
                "UPDATE projects_item SET score = %s, prediction = %s, scored_version = %s "
                "WHERE id = %s",
                list(zip(score_list, pred_list, [version] * len(ids_list), ids_list, strict=True)),
            )
