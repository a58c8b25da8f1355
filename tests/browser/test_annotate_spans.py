"""Span projects in Chromium: select with the keyboard or the mouse, label with a key,
remove with Backspace, submit with Enter; the model's suggestions accepted or rejected
one by one or all at once; the reviewer's editor. With WINNOW_SCREENSHOTS=DIR set, the
pages are saved there (docs/screenshots/spans-*.png)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from annotator.models import ReviewDecision
from projects.models import Annotation, Item, Project
from tests.annotator.span_setup import LOC, PER, span_model_save, span_project
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("WINNOW_SCREENSHOTS", "")


def _people() -> Any:
    users = get_user_model().objects
    lead = users.create_user("lead", password="pw-lead")
    for name in ("ann1", "ann2", "rita"):
        users.create_user(name, password=f"pw-{name}")
    return lead


MEMBERS = {"ann1": "annotator", "ann2": "annotator", "rita": "reviewer"}


@pytest.fixture
def project() -> Project:
    return span_project(_people(), MEMBERS)


@pytest.fixture
def suggesting() -> Project:
    project = span_project(_people(), MEMBERS, show_suggestion=True)
    span_model_save(project)
    return project


def shot(page: Any, name: str) -> None:
    if SHOTS:
        page.locator(".annotate").screenshot(path=str(Path(SHOTS) / f"{name}.png"))


def open_annotate(page: Any, base: str, project: Project) -> str:
    login(page, base, "ann1", "pw-ann1")
    page.goto(f"{base}/projects/{project.pk}/annotate/")
    page.wait_for_selector("#spans-editor .tok.cursor")
    return str(page.locator("#item").get_attribute("data-item"))


def submit_and_wait(page: Any, item_id: str) -> None:
    page.keyboard.press("Enter")
    page.wait_for_function(
        "id => { const el = document.querySelector('#item');"
        " return !el || el.dataset.item !== id; }",
        arg=item_id,
    )


def test_keyboard_only_selects_labels_removes_and_submits(
    live_server: Any, page: Any, project: Project
) -> None:
    first = open_annotate(page, live_server.url, project)
    page.keyboard.press("Shift+ArrowRight")  # Ada Lovelace
    page.keyboard.press("1")  # PER
    page.keyboard.press("ArrowRight")  # the cursor was on "Lovelace": now "visited"
    page.keyboard.press("3")  # ORG on "visited" ...
    assert page.locator("#span-list li").count() == 2
    page.keyboard.press("Backspace")  # ... removed again
    page.keyboard.press("ArrowRight")  # New
    page.keyboard.press("Shift+ArrowRight")  # New York
    page.keyboard.press("2")  # LOC
    assert page.locator("#spans-editor .ent-tag").all_inner_texts() == ["PER", "LOC"]
    assert "LOC" in page.locator("#spans-status").inner_text()
    shot(page, "spans-annotate")
    submit_and_wait(page, first)
    annotation = Annotation.objects.get(item_id=first)
    assert annotation.spans == [PER, LOC] and annotation.label == ""

    # Enter with no span is an answer too: no entity here.
    second = str(page.locator("#item").get_attribute("data-item"))
    submit_and_wait(page, second)
    assert Annotation.objects.get(item_id=second).spans == []


def test_mouse_drag_selects_and_a_click_labels(
    live_server: Any, page: Any, project: Project
) -> None:
    first = open_annotate(page, live_server.url, project)
    new = page.locator("#spans-editor .tok[data-i='3']").bounding_box()
    york = page.locator("#spans-editor .tok[data-i='4']").bounding_box()
    page.mouse.move(new["x"] + 2, new["y"] + new["height"] / 2)
    page.mouse.down()
    page.mouse.move(york["x"] + york["width"] / 2, york["y"] + york["height"] / 2, steps=4)
    page.mouse.up()
    assert page.locator("#spans-editor .tok.sel").count() == 2
    page.click("#spans-form [data-span-label='LOC']")
    page.click("#spans-editor .tok[data-i='0']")
    page.click("#spans-form [data-span-label='PER']")  # one token: "Ada" alone
    page.click("#spans-submit")
    page.wait_for_function("id => document.querySelector('#item')?.dataset.item !== id", arg=first)
    assert Annotation.objects.get(item_id=first).spans == [
        {"start": 0, "end": 3, "label": "PER"},
        LOC,
    ]


def test_suggestions_accepted_or_rejected_one_by_one_or_all(
    live_server: Any, page: Any, suggesting: Project
) -> None:
    first = open_annotate(page, live_server.url, suggesting)
    assert page.locator("#suggestion-list li").count() == 2
    assert page.locator("#spans-editor .ent-tag.sugg").all_inner_texts() == ["PER?", "LOC?"]
    shot(page, "spans-suggestions")
    page.click("#suggestion-list li:nth-child(2) button:text('Reject')")  # New York
    page.keyboard.press("Shift+Enter")  # the cursor is on "Ada": accept PER
    assert page.locator("#suggestion-count").inner_text() == "0"
    submit_and_wait(page, first)
    assert Annotation.objects.get(item_id=first).spans == [PER]

    second = str(page.locator("#item").get_attribute("data-item"))
    page.click("#accept-all")
    submit_and_wait(page, second)
    assert Annotation.objects.get(item_id=second).spans == [PER, LOC]

    third = str(page.locator("#item").get_attribute("data-item"))
    page.keyboard.press("Backspace")  # on a suggestion: rejects it
    assert page.locator("#suggestion-count").inner_text() == "1"
    page.click("#reject-all")
    submit_and_wait(page, third)  # nothing accepted: no entity
    assert Annotation.objects.get(item_id=third).spans == []


def test_reviewer_sees_each_annotators_spans_and_gives_the_final_ones(
    live_server: Any, page: Any, project: Project
) -> None:
    item = Item.objects.filter(project=project).order_by("id").first()
    assert item is not None
    ann1, ann2 = get_user_model().objects.filter(username__in=["ann1", "ann2"]).order_by("username")
    Annotation.objects.create(project=project, item=item, annotator=ann1, spans=[PER, LOC])
    Annotation.objects.create(project=project, item=item, annotator=ann2, spans=[PER])
    Item.objects.filter(pk=item.pk).update(state="review", annotation_count=2, required=2)
    login(page, live_server.url, "rita", "pw-rita")
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    page.wait_for_selector("#spans-editor .tok.cursor")
    rows = page.locator("#votes tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).locator(".ent-tag").all_inner_texts() == ["PER", "LOC"]
    assert rows.nth(1).locator(".ent-tag").all_inner_texts() == ["PER"]
    # The editor starts from the consensus: on the tie, what both gave (PER).
    assert page.locator("#spans-editor .ent-tag").all_inner_texts() == ["PER"]
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowRight")
    page.keyboard.press("2")
    shot(page, "spans-review")
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-empty")
    decision = ReviewDecision.objects.get(item=item)
    assert decision.spans == [PER, LOC] and decision.reviewer.username == "rita"
    item.refresh_from_db()
    assert (item.state, item.spans, item.label_source) == ("labeled", [PER, LOC], "review")


def test_a_refused_submit_keeps_the_spans_drawn(
    live_server: Any, page: Any, project: Project
) -> None:
    first = open_annotate(page, live_server.url, project)
    page.keyboard.press("Shift+ArrowRight")  # Ada Lovelace
    page.keyboard.press("1")  # PER
    # A span the server refuses (a label the project lacks), as a stale page could send.
    page.evaluate(
        "() => { const f = document.getElementById('spans-field');"
        " f.value = JSON.stringify([...JSON.parse(f.value),"
        " {start: 21, end: 29, label: 'DATE'}]); }"
    )
    page.keyboard.press("Enter")
    page.wait_for_selector("#annotate-error")
    assert "unknown label" in page.locator("#annotate-error").inner_text()
    assert page.locator("#item").get_attribute("data-item") == first
    assert page.locator("#spans-editor .ent-tag").all_inner_texts() == ["PER", "DATE"]
    page.click("#span-list li:nth-child(2) button:text('Remove')")
    submit_and_wait(page, first)
    assert Annotation.objects.get(item_id=first).spans == [PER]
