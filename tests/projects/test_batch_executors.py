"""The batch lifecycle's two executors leave the same rows (STYLE.md, "One rule, one home").

The add, the `remaining` count and the close each run as one PostgreSQL statement there
and through the ORM elsewhere, sharing their Python rule. Hypothesis drives random
scenarios through both on the same PostgreSQL database, each inside a savepoint that is
rolled back, and compares every row they write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects import services
from projects.batches import adding, closing
from projects.batches.selection import Picks
from projects.ingest.bulk import items_insert
from projects.ingest.parsers import ParsedRow
from projects.models import Batch, Item, Membership, ModelVersion, Project, SelectionLog

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANNOTATORS = ("ann1", "ann2", "reviewer")


@contextmanager
def rolled_back() -> Iterator[None]:
    point = transaction.savepoint()
    try:
        yield
    finally:
        transaction.savepoint_rollback(point)


def each_executor(executors: list[Callable[[], Any]], rows: Callable[[], Any]) -> list[Any]:
    """Run each executor from the same state; what it returned and the rows it left."""
    seen = []
    for executor in executors:
        with rolled_back():
            seen.append((executor(), rows()))
    return seen


def make_project(users: dict[str, Any], s: dict[str, Any]) -> tuple[Project, list[int]]:
    project = services.project_create(
        user=users["lead"], name="Executors", kind="text", labels=["a", "b"]
    )
    Project.objects.filter(pk=project.pk).update(
        overlap=s["overlap"],
        agreement_overlap=s["agreement_overlap"],
        agreement_fraction=s["agreement_fraction"],
        random_state=s["random_state"],
        state=s["project_state"],
    )
    for name in ANNOTATORS[: s["members"]]:
        Membership.objects.create(project=project, user=users[name], role="annotator")
    rows = [ParsedRow(line=i, text=f"text {i}", label=None) for i in range(s["items"])]
    items_insert(project.pk, rows)
    ids = list(Item.objects.filter(project=project).order_by("id").values_list("id", flat=True))
    return Project.objects.get(pk=project.pk), ids


def project_settings() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "overlap": st.integers(1, 3),
            "agreement_overlap": st.integers(1, 4),
            "agreement_fraction": st.sampled_from([0.0, 0.25, 0.5, 1.0]),
            "random_state": st.integers(0, 1000),
            "members": st.integers(0, len(ANNOTATORS)),
            "items": st.integers(1, 30),
            "project_state": st.sampled_from(
                [Project.State.COLLECTING, Project.State.TRAINING, Project.State.STOPPED]
            ),
        }
    )


def add_scenarios() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "project": project_settings(),
            "k": st.integers(1, 12),
            "spares": st.integers(0, 10),
            "start_rank": st.integers(0, 30),
            "number": st.integers(1, 5),
            "taken": st.lists(st.integers(0, 29), max_size=15),  # labelled meanwhile
            "holdout": st.lists(st.integers(0, 29), max_size=4),
            "scored": st.booleans(),
            "version": st.one_of(st.none(), st.integers(1, 9)),
            "seed": st.integers(0, 2**16),
        }
    )


def _add_rows(project: Project, batch: Batch) -> Any:
    items = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "state", "batch_id", "batch_rank", "required", "is_holdout", "assigned")
    )
    logs = list(
        SelectionLog.objects.filter(batch=batch)
        .order_by("rank")
        .values_list(
            "item_id", "rank", "reason", "model_version", "strategy", "score", "components",
            "withdrawn",
        )
    )  # fmt: skip
    sizes = Batch.objects.values_list("size", "remaining").get(pk=batch.pk)
    return items, logs, sizes


@given(s=add_scenarios())
@EXAMPLES
def test_both_add_executors_queue_and_log_the_same_rows(
    users: dict[str, Any], s: dict[str, Any]
) -> None:
    with rolled_back():
        project, ids = make_project(users, s["project"])
        order = ids[s["seed"] % len(ids) :] + ids[: s["seed"] % len(ids)]
        wanted, spares = order[: s["k"]], order[s["k"] : s["k"] + s["spares"]]
        taken = [ids[i] for i in s["taken"] if i < len(ids)]
        Item.objects.filter(pk__in=taken).update(state=Item.State.LABELED)
        holdout = {ids[i] for i in s["holdout"] if i < len(ids)} & set(wanted)
        picks = Picks(
            item_ids=wanted,
            kind=Batch.Kind.MODEL,
            strategy="entropy",
            holdout=holdout,
            scores={i: i / 7 for i in order} if s["scored"] else {},
            components={i: {"score": i / 3} for i in wanted[::2]},
            spares=spares,
        )
        batch = Batch.objects.create(
            project=project, number=s["number"], kind=picks.kind, strategy="entropy", selector="x"
        )
        plan = adding.add_plan(
            project=project, batch=batch, picks=picks, start_rank=s["start_rank"]
        )
        plan = adding.AddPlan(plan.candidates, plan.required, plan.start_rank, s["version"])

        portable, statement = each_executor(
            [
                lambda: adding.add_through_orm(batch=batch, plan=plan),
                lambda: adding.add_in_one_statement(batch=batch, plan=plan),
            ],
            lambda: _add_rows(project, batch),
        )
    assert portable == statement


def close_scenarios() -> st.SearchStrategy[dict[str, Any]]:
    # (state, skips, assigned, annotation_count): given back or not, held by a lease or not
    item_state = st.tuples(
        st.sampled_from([Item.State.QUEUED, Item.State.LABELED, Item.State.POOL]),
        st.integers(0, 2),
        st.integers(0, 3),
        st.integers(0, 2),
    )
    return st.fixed_dictionaries(
        {
            "project": project_settings(),
            "batch_state": st.sampled_from([Batch.State.OPEN, Batch.State.CLOSED]),
            "number": st.integers(1, 5),
            "remaining": st.integers(0, 5),
            "item_states": st.lists(item_state, max_size=6),
            "versions": st.lists(
                st.sampled_from([ModelVersion.Status.DONE, ModelVersion.Status.FAILED]),
                max_size=3,
            ),
            "owed": st.booleans(),
        }
    )


def _close_rows(project: Project, batch: Batch) -> Any:
    skipped = {"id", "requested_at"}
    fields = [f.attname for f in ModelVersion._meta.concrete_fields if f.attname not in skipped]
    versions = list(ModelVersion.objects.filter(project=project).values_list(*fields))
    state, remaining, closed_at = Batch.objects.values_list("state", "remaining", "closed_at").get(
        pk=batch.pk
    )
    project_state = Project.objects.values_list("state", flat=True).get(pk=project.pk)
    items = list(
        Item.objects.filter(project=project)
        .order_by("id")
        .values_list("state", "batch_id", "batch_rank", "required", "assigned", "skips")
    )
    return versions, (state, remaining, closed_at is None), project_state, items


@given(s=close_scenarios())
@EXAMPLES
def test_both_progress_executors_count_and_close_alike(
    users: dict[str, Any], s: dict[str, Any]
) -> None:
    with rolled_back():
        project, ids = make_project(users, {**s["project"], "items": 6})
        batch = Batch.objects.create(
            project=project,
            number=s["number"],
            kind=Batch.Kind.MODEL,
            strategy="entropy",
            selector="x",
            state=s["batch_state"],
            remaining=s["remaining"],
            size=len(s["item_states"]),
        )
        for rank, (item_id, (state, skips, assigned, annotated)) in enumerate(
            zip(ids, s["item_states"], strict=False)
        ):
            Item.objects.filter(pk=item_id).update(
                state=state,
                batch=batch,
                batch_rank=rank,
                required=2,
                skips=skips,
                assigned=assigned,
                annotation_count=annotated,
            )
        for version, status in enumerate(s["versions"], start=1):
            ModelVersion.objects.create(project=project, version=version, status=status)
        if s["owed"]:
            ModelVersion.objects.create(project=project, version=len(s["versions"]) + 1)

        def rows() -> Any:
            return _close_rows(project, batch)

        counted = each_executor(
            [
                lambda: closing.remaining_refresh_through_orm(batch.pk),
                lambda: closing.remaining_refresh_in_one_statement(batch.pk),
            ],
            rows,
        )
        closed = each_executor(
            [
                lambda: closing.close_through_orm(batch.pk),
                lambda: closing.close_in_one_statement(batch.pk),
            ],
            rows,
        )
    assert counted[0] == counted[1]
    assert closed[0] == closed[1]
