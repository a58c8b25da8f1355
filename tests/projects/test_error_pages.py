"""403 and 404 pages are in the site's layout with a way back, also with DEBUG off."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from projects import services
from projects.models import Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(users: dict) -> Project:  # type: ignore[type-arg]
    project = services.project_create(user=users["lead"], name="P", kind="text", labels=["a", "b"])
    services.membership_add(project=project, username="ann1", role="annotator")
    return project


def _as(user: object) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)  # type: ignore[arg-type]
    return client


@override_settings(DEBUG=False)
def test_outsider_gets_a_404_page_with_the_layout_and_a_way_back(users, project) -> None:  # type: ignore[no-untyped-def]
    answer = _as(users["outsider"]).get(f"/projects/{project.pk}/")
    assert answer.status_code == 404
    page = answer.content.decode()
    assert 'class="topbar"' in page and 'id="error-page"' in page
    assert 'href="/"' in page and "Back to your projects" in page


@override_settings(DEBUG=False)
def test_annotator_gets_a_403_page_with_the_layout_and_a_way_back(users, project) -> None:  # type: ignore[no-untyped-def]
    answer = _as(users["ann1"]).get(f"/projects/{project.pk}/settings/")
    assert answer.status_code == 403
    page = answer.content.decode()
    assert 'class="topbar"' in page and 'id="error-page"' in page
    assert f'href="/projects/{project.pk}/"' in page  # back to the project they belong to


def test_the_new_project_button_says_anyone_may_create_one(users, project) -> None:  # type: ignore[no-untyped-def]
    page = _as(users["ann1"]).get("/").content.decode()
    assert "New project" in page
    assert "Anyone signed in may start a project" in page
