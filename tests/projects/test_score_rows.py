"""Score rows: one statement template writes them on every database (`training.scores`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.db import connection

from projects import services
from projects.ingest.bulk import items_insert
from projects.ingest.parsers import ParsedRow
from projects.models import Item
from projects.training import scores

pytestmark = pytest.mark.django_db


@pytest.fixture
def ids(users: dict[str, Any]) -> np.ndarray:
    project = services.project_create(user=users["lead"], name="Rows", kind="text", labels=["a"])
    items_insert(project.pk, [ParsedRow(line=i, text=f"t {i}", label=None) for i in range(7)])
    return np.array(
        list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    )


def stored(ids: np.ndarray) -> list[tuple[Any, ...]]:
    rows = Item.objects.filter(pk__in=ids.tolist()).order_by("id")
    return list(rows.values_list("id", "score", "prediction", "scored_version"))


def test_scores_are_written_in_chunks_and_cleared(ids: np.ndarray) -> None:
    values = np.linspace(0.1, 0.7, len(ids))
    scores.scores_write(ids[::-1], values[::-1], np.arange(len(ids))[::-1] % 2, 3, chunk_size=3)
    assert stored(ids) == [
        (int(i), pytest.approx(v), n % 2, 3)
        for n, (i, v) in enumerate(zip(ids, values, strict=True))
    ]
    scores.scores_clear(ids[:4], chunk_size=3)
    assert [row[1] for row in stored(ids)[:4]] == [None] * 4
    assert stored(ids)[4][1] == pytest.approx(values[4])


@pytest.mark.postgres
def test_the_statements_that_skip_locked_rows_write_the_same_rows(ids: np.ndarray) -> None:
    """The retry after a lock timeout; with no row held it writes every row."""
    chunk = ids.tolist()[:3]
    params = [v for i in chunk for v in (i, 0.5, 1)] + [4]
    with connection.cursor() as cursor:
        cursor.execute(scores._scores_statement(3, True), params)
        assert [row[1:] for row in stored(ids)[:3]] == [(0.5, 1, 4)] * 3
        cursor.execute(scores._clear_statement(3, True), chunk + chunk)
    assert [row[1] for row in stored(ids)[:3]] == [None] * 3
