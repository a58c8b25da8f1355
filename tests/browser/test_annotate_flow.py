"""A person labels a whole batch with the keyboard and watches the retrain land."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from projects import demo, services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Item, ModelVersion
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BATCH = 6


@pytest.fixture
def labelled_project() -> tuple[Any, dict[str, str]]:
    rows = demo.demo_rows()[::40][:80]
    truth = {text: label for text, label in rows}
    labels = sorted({label for _, label in rows})
    lead = get_user_model().objects.create_user("lead", password="pw-lead")
    get_user_model().objects.create_user("ann1", password="pw-ann1")
    project = services.project_create(
        user=lead,
        name="Docstrings",
        kind="text",
        labels=labels,
        batch_size=BATCH,
        holdout_fraction=0.0,
        seed_per_class=0,
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    ingest.items_import(
        project=project, rows=[ParsedRow(line=i, text=t) for i, (t, _) in enumerate(rows)]
    )
    return project, truth


def test_keyboard_labels_a_batch_and_dashboard_shows_retrain(
    live_server: Any, page: Any, celery_worker_process: Any, labelled_project: Any
) -> None:
    project, truth = labelled_project
    login(page, live_server.url, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    seen = []
    for _ in range(BATCH):
        item_id = page.locator("#item").get_attribute("data-item")
        text = Item.objects.get(pk=item_id).text
        assert page.locator("#item .item-text").inner_text().strip() == text.strip()
        key = str(project.labels.index(truth[text]) + 1)
        page.keyboard.press("v")  # confidence 4
        page.keyboard.press(key)
        page.wait_for_function(
            "id => !document.querySelector('#item') || "
            "document.querySelector('#item').dataset.item !== id",
            arg=item_id,
        )
        seen.append(int(item_id))
    assert len(set(seen)) == BATCH
    labelled = Item.objects.filter(pk__in=seen)
    assert all(i.label == truth[i.text] for i in labelled)
    assert all(a.confidence == 4 for i in labelled for a in i.annotations.all())

    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.wait_for_selector("#model-version", timeout=90_000)
    assert "v1" in page.locator("#model-version").inner_text()
    assert ModelVersion.objects.get(project=project, version=1).status == "done"


def test_skip_and_undo_by_keyboard(live_server: Any, page: Any, labelled_project: Any) -> None:
    project, truth = labelled_project
    login(page, live_server.url, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    first = page.locator("#item").get_attribute("data-item")
    page.keyboard.press("s")
    page.wait_for_function("id => document.querySelector('#item').dataset.item !== id", arg=first)
    second = page.locator("#item").get_attribute("data-item")
    page.keyboard.press("1")
    page.wait_for_function("id => document.querySelector('#item').dataset.item !== id", arg=second)
    page.keyboard.press("u")
    page.wait_for_selector("#undo-note")
    assert page.locator("#item").get_attribute("data-item") == second
    page.keyboard.press("2")
    page.wait_for_function("id => document.querySelector('#item').dataset.item !== id", arg=second)
    assert Item.objects.get(pk=second).annotations.get().label == project.labels[1]
    assert not Item.objects.get(pk=first).annotations.exists()
