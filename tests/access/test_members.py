"""Adding members by name: one neutral refusal, and a limit for leads who are not staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from projects import services
from projects.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(users: Any) -> Any:
    return services.project_create(user=users["lead"], name="M", kind="text", labels=["a", "b"])


def _add(client: Any, project: Any, username: str) -> Any:
    body = {"username": username, "role": "annotator"}
    return client.post(f"/api/projects/{project.pk}/members/", body, format="json")


def test_unknown_and_inactive_names_get_the_same_answer(api: Any, users: Any, project: Any) -> None:
    users["ann2"].is_active = False
    users["ann2"].save()
    unknown, inactive = _add(api["lead"], project, "nobody"), _add(api["lead"], project, "ann2")
    assert unknown.status_code == inactive.status_code == 400
    assert unknown.json() == inactive.json() == {"username": [services.NOT_ADDABLE]}
    assert not Membership.objects.filter(project=project, user=users["ann2"]).exists()


def test_a_lead_who_is_not_staff_is_limited_in_additions(
    api: Any, users: Any, project: Any, settings: Any, make_user: Any
) -> None:
    settings.WINNOW_MEMBER_ADDS_PER_HOUR = 3
    answers = [_add(api["lead"], project, name).status_code for name in ("x1", "x2", "ann1")]
    assert answers == [400, 400, 201]
    throttled = _add(api["lead"], project, "ann2")
    assert throttled.status_code == 429 and "throttled" in throttled.json()["detail"]
    # Listing members is not counted.
    assert api["lead"].get(f"/api/projects/{project.pk}/members/").status_code == 200


def test_the_members_page_shares_the_limit(users: Any, project: Any, settings: Any) -> None:
    settings.WINNOW_MEMBER_ADDS_PER_HOUR = 1
    client = Client()
    client.force_login(users["lead"])
    url = f"/projects/{project.pk}/members/"
    first = client.post(url, {"username": "nobody", "role": "annotator"}).content.decode()
    assert "No user can be added under that name" in first
    second = client.post(url, {"username": "ann1", "role": "annotator"}).content.decode()
    assert "Too many additions" in second
    assert not Membership.objects.filter(project=project, user=users["ann1"]).exists()


def test_staff_are_not_limited(api: Any, make_user: Any, project: Any, settings: Any) -> None:
    settings.WINNOW_MEMBER_ADDS_PER_HOUR = 1
    staff = APIClient()
    staff.force_authenticate(make_user("root", staff=True))
    assert [_add(staff, project, n).status_code for n in ("x1", "x2", "ann1")] == [400, 400, 201]
