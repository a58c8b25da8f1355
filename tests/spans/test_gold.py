"""Gold items on span projects: the lead's true spans (checked like a submit), handed out
unannounced, and each annotator's agreement with them as span F1 (exact and partial)."""

from __future__ import annotations

import json

import pytest

from projects.models import Item, Project
from tests.spans.helpers import span, span_project, upload

pytestmark = pytest.mark.django_db

TEXT = "Alice met Bob in Paris on day {i}"  # Alice 0-5, met 6-9, Bob 10-13, in 14-16, Paris 17-22
ALICE, BOB, PARIS = span(0, 5, "PER"), span(10, 13, "PER"), span(17, 22, "LOC")


@pytest.fixture
def project(api) -> Project:  # type: ignore[no-untyped-def]
    project = span_project(api, batch_size=12, holdout_fraction=0)
    rows = [{"text": TEXT.format(i=i)} for i in range(11)]
    rows.append({"text": TEXT.format(i=11), "spans": [ALICE]})  # a seed: labelled already
    response = upload(api, project, "pool.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert response.status_code == 201, response.content
    return project


def _items(project: Project) -> list[Item]:
    return list(Item.objects.filter(project=project).order_by("id"))


def _gold(api, project: Project, entries: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    url = f"/api/projects/{project.pk}/gold/"
    return api["lead"].post(url, {"items": entries}, format="json")


def test_gold_spans_are_checked_snapped_stored_and_listed(api, project):  # type: ignore[no-untyped-def]
    first, second, *_, seeded = _items(project)
    response = _gold(api, project, [
        {"item": first.pk, "spans": [PARIS, span(1, 4, "PER")]},  # inside "Alice": snapped
        {"item": second.pk, "label": "PER"},
        {"item": seeded.pk, "spans": [BOB]},
    ])  # fmt: skip
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["updated"] == 2
    assert body["errors"] == [
        {"item": second.pk, "error": 'this project takes "spans", not "label"'}
    ]
    refused = _gold(api, project, [
        {"item": second.pk, "spans": [span(0, 5, "DATE")]},
        {"item": second.pk + 1, "spans": [ALICE, span(2, 9, "LOC")]},
        {"item": second.pk + 2, "labels": ["PER"]},
    ])  # fmt: skip
    assert refused.status_code == 400
    errors = [e["error"] for e in refused.json()["errors"]]
    assert "unknown labels ['DATE']" in errors[0] and "overlaps" in errors[1]
    assert errors[2] == 'this project takes "spans", not "labels"'
    first.refresh_from_db()
    seeded.refresh_from_db()
    assert (first.state, first.gold_spans, first.spans) == ("gold", [ALICE, PARIS], None)
    # A labelled item's gold spans become its final, training ones.
    assert (seeded.state, seeded.gold_spans, seeded.spans) == ("labeled", [BOB], [BOB])
    assert seeded.label_source == "gold"
    listed = api["lead"].get(f"/api/projects/{project.pk}/gold/").json()
    assert listed == [
        {"item": first.pk, "label": None, "labels": None, "spans": [ALICE, PARIS], "state": "gold"},
        {"item": seeded.pk, "label": None, "labels": None, "spans": [BOB], "state": "labeled"},
    ]
    assert _gold(api, project, [{"item": first.pk, "spans": None}]).json()["updated"] == 1
    first.refresh_from_db()
    assert (first.state, first.gold_spans) == ("pool", None)


def test_no_entity_is_a_gold_answer_too(api, project):  # type: ignore[no-untyped-def]
    first = _items(project)[0]
    assert _gold(api, project, [{"item": first.pk, "spans": []}]).json()["updated"] == 1
    first.refresh_from_db()
    assert (first.state, first.gold_spans) == ("gold", [])


def test_gold_spans_are_handed_out_and_scored_by_span_f1(api, client, users, project):  # type: ignore[no-untyped-def]
    first, second = _items(project)[:2]
    gold = {first.pk: [ALICE, PARIS], second.pk: [BOB]}
    entries = [{"item": i, "spans": s} for i, s in gold.items()]
    assert _gold(api, project, entries).json()["updated"] == 2
    api["lead"].patch(f"/api/projects/{project.pk}/", {"gold_fraction": 0.5}, format="json")
    # ann1: the first exactly; on the second "Bob in" where gold has "Bob" (an overlap).
    answers = {first.pk: [ALICE, PARIS], second.pk: [span(10, 16, "PER")]}
    seen = []
    for _ in range(40):
        response = api["ann1"].get(f"/api/projects/{project.pk}/next/")
        if response.status_code == 204:
            break
        item = response.json()["item"]["id"]
        seen.append(item)
        body = {"item": item, "spans": answers.get(item, []), "confidence": 3}
        posted = api["ann1"].post(f"/api/projects/{project.pk}/annotations/", body, format="json")
        assert posted.status_code == 201, posted.content
    assert set(gold) <= set(seen) and len(seen) == len(set(seen))
    for item in Item.objects.filter(pk__in=list(gold)):
        assert (item.state, item.spans) == ("gold", None)  # a check, not training data
    # Exact: 2 of 3 spans on each side match, F1 2/3; partial: 2 right and one overlap
    # counting half, (2 + 0.5) / 3 = 5/6; the second item is not an exact answer: 1/2.
    stats = api["ann1"].get(f"/api/projects/{project.pk}/annotators/").json()
    assert len(stats) == 1
    assert (stats[0]["gold_items"], stats[0]["gold_accuracy"]) == (2, 0.5)
    assert stats[0]["gold_exact_f1"] == pytest.approx(2 / 3)
    assert stats[0]["gold_partial_f1"] == pytest.approx(5 / 6)
    agreement = api["lead"].get(f"/api/projects/{project.pk}/agreement/").json()
    assert agreement["gold"] == [{
        "annotator": "ann1", "n": 2, "accuracy": 0.5,
        "exact_f1": pytest.approx(2 / 3), "partial_f1": pytest.approx(5 / 6),
    }]  # fmt: skip
    everyone = api["lead"].get(f"/api/projects/{project.pk}/annotators/").json()
    ann2 = next(row for row in everyone if row["annotator"] == "ann2")
    assert (ann2["gold_items"], ann2["gold_exact_f1"], ann2["gold_partial_f1"]) == (0, None, None)
    client.force_login(users["lead"])
    panel = client.get(f"/projects/{project.pk}/quality/").content.decode()
    assert "span F1 0.667, partial 0.833" in panel


def test_bulk_gold_takes_each_items_own_final_spans(api, project):  # type: ignore[no-untyped-def]
    first, *_, seeded = _items(project)
    url = f"/api/projects/{project.pk}/items/bulk/"
    body = {"action": "gold", "items": [first.pk, seeded.pk]}
    response = api["lead"].post(url, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["changed"] == 1
    assert response.json()["refused"] == [
        {"item": first.pk, "error": "no final spans: label it first"}
    ]
    seeded.refresh_from_db()
    assert (seeded.gold_spans, seeded.spans) == ([ALICE], [ALICE])
    with_label = api["lead"].post(url, {**body, "label": "PER"}, format="json")
    assert with_label.status_code == 400
    assert "own final spans" in json.dumps(with_label.json())


@pytest.mark.parametrize(("who", "code"), [("ann1", 403), ("outsider", 404)])
def test_only_leads_mark_gold_spans(api, project, who, code):  # type: ignore[no-untyped-def]
    first = _items(project)[0]
    url = f"/api/projects/{project.pk}/gold/"
    response = api[who].post(url, {"items": [{"item": first.pk, "spans": [ALICE]}]}, format="json")
    assert response.status_code == code
    first.refresh_from_db()
    assert first.gold_spans is None
