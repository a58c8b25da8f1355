"""What a new lead and a new annotator ran into in their first hour (issue 16), in Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from projects import services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Batch, Item
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BATCH = 5


@pytest.fixture
def project() -> Any:
    make = get_user_model().objects.create_user
    lead = make("lead", password="pw-lead")
    make("ann1", password="pw-ann1")
    project = services.project_create(
        user=lead,
        name="First hour",
        kind="text",
        labels=["cat", "dog"],
        batch_size=BATCH,
        holdout_fraction=0.0,
        seed_per_class=0,
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    rows = [ParsedRow(line=i, text=f"pet number {i}") for i in range(40)]
    ingest.items_import(project=project, rows=rows)
    return project


def _shown(page: Any) -> tuple[int, int, int]:
    """The item on the page, and the batch number and items left that the page shows."""
    item = int(page.locator("#item").get_attribute("data-item"))
    info = page.locator("#batch-info").inner_text()
    number = int(re.search(r"Batch (\d+)", info).group(1))  # type: ignore[union-attr]
    return item, number, int(page.locator("#batch-left").inner_text())


def _next(page: Any, key: str) -> None:
    item = page.locator("#item").get_attribute("data-item")
    page.keyboard.press(key)
    page.wait_for_function(
        "id => document.querySelector('#item')"
        " && document.querySelector('#item').dataset.item !== id",
        arg=item,
    )


def test_batch_counter_follows_the_item_and_a_skip_holds_nothing_back(
    live_server: Any, page: Any, project: Any
) -> None:
    login(page, live_server.url, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    page.wait_for_selector("#item")
    _next(page, "s")
    for _ in range(3 * BATCH):
        item, number, left = _shown(page)
        batch = Item.objects.select_related("batch").get(pk=item).batch
        assert batch is not None and number == batch.number
        waiting = Item.objects.filter(batch=batch, state=Item.State.QUEUED, skips=0).count()
        assert left == waiting
        _next(page, "1")
    # The batch of the skipped item closed once the rest was labelled: nothing held it.
    first = Batch.objects.get(project=project, number=1)
    assert first.state == Batch.State.CLOSED

    page.keyboard.press("u")
    page.wait_for_selector("#undo-note")
    item, number, left = _shown(page)
    batch = Item.objects.select_related("batch").get(pk=item).batch
    assert batch is not None and number == batch.number
    waiting = Item.objects.filter(batch=batch, state=Item.State.QUEUED, skips=0).count()
    assert left == waiting + 1  # the item being changed counts as left again
    assert "counting the one you are changing" in page.locator("#batch-info").inner_text()

    page.goto(f"{live_server.url}/projects/{project.pk}/")
    card = page.locator("#open-batches").inner_text()
    assert "Batch 1 " not in card
    for batch in Batch.objects.filter(project=project, state=Batch.State.OPEN):
        assert f"Batch {batch.number} " in card
    assert "training now" in page.locator("#next-retrain").inner_text()
