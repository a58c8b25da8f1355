"""A lead replays the project's labels from the dashboard and switches to the best strategy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from sklearn.datasets import load_iris

from projects import services
from projects.models import Item, ModelVersion, Project, ReplayJob
from projects.replay import replay_run
from tests.browser.conftest import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def iris(settings, tmp_path) -> Project:  # type: ignore[no-untyped-def]
    """80 iris rows as labelled vector items (every fourth in the holdout), one model."""
    settings.FEATURES_ROOT = tmp_path / "features"
    lead = get_user_model().objects.create_user("lead", password="pw-lead")
    project = services.project_create(
        user=lead,
        name="Iris",
        kind="vector",
        labels=["setosa", "versicolor", "virginica"],
        batch_size=20,
        strategy="margin",
        selector="kcenter",
    )
    X, y = load_iris(return_X_y=True)
    rows = np.random.default_rng(1).permutation(len(y))[:80]
    Item.objects.bulk_create(
        Item(
            project=project,
            vector=[float(v) for v in X[i]],
            label=project.labels[int(y[i])],
            state=Item.State.LABELED,
            is_holdout=k % 4 == 0,
        )
        for k, i in enumerate(rows)
    )
    ModelVersion.objects.create(
        project=project,
        version=1,
        status=ModelVersion.Status.DONE,
        labels_total=60,
        metrics={"accuracy": 0.9, "accuracy_low": 0.75, "accuracy_high": 0.96, "n": 20},
    )
    return project


def test_lead_replays_and_switches_to_a_strategy(
    live_server: Any, page: Any, iris: Project
) -> None:
    login(page, live_server.url, "lead", "pw-lead")
    page.goto(f"{live_server.url}/projects/{iris.pk}/")
    assert "margin + kcenter" in page.locator("#replay-current").inner_text()
    with page.expect_navigation():
        page.click("#replay-run")
    assert "Replay started" in page.locator(".messages").inner_text()
    job = ReplayJob.objects.get(project=iris)
    # What the worker runs (tests/integration has one do it); a worker another browser
    # test started for the session may have claimed it already.
    if replay_run(job_id=job.pk) is False:
        assert ReplayJob.objects.get(pk=job.pk).state in ("running", "done")
    page.wait_for_selector("#replay-results", timeout=90_000)  # the card polls until done
    rows = page.locator("#replay-results tbody tr")
    job.refresh_from_db()
    assert rows.count() == len(job.results) > 5
    first = job.results[0]
    assert (
        first["strategy"] in rows.first.inner_text()
        and first["selector"] in rows.first.inner_text()
    )
    other = next(r for r in job.results if (r["strategy"], r["selector"]) != ("margin", "kcenter"))
    with page.expect_navigation():
        page.click(f"button[aria-label='Switch to {other['strategy']} with {other['selector']}']")
    assert "Strategy switched" in page.locator(".messages").inner_text()
    assert (
        f"{other['strategy']} + {other['selector']}" in page.locator("#replay-current").inner_text()
    )
    iris.refresh_from_db()
    assert (iris.strategy, iris.selector) == (other["strategy"], other["selector"])
