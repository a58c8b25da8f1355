"""The lead's item actions: relabel as lead, and bulk actions (review, gold, exclusion),
as services and over HTTP, with the access rules of the items page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.test import Client

from annotator.assignment import services as annotate
from annotator.models import ReviewDecision
from annotator.quality.bulk import items_bulk
from annotator.quality.review import item_relabel, review_decide
from annotator.quality.services import consensus_recompute
from projects import services
from projects.batches.services import batch_open
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Annotation, Item, Project
from winnow.errors import Conflict

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(users: dict[str, Any]) -> Project:
    project = services.project_create(
        user=users["lead"],
        name="Pets",
        kind="text",
        labels=["cat", "dog"],
        batch_size=4,
        overlap=2,
        holdout_fraction=0.0,
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    services.membership_add(project=project, username="ann2", role="annotator")
    services.membership_add(project=project, username="reviewer", role="reviewer")
    ingest.items_import(
        project=project, rows=[ParsedRow(line=i, text=f"pet number {i}") for i in range(12)]
    )
    project.refresh_from_db()
    return project


def _label(project: Project, user: Any, label: str) -> int:
    assignment = annotate.assignment_next(project=project, user=user).assignment
    assert assignment is not None
    annotate.annotation_submit(
        project=project, user=user, item_id=assignment.item_id, label=label, confidence=3
    )
    return assignment.item_id


def _disputed(project: Project, users: dict[str, Any]) -> int:
    """An item both annotators labelled differently: it waits for review."""
    first = _label(project, users["ann1"], "cat")
    second = _label(project, users["ann2"], "dog")
    assert first == second
    assert Item.objects.get(pk=first).state == Item.State.REVIEW
    return first


def _pool(project: Project) -> list[Item]:
    return list(Item.objects.filter(project=project, state=Item.State.POOL).order_by("id"))


# -- relabel as lead ------------------------------------------------------------------


def test_relabel_records_the_leads_annotation_and_decision(project, users) -> None:  # type: ignore[no-untyped-def]
    item_id = _disputed(project, users)
    item = item_relabel(project=project, user=users["lead"], item_id=item_id, label="dog")
    assert (item.state, item.label, item.label_source) == ("labeled", "dog", "lead")
    mine = Annotation.objects.get(item_id=item_id, annotator=users["lead"])
    assert mine.label == "dog"
    assert item.annotation_count == 3
    decision = ReviewDecision.objects.get(item_id=item_id)
    assert (decision.label, decision.reviewer_id) == ("dog", users["lead"].pk)
    # The reviewer's queue no longer holds it, and consensus never re-decides it.
    with pytest.raises(Conflict):
        review_decide(project=project, user=users["reviewer"], item_id=item_id, label="cat")
    consensus_recompute(project=project)
    assert Item.objects.get(pk=item_id).label == "dog"


def test_relabel_overrides_a_reviewers_decision_and_can_be_changed(project, users) -> None:  # type: ignore[no-untyped-def]
    item_id = _disputed(project, users)
    review_decide(project=project, user=users["reviewer"], item_id=item_id, label="cat")
    item_relabel(project=project, user=users["lead"], item_id=item_id, label="dog")
    item_relabel(project=project, user=users["lead"], item_id=item_id, label="cat")
    assert Item.objects.get(pk=item_id).label == "cat"
    assert Annotation.objects.filter(item_id=item_id, annotator=users["lead"]).count() == 1
    assert ReviewDecision.objects.get(item_id=item_id).reviewer_id == users["lead"].pk


def test_relabel_refuses_items_in_an_open_batch_and_unknown_labels(project, users) -> None:  # type: ignore[no-untyped-def]
    batch_open(project=project)
    queued = Item.objects.filter(project=project, state=Item.State.QUEUED).first()
    assert queued is not None
    with pytest.raises(Conflict):
        item_relabel(project=project, user=users["lead"], item_id=queued.pk, label="cat")
    with pytest.raises(ValidationError):
        item_relabel(project=project, user=users["lead"], item_id=_pool(project)[0].pk, label="x")
    assert not Annotation.objects.filter(annotator=users["lead"]).exists()


# -- bulk actions ---------------------------------------------------------------------


def test_excluded_items_are_never_picked_for_a_batch_nor_handed_out(project, users) -> None:  # type: ignore[no-untyped-def]
    pool = _pool(project)
    kept = pool[:3]
    excluded = pool[3:]
    result = items_bulk(
        project=project,
        user=users["lead"],
        action="exclude",
        item_ids=[i.pk for i in excluded],
    )
    assert (result.changed, result.refused) == (len(excluded), [])
    handed = set()
    for _ in range(10):
        for name in ("ann1", "ann2"):
            assignment = annotate.assignment_next(project=project, user=users[name]).assignment
            if assignment is not None:
                handed.add(assignment.item_id)
                annotate.annotation_submit(
                    project=project,
                    user=users[name],
                    item_id=assignment.item_id,
                    label="cat",
                    confidence=3,
                )
        batch_open(project=project)
    assert handed == {i.pk for i in kept}
    states = set(
        Item.objects.filter(pk__in=[i.pk for i in excluded]).values_list("state", flat=True)
    )
    assert states == {"excluded"}
    # Returned to the pool, they are picked again.
    items_bulk(project=project, user=users["lead"], action="include", item_ids=[excluded[0].pk])
    assert Item.objects.get(pk=excluded[0].pk).state == Item.State.POOL


def test_exclusion_refuses_items_that_left_the_pool(project, users) -> None:  # type: ignore[no-untyped-def]
    item_id = _disputed(project, users)
    free = _pool(project)[0]
    result = items_bulk(
        project=project, user=users["lead"], action="exclude", item_ids=[item_id, free.pk]
    )
    assert result.changed == 1
    assert [r["item"] for r in result.refused] == [item_id]
    assert Item.objects.get(pk=item_id).state == Item.State.REVIEW


def test_send_to_review_puts_labelled_items_in_the_queue_until_decided(project, users) -> None:  # type: ignore[no-untyped-def]
    one = _label(project, users["ann1"], "cat")
    other = _label(project, users["ann2"], "cat")
    assert Item.objects.get(pk=one).state == Item.State.LABELED
    result = items_bulk(project=project, user=users["lead"], action="review", item_ids=[one])
    assert result.changed == 1
    item = Item.objects.get(pk=one)
    assert (item.state, item.label, item.label_source) == ("review", None, "lead")
    consensus_recompute(project=project)  # consensus leaves the lead's choice alone
    assert Item.objects.get(pk=one).state == Item.State.REVIEW
    review_decide(project=project, user=users["reviewer"], item_id=one, label="dog")
    assert Item.objects.get(pk=one).label == "dog"
    assert other == one  # overlap 2: both labelled the same item


def test_mark_gold_takes_each_items_own_label_or_the_one_given(project, users) -> None:  # type: ignore[no-untyped-def]
    labelled = _label(project, users["ann1"], "cat")
    _label(project, users["ann2"], "cat")
    free = _pool(project)[0]
    result = items_bulk(
        project=project, user=users["lead"], action="gold", item_ids=[labelled, free.pk]
    )
    assert result.changed == 1 and [r["item"] for r in result.refused] == [free.pk]
    assert Item.objects.get(pk=labelled).gold_label == "cat"
    items_bulk(project=project, user=users["lead"], action="gold", item_ids=[free.pk], label="dog")
    free.refresh_from_db()
    assert (free.state, free.gold_label) == ("gold", "dog")


def test_another_projects_id_refuses_the_whole_selection(project, users) -> None:  # type: ignore[no-untyped-def]
    other = services.project_create(user=users["lead"], name="Other", kind="text", labels=["a"])
    foreign = Item.objects.create(project=other, text="not yours")
    mine = _pool(project)[0]
    with pytest.raises(Http404):
        items_bulk(
            project=project,
            user=users["lead"],
            action="exclude",
            item_ids=[mine.pk, foreign.pk],
        )
    assert Item.objects.get(pk=mine.pk).state == Item.State.POOL
    assert Item.objects.get(pk=foreign.pk).state == Item.State.POOL


def test_an_archived_project_refuses_relabels_and_bulk_actions(project, users) -> None:  # type: ignore[no-untyped-def]
    services.project_archive(project=project)
    item = _pool(project)[0]
    with pytest.raises(Conflict):
        item_relabel(project=project, user=users["lead"], item_id=item.pk, label="cat")
    with pytest.raises(Conflict):
        items_bulk(project=project, user=users["lead"], action="exclude", item_ids=[item.pk])
    assert Item.objects.get(pk=item.pk).state == Item.State.POOL


# -- over HTTP --------------------------------------------------------------------------


def test_bulk_api_answers_with_what_changed_and_what_was_refused(api, project, users) -> None:  # type: ignore[no-untyped-def]
    disputed = _disputed(project, users)
    free = _pool(project)[0]
    url = f"/api/projects/{project.pk}/items/bulk/"
    body = {"action": "exclude", "items": [free.pk, disputed]}
    response = api["lead"].post(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["changed"] == 1
    assert response.json()["refused"][0]["item"] == disputed


def test_bulk_api_refuses_another_projects_ids_with_404_and_changes_nothing(
    api, project, users
) -> None:  # type: ignore[no-untyped-def]
    other = services.project_create(
        user=users["outsider"], name="Theirs", kind="text", labels=["a"]
    )
    foreign = Item.objects.create(project=other, text="theirs")
    free = _pool(project)[0]
    url = f"/api/projects/{project.pk}/items/bulk/"
    response = api["lead"].post(
        url, {"action": "exclude", "items": [free.pk, foreign.pk]}, format="json"
    )
    assert response.status_code == 404
    assert Item.objects.get(pk=free.pk).state == Item.State.POOL


@pytest.mark.parametrize(
    "body",
    [
        {"action": "burn", "items": [1]},
        {"action": "exclude", "items": []},
        {"action": "exclude", "items": ["x"]},
        {"action": "exclude", "items": [2**63]},
        {"action": "gold", "items": [1], "label": "\x00"},
    ],
)
def test_bulk_api_refuses_bad_bodies_with_400(api, project, body) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/projects/{project.pk}/items/bulk/"
    assert api["lead"].post(url, body, format="json").status_code == 400


@pytest.mark.parametrize(("who", "code"), [("ann1", 403), ("reviewer", 403), ("outsider", 404)])
def test_only_leads_act_on_items(api, project, who, code) -> None:  # type: ignore[no-untyped-def]
    item = _pool(project)[0]
    bulk = f"/api/projects/{project.pk}/items/bulk/"
    label = f"/api/projects/{project.pk}/items/{item.pk}/label/"
    assert (
        api[who].post(bulk, {"action": "exclude", "items": [item.pk]}, format="json").status_code
        == code
    )
    assert api[who].post(label, {"label": "cat"}, format="json").status_code == code
    assert Item.objects.get(pk=item.pk).state == Item.State.POOL


def test_relabel_api_returns_the_item_row(api, project, users) -> None:  # type: ignore[no-untyped-def]
    item_id = _disputed(project, users)
    url = f"/api/projects/{project.pk}/items/{item_id}/label/"
    response = api["lead"].post(url, {"label": "dog"}, format="json")
    assert response.status_code == 200, response.content
    row = response.json()
    assert (row["id"], row["label"], row["state"]) == (item_id, "dog", "labeled")
    assert "lead" in {a["annotator"] for a in row["annotations"]}
    assert api["lead"].post(url, {"label": "bird"}, format="json").status_code == 400


def test_relabel_api_gives_404_for_another_projects_item(api, project, users) -> None:  # type: ignore[no-untyped-def]
    other = services.project_create(user=users["lead"], name="Other", kind="text", labels=["cat"])
    foreign = Item.objects.create(project=other, text="elsewhere")
    url = f"/api/projects/{project.pk}/items/{foreign.pk}/label/"
    assert api["lead"].post(url, {"label": "cat"}, format="json").status_code == 404
    assert Item.objects.get(pk=foreign.pk).label is None


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(("who", "code"), [("ann1", 403), ("outsider", 404)])
def test_items_page_and_item_detail_are_for_leads_and_reviewers(project, users, who, code) -> None:  # type: ignore[no-untyped-def]
    item = _pool(project)[0]
    assert _page(users[who]).get(f"/projects/{project.pk}/items/").status_code == code
    assert _page(users[who]).get(f"/projects/{project.pk}/items/{item.pk}/").status_code == code
    assert _page(users["reviewer"]).get(f"/projects/{project.pk}/items/").status_code == 200


def test_items_page_filters_with_the_apis_rule(project, users) -> None:  # type: ignore[no-untyped-def]
    item_id = _disputed(project, users)
    lead = _page(users["lead"])
    page = lead.get(f"/projects/{project.pk}/items/", {"state": "review"}).content.decode()
    assert f'data-item="{item_id}"' in page and page.count("data-item=") == 1
    bad = lead.get(f"/projects/{project.pk}/items/", {"score_min": "nan"})
    assert bad.status_code == 200 and "filter-errors" in bad.content.decode()


def test_item_detail_shows_annotations_predictions_and_selection_log(project, users) -> None:  # type: ignore[no-untyped-def]
    item_id = _disputed(project, users)
    Item.objects.filter(pk=item_id).update(score=0.75, prediction=1, scored_version=3)
    page = _page(users["reviewer"]).get(f"/projects/{project.pk}/items/{item_id}/").content.decode()
    assert "ann1" in page and "ann2" in page
    assert "v3" in page and "0.7500" in page and "item row" in page
    assert 'id="item-selections"' in page  # it was picked for a batch
    assert 'id="relabel"' not in page  # reviewers see, leads relabel


def test_item_detail_of_another_projects_item_is_404(project, users) -> None:  # type: ignore[no-untyped-def]
    other = services.project_create(user=users["lead"], name="Other", kind="text", labels=["cat"])
    foreign = Item.objects.create(project=other, text="elsewhere")
    url = f"/projects/{project.pk}/items/{foreign.pk}/"
    assert _page(users["lead"]).get(url).status_code == 404


def test_bulk_page_redirects_back_to_the_same_list(project, users) -> None:  # type: ignore[no-untyped-def]
    free = _pool(project)[0]
    back = f"/projects/{project.pk}/items/?state=pool"
    response = _page(users["lead"]).post(
        f"/projects/{project.pk}/items/bulk/",
        {"action": "exclude", "items": [free.pk], "next": back},
    )
    assert response.status_code == 302 and response["Location"] == back
    assert Item.objects.get(pk=free.pk).state == Item.State.EXCLUDED
    offsite = _page(users["lead"]).post(
        f"/projects/{project.pk}/items/bulk/",
        {"action": "include", "items": [free.pk], "next": "https://evil.example/"},
    )
    assert offsite["Location"] == f"/projects/{project.pk}/items/"
