"""Scores on item rows: the top of each ranking, written in small transactions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from django.db import OperationalError, connection, transaction

SCORE_CHUNK = 5000


# One statement on every database: a chunk's rows as a VALUES list joined to the items.
# `{free}` is where PostgreSQL's retry narrows the rows to those no request holds (SQLite
# has no row locks: its writer lock serialises the chunk, and it never retries).
_UPDATE_SCORES = (
    "WITH s(id, score, pred{answer}) AS (VALUES {rows}){free} "
    "UPDATE projects_item SET score = s.score, prediction = s.pred,{set_answer} "
    "scored_version = %s FROM s WHERE projects_item.id = s.id{only_free}"
)
# The model's whole answer (`predicted.py`), JSON text in the VALUES list.
ANSWER_COLUMNS = ("predicted_labels", "predicted_spans")
_CLEAR_SCORES = "UPDATE projects_item SET score = NULL WHERE id IN ({ids}){only_free}"
_FREE = (
    ", free AS (SELECT i.id FROM projects_item i JOIN s ON s.id = i.id FOR UPDATE OF i SKIP LOCKED)"
)
_ONLY_FREE_SCORES = " AND s.id IN (SELECT id FROM free)"
_ONLY_FREE_CLEAR = (
    " AND id IN (SELECT id FROM projects_item WHERE id IN ({ids}) FOR UPDATE SKIP LOCKED)"
)


def _scores_statement(n: int, skip_locked: bool, column: str = "") -> str:
    assert not column or column in ANSWER_COLUMNS
    # PostgreSQL types the VALUES column as text; SQLite stores JSON as text anyway.
    json_value = "CAST(s.answer AS jsonb)" if connection.vendor == "postgresql" else "s.answer"
    return _UPDATE_SCORES.format(
        rows=", ".join([f"(%s, %s, %s{', %s' if column else ''})"] * n),
        answer=", answer" if column else "",
        set_answer=f" {column} = {json_value}," if column else "",
        free=_FREE if skip_locked else "",
        only_free=_ONLY_FREE_SCORES if skip_locked else "",
    )


def _clear_statement(n: int, skip_locked: bool) -> str:
    ids = ", ".join(["%s"] * n)
    return _CLEAR_SCORES.format(
        ids=ids, only_free=_ONLY_FREE_CLEAR.format(ids=ids) if skip_locked else ""
    )


def scores_write(
    ids: np.ndarray,
    scores: np.ndarray,
    predictions: np.ndarray,
    version: int,
    *,
    chunk_size: int = SCORE_CHUNK,
    answer_column: str = "",
    answers: Sequence[str] = (),
) -> None:
    """Store one model version's score and prediction for many items, in short chunks;
    with `answer_column`, also its whole answer (`answers`: JSON text per item).

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
    columns: list[list[Any]] = [ids_list, score_list, pred_list]
    if answer_column:
        columns.append([answers[i] for i in order.tolist()])
    for start in range(0, len(ids_list), chunk_size):
        chunk = slice(start, start + chunk_size)
        rows = zip(*(values[chunk] for values in columns), strict=True)
        params = [value for row in rows for value in row] + [version]
        n = (len(params) - 1) // len(columns)
        statement = partial(_scores_statement, n, column=answer_column)
        _chunk_update(ids_list[chunk], statement, params, params)


def scores_clear(ids: np.ndarray, *, chunk_size: int = SCORE_CHUNK) -> None:
    """Take rows out of the stored ranking (score NULL), in short chunks like `scores_write`.

    A row skipped as locked keeps its older `scored_version`, which the ranking filters out.
    """
    ids_list = np.sort(ids).astype(np.int64).tolist()
    for start in range(0, len(ids_list), chunk_size):
        chunk = ids_list[start : start + chunk_size]
        # The skipping statement names the ids twice: in its filter and in its lock.
        _chunk_update(chunk, partial(_clear_statement, len(chunk)), chunk, chunk + chunk)


def _chunk_update(
    ids: list[int],
    statement: Callable[[bool], str],
    params: list[Any],
    skipping_params: list[Any],
) -> None:
    """One chunk's UPDATE of the items `ids`, in its own transaction.

    On PostgreSQL it waits at most 100 ms for a row lock, else it is redone skipping the
    rows held (`statement(True)`); SQLite has no row locks to wait for or skip.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement(False), params)
        return
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '100ms'")
            cursor.execute(statement(False), params)
            cursor.execute("SET LOCAL lock_timeout = DEFAULT")
    except OperationalError:  # lock_timeout: a request holds one of these rows
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement(True), skipping_params)
