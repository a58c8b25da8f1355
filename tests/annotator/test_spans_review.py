"""Span review end to end over HTTP: two annotators' differing spans, submitted through
the API, send the item to review; the review page shows each annotator's spans side by
side; the reviewer resolves (or sends back) through the page's own requests.

tests/spans/test_quality.py checks the queue's API and the decision's validation on items
whose annotations are written directly; tests/annotator/test_spans_page.py the page's
rendering; this file checks the way there, as the people do it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from projects.models import Item, Project
from tests.spans.helpers import next_item, span, span_project, upload

pytestmark = pytest.mark.django_db

TEXT = "Alice met Bob in Paris"  # Alice 0-5, Bob 10-13, Paris 17-22
ALICE, BOB, PARIS = span(0, 5, "PER"), span(10, 13, "PER"), span(17, 22, "LOC")


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submit(api: Any, who: str, project: Project, item: int, spans: list[dict[str, Any]]) -> None:
    body = {"item": item, "spans": spans, "confidence": 3}
    sent = api[who].post(f"/api/projects/{project.pk}/annotations/", body, format="json")
    assert sent.status_code == 201, sent.content


def disputed(api: Any) -> tuple[Project, int]:
    """A span project where ann1 and ann2 both label its one item, differently."""
    project = span_project(api, overlap=2, agreement_fraction=0)
    assert upload(api, project, "pool.jsonl", json.dumps({"text": TEXT}) + "\n").status_code == 201
    first = next_item(api, "ann1", project)["item"]["id"]
    assert next_item(api, "ann2", project)["item"]["id"] == first
    submit(api, "ann1", project, first, [ALICE, PARIS])
    submit(api, "ann2", project, first, [BOB])  # Alice's tokens tie: PER against O
    assert Item.objects.get(pk=first).state == Item.State.REVIEW
    return project, first


def side_by_side(html: str) -> dict[str, list[str]]:
    """Each annotator's row of the review page, and the entity labels drawn on it."""
    rows = re.findall(r"<tr><th scope=\"row\">(\w+)</th><td>(.*?)</td></tr>", html, re.S)
    return {name: re.findall(r'class="ent-tag c\d">(\w+)<', cells) for name, cells in rows}


def test_differing_spans_reach_review_side_by_side_and_the_reviewer_resolves(api, users) -> None:  # type: ignore[no-untyped-def]
    project, item = disputed(api)
    client = browser(users["reviewer"])
    page = client.get(f"/projects/{project.pk}/review/").content.decode()
    assert f'data-item="{item}"' in page
    assert side_by_side(page) == {"ann1": ["PER", "LOC"], "ann2": ["PER"]}
    assert 'id="gold-badge"' not in page  # not a gold item
    body = {"item": item, "spans": json.dumps([ALICE, PARIS])}
    answer = client.post(f"/projects/{project.pk}/review/act/", body, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and 'id="review-empty"' in answer.content.decode()
    decided = Item.objects.get(pk=item)
    assert (decided.state, decided.spans, decided.label_source) == (
        Item.State.LABELED, [ALICE, PARIS], Item.LabelSource.REVIEW
    )  # fmt: skip
    assert api["reviewer"].get(f"/api/projects/{project.pk}/review/").json() == []
    exported = api["lead"].get(f"/api/projects/{project.pk}/export/?format=jsonl")
    line = json.loads(b"".join(exported.streaming_content))
    assert line["spans"] == [ALICE, PARIS] and len(line["annotations"]) == 2


def test_a_refused_resolution_keeps_the_item_waiting(api, users) -> None:  # type: ignore[no-untyped-def]
    project, item = disputed(api)
    client = browser(users["reviewer"])
    overlapping = json.dumps([span(0, 5, "PER"), span(2, 9, "LOC")])
    answer = client.post(
        f"/projects/{project.pk}/review/act/", {"item": item, "spans": overlapping},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert answer.status_code in (200, 400) and 'id="review-error"' in answer.content.decode()
    assert Item.objects.get(pk=item).state == Item.State.REVIEW


def test_a_span_item_sent_back_takes_one_more_annotator_whose_spans_decide(api, users) -> None:  # type: ignore[no-untyped-def]
    project, item = disputed(api)
    client = browser(users["reviewer"])
    back = {"item": item, "action": "send_back"}
    assert client.post(f"/projects/{project.pk}/review/act/", back).status_code == 200
    assert Item.objects.get(pk=item).state == Item.State.QUEUED
    # Not to those who labelled it already: to someone new, here the lead.
    assert api["ann1"].get(f"/api/projects/{project.pk}/next/").status_code == 204
    assert next_item(api, "lead", project)["item"]["id"] == item
    submit(api, "lead", project, item, [ALICE, PARIS])
    decided = Item.objects.get(pk=item)  # Alice 2 to 1, Bob 2 to 1 (O), Paris 2 to 1
    assert (decided.state, decided.spans) == (Item.State.LABELED, [ALICE, PARIS])


def test_annotators_cannot_open_or_act_on_span_review(api, users) -> None:  # type: ignore[no-untyped-def]
    project, item = disputed(api)
    annotator = browser(users["ann1"])
    assert annotator.get(f"/projects/{project.pk}/review/").status_code == 403
    body = {"item": item, "spans": json.dumps([ALICE])}
    assert annotator.post(f"/projects/{project.pk}/review/act/", body).status_code == 403
    assert browser(users["outsider"]).get(f"/projects/{project.pk}/review/").status_code == 404
    assert Item.objects.get(pk=item).state == Item.State.REVIEW
