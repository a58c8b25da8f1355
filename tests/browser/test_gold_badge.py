"""The gold badge in a real browser: a lead sees which items are gold (the items page,
an item's detail); an annotator handed a gold item sees nothing of it (PRODUCT.md §7:
gold items are mixed in unannounced)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from annotator.quality import gold
from projects import services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Item, Project
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def with_gold() -> tuple[Project, Item]:
    users = {
        n: get_user_model().objects.create_user(n, password=f"pw-{n}") for n in ("lead", "ann")
    }
    project = services.project_create(
        user=users["lead"], name="Pets", kind="text", labels=["cat", "dog"], batch_size=2,
        holdout_fraction=0.0, gold_fraction=0.5,
    )  # fmt: skip
    services.membership_add(project=project, username="ann", role="annotator")
    ingest.items_import(
        project=project, rows=[ParsedRow(line=i, text=f"pet {i}") for i in range(6)]
    )
    item = Item.objects.filter(project=project).order_by("id").first()
    assert item is not None
    assert gold.gold_set(project=project, entries=[{"item": item.pk, "label": "dog"}]).updated == 1
    return project, item


def test_a_lead_sees_the_gold_badge_and_an_annotator_never_does(
    live_server: Any, page: Any, with_gold: tuple[Project, Item]
) -> None:
    project, item = with_gold
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    badges = page.locator("tr[data-item] .badge.gold")
    assert badges.count() == 1
    row = badges.first.locator("xpath=ancestor::tr[1]")
    assert row.get_attribute("data-item") == str(item.pk)
    page.goto(f"{live_server.url}/projects/{project.pk}/items/{item.pk}/")
    assert page.locator("#gold-badge").is_visible()
    assert page.locator("#gold-badge").inner_text().strip() == "gold: dog"

    # Every hand-out a gold item (the settings allow at most half), so no luck is needed.
    Project.objects.filter(pk=project.pk).update(gold_fraction=1.0)
    page.context.clear_cookies()
    login(page, live_server.url, "ann", "pw-ann")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    page.wait_for_selector("#item[data-item]")
    assert page.locator("#item").get_attribute("data-item") == str(item.pk)
    assert page.locator("#gold-badge, .badge.gold").count() == 0
    assert "gold" not in page.locator("main").inner_text().lower()
