"""Span projects through the HTTP API: the task, next/ with tokens, spans submitted and
checked (each bad answer a 400 that says why), repeats, undo and history, and the parts
of the loop that refuse span projects."""

from __future__ import annotations

import pytest

from projects.models import Annotation, Item, Project
from tests.spans.helpers import LABELS, TEXT, create, next_item, span, span_project, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(api):  # type: ignore[no-untyped-def]
    return span_project(api, batch_size=4)


@pytest.fixture
def item(api, project):  # type: ignore[no-untyped-def]
    pool = "".join(f'{{"text": "{TEXT} number {i}"}}\n' for i in range(6))
    assert upload(api, project, "pool.jsonl", pool).status_code == 201
    return next_item(api, "ann1", project)


def _submit(api, project, body, who="ann1"):  # type: ignore[no-untyped-def]
    return api[who].post(f"/api/projects/{project.pk}/annotations/", body, format="json")


def test_a_span_project_gets_the_sequence_default_strategy(api):  # type: ignore[no-untyped-def]
    body = create(api).json()
    assert (body["task"], body["strategy"], body["selector"]) == ("spans", "mnlp", "top_k")
    assert body["labels"] == LABELS


def test_spans_are_for_text_projects_only(api):  # type: ignore[no-untyped-def]
    for kind in ("image", "vector"):
        response = create(api, kind=kind)
        assert response.status_code == 400
        assert "text projects only" in response.json()["task"][0]


def test_a_span_project_takes_only_sequence_strategies_and_the_others_refuse_them(api):  # type: ignore[no-untyped-def]
    assert create(api, strategy="token_entropy_mean").status_code == 201
    refused = create(api, strategy="margin")
    assert refused.status_code == 400 and "strategy" in refused.json()
    single = api["lead"].post(
        "/api/projects/",
        {"name": "x", "kind": "text", "labels": ["a", "b"], "strategy": "mnlp"},
        format="json",
    )
    assert single.status_code == 400 and "strategy" in single.json()


def test_a_span_project_refuses_selectors_that_weigh_class_probabilities(api):  # type: ignore[no-untyped-def]
    """A CRF gives no class probabilities: `balanced` would silently drop its bonus."""
    assert create(api, selector="kcenter").status_code == 201
    refused = create(api, selector="balanced")
    assert refused.status_code == 400 and "selector" in refused.json(), refused.content
    single = api["lead"].post(
        "/api/projects/",
        {"name": "x", "kind": "text", "labels": ["a", "b"], "selector": "balanced"},
        format="json",
    )
    assert single.status_code == 201


def test_next_shows_the_items_tokens_with_their_offsets(api, project, item):  # type: ignore[no-untyped-def]
    assert item["task"] == "spans" and item["labels"] == LABELS
    tokens = item["item"]["tokens"]
    assert tokens[:3] == [
        {"start": 0, "end": 5, "text": "Alice"},
        {"start": 6, "end": 9, "text": "met"},
        {"start": 10, "end": 13, "text": "Bob"},
    ]
    text = item["item"]["text"]
    assert all(text[t["start"] : t["end"]] == t["text"] for t in tokens)


def test_spans_are_stored_snapped_sorted_and_a_repeat_changes_nothing(api, project, item):  # type: ignore[no-untyped-def]
    pid = item["item"]["id"]
    # "Paris" given from inside the word, "Alice" given exactly; sent out of order.
    body = {"item": pid, "spans": [span(18, 20, "LOC"), span(0, 5, "PER")], "confidence": 4}
    first = _submit(api, project, body)
    assert first.status_code == 201, first.content
    stored = [span(0, 5, "PER"), span(17, 22, "LOC")]
    assert first.json()["spans"] == stored and first.json()["label"] == ""
    again = _submit(api, project, body)
    assert again.status_code == 200
    assert Annotation.objects.filter(item_id=pid).count() == 1
    done = Item.objects.get(pk=pid)
    assert (done.state, done.spans, done.label, done.labels) == ("labeled", stored, None, None)
    assert done.label_source == "consensus"


def test_no_entity_is_an_answer(api, project, item):  # type: ignore[no-untyped-def]
    response = _submit(api, project, {"item": item["item"]["id"], "spans": []})
    assert response.status_code == 201, response.content
    assert Item.objects.get(pk=item["item"]["id"]).spans == []
    status = api["lead"].get(f"/api/projects/{project.pk}/status/").json()
    assert status["labeled"] == 1


@pytest.mark.parametrize(
    ("spans", "says"),
    [
        ([span(0, 5, "DATE")], "unknown labels ['DATE']"),
        ([span(0, 5, "PER"), span(3, 9, "LOC")], "overlaps another span"),
        ([span(0, 5, "PER"), span(0, 5, "PER")], "overlaps another span"),
        ([span(0, 500, "PER")], "not inside the text"),
        ([span(-1, 3, "PER")], "not inside the text"),
        ([span(5, 5, "PER")], "not inside the text"),
        ([span(5, 6, "PER")], "covers no token"),
        ([{"start": "0", "end": 5, "label": "PER"}], "must be integers"),
        ([{"start": 0.0, "end": 5, "label": "PER"}], "must be integers"),
        ([{"start": True, "end": 5, "label": "PER"}], "must be integers"),
        ([{"start": 0, "end": 5}], "label must be a non-empty string"),
        ([{"start": 0, "end": 5, "label": 3}], "label must be a non-empty string"),
    ],
)
def test_a_bad_span_answer_is_a_400_that_says_why(api, project, item, spans, says):  # type: ignore[no-untyped-def]
    response = _submit(api, project, {"item": item["item"]["id"], "spans": spans})
    assert response.status_code == 400, response.content
    assert says in str(response.json()["spans"])
    assert not Annotation.objects.filter(item_id=item["item"]["id"]).exists()


@pytest.mark.parametrize(
    "body",
    [
        {"spans": "PER 0 5"},
        {"spans": {"start": 0, "end": 5, "label": "PER"}},
        {"spans": [[0, 5, "PER"]]},
        {"spans": ["PER"]},
    ],
)
def test_spans_that_are_not_a_list_of_objects_are_a_400(api, project, item, body):  # type: ignore[no-untyped-def]
    response = _submit(api, project, {"item": item["item"]["id"], **body})
    assert response.status_code == 400, response.content
    assert "spans" in response.json()


def test_a_span_project_refuses_a_label_or_a_set_or_nothing(api, project, item):  # type: ignore[no-untyped-def]
    pid = item["item"]["id"]
    label = _submit(api, project, {"item": pid, "label": "PER"})
    assert label.status_code == 400 and "spans" in str(label.json())
    labels = _submit(api, project, {"item": pid, "labels": ["PER"]})
    assert labels.status_code == 400 and "spans" in str(labels.json())
    nothing = _submit(api, project, {"item": pid})
    assert nothing.status_code == 400 and "spans" in nothing.json()
    assert not Annotation.objects.filter(item_id=pid).exists()


def test_single_and_multilabel_projects_refuse_spans(api):  # type: ignore[no-untyped-def]
    for task in ("single", "multilabel"):
        body = {"name": task, "kind": "text", "labels": ["a", "b"], "task": task}
        pid = api["lead"].post("/api/projects/", body, format="json").json()["id"]
        project = Project.objects.get(pk=pid)
        assert upload(api, project, "pool.jsonl", '{"text": "a b"}\n').status_code == 201
        item = api["lead"].get(f"/api/projects/{pid}/next/").json()["item"]["id"]
        response = api["lead"].post(
            f"/api/projects/{pid}/annotations/",
            {"item": item, "spans": [span(0, 1, "a")]},
            format="json",
        )
        assert response.status_code == 400
        assert "only span projects" in response.json()["spans"][0]


def test_an_outsider_gets_404(api, project, item):  # type: ignore[no-untyped-def]
    response = _submit(api, project, {"item": item["item"]["id"], "spans": []}, who="outsider")
    assert response.status_code == 404


def test_undo_and_history_carry_the_spans_and_spans_can_be_changed(api, project, item):  # type: ignore[no-untyped-def]
    pid = item["item"]["id"]
    base = f"/api/projects/{project.pk}"
    _submit(api, project, {"item": pid, "spans": [span(0, 5, "PER")]})
    undo = api["ann1"].post(f"{base}/undo/").json()
    assert undo["previous"]["spans"] == [span(0, 5, "PER")]
    assert undo["item"]["tokens"][0]["text"] == "Alice"
    history = api["ann1"].get(f"{base}/history/").json()["results"]
    assert history[0]["spans"] == [span(0, 5, "PER")]
    bad = api["ann1"].patch(f"{base}/history/{pid}/", {"spans": [span(0, 5, "X")]}, format="json")
    assert bad.status_code == 400
    changed = api["ann1"].patch(
        f"{base}/history/{pid}/", {"spans": [span(10, 13, "PER")]}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["spans"] == [span(10, 13, "PER")]
    assert Item.objects.get(pk=pid).spans == [span(10, 13, "PER")]


def test_the_stream_takes_texts_before_any_model(api, project, item):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        f"/api/projects/{project.pk}/stream/", {"text": "Carol went to Rome"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["score"] is None and response.json()["prediction"] is None
    empty = api["lead"].post(f"/api/projects/{project.pk}/stream/", {"text": " "}, format="json")
    assert empty.status_code == 400


def test_the_lead_relabels_with_spans_and_the_items_list_shows_them(api, project, item):  # type: ignore[no-untyped-def]
    pid = item["item"]["id"]
    _submit(api, project, {"item": pid, "spans": [span(0, 5, "LOC")]})
    url = f"/api/projects/{project.pk}/items/{pid}/label/"
    bad = api["lead"].post(url, {"spans": [span(0, 5, "DATE")]}, format="json")
    assert bad.status_code == 400
    label = api["lead"].post(url, {"label": "PER"}, format="json")
    assert label.status_code == 400
    relabelled = api["lead"].post(url, {"spans": [span(0, 5, "PER")]}, format="json")
    assert relabelled.status_code == 200, relabelled.content
    assert relabelled.json()["spans"] == [span(0, 5, "PER")]
    stored = Item.objects.get(pk=pid)
    assert (stored.spans, stored.label_source) == ([span(0, 5, "PER")], "lead")
    rows = api["lead"].get(f"/api/projects/{project.pk}/items/?state=labeled").json()["results"]
    [row] = [r for r in rows if r["id"] == pid]
    assert row["spans"] == [span(0, 5, "PER")]
    assert {a["annotator"]: a["spans"] for a in row["annotations"]} == {
        "ann1": [span(0, 5, "LOC")],
        "lead": [span(0, 5, "PER")],
    }


def test_a_replay_waits_for_an_evaluated_model(api, project, item):  # type: ignore[no-untyped-def]
    response = api["lead"].post(f"/api/projects/{project.pk}/replay/")
    assert response.status_code == 409
    assert "holdout" in str(response.json())


def test_a_csv_of_texts_imports_into_the_pool_and_a_label_column_is_refused(api, project):  # type: ignore[no-untyped-def]
    response = upload(api, project, "pool.csv", 'text,source\n"Carol went to Rome",news\n')
    assert response.status_code == 201 and response.json()["created"] == 1
    labelled = upload(api, project, "labelled.csv", "text,label\nCarol went to Rome,PER\n")
    assert labelled.json()["created"] == 0
    assert '"spans"' in labelled.json()["errors"][0]["error"]


def test_the_create_page_makes_a_span_project_with_its_default_strategy(client, users):  # type: ignore[no-untyped-def]
    client.force_login(users["ann2"])
    page = client.get("/projects/new/").content.decode()
    assert 'value="spans"' in page
    body = {"name": "Entities via UI", "kind": "text", "task": "spans", "labels": "PER\nLOC"}
    assert client.post("/projects/new/", body).status_code == 302
    project = Project.objects.get(name="Entities via UI")
    assert (project.task, project.strategy, project.selector) == ("spans", "mnlp", "top_k")
    image = {"name": "Boxes", "kind": "image", "task": "spans", "labels": "PER"}
    refused = client.post("/projects/new/", image)
    assert refused.status_code == 200 and "text projects only" in refused.content.decode()
    assert not Project.objects.filter(name="Boxes").exists()
