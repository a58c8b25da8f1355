"""A skip never holds back learning, and the counters people read are true (issue 16).

With one annotator, a skipped item used to keep its batch open for good: no retrain
came, and the annotate page kept showing that batch's count.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from projects import selectors
from projects.batches import closing
from projects.models import Batch, Item, ModelVersion, Project
from tests.annotator.conftest import LABELS, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(api: dict[str, APIClient]) -> Project:
    return text_project(api, {"ann1": "annotator"}, n=30, name="Skips", batch_size=5)


def next_item(client: APIClient, project: Project) -> int:
    answer = client.get(f"/api/projects/{project.pk}/next/")
    assert answer.status_code == 200, answer.content
    return int(answer.json()["item"]["id"])


def label(client: APIClient, project: Project, item: int) -> None:
    body = {"item": item, "label": LABELS[0], "confidence": 4}
    answer = client.post(f"/api/projects/{project.pk}/annotations/", body, format="json")
    assert answer.status_code == 201, answer.content


def test_one_annotators_skip_lets_the_batch_close_and_owe_a_retrain(
    api: dict[str, APIClient], project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    client = api["ann1"]
    skipped = next_item(client, project)
    batch = Item.objects.get(pk=skipped).batch
    assert batch is not None
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(f"/api/projects/{project.pk}/skip/", {"item": skipped}, format="json")
    assert answer.status_code in (200, 204), answer.content
    (row,) = [b for b in selectors.open_batches(project) if b["number"] == batch.number]
    assert (row["done"], row["left"], row["given_back"]) == (0, batch.size - 1, 1)
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(batch.size - 1):
            item = next_item(client, project)
            assert Item.objects.get(pk=item).batch_id == batch.pk
            label(client, project, item)
    batch.refresh_from_db()
    assert batch.state == Batch.State.CLOSED
    assert ModelVersion.objects.filter(project=project, trigger=f"batch {batch.number}").exists()
    back = Item.objects.get(pk=skipped)
    assert (back.state, back.batch_id, back.skips) == (Item.State.POOL, None, 1)


def test_a_skipped_item_that_someone_holds_keeps_its_batch_open(project: Project) -> None:
    batch = Batch.objects.create(project=project, number=9, kind="model", strategy="x", size=1)
    item = Item.objects.filter(project=project, state=Item.State.POOL).first()
    assert item is not None
    Item.objects.filter(pk=item.pk).update(
        state=Item.State.QUEUED, batch=batch, required=2, skips=1, assigned=1, annotation_count=0
    )
    assert closing.batch_close_rows(batch_id=batch.pk) is None  # held by a lease
    Item.objects.filter(pk=item.pk).update(assigned=1, annotation_count=1)
    assert closing.batch_close_rows(batch_id=batch.pk) is not None  # given back, nobody holds it
    assert Item.objects.get(pk=item.pk).state == Item.State.POOL


def page_client(username: str) -> Client:
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


def test_the_annotate_panel_counts_the_items_own_batch_and_undo_moves_left_up(
    api: dict[str, APIClient], project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    browser = page_client("ann1")
    url = f"/projects/{project.pk}/annotate/"
    first = browser.post(url, HTTP_HX_REQUEST="true").content.decode()
    item = Item.objects.get(pk=_item_id(first))
    assert item.batch is not None
    assert f"Batch {item.batch.number}: {item.batch.size} items, " in first
    assert _left(first) == item.batch.size
    with django_capture_on_commit_callbacks(execute=True):
        after = browser.post(
            f"{url}label/", {"item": item.pk, "label": LABELS[1]}, HTTP_HX_REQUEST="true"
        ).content.decode()
    assert _left(after) == item.batch.size - 1
    undone = browser.post(f"{url}undo/", HTTP_HX_REQUEST="true").content.decode()
    assert _left(undone) == item.batch.size
    assert "counting the one you are changing" in undone


def _item_id(html: str) -> int:
    return int(html.split('data-item="', 1)[1].split('"', 1)[0])


def _left(html: str) -> int:
    return int(html.split('id="batch-left">', 1)[1].split("<", 1)[0])


def test_the_dashboard_says_when_the_next_retrain_comes(
    api: dict[str, APIClient], project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    client = api["ann1"]
    item = next_item(client, project)
    batch = Item.objects.get(pk=item).batch
    assert batch is not None
    lead = page_client("lead")
    page = lead.get(f"/projects/{project.pk}/").content.decode()
    left = selectors.open_batches(project)
    nearest = min(b["labels_left"] for b in left)
    assert f"retrains after <strong>{nearest}</strong> more label" in page
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(batch.size):
            label(client, project, item)
            batch.refresh_from_db()
            if batch.state == Batch.State.CLOSED:
                break
            item = next_item(client, project)
    assert ModelVersion.objects.filter(project=project, status="pending").exists()
    page = lead.get(f"/projects/{project.pk}/").content.decode()
    assert "The model is training now." in page
