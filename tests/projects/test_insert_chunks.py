"""An import's rows go in chunks (issue 17): the same items, in the same order, as one go."""

from __future__ import annotations

import pytest

from projects.ingest import bulk
from projects.ingest.parsers import ParsedRow
from projects.models import Item, Project

pytestmark = pytest.mark.django_db


def _inserted(monkeypatch, chunk: int) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bulk, "INSERT_CHUNK", chunk)
    project = Project.objects.create(name=f"chunks {chunk}", kind="text", labels=["a", "b"])
    rows = [
        ParsedRow(line=i, text=f"text {i}", label="a" if i % 4 == 0 else None, meta={"i": i})
        for i in range(10)
    ]
    images = [f"img/{i}.png" for i in range(10)]
    assert bulk.items_insert(project.pk, rows, images) == 10
    return list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("text", "label", "state", "label_source", "meta", "image")
    )


def test_chunked_insert_equals_one_go(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    whole = _inserted(monkeypatch, 1000)
    assert [r[0] for r in whole] == [f"text {i}" for i in range(10)]
    assert whole[4][1:4] == ("a", Item.State.LABELED, Item.LabelSource.SEED)
    assert whole[9][4:] == ({"i": 9}, "img/9.png")  # each row keeps its own image
    assert _inserted(monkeypatch, 3) == whole
