"""The lead's cockpit in Chromium: the items page (filter, open an item, relabel, a bulk
action), members (create an account, remove a member) and archiving."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from annotator.assignment import services as annotate
from annotator.models import ReviewDecision
from projects import services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import Annotation, Item, Membership, Project
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pets() -> tuple[Project, int]:
    """A project whose first batch item the two annotators disputed (it waits for review)."""
    users = {
        n: get_user_model().objects.create_user(n, password=f"pw-{n}")
        for n in ("lead", "ann1", "ann2")
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
    for name in ("ann1", "ann2"):
        services.membership_add(project=project, username=name, role="annotator")
    ingest.items_import(
        project=project, rows=[ParsedRow(line=i, text=f"pet story {i}") for i in range(8)]
    )
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
    disputed = assignment.item_id
    assert Item.objects.get(pk=disputed).state == Item.State.REVIEW
    # Stopped, so that no batch takes pool items while the test looks at them (the
    # session's worker, once an earlier test started it, prepares this import meanwhile).
    services.project_stop(project=project, reason="the browser test looks at the pool")
    return project, disputed


def test_lead_filters_opens_relabels_and_excludes_items(
    live_server: Any, page: Any, pets: Any
) -> None:
    project, disputed = pets
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("#project-nav >> text=Items")
    page.wait_for_url(f"**/projects/{project.pk}/items/")
    assert page.locator("#items-table tbody tr").count() == 8

    page.select_option("select[name=state]", "review")
    page.click("#item-filters button[type=submit]")
    page.wait_for_function("() => document.querySelectorAll('#items-table tbody tr').length === 1")
    assert "state=review" in page.url  # the filtered list is a link
    page.click(f"tr[data-item='{disputed}'] a.item-link")
    panel = page.locator("#item-panel")
    panel.wait_for()
    annotations = page.locator("#item-annotations").inner_text()
    assert "ann1" in annotations and "ann2" in annotations
    assert "Never picked" not in panel.inner_text()  # its batch's selection log is shown

    page.select_option("#relabel select[name=label]", "dog")
    page.click("#relabel button[type=submit]")
    page.wait_for_function("() => document.querySelector('#item-label').textContent === 'dog'")
    assert "lead" in page.locator("#item-annotations").inner_text()
    item = Item.objects.get(pk=disputed)
    assert (item.label, item.label_source, item.state) == ("dog", "lead", "labeled")
    assert ReviewDecision.objects.get(item=item).reviewer.username == "lead"
    assert Annotation.objects.filter(item=item, annotator__username="lead").exists()

    page.goto(f"{live_server.url}/projects/{project.pk}/items/?state=pool")
    boxes = page.locator("#items-table input[name=items]")
    chosen = [int(boxes.nth(i).get_attribute("value")) for i in range(2)]
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.select_option("select[name=action]", "exclude")
    page.click("#bulk-apply")
    page.wait_for_selector(".messages .success")
    assert "Exclude from the pool: 2 items" in page.locator(".messages").inner_text()
    assert "state=pool" in page.url  # back to the same list
    assert set(Item.objects.filter(pk__in=chosen).values_list("state", flat=True)) == {"excluded"}
    assert page.locator(f"tr[data-item='{chosen[0]}']").count() == 0


def test_lead_creates_an_account_and_removes_a_member(
    live_server: Any, page: Any, pets: Any
) -> None:
    project, _ = pets
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    form = page.locator("#member-create form")
    form.locator("input[name=username]").fill("newbie")
    form.locator("input[name=password]").fill("violet-harbour-1987")
    form.locator("select[name=role]").select_option("reviewer")
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".messages .success")
    assert "newbie" in page.locator("table").first.inner_text()
    assert Membership.objects.get(project=project, user__username="newbie").role == "reviewer"

    page.on("dialog", lambda dialog: dialog.accept())
    row = page.locator("tr", has_text="ann2")
    row.locator("button", has_text="Remove").click()
    page.wait_for_selector(".messages .success:has-text('ann2 removed')")
    assert not Membership.objects.filter(project=project, user__username="ann2").exists()

    # The new account signs in and reaches the project's items as a reviewer.
    page.click("button:has-text('Log out')")
    login(page, live_server.url, "newbie", "violet-harbour-1987")
    page.goto(f"{live_server.url}/projects/{project.pk}/items/")
    assert page.locator("#items-table tbody tr").count() == 8


def test_lead_archives_and_annotators_no_longer_see_the_project(
    live_server: Any, page: Any, pets: Any
) -> None:
    project, _ = pets
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    page.click("#archive")
    page.wait_for_selector(".messages .success")
    assert Project.objects.get(pk=project.pk).state == Project.State.ARCHIVED
    page.goto(f"{live_server.url}/")
    assert "Pets" in page.locator("main").inner_text()  # the lead still lists it

    page.click("button:has-text('Log out')")
    login(page, live_server.url, "ann1", "pw-ann1")
    assert "Pets" not in page.locator("main").inner_text()

    page.click("button:has-text('Log out')")
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    page.click("#unarchive")
    page.wait_for_selector(".messages .success")
    assert Project.objects.get(pk=project.pk).state == Project.State.STOPPED

    page.goto(f"{live_server.url}/projects/{project.pk}/settings/")
    page.click("#delete-link")
    assert "cannot be undone" in page.locator("main").inner_text()
    page.fill("input[name=confirm]", "Pets")
    page.click("#delete-confirm")
    page.wait_for_url(f"{live_server.url}/")
    assert not Project.objects.filter(pk=project.pk).exists()
