"""Scores on item rows: the top of each ranking, written in small transactions."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import OperationalError, connection, transaction

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
