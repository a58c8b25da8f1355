"""A dashboard polls the project's counts every 2 s: a large pool's count is reused for a
while (it scans every item), a small one's never is."""

from __future__ import annotations

import pytest

from projects import selectors
from projects.models import Item, Project

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _nothing_kept() -> None:
    selectors._COUNTED.clear()


def _project(n: int) -> Project:
    project = Project.objects.create(name="counted", kind="text", labels=["a", "b"])
    Item.objects.bulk_create(Item(project=project, text=f"t{i}") for i in range(n))
    return project


def _clock(monkeypatch, start: float) -> list[float]:  # type: ignore[no-untyped-def]
    """A monotonic clock the test moves: each reading advances it by `step[1]`."""
    now = [start, 0.0]

    def monotonic() -> float:
        now[0] += now[1]
        return now[0]

    monkeypatch.setattr(selectors.time, "monotonic", monotonic)
    return now


def test_a_small_pools_counts_are_those_of_the_moment(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    project = _project(5)
    clock = _clock(monkeypatch, 100.0)
    clock[1] = 1.0  # every count "takes" a second: slow, but the pool is small
    assert selectors.project_counts(project)["items"] == 5
    Item.objects.create(project=project, text="new")
    assert selectors.project_counts(project)["items"] == 6
    assert not selectors._COUNTED


def test_a_large_pools_slow_count_is_reused_for_twenty_times_its_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(selectors, "LARGE_POOL", 5)
    project = _project(5)
    clock = _clock(monkeypatch, 100.0)
    clock[1] = 0.1  # the count takes 0.1 s: reused until 2 s after it started
    assert selectors.project_counts(project)["items"] == 5
    Item.objects.create(project=project, text="new")
    clock[1] = 0.0
    clock[0] = 101.9
    counts = selectors.project_counts(project)
    assert counts["items"] == 5  # still the kept count
    counts["items"] = -1  # a caller's change does not reach the kept one
    clock[0] = 102.2
    assert selectors.project_counts(project)["items"] == 6  # counted again
    assert not selectors._COUNTED  # that count was quick: nothing kept
