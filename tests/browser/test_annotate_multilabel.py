"""Multi-label annotate and review pages, keyboard only: number keys toggle, Enter submits."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from annotator.models import ReviewDecision
from projects import services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Annotation, Item
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LABELS = ["sports", "politics", "tech"]


@pytest.fixture
def project() -> Any:
    users = get_user_model().objects
    lead = users.create_user("lead", password="pw-lead")
    for name in ("ann1", "ann2", "rita"):
        users.create_user(name, password=f"pw-{name}")
    project = services.project_create(
        user=lead, name="Tags", kind="text", task="multilabel", labels=LABELS, batch_size=3,
        holdout_fraction=0.0, seed_per_class=0,
    )  # fmt: skip
    services.membership_add(project=project, username="ann1", role="annotator")
    services.membership_add(project=project, username="ann2", role="annotator")
    services.membership_add(project=project, username="rita", role="reviewer")
    rows = [ParsedRow(line=i, text=f"item {i}") for i in range(3)]
    ingest.items_import(project=project, rows=rows)
    return project


def wait_for_next(page: Any, item_id: str) -> None:
    page.wait_for_function(
        "id => { const el = document.querySelector('#item');"
        " return !el || el.dataset.item !== id; }",
        arg=item_id,
    )


def test_keys_toggle_labels_and_enter_submits_the_set(
    live_server: Any, page: Any, project: Any
) -> None:
    login(page, live_server.url, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    first = page.locator("#item").get_attribute("data-item")
    assert page.locator("#set-form input[type=checkbox]").count() == 3
    page.keyboard.press("1")
    page.keyboard.press("3")
    page.keyboard.press("2")
    page.keyboard.press("2")  # toggled off again
    assert page.locator("#set-form input:checked").count() == 2
    page.keyboard.press("Enter")
    wait_for_next(page, first)
    annotation = Annotation.objects.get(item_id=first)
    assert annotation.labels == ["sports", "tech"] and annotation.label == ""
    assert Item.objects.get(pk=first).labels == ["sports", "tech"]

    # An empty set is refused here (the project does not allow one): the item stays.
    second = page.locator("#item").get_attribute("data-item")
    page.keyboard.press("Enter")
    page.wait_for_selector("#annotate-error")
    assert "at least one label" in page.locator("#annotate-error").inner_text()
    assert page.locator("#item").get_attribute("data-item") == second
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    wait_for_next(page, second)
    assert Annotation.objects.get(item_id=second).labels == ["politics"]


def test_reviewer_sees_each_set_and_picks_the_final_set(
    live_server: Any, page: Any, project: Any
) -> None:
    item = Item.objects.filter(project=project).order_by("id").first()
    assert item is not None
    ann1, ann2 = get_user_model().objects.filter(username__in=["ann1", "ann2"]).order_by("username")
    Annotation.objects.create(project=project, item=item, annotator=ann1, labels=["sports"])
    Annotation.objects.create(
        project=project, item=item, annotator=ann2, labels=["sports", "politics"]
    )
    Item.objects.filter(pk=item.pk).update(state="review", annotation_count=2, required=2)
    login(page, live_server.url, "rita", "pw-rita")
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    rows = page.locator("#votes tbody tr")
    assert rows.count() == 2
    assert "sports, politics" in rows.nth(1).inner_text()
    # What every annotator chose starts toggled on; the reviewer adds "tech".
    assert page.locator("#set-form input:checked").count() == 1
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_selector("#review-empty")
    decision = ReviewDecision.objects.get(item=item)
    assert decision.labels == ["sports", "tech"] and decision.reviewer.username == "rita"
    item.refresh_from_db()
    assert (item.state, item.labels, item.label_source) == ("labeled", ["sports", "tech"], "review")
