"""Leads and reviewers see which items are gold, and their gold answer (the items API
and page, an item's detail, the review page); an annotator labelling a gold item is
never told (PRODUCT.md §7: gold items are mixed in unannounced)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from projects.models import Item, Project
from projects.selectors import gold_summary
from tests.annotator.conftest import LABELS, text_project
from tests.spans.helpers import TEXT, span, span_project, upload

pytestmark = pytest.mark.django_db

MEMBERS = {"ann1": "annotator", "reviewer": "reviewer"}


def browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_gold(api: Any, **settings: Any) -> tuple[Project, Item, Item]:
    """A project with a gold pool item and a gold labelled item (a seed)."""
    project = text_project(api, MEMBERS, n=6, **settings)
    seed = SimpleUploadedFile("seed.csv", f"text,label\nthe seed text,{LABELS[0]}\n".encode())
    assert (
        api["lead"].post(f"/api/projects/{project.pk}/import/", {"file": seed}).status_code == 201
    )
    pool_item = Item.objects.filter(project=project).order_by("id").first()
    labelled = Item.objects.get(project=project, text="the seed text")
    entries = [
        {"item": pool_item.pk, "label": LABELS[1]},
        {"item": labelled.pk, "label": LABELS[2]},
    ]
    marked = api["lead"].post(
        f"/api/projects/{project.pk}/gold/", {"items": entries}, format="json"
    )
    assert marked.json()["updated"] == 2, marked.content
    return project, pool_item, labelled


def test_the_items_api_flags_gold_items_with_their_answer_and_filters_on_it(api) -> None:  # type: ignore[no-untyped-def]
    project, pool_item, labelled = with_gold(api)
    url = f"/api/projects/{project.pk}/items/"
    for who in ("lead", "reviewer"):
        rows = {r["id"]: r for r in api[who].get(url).json()["results"]}
        assert {pk for pk, r in rows.items() if r["gold"]} == {pool_item.pk, labelled.pk}
        assert rows[pool_item.pk]["gold_answer"] == LABELS[1]
        assert rows[labelled.pk]["gold_answer"] == LABELS[2]
        others = [r for pk, r in rows.items() if pk not in (pool_item.pk, labelled.pk)]
        assert others and all(r["gold_answer"] is None for r in others)
    only = api["lead"].get(url, {"gold": "true"}).json()["results"]
    assert sorted(r["id"] for r in only) == sorted([pool_item.pk, labelled.pk])
    none = api["lead"].get(url, {"gold": "false"}).json()["results"]
    assert len(none) == 5 and not any(r["gold"] for r in none)
    assert api["ann1"].get(url).status_code == 403


def test_the_items_page_and_item_detail_show_the_gold_badge(api, users) -> None:  # type: ignore[no-untyped-def]
    project, pool_item, labelled = with_gold(api)
    for who in ("lead", "reviewer"):
        client = browser(users[who])
        page = client.get(f"/projects/{project.pk}/items/").content.decode()
        rows = {int(row.split('"', 1)[0]): row for row in page.split('<tr data-item="')[1:]}
        flagged = {pk for pk, row in rows.items() if 'class="badge gold"' in row}
        assert flagged == {pool_item.pk, labelled.pk}
        detail = client.get(f"/projects/{project.pk}/items/{pool_item.pk}/").content.decode()
        assert f"gold: {LABELS[1]}" in detail and 'id="gold-badge"' in detail
    plain = Item.objects.filter(project=project, state="pool").first()
    detail = browser(users["lead"]).get(f"/projects/{project.pk}/items/{plain.pk}/")
    assert 'id="gold-badge"' not in detail.content.decode()


def test_a_reviewer_sees_that_the_item_under_review_is_gold(api, users) -> None:  # type: ignore[no-untyped-def]
    project, _, labelled = with_gold(api)
    sent = api["lead"].post(
        f"/api/projects/{project.pk}/items/bulk/",
        {"action": "review", "items": [labelled.pk]},
        format="json",
    )
    assert sent.status_code == 200, sent.content
    page = browser(users["reviewer"]).get(f"/projects/{project.pk}/review/").content.decode()
    assert 'id="gold-badge"' in page and f"gold: {LABELS[2]}" in page
    queue = api["reviewer"].get(f"/api/projects/{project.pk}/review/").json()
    assert [(e["item"], e["gold"]) for e in queue] == [(labelled.pk, LABELS[2])]


def test_an_annotator_labelling_a_gold_item_is_not_told(api, users) -> None:  # type: ignore[no-untyped-def]
    project, pool_item, labelled = with_gold(api, gold_fraction=0.5)
    # Every hand-out a gold item (settings allow at most half), so no luck is needed.
    Project.objects.filter(pk=project.pk).update(gold_fraction=1.0)
    client = browser(users["ann1"])
    page = client.get(f"/projects/{project.pk}/annotate/").content.decode()
    shown = client.post(f"/projects/{project.pk}/annotate/", HTTP_HX_REQUEST="true")
    html = page + shown.content.decode()
    gold_ids = {pool_item.pk, labelled.pk}
    handed = [pk for pk in gold_ids if f'data-item="{pk}"' in html]
    assert handed, "the annotator was handed a gold item"
    assert "gold-badge" not in html and "badge gold" not in html
    # The API's hand-out says nothing of gold either.
    got = api["ann1"].get(f"/api/projects/{project.pk}/next/")
    assert got.status_code == 200 and got.json()["item"]["id"] in gold_ids
    assert "gold" not in got.content.decode().lower()


def test_the_badge_gives_a_gold_set_or_gold_spans_in_words(api, users) -> None:  # type: ignore[no-untyped-def]
    project = span_project(api)
    assert upload(api, project, "pool.jsonl", json.dumps({"text": TEXT}) + "\n").status_code == 201
    item = Item.objects.get(project=project)
    gold = [span(0, 5, "PER"), span(17, 22, "LOC")]
    marked = api["lead"].post(
        f"/api/projects/{project.pk}/gold/", {"items": [{"item": item.pk, "spans": gold}]},
        format="json",
    )  # fmt: skip
    assert marked.json()["updated"] == 1, marked.content
    detail = browser(users["reviewer"]).get(f"/projects/{project.pk}/items/{item.pk}/")
    assert "gold: Alice (PER); Paris (LOC)" in detail.content.decode()
    row = api["reviewer"].get(f"/api/projects/{project.pk}/items/").json()["results"][0]
    assert (row["gold"], row["gold_answer"]) == (True, gold)


def test_gold_summary_words() -> None:
    assert gold_summary(None) == "" and gold_summary("pets") == "pets"
    assert gold_summary(["pets", "sport"]) == "pets, sport" and gold_summary([]) == "no label"
    assert gold_summary([{"start": 4, "end": 7, "label": "A"}], "the cat") == "cat (A)"
