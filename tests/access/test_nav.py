"""The project nav shows each role its links; 403 and 404 pages keep the layout."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from projects import services

pytestmark = pytest.mark.django_db

LEAD_LINKS = ("settings/", "import/", "export/")


@pytest.fixture
def project(users: Any) -> Any:
    project = services.project_create(user=users["lead"], name="N", kind="text", labels=["a"])
    services.membership_add(project=project, username="ann1", role="annotator")
    services.membership_add(project=project, username="reviewer", role="reviewer")
    return project


def _nav(user: Any, url: str) -> str:
    client = Client()
    client.force_login(user)
    page = client.get(url).content.decode()
    start = page.index('id="project-nav"')
    return page[start : page.index("</nav>", start)]


def test_a_lead_who_is_not_staff_sees_settings_import_export_and_review(
    users: Any, project: Any
) -> None:
    for page in ("", "members/", "settings/", "import/", "export/", "review/"):
        nav = _nav(users["lead"], f"/projects/{project.pk}/{page}")
        for link in (*LEAD_LINKS, "review/"):
            assert f"/projects/{project.pk}/{link}" in nav, (page, link)


def test_a_reviewer_sees_review_only_and_an_annotator_none(users: Any, project: Any) -> None:
    reviewer = _nav(users["reviewer"], f"/projects/{project.pk}/")
    annotator = _nav(users["ann1"], f"/projects/{project.pk}/")
    assert f"/projects/{project.pk}/review/" in reviewer
    assert f"/projects/{project.pk}/review/" not in annotator
    for link in LEAD_LINKS:
        assert f"/projects/{project.pk}/{link}" not in reviewer + annotator


@pytest.mark.parametrize(
    ("who", "page", "code"), [("ann1", "settings/", 403), ("outsider", "", 404)]
)
def test_refusals_render_in_the_layout_with_a_way_back(
    users: Any, project: Any, settings: Any, who: str, page: str, code: int
) -> None:
    settings.DEBUG = False  # Django's debug pages replace ours otherwise
    client = Client()
    client.force_login(users[who])
    response = client.get(f"/projects/{project.pk}/{page}")
    body = response.content.decode()
    assert response.status_code == code
    assert 'class="topbar"' in body and 'id="error-page"' in body and 'href="/"' in body
