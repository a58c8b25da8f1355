"""The dashboard's selection log: item text with a way to it, pages, and score scales."""

from __future__ import annotations

import pytest
from django.test import Client

from projects import services
from projects.models import Batch, Item, Project, SelectionLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(users: dict) -> Project:  # type: ignore[type-arg]
    project = services.project_create(
        user=users["lead"], name="Log", kind="text", labels=["a", "b"]
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    batch = Batch.objects.create(project=project, number=1, kind="model", strategy="entropy")
    for rank in range(45):
        item = Item.objects.create(project=project, text=f"item number {rank} " + "x" * 500)
        SelectionLog.objects.create(
            batch=batch, item=item, rank=rank, reason="model", strategy="entropy", score=0.5
        )
    return project


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def test_dashboard_shows_one_page_of_picks_with_their_text(users, project) -> None:  # type: ignore[no-untyped-def]
    page = _client(users["ann1"]).get(f"/projects/{project.pk}/").content.decode()
    log = page[page.index('id="selection-log"') :]
    assert log.count('class="selection"') == 20
    assert "item number 0 " in log and "x" * 200 not in log  # the start of the text only
    assert "Page 1 of 3" in log
    assert "Score (on its strategy's scale)" in log
    assert 'title="Entropy of the predicted class distribution."' in log


def test_older_pages_come_from_their_own_url(users, project) -> None:  # type: ignore[no-untyped-def]
    url = f"/projects/{project.pk}/selections/?page=3"
    page = _client(users["ann1"]).get(url, HTTP_HX_REQUEST="true").content.decode()
    assert page.count('class="selection"') == 5 and "item number 44 " in page
    assert _client(users["outsider"]).get(url).status_code == 404
