"""The pool's columns: codes computed by one queryset, read alike by binary COPY on
PostgreSQL and by the cursor elsewhere, state by state and label by label."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from projects.models import Item, Project
from projects.pool import columns, snapshot

pytestmark = pytest.mark.django_db
STATES = list(Item.State.values)


def _items(project: Project, **fields: list[object]) -> None:
    Item.objects.bulk_create(
        Item(
            project=project,
            text=f"t{i}",
            state=STATES[i % len(STATES)],
            is_holdout=i % 3 == 0,
            **{name: values[i % len(values)] for name, values in fields.items()},
        )
        for i in range(70)
    )


def _cursor_columns(project: Project) -> tuple[np.ndarray, ...]:
    """What the cursor path reads of the same queryset, on any database."""
    table = np.array(list(columns.codes_query(project)), dtype=np.int64).reshape(-1, 4)
    return tuple(table.T)


def test_single_label_codes_are_positions_in_the_lists() -> None:
    project = Project.objects.create(name="p", kind="text", labels=["a", "b", 'ü "q"'])
    other = Project.objects.create(name="o", kind="text", labels=["a"])
    _items(project, label=[None, "a", "b", 'ü "q"', "gone"])  # "gone": no longer a label
    Item.objects.create(project=other, text="x", label="a")

    ids, state, label, holdout = columns.item_columns(project)
    rows = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "state", "label", "is_holdout")
    )
    assert ids.dtype == np.int64 and ids.tolist() == [r[0] for r in rows]
    assert state.dtype == np.int8 and state.tolist() == [STATES.index(r[1]) for r in rows]
    names = {name: i for i, name in enumerate(project.labels)}
    assert label.tolist() == [names.get(r[2], -1) for r in rows]
    assert {-1, 0, 1, 2} == set(label.tolist())
    assert holdout.dtype == bool and holdout.tolist() == [r[3] for r in rows]
    for got, want in zip((ids, state, label, holdout), _cursor_columns(project), strict=True):
        assert got.tolist() == want.tolist()  # both transports (the same on SQLite)

    snap = snapshot.pool_snapshot(project)
    assert snap.in_state("pool", "queued").tolist() == [r[1] in ("pool", "queued") for r in rows]

    empty = Project.objects.create(name="e", kind="text", labels=["a"])
    assert all(len(col) == 0 for col in columns.item_columns(empty))
    assert not len(snapshot.pool_snapshot(empty).ids)


def test_multilabel_and_span_codes_say_which_items_have_their_final_answer() -> None:
    sets = Project.objects.create(name="m", kind="text", task="multilabel", labels=["a", "b"])
    _items(sets, labels=[None, ["a"], [], ["b", "a", "gone"]])
    snap = snapshot.pool_snapshot(sets)
    chosen = dict(Item.objects.filter(project=sets).values_list("id", "labels"))
    assert snap.label.tolist() == [-1 if chosen[i] is None else 0 for i in snap.ids]
    assert snap.sets is not None
    for item, row in zip(snap.ids, snap.sets, strict=True):
        assert row.tolist() == [int(x in (chosen[item] or ())) for x in ("a", "b")]
    assert {(0, 0), (1, 0), (1, 1)} == {tuple(r) for r in snap.sets.tolist()}

    spans = Project.objects.create(name="s", kind="text", task="spans", labels=["PER"])
    _items(spans, spans=[None, [], [{"start": 0, "end": 1, "label": "PER"}]])
    ids, _, label, _ = columns.item_columns(spans)
    given = dict(Item.objects.filter(project=spans).values_list("id", "spans"))
    assert label.tolist() == [-1 if given[i] is None else 0 for i in ids]


@pytest.mark.postgres
def test_postgres_reads_the_codes_by_binary_copy(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Not the cursor: a million rows as Python tuples would cost seconds."""
    assert connection.vendor == "postgresql"
    project = Project.objects.create(name="p", kind="text", labels=["a"])
    _items(project, label=["a", None])
    copied: list[object] = []
    real = columns._copied
    monkeypatch.setattr(columns, "_copied", lambda q, row: copied.append(q) or real(q, row))
    ids, *_ = columns.item_columns(project)
    assert len(copied) == 1 and len(ids) == 70
    assert columns.item_ids(project).tolist() == ids.tolist() and len(copied) == 2


def test_item_ids_are_the_projects_own_in_id_order() -> None:
    project = Project.objects.create(name="p", kind="text", labels=["a"])
    other = Project.objects.create(name="o", kind="text", labels=["a"])
    for i in range(30):  # interleaved with another project's
        Item.objects.create(project=project if i % 3 else other, text=f"t{i}")
    ids = columns.item_ids(project)
    want = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    assert ids.dtype == np.int64 and ids.tolist() == want and len(want) == 20
    assert columns.item_ids(Project.objects.create(name="e", kind="text")).tolist() == []
