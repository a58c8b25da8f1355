"""People and a project's end: a lead creates accounts from the members page; a project
is archived (read-only, out of annotators' lists), unarchived, or deleted after its
name is typed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from annotator.assignment import services as annotate
from projects import services
from projects.batches.services import batch_open
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Annotation, Batch, Item, Membership, Project
from winnow.errors import Conflict

pytestmark = pytest.mark.django_db
STRONG = "violet-harbour-1987"


@pytest.fixture
def project(users: dict[str, Any]) -> Project:
    project = services.project_create(
        user=users["lead"], name="Pets", kind="text", labels=["cat", "dog"], batch_size=3
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    ingest.items_import(
        project=project, rows=[ParsedRow(line=i, text=f"pet {i}") for i in range(9)]
    )
    project.refresh_from_db()
    return project


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# -- creating accounts ----------------------------------------------------------------


def test_member_create_makes_an_account_that_signs_in_with_its_role(project) -> None:  # type: ignore[no-untyped-def]
    membership = services.member_create(
        project=project, username="newbie", password=STRONG, role="reviewer"
    )
    assert membership.role == "reviewer"
    client = Client()
    signed = client.post("/login/", {"username": "newbie", "password": STRONG})
    assert signed.status_code == 302 and signed["Location"] == "/"
    assert client.get(f"/projects/{project.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("ann1", STRONG, "username"),  # taken
        ("ANN1", STRONG, "username"),  # taken, in another case
        ("bad name!", STRONG, "username"),
        ("", STRONG, "username"),
        ("someone", "123", "password"),  # too short and numeric
        ("someone", "someone1", "password"),  # like the name
    ],
)
def test_member_create_refuses_taken_names_and_weak_passwords(
    project: Project, username: str, password: str, field: str
) -> None:
    before = get_user_model().objects.count()
    with pytest.raises(ValidationError) as refused:
        services.member_create(
            project=project, username=username, password=password, role="annotator"
        )
    assert field in refused.value.message_dict
    assert get_user_model().objects.count() == before


def test_the_members_page_creates_an_account_for_leads_only(project, users) -> None:  # type: ignore[no-untyped-def]
    url = f"/projects/{project.pk}/members/new/"
    body = {"username": "newbie", "password": STRONG, "role": "annotator"}
    assert _signed_in(users["ann1"]).post(url, body).status_code == 403
    assert _signed_in(users["outsider"]).post(url, body).status_code == 404
    assert not get_user_model().objects.filter(username="newbie").exists()
    response = _signed_in(users["lead"]).post(url, body)
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user__username="newbie").role == "annotator"
    again = _signed_in(users["lead"]).post(url, body)
    assert again.status_code == 200 and "That name is taken" in again.content.decode()


def test_account_creation_shares_the_member_add_limit(project, users, settings) -> None:  # type: ignore[no-untyped-def]
    settings.WINNOW_MEMBER_ADDS_PER_HOUR = 1
    lead = _signed_in(users["lead"])
    lead.post(f"/projects/{project.pk}/members/", {"username": "ann2", "role": "annotator"})
    body = {"username": "newbie", "password": STRONG, "role": "annotator"}
    refused = lead.post(f"/projects/{project.pk}/members/new/", body)
    assert "Too many additions" in refused.content.decode()
    assert not get_user_model().objects.filter(username="newbie").exists()


# -- archive ---------------------------------------------------------------------------


def test_an_archived_project_leaves_annotators_lists_but_not_the_leads(project, users) -> None:  # type: ignore[no-untyped-def]
    services.project_archive(project=project)
    assert "Pets" not in _signed_in(users["ann1"]).get("/").content.decode()
    assert "Pets" in _signed_in(users["lead"]).get("/").content.decode()
    listed = [p["name"] for p in _api_list(users["ann1"])]
    assert "Pets" not in listed


def _api_list(user: Any) -> list[dict[str, Any]]:
    client = APIClient()
    client.force_authenticate(user)
    response = client.get("/api/projects/")
    assert response.status_code == 200
    return list(response.json())


def test_an_archived_project_opens_no_batch_hands_out_nothing_and_takes_no_import(
    project, users
) -> None:  # type: ignore[no-untyped-def]
    services.project_archive(project=project)
    batches = Batch.objects.filter(project=project).count()
    batch_open(project=project)
    assert Batch.objects.filter(project=project).count() == batches
    assert annotate.assignment_next(project=project, user=users["ann1"]).assignment is None
    with pytest.raises(Conflict):
        services.project_update(project=project, batch_size=5)
    upload = SimpleUploadedFile("more.csv", b"text\nanother pet\n")
    response = _signed_in(users["lead"]).post(f"/projects/{project.pk}/import/", {"file": upload})
    assert "archived" in response.content.decode()
    assert Item.objects.filter(project=project).count() == 9


def test_unarchive_brings_the_project_back_stopped(project) -> None:  # type: ignore[no-untyped-def]
    services.project_archive(project=project)
    with pytest.raises(Conflict):
        services.project_archive(project=project)
    services.project_unarchive(project=project)
    project.refresh_from_db()
    assert project.state == Project.State.STOPPED and "Unarchived" in project.stop_reason
    services.project_resume(project=project)
    project.refresh_from_db()
    assert project.state == Project.State.COLLECTING
    with pytest.raises(Conflict):
        services.project_unarchive(project=project)


def test_archive_api_for_leads_only(api, project) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/projects/{project.pk}/archive/"
    assert api["ann1"].post(url).status_code == 403
    assert api["outsider"].post(url).status_code == 404
    response = api["lead"].post(url)
    assert response.status_code == 200 and response.json()["state"] == "archived"
    assert api["lead"].post(url).status_code == 409
    back = api["lead"].post(f"/api/projects/{project.pk}/unarchive/")
    assert back.status_code == 200 and back.json()["state"] == "stopped"


# -- delete ----------------------------------------------------------------------------


def test_delete_needs_the_name_and_removes_the_project_and_its_files(
    project: Project,
    users: Any,
    settings: Any,
    tmp_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.MODELS_ROOT = tmp_path / "models"
    models_dir = Path(settings.MODELS_ROOT) / f"project_{project.pk}"
    models_dir.mkdir(parents=True)
    (models_dir / "model_v1.joblib").write_bytes(b"x")
    with pytest.raises(ValidationError):
        services.project_delete(project=project, confirm="pets")
    assert Project.objects.filter(pk=project.pk).exists()
    pk = project.pk
    with django_capture_on_commit_callbacks(execute=True):
        services.project_delete(project=project, confirm="Pets")
    assert not Project.objects.filter(pk=pk).exists()
    assert not Item.objects.filter(project_id=pk).exists()
    assert not Membership.objects.filter(project_id=pk).exists()
    assert get_user_model().objects.filter(username="ann1").exists()  # accounts are kept
    assert not models_dir.exists()


def test_delete_page_says_what_goes_and_what_stays_and_needs_the_name(project, users) -> None:  # type: ignore[no-untyped-def]
    url = f"/projects/{project.pk}/delete/"
    assert _signed_in(users["ann1"]).get(url).status_code == 403
    lead = _signed_in(users["lead"])
    page = lead.get(url).content.decode()
    assert "cannot be undone" in page and "accounts" in page and "9 items" in page
    wrong = lead.post(url, {"confirm": "Cats"})
    assert wrong.status_code == 200 and Project.objects.filter(pk=project.pk).exists()
    right = lead.post(url, {"confirm": "Pets"})
    assert right.status_code == 302 and not Project.objects.filter(pk=project.pk).exists()


def test_delete_api_needs_the_name_and_a_lead(api, project, users) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/projects/{project.pk}/"
    item = Item.objects.filter(project=project).first()
    Annotation.objects.create(project=project, item=item, annotator=users["ann1"], label="cat")
    assert api["ann1"].delete(f"{url}?confirm=Pets").status_code == 403
    assert api["lead"].delete(url).status_code == 400
    assert api["lead"].delete(f"{url}?confirm=Pets").status_code == 204
    assert not Annotation.objects.filter(project_id=project.pk).exists()
    assert api["lead"].get(url).status_code == 404
