"""The annotate page for a team with guidelines, many labels, suggestions and a history,
driven with the keyboard alone in headless Chromium."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from projects import services
from projects.ingest import images as image_import
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Annotation, Item, Project
from tests.browser.conftest import login
from tests.browser.test_annotate_images import digits_zip
from tests.browser.test_review_queue import disputed  # noqa: F401 - a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MANY = [f"class{i:02d}" for i in range(14)]
GUIDELINES = "## Rules\n\nLabel the **main** topic.<script>window.pwned = 1</script>"


def _project(labels: list[str], **settings: Any) -> Project:
    make = get_user_model().objects.create_user
    lead = make("lead", password="pw-lead")
    make("ann1", password="pw-ann1")
    project = services.project_create(
        user=lead,
        name="Guide",
        kind="text",
        labels=labels,
        batch_size=6,
        holdout_fraction=0.0,
        seed_per_class=0,
        **settings,
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    rows = [ParsedRow(line=i, text=f"text number {i}") for i in range(20)]
    ingest.items_import(project=project, rows=rows)
    return project


def _annotate(page: Any, base: str, project: Project) -> str:
    login(page, base, "ann1", "pw-ann1")
    page.goto(f"{base}/projects/{project.pk}/annotate/")
    page.wait_for_selector("#item")
    return str(page.locator("#item").get_attribute("data-item"))


def _next_item(page: Any, before: str) -> None:
    page.wait_for_function(
        "id => !document.querySelector('#item') || "
        "document.querySelector('#item').dataset.item !== id",
        arg=before,
    )


def test_guidelines_beside_the_item_and_in_the_overlay(live_server: Any, page: Any) -> None:
    project = _project(
        ["cat", "dog"],
        guidelines=GUIDELINES,
        label_options={"dog": {"description": "Any canine, wolves too"}},
    )
    _annotate(page, live_server.url, project)
    guide = page.locator("#guidelines")
    assert guide.is_visible() and "Label the main topic." in guide.inner_text()
    assert "Any canine, wolves too" in guide.inner_text()
    assert page.evaluate("window.pwned") is None
    page.keyboard.press("?")
    help_box = page.locator("#help")
    help_box.wait_for(state="visible")
    keys = page.locator("#help-keys").inner_text()
    assert "pick a label" in keys and "confidence 1-5" in keys and "certain" in keys
    assert "Enter" not in keys  # this project shows no suggestions
    assert "Rules" in help_box.inner_text()
    page.keyboard.press("Escape")
    help_box.wait_for(state="hidden")
    # Collapsed, it stays collapsed on the next visit.
    page.locator("#guidelines summary").click()
    page.reload()
    page.wait_for_selector("#item")
    assert not page.locator("#guidelines-details").evaluate("d => d.open")
    page.emulate_media(color_scheme="dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 23, 29)"


def test_a_letter_key_labels_an_item_of_a_fourteen_label_project(
    live_server: Any, page: Any, browser: Any
) -> None:
    project = _project(MANY)
    # The lead gives the last label its own key on the guidelines page.
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/guidelines/")
    page.fill("#id_key_13", "k")
    page.press("#id_key_13", "Enter")
    page.wait_for_selector(".messages")
    project.refresh_from_db()
    assert project.label_options == {"class13": {"key": "k"}}

    annotator = browser.new_page()
    try:
        first = _annotate(annotator, live_server.url, project)
        assert (
            annotator.locator("#annotate-panel button[data-key='d']").inner_text() == "d" + MANY[11]
        )
        annotator.keyboard.press("d")  # the twelfth label: 1-9, 0, a, d
        _next_item(annotator, first)
        assert Annotation.objects.get(item_id=first).label == MANY[11]
        second = str(annotator.locator("#item").get_attribute("data-item"))
        annotator.keyboard.press("k")
        _next_item(annotator, second)
        assert Annotation.objects.get(item_id=second).label == "class13"
        third = str(annotator.locator("#item").get_attribute("data-item"))
        annotator.keyboard.press("/")
        annotator.keyboard.type("ss05")
        visible = annotator.locator("#annotate-panel .labels button:visible")
        assert visible.count() == 1
        annotator.keyboard.press("Enter")
        _next_item(annotator, third)
        assert Annotation.objects.get(item_id=third).label == "class05"
    finally:
        annotator.context.close()


def test_enter_accepts_the_models_suggestion(live_server: Any, page: Any) -> None:
    project = _project(["cat", "dog", "bird"], show_suggestion=True, default_confidence=2)
    # What a rescore writes on the item rows: the predicted label's index.
    Item.objects.filter(project=project).update(prediction=2)
    first = _annotate(page, live_server.url, project)
    assert "bird" in page.locator("#suggestion").inner_text()
    assert page.locator("#annotate-panel button.suggested").get_attribute("data-key") == "3"
    page.keyboard.press("b")  # confidence 5 for this item
    page.keyboard.press("Enter")
    _next_item(page, first)
    annotation = Annotation.objects.get(item_id=first)
    assert (annotation.label, annotation.confidence) == ("bird", 5)
    assert annotation.seconds is not None  # timed like any other label
    # The next item starts again at the project's default confidence.
    page.wait_for_function(
        "() => document.querySelector('#confidence-form input:checked').value === '2'"
    )


def test_history_changes_a_label_with_the_keyboard(live_server: Any, page: Any) -> None:
    project = _project(["cat", "dog"])
    first = _annotate(page, live_server.url, project)
    page.keyboard.press("1")
    _next_item(page, first)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/history/")
    row = page.locator(f"#history-{first}")
    assert "batch open" in row.inner_text()
    row.locator("select[name=label]").focus()
    page.keyboard.press("ArrowDown")  # cat -> dog
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the Change button
    with page.expect_response(lambda r: r.request.method == "POST" and "/history/" in r.url):
        page.keyboard.press("Enter")
    assert Annotation.objects.get(item_id=first).label == "dog"


def test_a_small_image_is_shown_large_and_crisp_and_zooms(live_server: Any, page: Any) -> None:
    lead = get_user_model().objects.create_user("lead", password="pw-lead")
    get_user_model().objects.create_user("ann1", password="pw-ann1")
    project = services.project_create(
        user=lead,
        name="Digits",
        kind="image",
        labels=[str(d) for d in range(10)],
        batch_size=4,
        holdout_fraction=0.0,
        meta_fields=["path"],
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    data, _ = digits_zip(6)
    image_import.import_image_upload(
        project=project, upload=io.BytesIO(data), name="d.zip", user=lead
    )
    _annotate(page, live_server.url, project)
    image = page.locator("#item img.item-image")
    page.wait_for_function("() => document.querySelector('#item img').naturalWidth === 64")
    page.wait_for_function("() => document.querySelector('#item img.small-image') !== null")
    assert image.evaluate("i => getComputedStyle(i).imageRendering") == "pixelated"
    shown = image.bounding_box()["width"]
    assert shown >= 4 * 64  # shown large, not at its 64 pixels
    page.locator("#image-zoom").click()
    page.wait_for_function(
        "w => document.querySelector('#item img').getBoundingClientRect().width > w", arg=shown
    )
    assert page.locator("#image-zoom").get_attribute("aria-pressed") == "true"
    assert page.locator("#item-meta").inner_text().startswith("path")


def test_review_sends_back_with_r_and_b_is_no_review_key(
    live_server: Any,
    page: Any,
    disputed: Any,  # noqa: F811 - the fixture imported above
) -> None:
    """`b` is confidence 5 on the annotate page; on the review page it does nothing."""
    project, ids = disputed
    login(page, live_server.url, "rita", "pw-rita")
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    hint = page.locator("#key-hint").inner_text()
    assert "r send back" in hint and " b " not in f" {hint} "
    first = page.locator("#item").get_attribute("data-item")
    page.keyboard.press("r")
    page.wait_for_function(
        "id => { const el = document.querySelector('#item');"
        " return !el || el.dataset.item !== id; }",
        arg=first,
    )
    assert Item.objects.get(pk=first).state != Item.State.REVIEW
    second = page.locator("#item").get_attribute("data-item")
    page.keyboard.press("b")
    page.wait_for_timeout(500)
    assert page.locator("#item").get_attribute("data-item") == second
    assert Item.objects.get(pk=second).state == Item.State.REVIEW
    assert sorted([int(first or 0), int(second or 0)]) == sorted(ids)
