"""The project state machine: the transition table, and moves as conditional updates."""

from __future__ import annotations

import pytest

from projects.models import Project
from projects.state import (
    ALLOWED,
    STOP,
    TransitionRefused,
    project_move,
    project_transition,
    transition_allowed,
)

S = Project.State

EXPECTED = {
    (S.SETUP, S.COLLECTING),
    (S.SETUP, S.ARCHIVED),
    (S.COLLECTING, S.TRAINING),
    (S.COLLECTING, S.STOPPED),
    (S.COLLECTING, S.ARCHIVED),
    (S.TRAINING, S.COLLECTING),
    (S.TRAINING, S.STOPPED),
    (S.TRAINING, S.ARCHIVED),
    (S.STOPPED, S.COLLECTING),
    (S.STOPPED, S.ARCHIVED),
    (S.ARCHIVED, S.STOPPED),  # unarchive: back stopped; resuming is the lead's next step
}


def test_transition_table_allows_exactly_the_moves_of_the_loop() -> None:
    allowed = {(a, b) for a, nexts in ALLOWED.items() for b in nexts}
    assert allowed == EXPECTED
    for a in S:
        for b in S:
            assert transition_allowed(a, b) == ((a, b) in EXPECTED), (a, b)


@pytest.mark.parametrize(
    ("from_", "to"),
    [
        (S.SETUP, S.TRAINING),
        (S.SETUP, S.STOPPED),
        (S.STOPPED, S.TRAINING),
        (S.ARCHIVED, S.COLLECTING),
        (S.COLLECTING, S.SETUP),
    ],
)
def test_a_move_outside_the_table_is_refused(db: None, from_: str, to: str) -> None:
    project = Project.objects.create(name="p", kind="text", labels=["a"], state=from_)
    with pytest.raises(TransitionRefused):
        project_transition(project_id=project.pk, to=to, from_=from_)
    project.refresh_from_db()
    assert project.state == from_


def test_a_move_happens_only_from_the_state_asked_for(db: None) -> None:
    project = Project.objects.create(name="p", kind="text", labels=["a"], state=S.COLLECTING)
    assert not project_transition(project_id=project.pk, to=S.COLLECTING, from_=S.STOPPED)
    assert project_transition(project_id=project.pk, to=S.TRAINING, from_=S.COLLECTING)
    # a second writer with the same idea finds the state moved on, and does nothing
    assert not project_transition(project_id=project.pk, to=S.TRAINING, from_=S.COLLECTING)
    project.refresh_from_db()
    assert project.state == S.TRAINING


def test_stopping_records_the_reason_and_resuming_clears_it(db: None) -> None:
    project = Project.objects.create(name="p", kind="text", labels=["a"], state=S.TRAINING)
    assert project_move(project, to=S.STOPPED, reason="budget: 500 labels")
    assert (project.state, project.stop_reason) == (S.STOPPED, "budget: 500 labels")
    assert project_move(project, to=S.COLLECTING, from_=S.STOPPED)
    project.refresh_from_db()
    assert (project.state, project.stop_reason) == (S.COLLECTING, "")


def test_an_archived_project_is_not_stopped_by_a_rule(db: None) -> None:
    project = Project.objects.create(name="p", kind="text", labels=["a"], state=S.ARCHIVED)
    # The rule path stops from STOP's sources (training.run); only the lead unarchives.
    assert not project_move(project, to=S.STOPPED, from_=STOP.sources, reason="plateau")
    project.refresh_from_db()
    assert project.state == S.ARCHIVED
