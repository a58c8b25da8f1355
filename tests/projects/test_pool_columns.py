"""The pool's columns by binary COPY equal the ORM's, state by state and label by label."""

from __future__ import annotations

import numpy as np
import pytest

from projects.models import Item, Project
from projects.pool import columns, snapshot

pytestmark = pytest.mark.django_db


@pytest.mark.postgres
def test_copied_columns_equal_the_orm_columns() -> None:
    project = Project.objects.create(name="p", kind="text", labels=["a", "b", 'ü "q"'])
    other = Project.objects.create(name="o", kind="text", labels=["a"])
    states = list(Item.State.values)
    labels = [None, "a", "b", 'ü "q"', "gone"]  # "gone": no longer one of the labels
    Item.objects.bulk_create(
        Item(
            project=project,
            text=f"t{i}",
            state=states[i % len(states)],
            label=labels[i % len(labels)],
            is_holdout=i % 3 == 0,
        )
        for i in range(70)
    )
    Item.objects.create(project=other, text="x", label="a")

    ids, state, label, holdout = columns.item_columns(project.pk, project.labels)
    rows = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "state", "label", "is_holdout")
    )
    assert ids.dtype == np.int64 and ids.tolist() == [r[0] for r in rows]
    assert state.tolist() == [r[1] for r in rows]
    codes = snapshot.label_codes(project, np.array([r[2] for r in rows], dtype=object))
    assert label.tolist() == codes.tolist() and {-1, 0, 1, 2} == set(label.tolist())
    assert holdout.tolist() == [r[3] for r in rows]

    empty = Project.objects.create(name="e", kind="text", labels=["a"])
    assert all(len(col) == 0 for col in columns.item_columns(empty.pk, empty.labels))
