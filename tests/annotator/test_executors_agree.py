"""The assignment rule's two executors agree (`annotator.assignment.rules`).

On PostgreSQL the common claim and the one-label submit are single statements
(`hotpath`); everywhere else, and whenever those match nothing, the ORM path in
`services` decides. Random scenarios (annotators, overlap 1..3, batch sizes, gold
items, expired leases, skips, repeated and edited submits) run once through each
executor on the same database, from the same starting state, and must hand out the
same items and leave the same rows behind.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from annotator.assignment import services
from annotator.models import Assignment
from annotator.quality.gold import gold_set
from projects.models import Annotation, Item, Project
from tests.annotator.conftest import LABELS, text_project
from winnow.errors import Conflict

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

ANNOTATORS = ("ann1", "ann2", "reviewer", "lead")

Op = tuple[str, int, int]  # (what, annotator index, label index or confidence)

ops = st.lists(
    st.tuples(
        st.sampled_from(["next", "next", "next", "label", "label", "label", "expire", "skip"]),
        st.integers(0, len(ANNOTATORS) - 1),
        st.integers(0, len(LABELS) - 1),
    ),
    min_size=5,
    max_size=50,
)

scenarios = st.fixed_dictionaries(
    {
        "annotators": st.integers(1, len(ANNOTATORS)),
        "overlap": st.integers(1, 3),
        "agreement_fraction": st.sampled_from([0.0, 0.5]),
        "batch_size": st.integers(2, 6),
        "items": st.integers(4, 14),
        "gold": st.integers(0, 3),
        "gold_fraction": st.sampled_from([0.0, 0.0, 0.4]),
        "ops": ops,
    }
)


class Rollback(Exception):
    """Leaves a block's transaction, undoing what the executor wrote."""


def _run(project_id: int, users: list[User], steps: list[Op], *, general: bool) -> dict[str, Any]:
    """The steps through one executor, and what they left; everything is rolled back."""
    outcome: dict[str, Any] = {}
    try:
        with transaction.atomic():
            outcome["steps"] = [_step(project_id, users, step, general=general) for step in steps]
            outcome["rows"] = _rows(project_id)
            raise Rollback
    except Rollback:
        pass
    return outcome


def _step(project_id: int, users: list[User], step: Op, *, general: bool) -> object:
    what, who, value = step
    user = users[who % len(users)]
    project = Project.objects.get(pk=project_id)
    try:
        if what == "next":
            result = services.assignment_next(project=project, user=user, general=general)
            return result.assignment.item_id if result.assignment else result.reason
        held = _last_held(project, user)
        if held is None:
            return None
        if what == "expire":
            return Assignment.objects.filter(item_id=held, annotator=user, state="active").update(
                expires_at=timezone.now() - timedelta(seconds=1)
            )
        if what == "skip":
            return services.assignment_skip(project=project, user=user, item_id=held)
        annotation, created = services.annotation_submit(
            project=project,
            user=user,
            item_id=held,
            label=LABELS[value],
            confidence=1 + value,
            general=general,
        )
        return (annotation.item_id, annotation.label, created)
    except (Conflict, ValidationError, Http404) as exc:
        return type(exc).__name__


def _last_held(project: Project, user: User) -> int | None:
    """The item of the caller's latest lease, whatever became of it."""
    return (
        Assignment.objects.filter(project=project, annotator=user)
        .order_by("-created_at", "-pk")
        .values_list("item_id", flat=True)
        .first()
    )


def _rows(project_id: int) -> dict[str, list[tuple[Any, ...]]]:
    items = Item.objects.filter(project_id=project_id).order_by("pk")
    fields = (
        "pk", "state", "label", "label_source", "consensus_support", "batch__number",
        "batch_rank", "required", "assigned", "annotation_count",
    )  # fmt: skip
    return {
        "items": list(items.values_list(*fields)),
        "annotations": sorted(
            Annotation.objects.filter(project_id=project_id).values_list(
                "item_id", "annotator__username", "label", "confidence"
            )
        ),
        "assignments": sorted(
            Assignment.objects.filter(project_id=project_id).values_list(
                "item_id", "annotator__username", "state"
            )
        ),
        "batches": sorted(
            Item.objects.filter(project_id=project_id, batch__isnull=False)
            .values_list("batch__number", "batch__state", "batch__remaining")
            .distinct()
        ),
    }


def _project(api: dict[str, APIClient], scenario: dict[str, Any]) -> Project:
    project = text_project(
        api,
        {"ann1": "annotator", "ann2": "annotator", "reviewer": "reviewer"},
        n=scenario["items"],
        batch_size=scenario["batch_size"],
        overlap=scenario["overlap"],
        agreement_fraction=scenario["agreement_fraction"],
        agreement_overlap=min(3, scenario["overlap"] + 1),
    )
    Project.objects.filter(pk=project.pk).update(gold_fraction=scenario["gold_fraction"])
    gold = Item.objects.filter(project=project).order_by("-pk")[: scenario["gold"]]
    entries = [{"item": pk, "label": LABELS[pk % 3]} for pk in gold.values_list("pk", flat=True)]
    gold_set(project=project, entries=entries)
    return project


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios)
def test_one_statement_and_general_executors_agree(
    api: dict[str, APIClient], users: dict[str, User], scenario: dict[str, Any]
) -> None:
    try:
        with transaction.atomic():
            project = _project(api, scenario)
            cast = [users[name] for name in ANNOTATORS[: scenario["annotators"]]]
            fast = _run(project.pk, cast, scenario["ops"], general=False)
            general = _run(project.pk, cast, scenario["ops"], general=True)
            raise Rollback
    except Rollback:
        pass
    assert fast["steps"] == general["steps"]
    assert fast["rows"] == general["rows"]
