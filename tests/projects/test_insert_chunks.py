"""An import's rows go in chunks (issue 17): the same items, in the same order, as one go."""

from __future__ import annotations

import time

import pytest
from django.db import DataError, transaction

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


@pytest.mark.postgres
def test_a_chunk_is_parsed_while_the_last_one_is_copied(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The COPY of one chunk overlaps the parsing of the next (on two cores, the server's
    indexes and our rows), and the rows still arrive whole and in order."""
    monkeypatch.setattr(bulk, "INSERT_CHUNK", 3)
    project = Project.objects.create(name="pipelined", kind="text", labels=["a"])
    events: list[str] = []
    copy = bulk._Pipelined._copy

    def slow_copy(self, buffer):  # type: ignore[no-untyped-def]
        events.append("copy starts")
        time.sleep(0.2)
        copy(self, buffer)
        events.append("copy ends")

    def rows():  # type: ignore[no-untyped-def]
        for i in range(9):
            events.append(f"row {i}")
            yield ParsedRow(line=i, text=f"text {i}")

    monkeypatch.setattr(bulk._Pipelined, "_copy", slow_copy)
    assert bulk.items_insert(project.pk, rows()) == 9
    first = events.index("copy starts")
    assert "row 3" in events[first : events.index("copy ends")]  # the next chunk meanwhile
    assert events[-1] == "copy ends"  # the last COPY is waited for
    texts = Item.objects.filter(project=project).order_by("id").values_list("text", flat=True)
    assert list(texts) == [f"text {i}" for i in range(9)]


@pytest.mark.postgres
def test_a_copy_that_fails_in_the_helper_thread_fails_the_import(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bulk, "INSERT_CHUNK", 3)
    project = Project.objects.create(name="copy fails", kind="text", labels=["a"])
    rows = [ParsedRow(line=i, text=f"text {i}") for i in range(9)]
    rows[1].label = "x" * 300  # longer than the column: the server refuses the chunk
    with pytest.raises(DataError, match="too long"), transaction.atomic():
        bulk.items_insert(project.pk, rows)
    assert not Item.objects.filter(project=project).exists()


def test_every_cell_arrives_as_it_was_given(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Texts that look like COPY's syntax (quotes, separators, line breaks, its NULL
    marker, an empty string) and every kind of own cell arrive unchanged; the columns a
    row does not set take the model's defaults."""
    monkeypatch.setattr(bulk, "INSERT_CHUNK", 2)
    project = Project.objects.create(name="cells", kind="text", labels=["a", 'b,"c"', "\\N"])
    texts = ['say "hi", then go', "two\nlines\r\nand a \\ backslash", "\\N", "\\.", "ünï ✓"]
    rows = [ParsedRow(line=i, text=t, meta={"i": i, "q": 'x"y'}) for i, t in enumerate(texts)]
    rows[1].label = 'b,"c"'
    rows[2].label = "\\N"  # a label named as the NULL marker is a label, not NULL
    rows[3].gold_label = "a"
    rows[4].vector = [0.5, -1.0]
    assert bulk.items_insert(project.pk, rows, ["", 'im,g/"1".png', "", "", ""]) == 5
    got = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values("text", "label", "gold_label", "state", "label_source", "meta", "image", "vector")
    )
    assert [g["text"] for g in got] == texts
    assert [g["label"] for g in got] == [None, 'b,"c"', "\\N", None, None]
    assert [g["state"] for g in got] == ["pool", "labeled", "labeled", "gold", "pool"]
    assert [g["label_source"] for g in got] == ["", "seed", "seed", "", ""]
    assert got[3]["gold_label"] == "a" and got[0]["gold_label"] is None
    assert [g["meta"] for g in got] == [{"i": i, "q": 'x"y'} for i in range(5)]
    assert got[1]["image"] == 'im,g/"1".png' and got[0]["image"] == ""
    assert got[4]["vector"] == [0.5, -1.0] and got[0]["vector"] is None
    item = Item.objects.filter(project=project).first()
    assert item is not None and item.created_at is not None
    assert (item.required, item.from_stream, item.is_holdout, item.score) == (0, False, False, None)


@pytest.mark.django_db(False)
def test_an_imports_usual_rows_are_the_lines_their_cells_give() -> None:
    """Rows with only a text and a label are quoted into templates: the lines are those
    `_row_cells` and `_copy_cell` give, whatever the text, label or other fields."""
    layout = bulk._Layout(bulk.IMPORTED)
    lines = bulk._ImportLines(layout, 7)
    texts = ['say "hi", then', "two\nlines", "\\N", "", "ünï ✓ \x01text\x01", '"']
    rows = [ParsedRow(line=i, text=t) for i, t in enumerate(texts)]
    rows += [ParsedRow(line=9, text=t, label=label) for t in texts for label in ("", 'b,"c"')]
    rows += [
        ParsedRow(line=1, text="m", meta={"k": 1}),
        ParsedRow(line=2, text="v", vector=[0.5]),
        ParsedRow(line=3, text="g", gold_label="a"),
        ParsedRow(line=4, text="s", labels=["a"]),
        ParsedRow(line=5, text="p", spans=[]),
        ParsedRow(line=6, text="e", label="a", meta={"k": 2}),
    ]
    cells = "".join(layout.copy_line(bulk._row_cells(7, row, "")) for row in rows)
    assert lines.text(rows, ()) == cells
    images = [f"i/{i}.png" for i in range(len(rows))]
    pairs = zip(rows, images, strict=True)
    by_cell = "".join(layout.copy_line(bulk._row_cells(7, row, image)) for row, image in pairs)
    assert lines.text(rows, images) == by_cell


@pytest.mark.postgres
def test_an_import_adds_no_entry_to_the_batch_index_which_still_serves_batches() -> None:
    from django.db import connection

    from projects.models import Batch

    project = Project.objects.create(name="batch index", kind="text", labels=["a"])
    assert bulk.items_insert(project.pk, [ParsedRow(line=i, text=f"t {i}") for i in range(5)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'item_batch_rank'")
        (definition,) = cursor.fetchone()
        batch = Batch.objects.create(project=project, number=1)
        Item.objects.filter(project=project).update(batch=batch, batch_rank=1)
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        plan = Item.objects.filter(batch=batch).order_by("batch_rank").explain()
    assert "item_batch_rank" in plan, plan
    assert definition.endswith("WHERE (batch_id IS NOT NULL)"), definition
