"""The annotate page around the item: keys, suggestion, meta, confidence, history (HTTP)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from annotator.page import keymap, project_label_keys
from projects import label_keys, services
from projects.models import Annotation, Batch, Item
from tests.annotator.conftest import LABELS, WORDS

pytestmark = pytest.mark.django_db

MANY = [f"class{i:02d}" for i in range(14)]


def _browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _panel(client: Client, pid: int) -> str:
    response = client.post(f"/projects/{pid}/annotate/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def _keys_of(html: str) -> dict[str, str]:
    """label -> key, from the label buttons' data-key and data-label."""
    found = re.findall(r'data-key="([^"]*)" data-label="([^"]*)"', html)
    return {label: key for key, label in found}


def test_fourteen_labels_get_digits_then_free_letters(new_project: Any, users: Any) -> None:
    project = new_project({"ann1": "annotator"}, n=3, labels=MANY)
    html = _panel(_browser(users["ann1"]), project.pk)
    keys = _keys_of(html)
    assert [keys[label] for label in MANY] == [*"1234567890", "a", "d", "e", "f"]
    assert not set(keys.values()) & label_keys.RESERVED
    assert 'id="label-filter"' in html


def test_a_leads_key_is_used_and_the_others_move_around_it(new_project: Any, users: Any) -> None:
    project = new_project(
        {"ann1": "annotator"},
        n=3,
        labels=MANY,
        label_options={"class13": {"key": "Q", "description": "the last one"}},
    )
    keys = _keys_of(_panel(_browser(users["ann1"]), project.pk))
    assert keys["class13"] == "q"
    assert [keys[label] for label in MANY[10:13]] == ["a", "d", "e"]
    assert len(set(keys.values())) == len(MANY)


def test_key_hint_shows_only_the_keys_the_project_uses(new_project: Any, users: Any) -> None:
    project = new_project({"ann1": "annotator"}, n=3)
    page = _browser(users["ann1"]).get(f"/projects/{project.pk}/annotate/").content.decode()
    hint = page[page.index('id="key-hint"') : page.index("</p>", page.index('id="key-hint"'))]
    assert re.findall(r"<kbd>(.)</kbd>", hint)[:3] == ["1", "2", "3"]
    assert "<kbd>4</kbd>" not in hint and "<kbd>0</kbd>" not in hint
    assert "Enter" not in hint and "<kbd>/</kbd>" not in hint  # no suggestions, few labels
    assert 'id="label-filter"' not in _panel(_browser(users["ann1"]), project.pk)


def test_annotate_and_review_never_give_one_key_two_meanings(new_project: Any) -> None:
    project = new_project({}, n=0, labels=MANY, show_suggestion=True)
    labels = project_label_keys(project)
    meanings: dict[str, str] = {}
    for page in ("annotate", "review"):
        for i, row in enumerate(keymap(project, labels, page=page)):
            for key in row.keys:
                kind = "label" if i == 0 else row.does  # the first row is the labels'
                assert meanings.setdefault(key, kind) == kind, (page, key, row.does)
    assert label_keys.SEND_BACK_KEY not in label_keys.CONFIDENCE_KEYS


def test_review_sends_back_with_r(new_project: Any, users: Any) -> None:
    project = new_project({"reviewer": "reviewer"}, n=0)
    page = _browser(users["reviewer"]).get(f"/projects/{project.pk}/review/").content.decode()
    assert "<kbd>r</kbd> send back" in page
    assert "<kbd>b</kbd>" not in page


def test_the_models_suggestion_is_highlighted_when_the_project_shows_it(
    new_project: Any, users: Any, api: Any
) -> None:
    project = new_project({"ann1": "annotator"}, n=3, show_suggestion=True, holdout_fraction=0)
    client = _browser(users["ann1"])
    _panel(client, project.pk)
    # What a rescore writes on the open batches' rows (training.run._ranking_top_write).
    Item.objects.filter(project=project).update(prediction=LABELS.index("finance"))
    html = _panel(client, project.pk)
    assert "The model suggests <strong>finance</strong>" in html
    suggested = re.findall(r'class="[^"]*suggested[^"]*" data-key="(.)"', html)
    assert suggested == ["2"]
    assert (
        "<kbd>Enter</kbd> accept"
        in _browser(users["ann1"]).get(f"/projects/{project.pk}/annotate/").content.decode()
    )


@pytest.mark.parametrize("why", ["off", "holdout", "unscored"])
def test_no_suggestion_when_off_for_holdout_items_or_unscored(
    new_project: Any, users: Any, why: str
) -> None:
    project = new_project(
        {"ann1": "annotator"}, n=3, show_suggestion=why != "off", holdout_fraction=0
    )
    client = _browser(users["ann1"])
    _panel(client, project.pk)
    if why != "unscored":
        Item.objects.filter(project=project).update(prediction=1, is_holdout=why == "holdout")
    html = _panel(client, project.pk)
    assert "suggested" not in html and 'id="suggestion"' not in html


def test_only_the_chosen_meta_fields_are_shown(new_project: Any, users: Any) -> None:
    project = new_project({"ann1": "annotator"}, n=3, meta_fields=["source", "missing"])
    Item.objects.filter(project=project).update(
        meta={"source": "<b>forum</b>", "true_label": "pets"}
    )
    html = _panel(_browser(users["ann1"]), project.pk)
    assert "<dt>source</dt><dd>&lt;b&gt;forum&lt;/b&gt;</dd>" in html
    assert "true_label" not in html and "missing" not in html


def test_meta_is_hidden_by_default(new_project: Any, users: Any) -> None:
    project = new_project({"ann1": "annotator"}, n=3)
    Item.objects.filter(project=project).update(meta={"source": "forum"})
    assert 'id="item-meta"' not in _panel(_browser(users["ann1"]), project.pk)


def test_confidence_starts_at_the_projects_default_on_each_item(
    new_project: Any, users: Any
) -> None:
    project = new_project({"ann1": "annotator"}, n=4, default_confidence=2)
    client = _browser(users["ann1"])
    page = client.get(f"/projects/{project.pk}/annotate/").content.decode()
    assert re.search(r'value="2" data-key="x" checked', page)
    assert "Confidence starts at 2 on every item" in page
    html = _panel(client, project.pk)
    item = re.search(r'data-item="(\d+)"', html)
    assert item and 'data-confidence="2"' in html
    after = client.post(
        f"/projects/{project.pk}/annotate/label/",
        {"item": item.group(1), "label": "pets", "confidence": "5"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'data-confidence="2"' in after  # the next item starts at the default again
    undo = client.post(f"/projects/{project.pk}/annotate/undo/", HTTP_HX_REQUEST="true")
    assert 'data-confidence="5"' in undo.content.decode()  # changing a label: its own


def test_api_annotation_without_confidence_takes_the_projects_default(
    new_project: Any, api: Any
) -> None:
    project = new_project({"ann1": "annotator"}, n=3, default_confidence=4)
    item = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]["id"]
    response = api["ann1"].post(
        f"/api/projects/{project.pk}/annotations/", {"item": item, "label": "pets"}, format="json"
    )
    assert response.status_code == 201 and response.json()["confidence"] == 4


# History -------------------------------------------------------------------------------


def _label(api: Any, pid: int, label: str = "pets") -> int:
    item = api.get(f"/api/projects/{pid}/next/").json()["item"]["id"]
    response = api.post(
        f"/api/projects/{pid}/annotations/", {"item": item, "label": label}, format="json"
    )
    assert response.status_code == 201
    return int(item)


@pytest.fixture
def worked(
    new_project: Any, api: Any, django_capture_on_commit_callbacks: Any
) -> tuple[Any, list[int]]:
    """Two labels in a batch that has closed, one in a batch still open."""
    project = new_project(
        {"ann1": "annotator", "ann2": "annotator"},
        n=8,
        batch_size=2,
        holdout_fraction=0,
        seed_per_class=0,
    )
    # A batch's progress is counted after commit (batches.services.batch_item_completed).
    with django_capture_on_commit_callbacks(execute=True):
        items = [_label(api["ann1"], project.pk) for _ in range(3)]
    batches = {Item.objects.get(pk=i).batch.state for i in items[:2]}  # type: ignore[union-attr]
    assert batches == {Batch.State.CLOSED}
    assert Item.objects.get(pk=items[2]).batch.state == Batch.State.OPEN  # type: ignore[union-attr]
    return project, items


def test_history_lists_my_labels_newest_first_with_what_is_editable(worked: Any, api: Any) -> None:
    project, items = worked
    body = api["ann1"].get(f"/api/projects/{project.pk}/history/").json()
    assert [r["item"]["id"] for r in body["results"]] == items[::-1]
    assert [r["editable"] for r in body["results"]] == [True, False, False]
    assert body["results"][0]["item"]["text"].startswith(tuple(WORDS.values()))
    assert api["ann2"].get(f"/api/projects/{project.pk}/history/").json() == {"results": []}


def test_history_changes_a_label_while_its_batch_is_open(worked: Any, api: Any) -> None:
    project, items = worked
    url = f"/api/projects/{project.pk}/history/{items[2]}/"
    response = api["ann1"].patch(url, {"label": "sport", "confidence": 5}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["label"], response.json()["confidence"]) == ("sport", 5)
    annotation = Annotation.objects.get(item_id=items[2])
    assert (annotation.label, annotation.confidence) == ("sport", 5)
    assert Annotation.objects.filter(project=project).count() == 3


def test_history_is_read_only_once_the_batch_closed(worked: Any, api: Any) -> None:
    project, items = worked
    url = f"/api/projects/{project.pk}/history/{items[0]}/"
    response = api["ann1"].patch(url, {"label": "sport"}, format="json")
    assert response.status_code == 409
    assert Annotation.objects.get(item_id=items[0]).label == "pets"


def test_history_refuses_bad_labels_and_others_items(worked: Any, api: Any) -> None:
    project, items = worked
    url = f"/api/projects/{project.pk}/history/{items[2]}/"
    assert api["ann1"].patch(url, {"label": "nope"}, format="json").status_code == 400
    assert api["ann2"].patch(url, {"label": "sport"}, format="json").status_code == 404
    assert api["outsider"].get(f"/api/projects/{project.pk}/history/").status_code == 404


def test_history_page_shows_rows_and_changes_an_open_one(worked: Any, users: Any) -> None:
    project, items = worked
    client = _browser(users["ann1"])
    page = client.get(f"/projects/{project.pk}/annotate/history/").content.decode()
    assert page.count('class="history-row') == 3
    assert page.count("read-only") >= 2 and page.count('class="history-edit"') == 1
    row = client.post(
        f"/projects/{project.pk}/annotate/history/{items[2]}/",
        {"label": "finance", "confidence": "2"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert f'id="history-{items[2]}"' in row and 'value="finance" selected' in row
    assert Annotation.objects.get(item_id=items[2]).label == "finance"
    closed = client.post(
        f"/projects/{project.pk}/annotate/history/{items[0]}/",
        {"label": "finance"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "read-only now" in closed
    assert Annotation.objects.get(item_id=items[0]).label == "pets"


def test_services_unchanged_labels_keep_working(new_project: Any) -> None:
    """Adding a label keeps the options valid; removing is refused as before."""
    project = new_project({}, n=0, label_options={"pets": {"key": "p"}})
    services.project_update(project=project, labels=[*LABELS, "weather"])
    assert project_label_keys(project)[0].key == "p"
