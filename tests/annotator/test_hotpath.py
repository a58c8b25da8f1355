"""The annotate round trip's single-statement path (PostgreSQL) and its guards."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.assignment import hotpath
from annotator.models import Assignment
from projects.batches.room import batch_room
from projects.models import Annotation, Item, Project
from tests.annotator.conftest import LABELS, text_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(api: dict[str, APIClient]) -> Project:
    return text_project(api, {"ann1": "annotator"}, n=12, name="Hot", batch_size=6)


def next_item(client: APIClient, project: Project) -> dict[str, Any]:
    response = client.get(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    return body


def label(client: APIClient, project: Project, item: int, name: str = "pets") -> Any:
    return client.post(
        f"/api/projects/{project.pk}/annotations/",
        {"item": item, "label": name, "confidence": 5},
        format="json",
    )


@pytest.mark.postgres
def test_annotate_round_trip_is_a_handful_of_statements(
    api: dict[str, APIClient], project: Project, django_assert_max_num_queries: Any
) -> None:
    """Guards the single-statement claim and submit: the ORM path took some 24."""
    label(api["ann1"], project, next_item(api["ann1"], project)["item"]["id"])  # batch is open
    with django_assert_max_num_queries(8):
        item = next_item(api["ann1"], project)["item"]["id"]
    with django_assert_max_num_queries(8):
        assert label(api["ann1"], project, item).status_code == 201


def test_next_gives_the_same_item_until_it_is_labelled(
    api: dict[str, APIClient], project: Project
) -> None:
    first = next_item(api["ann1"], project)
    again = next_item(api["ann1"], project)
    assert again["item"] == first["item"] and again["batch"] == first["batch"]
    assert Assignment.objects.filter(annotator__username="ann1", state="active").count() == 1
    assert again["expires_at"] >= first["expires_at"]


def test_a_first_label_settles_a_single_annotator_item(
    api: dict[str, APIClient], project: Project
) -> None:
    payload = next_item(api["ann1"], project)
    item_id = payload["item"]["id"]
    assert payload["batch"]["number"] == 1 and payload["labels"] == LABELS

    response = label(api["ann1"], project, item_id, "sport")

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["item"], body["annotator"], body["label"], body["confidence"]) == (
        item_id,
        "ann1",
        "sport",
        5,
    )
    assert 0 <= body["seconds"] < 60
    item = Item.objects.get(pk=item_id)
    assert (item.state, item.label, item.label_source) == ("labeled", "sport", "consensus")
    assert (item.annotation_count, item.consensus_support) == (1, 1.0)
    assert Assignment.objects.get(item_id=item_id).state == "done"


def test_repeating_or_editing_a_submission_takes_the_general_path(
    api: dict[str, APIClient], project: Project
) -> None:
    item_id = next_item(api["ann1"], project)["item"]["id"]
    assert label(api["ann1"], project, item_id, "pets").status_code == 201
    assert label(api["ann1"], project, item_id, "pets").status_code == 200
    assert label(api["ann1"], project, item_id, "finance").status_code == 200

    assert Annotation.objects.filter(item_id=item_id).count() == 1
    assert Item.objects.get(pk=item_id).label == "finance"


def test_labelling_an_item_not_handed_out_is_a_conflict(
    api: dict[str, APIClient], project: Project
) -> None:
    mine = next_item(api["ann1"], project)["item"]["id"]
    other = Item.objects.filter(project=project).exclude(pk=mine).values_list("pk", flat=True)[0]

    assert label(api["ann1"], project, other).status_code == 409
    assert label(api["ann1"], project, "not-an-id").status_code in (400, 404)
    assert not Annotation.objects.exists()


def test_form_posted_ids_label_through_the_annotate_page(
    client: Any, users: dict[str, Any], project: Project
) -> None:
    client.force_login(users["ann1"])
    # The page's panel claims an item with a POST once loaded (a GET writes nothing).
    page = client.post(f"/projects/{project.pk}/annotate/")
    item_id = page.context["item"].pk

    client.post(
        f"/projects/{project.pk}/annotate/label/",
        {"item": str(item_id), "label": "pets", "confidence": "4"},
    )

    annotation = Annotation.objects.get(item_id=item_id)
    assert (annotation.label, annotation.confidence) == ("pets", 4)


def test_unknown_token_and_inactive_user_are_refused(
    api: dict[str, APIClient], users: dict[str, Any], project: Project
) -> None:
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert stranger.get(f"/api/projects/{project.pk}/next/").status_code == 401

    users["ann1"].is_active = False
    users["ann1"].save(update_fields=["is_active"])
    assert api["ann1"].get(f"/api/projects/{project.pk}/next/").status_code == 401


@pytest.mark.parametrize("project_id", ["0", "9223372036854775808", "99999999999999999999999"])
def test_out_of_range_project_ids_are_404(api: dict[str, APIClient], project_id: str) -> None:
    assert api["ann1"].get(f"/api/projects/{project_id}/next/").status_code == 404


def test_out_of_range_item_ids_are_404_and_write_nothing(
    api: dict[str, APIClient], project: Project
) -> None:
    next_item(api["ann1"], project)
    for item_id in (0, -5, 2**63, 10**30):
        assert label(api["ann1"], project, item_id).status_code == 404, item_id
    assert not Annotation.objects.exists()


@pytest.mark.postgres
@pytest.mark.parametrize("overlap", [1, 2])
def test_the_claim_counts_the_open_batches_as_batch_room_does(
    api: dict[str, APIClient], users: dict[str, Any], overlap: int
) -> None:
    """The claim statement also returns the open batches' counts (so next/ asks no more);
    corrected for its own new lease, they are what `batch_room` counts after it."""
    members = {"ann1": "annotator", "ann2": "annotator"}
    project = text_project(api, members, n=12, name="Room", batch_size=6, overlap=overlap)
    label(api["ann1"], project, next_item(api["ann1"], project)["item"]["id"])  # batch is open
    for user in (users["ann1"], users["ann2"], users["ann1"]):  # new, new, renewed lease
        claim = hotpath.claim(project=project, user=user, now=timezone.now())
        assert claim.assignment is not None
        assert claim.room == batch_room(project)


def test_an_expired_lease_is_released_before_the_next_claim(
    api: dict[str, APIClient], project: Project
) -> None:
    api["lead"].post(
        f"/api/projects/{project.pk}/members/",
        {"username": "ann2", "role": "annotator"},
        format="json",
    )
    first = next_item(api["ann1"], project)["item"]["id"]
    Assignment.objects.filter(item_id=first).update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1)
    )

    assert next_item(api["ann2"], project)["item"]["id"] == first
    assert Assignment.objects.get(item_id=first, annotator__username="ann1").state == "expired"
    assert Item.objects.get(pk=first).assigned == 1
