"""Closing a finished batch: it closes once, owes one retrain, and sends it after commit.

On PostgreSQL the close is the batch row's lock and one statement
(`closing.close_in_one_statement`); elsewhere the ORM path. Both must leave the same rows
behind (`test_batch_executors` drives random scenarios through both).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from projects.batches import closing
from projects.batches import services as batch_services
from projects.models import Batch, Item, ModelVersion, Project
from projects.training import services as training_services
from tests.annotator.conftest import LABELS, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(api: dict[str, APIClient]) -> Project:
    return text_project(api, {"ann1": "annotator"}, n=20, name="Close", batch_size=4)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The retrains sent to the broker (by id), instead of sending them."""
    calls: list[int] = []
    monkeypatch.setattr("projects.tasks.retrain.delay", calls.append)
    return calls


def label_batch_but_last(client: APIClient, project: Project) -> tuple[Batch, int]:
    """Label every item of the oldest open batch but its last; that one is handed out."""
    item = client.get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
    batch = Item.objects.get(pk=item).batch
    assert batch is not None
    for _ in range(batch.size - 1):
        assert label(client, project, item).status_code == 201
        item = client.get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
    last = item
    assert Item.objects.get(pk=last).batch_id == batch.pk
    return batch, last


def label(client: APIClient, project: Project, item: int) -> Any:
    body = {"item": item, "label": LABELS[0], "confidence": 4}
    return client.post(f"/api/projects/{project.pk}/annotations/", body, format="json")


def test_the_last_label_closes_the_batch_and_owes_one_retrain(
    api: dict[str, APIClient],
    project: Project,
    sent: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    batch, last = label_batch_but_last(api["ann1"], project)
    versions_before = ModelVersion.objects.filter(project=project).count()
    with django_capture_on_commit_callbacks(execute=True):
        assert label(api["ann1"], project, last).status_code == 201

    batch.refresh_from_db()
    assert (batch.state, batch.remaining) == (Batch.State.CLOSED, 0)
    assert batch.closed_at is not None
    owed = ModelVersion.objects.get(project=project, status=ModelVersion.Status.PENDING)
    assert owed.trigger == f"batch {batch.number}"
    assert owed.version == versions_before + 1
    assert sent == [owed.pk]
    assert Project.objects.get(pk=project.pk).state == Project.State.TRAINING
    # Another open batch serves the annotator on.
    assert api["ann1"].get(f"/api/projects/{project.pk}/next/").status_code == 200

    batch_services.batch_progress(batch_id=batch.pk)  # a repeat changes nothing
    assert ModelVersion.objects.filter(project=project).count() == versions_before + 1
    assert sent == [owed.pk]


def test_a_close_while_a_retrain_is_owed_owes_no_second_one(
    api: dict[str, APIClient], project: Project, sent: list[int]
) -> None:
    owed = training_services.retrain_request(project=project, trigger="earlier")
    batch, last = label_batch_but_last(api["ann1"], project)
    assert label(api["ann1"], project, last).status_code == 201
    batch_services.batch_progress(batch_id=batch.pk)  # the annotation's on-commit hook

    assert Batch.objects.get(pk=batch.pk).state == Batch.State.CLOSED
    pending = ModelVersion.objects.filter(project=project, status=ModelVersion.Status.PENDING)
    assert list(pending) == [owed]
    assert sent == []  # the owed one was sent when it was recorded (on commit)


def test_a_batch_with_a_waiting_item_stays_open(
    api: dict[str, APIClient], project: Project, sent: list[int]
) -> None:
    batch, _last = label_batch_but_last(api["ann1"], project)
    batch_services.batch_progress(batch_id=batch.pk)
    batch.refresh_from_db()
    assert (batch.state, batch.remaining) == (Batch.State.OPEN, 1)
    assert not ModelVersion.objects.filter(project=project).exists()


@pytest.mark.postgres
def test_the_close_statement_rechecks_under_the_lock(
    api: dict[str, APIClient], project: Project, sent: list[int]
) -> None:
    """The count before the lock said done; an item queued since keeps the batch open."""
    batch, _last = label_batch_but_last(api["ann1"], project)
    assert closing.close_in_one_statement(batch.pk) is None
    assert Batch.objects.get(pk=batch.pk).state == Batch.State.OPEN
    assert not ModelVersion.objects.filter(project=project).exists()


def test_the_owed_retrain_row_is_the_one_the_orm_would_write(
    api: dict[str, APIClient], project: Project, sent: list[int]
) -> None:
    """On Postgres the close statement takes the columns from the model's field defaults;
    on SQLite the ORM writes the row. Either way it is the same row."""
    batch, last = label_batch_but_last(api["ann1"], project)
    assert label(api["ann1"], project, last).status_code == 201
    batch_services.batch_progress(batch_id=batch.pk)

    owed = ModelVersion.objects.get(project=project, status=ModelVersion.Status.PENDING)
    set_by_the_close = {"id", "project_id", "version", "trigger", "requested_at"}
    for field in ModelVersion._meta.concrete_fields:
        if field.attname not in set_by_the_close:
            assert getattr(owed, field.attname) == field.get_default(), field.name


@pytest.mark.postgres
def test_a_closing_annotation_is_a_handful_of_statements(
    api: dict[str, APIClient],
    project: Project,
    sent: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A token, a role, the label, the count, the lock, the close, whether a retrain runs
    and the open batches' room. Through the ORM the close alone was some fifteen."""
    _batch, last = label_batch_but_last(api["ann1"], project)
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert label(api["ann1"], project, last).status_code == 201
    # Each statement is prepared once per connection: a first use adds its PREPARE.
    run = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("PREPARE")]
    assert len(run) <= 8, run
    assert len(sent) == 1


def test_a_close_while_a_retrain_runs_leaves_the_send_to_its_end(
    api: dict[str, APIClient],
    project: Project,
    sent: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    """The running retrain's end sends what was owed meanwhile (a worker given it now
    would drop it: one retrain per project at a time)."""
    from django.utils import timezone

    now = timezone.now()
    running = ModelVersion.objects.create(
        project=project,
        version=1,
        status=ModelVersion.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
    )
    batch, last = label_batch_but_last(api["ann1"], project)
    with django_capture_on_commit_callbacks(execute=True):
        assert label(api["ann1"], project, last).status_code == 201
    owed = ModelVersion.objects.get(project=project, status=ModelVersion.Status.PENDING)
    assert owed.trigger == f"batch {batch.number}" and sent == []

    ModelVersion.objects.filter(pk=running.pk).update(status=ModelVersion.Status.DONE)
    with django_capture_on_commit_callbacks(execute=True):
        training_services.owed_send(project.pk)  # what the end of `retrain_run` does
    assert sent == [owed.pk]
