"""The pages people use run under the strict Content-Security-Policy without a violation,
and the project nav shows each role its links."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from projects import services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project() -> Any:
    make = get_user_model().objects.create_user
    lead = make("lead", password="pw-lead")
    make("ann1", password="pw-ann1")
    make("rita", password="pw-rita")
    project = services.project_create(
        user=lead, name="Policy", kind="text", labels=["cat", "dog"], batch_size=4
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    services.membership_add(project=project, username="rita", role="reviewer")
    rows = [ParsedRow(line=i, text=f"pet number {i}") for i in range(12)]
    ingest.items_import(project=project, rows=rows)
    return project


def _violations(page: Any) -> list[str]:
    """What the browser refused under the policy (it says so on the console)."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.append(str(e)))
    page.on("response", lambda r: seen.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    return seen


def test_annotate_dashboard_and_review_run_without_csp_violations(
    live_server: Any, page: Any, project: Any
) -> None:
    errors = _violations(page)
    login(page, live_server.url, "lead", "pw-lead")
    base = f"{live_server.url}/projects/{project.pk}"
    page.goto(f"{base}/annotate/")
    page.wait_for_selector("#item")
    page.keyboard.press("1")  # htmx swaps in the next item
    page.wait_for_selector("#item")
    page.goto(f"{base}/")
    page.wait_for_selector("#quality :is(table, p:not(.muted)), #quality section")
    page.wait_for_timeout(2500)  # one live refresh of the dashboard
    page.goto(f"{base}/review/")
    page.wait_for_selector("#review-waiting")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert not errors, errors


@pytest.mark.parametrize(
    ("username", "links"),
    [
        ("lead", {"Review", "Settings", "Import", "Export"}),
        ("rita", {"Review"}),
        ("ann1", set()),
    ],
)
def test_nav_shows_each_role_its_links(
    live_server: Any, page: Any, project: Any, username: str, links: set[str]
) -> None:
    login(page, live_server.url, username, f"pw-{username}")
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    shown = set(page.locator("#project-nav a").all_inner_texts())
    assert shown & {"Review", "Settings", "Import", "Export"} == links


def test_api_docs_run_under_their_narrower_policy(
    live_server: Any, page: Any, project: Any
) -> None:
    errors = _violations(page)
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-tag")
    assert not errors, errors
