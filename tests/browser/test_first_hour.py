"""What a new lead and a new annotator ran into in their first hour (issue 16), in Chromium."""

from __future__ import annotations

import re
from pathlib import Path
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


def _check_counter(page: Any, *, revising: bool = False) -> None:
    """The page shows the item's own batch and what is left of it (the item being changed
    counts as left again). A worker, if one runs (another test may have started it), may
    refresh the batch between the page's count and ours: then the page is asked again."""
    for _attempt in range(3):
        item, number, left = _shown(page)
        batch = Item.objects.select_related("batch").get(pk=item).batch
        assert batch is not None and number == batch.number
        waiting = Item.objects.filter(batch=batch, state=Item.State.QUEUED, skips=0).count()
        if left == waiting + int(revising):
            return
        with page.expect_response(lambda r: r.request.method == "POST"):
            if revising:
                page.keyboard.press("u")
            else:
                page.reload()
        page.wait_for_selector("#item")
    assert left == waiting + int(revising)


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
        _check_counter(page)
        _next(page, "1")
    # The batch of the skipped item closed once the rest was labelled: nothing held it.
    first = Batch.objects.get(project=project, number=1)
    assert first.state == Batch.State.CLOSED

    page.keyboard.press("u")
    page.wait_for_selector("#undo-note")
    _check_counter(page, revising=True)
    assert "counting the one you are changing" in page.locator("#batch-info").inner_text()

    page.goto(f"{live_server.url}/projects/{project.pk}/")
    card = page.locator("#open-batches").inner_text()
    assert "Batch 1 " not in card
    for batch in Batch.objects.filter(project=project, state=Batch.State.OPEN):
        assert f"Batch {batch.number} " in card
    # "training now" while a retrain is owed; once a worker (if one runs) is done, when.
    when = page.locator("#next-retrain").inner_text()
    assert "training now" in when or re.search(r"retrains after \d+ more labels?", when)


@pytest.fixture
def small_project() -> Any:
    make = get_user_model().objects.create_user
    lead = make("lead", password="pw-lead")
    make("ann1", password="pw-ann1")
    make("ann2", password="pw-ann2")
    project = services.project_create(
        user=lead,
        name="Small",
        kind="text",
        labels=["cat", "dog"],
        batch_size=3,
        holdout_fraction=0.0,
        seed_per_class=0,
    )
    for name in ("ann1", "ann2"):
        services.membership_add(project=project, username=name, role="annotator")
    ingest.items_import(
        project=project, rows=[ParsedRow(line=i, text=f"pet {i}") for i in range(3)]
    )
    return project


def test_end_of_work_says_what_was_done_and_polls_for_more(
    live_server: Any, page: Any, small_project: Any
) -> None:
    from annotator.assignment import services as assignment

    project = small_project
    ann2 = get_user_model().objects.get(username="ann2")
    held = assignment.assignment_next(project=project, user=ann2).assignment
    assert held is not None
    login(page, live_server.url, "ann1", "pw-ann1")
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    page.wait_for_selector("#item")
    _next_or_idle(page, "1")
    _next_or_idle(page, "2")
    page.wait_for_selector("#idle")
    assert "2 items" in page.locator("#idle-done").inner_text()
    assert "1 item is with other annotators" in page.locator("#idle-when").inner_text()
    assert page.locator("#idle-projects").get_attribute("href") == "/"
    # ann2 gives the item back: the page, polling, hands it to ann1 without a reload.
    assignment.assignment_skip(project=project, user=ann2, item_id=held.item_id)
    page.wait_for_selector(f'#item[data-item="{held.item_id}"]', timeout=10_000)


def _next_or_idle(page: Any, key: str) -> None:
    item = page.locator("#item").get_attribute("data-item")
    page.keyboard.press(key)
    page.wait_for_function(
        "id => !document.querySelector('#item')"
        " || document.querySelector('#item').dataset.item !== id",
        arg=item,
    )


def test_error_pages_and_the_new_project_button_for_an_annotator(
    live_server: Any, page: Any, small_project: Any
) -> None:
    login(page, live_server.url, "ann1", "pw-ann1")
    assert "Anyone signed in may start a project" in page.locator("#new-project").inner_text()
    page.goto(f"{live_server.url}/projects/{small_project.pk}/settings/")
    assert page.locator("#error-page h1").inner_text() == "You can't do that here"
    page.click("text=← Back to the project")
    page.wait_for_url(f"{live_server.url}/projects/{small_project.pk}/")
    page.goto(f"{live_server.url}/projects/{small_project.pk + 1000}/")
    assert page.locator("#error-page h1").inner_text() == "Not found"
    page.click("text=← Back to your projects")
    page.wait_for_url(f"{live_server.url}/")


def test_import_preview_then_import_shows_seed_labels_and_history(
    live_server: Any, page: Any, tmp_path: Any
) -> None:
    lead = get_user_model().objects.create_user("lead", password="pw-lead")
    project = services.project_create(user=lead, name="Imp", kind="text", labels=["cat", "dog"])
    upload = tmp_path / "pets.csv"
    upload.write_text("text,label,source\na cat,cat,web\na dog,,web\nanother,dog,mail\n")
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/import/")
    assert page.locator("#import-result .card").count() == 0
    assert page.locator("#import-history").count() == 0
    page.set_input_files("#id_file", str(upload))
    page.click("#import-preview-button")
    page.wait_for_selector("#import-preview")
    assert "source (kept in meta)" in page.locator("#import-preview").inner_text()
    assert page.locator("#preview-rows tbody tr").count() == 3
    assert Item.objects.filter(project=project).count() == 0
    page.click("#import-confirm")
    page.wait_for_selector("#import-seeded")
    assert "2 of them had a label" in page.locator("#import-seeded").inner_text()
    assert "pets.csv" in page.locator("#import-history").inner_text()
    assert Item.objects.filter(project=project).count() == 3


def test_export_form_downloads_labelled_items_as_csv_with_json_annotations(
    live_server: Any, page: Any, small_project: Any
) -> None:
    import csv
    import io
    import json

    project = small_project
    first = Item.objects.filter(project=project).order_by("id").first()
    assert first is not None
    Item.objects.filter(pk=first.pk).update(label="dog", state=Item.State.LABELED)
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/export/")
    page.check("input[name=items][value=labelled]")
    page.select_option("#export-label", "dog")
    with page.expect_download() as download:
        page.click("button[name=format][value=csv]")
    text = Path(download.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(int(r["id"]), r["label"]) for r in rows] == [(first.pk, "dog")]
    assert json.loads(rows[0]["annotations"]) == []


def test_new_project_form_is_grouped_with_rules_shown_when_ticked(
    live_server: Any, page: Any
) -> None:
    get_user_model().objects.create_user("newlead", password="pw-newlead")
    login(page, live_server.url, "newlead", "pw-newlead")
    page.goto(f"{live_server.url}/projects/new/")
    legends = page.locator("fieldset.settings-group legend").all_inner_texts()
    assert legends == ["Basics", "Strategy", "People", "Stopping", "Stream", "Annotating", "Model"]
    assert page.locator("#id_selector").is_hidden()  # under Advanced, closed
    assert "applies from the next batch" in page.locator("#field-batch_size").inner_text()
    options = page.locator("#id_strategy option").evaluate_all("os => os.map(o => o.value)")
    # The task is chosen here too, so both kinds of strategy are offered (the service
    # refuses one that does not fit the task); empty means the task's default.
    assert options[0] == "" and "entropy" in options and "multilabel_margin" in options
    assert page.locator("#id_task").is_visible()
    params = page.locator('[data-rule-params="budget"]')
    assert params.is_hidden()
    page.check('[data-rule-toggle="budget"]')
    assert params.is_visible()
    page.fill("#id_stop_budget__labels", "30")
    page.fill("#id_name", "Grouped")
    page.fill("#id_labels", "cat\ndog")
    page.click("text=Advanced")
    assert page.locator("#id_selector").is_visible()
    page.click("#project-form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/projects/*/import/")
    from projects.models import Project

    assert Project.objects.get(name="Grouped").stopping == [{"rule": "budget", "labels": 30}]
