"""A reviewer works the review queue with the keyboard."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from annotator.assignment import services as annotate
from annotator.models import ReviewDecision
from projects import services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Item
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def disputed() -> tuple[Any, list[int]]:
    """Two annotators disagree on every item of a 2-item batch with overlap 2: both tie."""
    users = {
        n: get_user_model().objects.create_user(n, password=f"pw-{n}")
        for n in ("lead", "ann1", "ann2", "rita")
    }
    project = services.project_create(
        user=users["lead"],
        name="Pets",
        kind="text",
        labels=["cat", "dog"],
        batch_size=2,
        overlap=2,
        holdout_fraction=0.0,
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    services.membership_add(project=project, username="ann2", role="annotator")
    services.membership_add(project=project, username="rita", role="reviewer")
    ingest.items_import(
        project=project, rows=[ParsedRow(line=i, text=f"pet {i}") for i in range(6)]
    )
    disputed_ids = []
    for _ in range(2):
        for name, label in (("ann1", "cat"), ("ann2", "dog")):
            assignment = annotate.assignment_next(project=project, user=users[name]).assignment
            assert assignment is not None
            annotate.annotation_submit(
                project=project,
                user=users[name],
                item_id=assignment.item_id,
                label=label,
                confidence=3,
            )
        disputed_ids.append(assignment.item_id)
    assert Item.objects.filter(project=project, state="review").count() == 2
    return project, disputed_ids


def test_reviewer_decides_with_number_keys_and_annotators_cannot(
    live_server: Any, page: Any, disputed: Any
) -> None:
    project, ids = disputed
    login(page, live_server.url, "rita", "pw-rita")
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    assert "2 items waiting" in page.locator("#review-waiting").inner_text()
    assert page.locator("#votes tbody tr").count() == 2
    assert "pet" in page.locator("#review-upcoming").inner_text()  # the other one, next
    first = page.locator("#item").get_attribute("data-item")
    page.keyboard.press("2")
    page.wait_for_function(
        "id => { const el = document.querySelector('#item');"
        " return !el || el.dataset.item !== id; }",
        arg=first,
    )
    decision = ReviewDecision.objects.get(item_id=first)
    assert decision.label == "dog" and decision.reviewer.username == "rita"
    assert Item.objects.get(pk=first).label == "dog"
    page.keyboard.press("1")
    page.wait_for_selector("#review-empty")
    assert Item.objects.filter(pk__in=ids, label_source="review").count() == 2

    page.context.clear_cookies()
    login(page, live_server.url, "ann1", "pw-ann1")
    response = page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    assert response.status == 403
