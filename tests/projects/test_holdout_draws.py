"""Holdout items are drawn at random from the pool by index probes (PRODUCT.md §7)."""

from __future__ import annotations

import numpy as np
import pytest

from projects import services
from projects.batches.selection import random_pool_items
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Item, Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(users) -> Project:  # type: ignore[no-untyped-def]
    project = services.project_create(
        user=users["lead"], name="Draws", kind="text", labels=["a", "b"]
    )
    rows = [ParsedRow(line=i, text=f"text {i}", label=None) for i in range(200)]
    ingest.items_import(project=project, rows=rows)
    return project


def test_draws_are_distinct_pool_items_outside_the_excluded(project: Project) -> None:
    ids = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    excluded = set(ids[::2])
    Item.objects.filter(pk__in=ids[1:20:2]).update(is_holdout=True)
    Item.objects.filter(pk__in=ids[21:40:2]).update(state=Item.State.LABELED)

    drawn = random_pool_items(project, 30, np.random.default_rng(0), exclude=excluded)

    assert len(drawn) == len(set(drawn)) == 30
    assert not set(drawn) & excluded
    rows = Item.objects.filter(pk__in=drawn)
    assert set(rows.values_list("state", flat=True)) == {Item.State.POOL}
    assert not rows.filter(is_holdout=True).exists()


def test_draws_wrap_around_when_only_the_first_items_are_left(project: Project) -> None:
    ids = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    Item.objects.filter(pk__in=ids[5:]).update(state=Item.State.LABELED)

    drawn = random_pool_items(project, 5, np.random.default_rng(1), exclude=set())

    assert sorted(drawn) == ids[:5]


def test_the_same_seed_draws_the_same_items(project: Project) -> None:
    first = random_pool_items(project, 8, np.random.default_rng(7), exclude=set())
    again = random_pool_items(project, 8, np.random.default_rng(7), exclude=set())
    assert first == again
