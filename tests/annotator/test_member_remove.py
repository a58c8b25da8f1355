"""Removing a member: their leases go back to the pool at once, their labels stay theirs,
and a project always keeps a lead."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from annotator.models import Assignment
from projects.models import Item, Membership, Project

pytestmark = pytest.mark.django_db


def _remove(client: Any, project: Project, username: str) -> Any:
    return client.delete(f"/api/projects/{project.pk}/members/{username}/")


def _export(client: Any, project: Project) -> list[dict[str, Any]]:
    response = client.get(f"/api/projects/{project.pk}/export/?format=jsonl")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [json.loads(line) for line in body.decode().splitlines() if line]


def _label(client: Any, project: Project, item_id: int) -> None:
    body = {"item": item_id, "label": "pets", "confidence": 4}
    posted = client.post(f"/api/projects/{project.pk}/annotations/", body, format="json")
    assert posted.status_code == 201, posted.content


def test_removed_annotators_lease_goes_to_another_at_once_and_their_labels_stay(
    api: Any, new_project: Callable[..., Project]
) -> None:
    project = new_project({"ann1": "annotator", "ann2": "annotator"}, n=2, batch_size=2)
    labelled = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
    _label(api["ann1"], project, labelled)
    leased = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
    assert api["ann2"].get(f"/api/projects/{project.pk}/next/").status_code == 204

    assert _remove(api["lead"], project, "ann1").status_code == 204

    handed = api["ann2"].get(f"/api/projects/{project.pk}/next/")
    assert handed.status_code == 200 and handed.json()["item"]["id"] == leased
    assert not Membership.objects.filter(project=project, user__username="ann1").exists()
    assert not Assignment.objects.filter(annotator__username="ann1", state="active").exists()
    assert Item.objects.get(pk=leased).assigned == 1
    lines = {line["id"]: line for line in _export(api["lead"], project)}
    assert [a["annotator"] for a in lines[labelled]["annotations"]] == ["ann1"]
    assert api["ann1"].get(f"/api/projects/{project.pk}/next/").status_code == 404


def test_the_last_lead_cannot_be_removed(
    api: Any, new_project: Callable[..., Project], make_user: Any
) -> None:
    project = new_project({"ann1": "annotator"}, n=0)
    refused = _remove(api["lead"], project, "lead")
    assert refused.status_code == 409 and "last lead" in refused.json()["detail"]
    staff = Client()
    staff.force_login(make_user("root", staff=True))
    assert _remove(staff, project, "lead").status_code == 409
    assert Membership.objects.filter(project=project, role="lead").count() == 1


def test_a_lead_may_go_once_another_lead_remains(
    api: Any, new_project: Callable[..., Project]
) -> None:
    project = new_project({"ann1": "lead"}, n=0)
    assert _remove(api["ann1"], project, "lead").status_code == 204
    assert _remove(api["ann1"], project, "ann1").status_code == 409
    assert api["lead"].get(f"/api/projects/{project.pk}/status/").status_code == 404


def test_unknown_names_and_non_members_get_404(
    api: Any, new_project: Callable[..., Project]
) -> None:
    project = new_project({"ann1": "annotator"}, n=0)
    assert _remove(api["lead"], project, "nobody").status_code == 404
    assert _remove(api["lead"], project, "outsider").status_code == 404


def test_outsiders_get_404_and_annotators_and_reviewers_403(
    api: Any, new_project: Callable[..., Project]
) -> None:
    project = new_project({"ann1": "annotator", "reviewer": "reviewer"}, n=0)
    assert _remove(api["outsider"], project, "ann1").status_code == 404
    assert _remove(api["ann1"], project, "ann1").status_code == 403
    assert _remove(api["reviewer"], project, "ann1").status_code == 403
    assert Membership.objects.filter(project=project).count() == 3


def test_the_members_page_offers_leads_a_confirmed_remove_button(
    users: Any, new_project: Callable[..., Project]
) -> None:
    project = new_project({"ann1": "annotator"}, n=0)
    lead, annotator = Client(), Client()
    lead.force_login(users["lead"])
    annotator.force_login(users["ann1"])
    page = lead.get(f"/projects/{project.pk}/members/").content.decode()
    remove = f"/projects/{project.pk}/members/ann1/remove/"
    assert f'hx-post="{remove}"' in page and "Their labels are kept." in page
    assert "hx-post" not in annotator.get(f"/projects/{project.pk}/members/").content.decode()

    done = lead.post(remove, headers={"HX-Request": "true"})
    assert done.status_code == 200 and done["HX-Redirect"] == f"/projects/{project.pk}/members/"
    assert not Membership.objects.filter(project=project, user=users["ann1"]).exists()
    refused = lead.post(f"/projects/{project.pk}/members/lead/remove/", follow=True)
    assert "last lead" in refused.content.decode()


def test_the_last_lead_cannot_be_demoted_either(
    api: Any, new_project: Callable[..., Project]
) -> None:
    project = new_project({"ann1": "annotator"}, n=0)
    url = f"/api/projects/{project.pk}/members/"
    demoted = api["lead"].post(url, {"username": "lead", "role": "annotator"}, format="json")
    assert demoted.status_code == 409 and "last lead" in demoted.json()["detail"]
    assert Membership.objects.get(project=project, user__username="lead").role == "lead"
    promoted = api["lead"].post(url, {"username": "ann1", "role": "lead"}, format="json")
    assert promoted.status_code == 201
    demoted = api["lead"].post(url, {"username": "lead", "role": "annotator"}, format="json")
    assert demoted.status_code == 201
