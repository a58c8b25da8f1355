"""The replay job and the forecast through HTTP (PRODUCT.md §10), the job run in-process.

The worker path (a real Celery worker on the demo project) is in
tests/integration/test_replay_worker.py.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from sklearn.datasets import load_iris

from projects import forecast, selectors, services
from projects.models import Annotation, Item, ModelVersion, Project, ReplayJob
from projects.replay import replay_grid, replay_run
from strategies.forecast import bootstrap_curve, power_law

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dirs(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.WINNOW_REPLAY_REPEATS = 3


def _project(users, name: str = "Iris") -> Project:  # type: ignore[no-untyped-def]
    project = services.project_create(
        user=users["lead"],
        name=name,
        kind="vector",
        labels=["setosa", "versicolor", "virginica"],
        batch_size=25,
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    return project


def _labelled_iris(project: Project) -> None:
    """Iris as labelled vector items: every fourth row in the holdout."""
    X, y = load_iris(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    Item.objects.bulk_create(
        Item(
            project=project,
            vector=[float(v) for v in X[i]],
            label=project.labels[int(y[i])],
            label_source=Item.LabelSource.CONSENSUS,
            state=Item.State.LABELED,
            is_holdout=k % 4 == 0,
        )
        for k, i in enumerate(order)
    )


def _versions(project: Project, labels: list[int], accuracy: list[float], n: int = 40) -> None:
    for version, (count, acc) in enumerate(zip(labels, accuracy, strict=True), start=1):
        ModelVersion.objects.create(
            project=project,
            version=version,
            status=ModelVersion.Status.DONE,
            labels_total=count,
            metrics={"accuracy": acc, "accuracy_low": acc - 0.1, "accuracy_high": acc, "n": n},
        )


@pytest.fixture
def iris(users):  # type: ignore[no-untyped-def]
    project = _project(users)
    _labelled_iris(project)
    _versions(project, [10, 20, 40, 80], [0.7, 0.8, 0.9, 0.93])
    return project


def test_annotators_get_403_and_outsiders_404(api, iris):  # type: ignore[no-untyped-def]
    url = f"/api/projects/{iris.pk}/replay/"
    assert api["ann1"].get(url).status_code == 403
    assert api["ann1"].post(url).status_code == 403
    assert api["outsider"].get(url).status_code == 404
    assert api["outsider"].post(url).status_code == 404
    assert not ReplayJob.objects.exists()


def test_a_lead_of_another_project_gets_404(api, users, make_user, iris):  # type: ignore[no-untyped-def]
    other = services.project_create(user=users["ann2"], name="Other", kind="text", labels=["a"])
    url = f"/api/projects/{other.pk}/replay/"
    assert api["lead"].get(url).status_code == 404
    assert api["lead"].post(url).status_code == 404


def test_before_any_replay_get_says_none_yet(api, iris):  # type: ignore[no-untyped-def]
    body = api["lead"].get(f"/api/projects/{iris.pk}/replay/").json()
    assert body["state"] is None and body["results"] == []
    assert body["current"] == {"strategy": iris.strategy, "selector": iris.selector}


def test_replay_needs_an_evaluated_model(api, users):  # type: ignore[no-untyped-def]
    project = _project(users, "Fresh")
    response = api["lead"].post(f"/api/projects/{project.pk}/replay/")
    assert response.status_code == 409
    assert "holdout" in response.json()["detail"]


def test_post_accepts_one_job_at_a_time(api, iris):  # type: ignore[no-untyped-def]
    url = f"/api/projects/{iris.pk}/replay/"
    first = api["lead"].post(url)
    assert first.status_code == 202
    job = ReplayJob.objects.get(pk=first.json()["id"])
    assert (job.state, job.target) == ("pending", 0.93)
    assert api["lead"].post(url).status_code == 409
    body = api["lead"].get(url).json()
    assert (body["id"], body["state"], body["results"]) == (job.pk, "pending", [])


def test_a_job_that_never_finished_stops_blocking(api, iris, settings):  # type: ignore[no-untyped-def]
    url = f"/api/projects/{iris.pk}/replay/"
    old = ReplayJob.objects.create(project=iris, target=0.9, state="running")
    ReplayJob.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.WINNOW_REPLAY_STALE_SECONDS + 1)
    )
    assert api["lead"].post(url).status_code == 202
    old.refresh_from_db()
    assert old.state == "failed" and old.error


def test_the_job_replays_every_strategy_to_the_target(api, iris):  # type: ignore[no-untyped-def]
    url = f"/api/projects/{iris.pk}/replay/"
    job_id = api["lead"].post(url).json()["id"]
    assert replay_run(job_id=job_id) is True
    assert replay_run(job_id=job_id) is False  # claimed once
    body = api["lead"].get(url).json()
    assert body["state"] == "done", body.get("error")
    assert body["config"]["pool"] == 112 and body["config"]["test"] == 38
    pairs = {f"{r['strategy']}+{r['selector']}" for r in body["results"]}
    assert pairs == set(replay_grid(iris)) and "random+top_k" in pairs
    for row in body["results"]:
        assert set(row) >= {"strategy", "selector", "labels_to_target", "aulc", "low", "high"}
        assert row["repeats"] == 3 and 0 < row["aulc"] <= 1
        if row["labels_to_target"] is not None:
            assert 25 <= row["low"] <= row["labels_to_target"] <= 112
    reached = [r["labels_to_target"] for r in body["results"] if r["labels_to_target"]]
    assert reached == sorted(reached)  # fewest labels first


def test_a_failed_job_says_why(api, users):  # type: ignore[no-untyped-def]
    project = _project(users, "Tiny")
    _versions(project, [5], [0.5])
    job_id = api["lead"].post(f"/api/projects/{project.pk}/replay/").json()["id"]
    replay_run(job_id=job_id)
    body = api["lead"].get(f"/api/projects/{project.pk}/replay/").json()
    assert body["state"] == "failed" and "holdout" in body["error"]


def test_switch_goes_through_the_settings_rule(users, iris):  # type: ignore[no-untyped-def]
    lead, annotator = Client(), Client()
    lead.force_login(users["lead"])
    annotator.force_login(users["ann1"])
    url = f"/projects/{iris.pk}/replay/switch/"
    assert annotator.post(url, {"strategy": "entropy", "selector": "top_k"}).status_code == 403
    response = lead.post(url, {"strategy": "entropy", "selector": "top_k"})
    assert response.status_code == 302
    iris.refresh_from_db()
    assert (iris.strategy, iris.selector) == ("entropy", "top_k")
    refused = lead.post(url, {"strategy": "nonsense", "selector": "top_k"}, follow=True)
    iris.refresh_from_db()
    assert iris.strategy == "entropy"
    assert "unknown strategy" in refused.content.decode()


def test_status_has_no_forecast_with_too_few_versions(api, users):  # type: ignore[no-untyped-def]
    project = _project(users, "Young")
    _versions(project, [10, 20, 40], [0.6, 0.7, 0.75])
    status = api["ann1"].get(f"/api/projects/{project.pk}/status/").json()
    assert status["forecast"] is None


def test_status_forecasts_labels_and_hours_to_the_target_rule(api, users):  # type: ignore[no-untyped-def]
    project = _project(users, "Curve")
    services.project_update(project=project, stopping=[{"rule": "target", "metric_low": 0.88}])
    labels = [20, 40, 60, 80, 100, 120]
    _versions(project, labels, [float(power_law(n, 0.92, 0.8, 0.5)) for n in labels], n=2000)
    item = Item.objects.create(project=project, vector=[0.0])
    for name, seconds in (("lead", 10.0), ("ann1", 20.0)):  # 30 s for one labelled item
        Annotation.objects.create(
            project=project, item=item, annotator=users[name], label="setosa", seconds=seconds
        )
    status = api["ann1"].get(f"/api/projects/{project.pk}/status/").json()
    forecast = status["forecast"]
    assert forecast is not None
    assert (forecast["metric"], forecast["target"]) == ("accuracy", 0.88)
    true_more = (0.8 / 0.04) ** 2 - 120  # the curve reaches 0.88 at 400 labels
    assert forecast["low"] <= forecast["labels"]
    assert forecast["high"] is None or forecast["high"] >= forecast["labels"]
    assert forecast["labels"] == pytest.approx(true_more, rel=0.25)
    assert forecast["hours"] == pytest.approx(forecast["labels"] * 30 / 3600, abs=0.01)
    pool = Item.objects.filter(project=project, state__in=["pool", "queued"]).count()
    assert forecast["pool"] == status["pool"] == pool
    assert forecast["beyond_pool"] is (forecast["labels"] > pool)
    lead = Client()
    lead.force_login(users["lead"])
    page = lead.get(f"/projects/{project.pk}/").content.decode()
    said = "items left in the pool: labelling this pool is not expected to reach it"
    assert (said in page) is forecast["beyond_pool"]


def test_a_forecast_reads_the_pool_count_the_status_kept(users, monkeypatch):  # type: ignore[no-untyped-def]
    """A large pool's count is kept a while (`selectors.project_counts`): the forecast
    in the same answer must not scan the pool again on every poll."""
    project = _project(users, "Kept")
    labels = [20, 40, 60, 80, 100, 120]
    _versions(project, labels, [float(power_law(n, 0.92, 0.8, 0.5)) for n in labels])
    Item.objects.bulk_create(Item(project=project, vector=[0.0]) for _ in range(3))
    monkeypatch.setattr(selectors, "LARGE_POOL", 0)  # this pool's count is "large and slow"
    monkeypatch.setattr(selectors, "SLOW_COUNT_SECONDS", 0.0)
    assert selectors.project_status(project)["forecast"]["pool"] == 3
    Item.objects.bulk_create(Item(project=project, vector=[0.0]) for _ in range(2))
    with CaptureQueriesContext(connection) as queries:
        status = selectors.project_status(project)
    assert status["pool"] == status["forecast"]["pool"] == 3, "the kept count, both"
    items = [q["sql"] for q in queries if Item._meta.db_table in q["sql"]]
    assert items == [], items


def test_a_bootstrap_is_computed_once_per_curve(users, monkeypatch):  # type: ignore[no-untyped-def]
    """Polls between two versions reuse the bootstrap; a new version computes a new one,
    and a kept one is what computing it again gives."""
    project = _project(users, "Polled")
    labels = [20, 40, 60, 80, 100, 120]
    _versions(project, labels, [float(power_law(n, 0.92, 0.8, 0.5)) for n in labels])
    computed: list[tuple[float, ...]] = []

    def counted(labels, metric, **kwargs):  # type: ignore[no-untyped-def]
        computed.append(tuple(labels))
        return bootstrap_curve(labels, metric, **kwargs)

    monkeypatch.setattr(forecast, "bootstrap_curve", counted)
    forecast._bootstrap_of.cache_clear()
    first = selectors.project_status(project)["forecast"]
    assert selectors.project_status(project)["forecast"] == first
    assert len(computed) == 1, "the second poll reused the first's bootstrap"

    acc = float(power_law(140, 0.92, 0.8, 0.5))
    ModelVersion.objects.create(
        project=project,
        version=7,
        status=ModelVersion.Status.DONE,
        labels_total=140,
        metrics={"accuracy": acc, "n": 40},
    )
    later = selectors.project_status(project)["forecast"]
    assert len(computed) == 2 and computed[-1][-1] == 140, "a new version, a new bootstrap"
    forecast._bootstrap_of.cache_clear()
    assert selectors.project_status(project)["forecast"] == later, "kept = computed again"


def test_without_a_target_rule_the_target_is_below_the_plateau(api, users):  # type: ignore[no-untyped-def]
    project = _project(users, "Plateau")
    labels = [20, 40, 60, 80, 100]
    _versions(project, labels, [float(power_law(n, 0.9, 0.8, 0.5)) for n in labels], n=2000)
    forecast = api["lead"].get(f"/api/projects/{project.pk}/status/").json()["forecast"]
    assert forecast["target"] == pytest.approx(0.89, abs=0.01)
    assert forecast["hours"] is None  # no annotation times recorded


def test_dashboard_shows_forecast_charts_and_replay_card(users, iris):  # type: ignore[no-untyped-def]
    _versions_more(iris)
    lead = Client()
    lead.force_login(users["lead"])
    page = lead.get(f"/projects/{iris.pk}/").content.decode()
    assert 'id="forecast"' in page and "Appears after four" not in page
    assert 'id="learning-curve"' in page and "<caption>Learning curve" in page
    assert 'id="replay"' in page and 'id="replay-run"' in page
    assert "Label distribution" in page
    annotator = Client()
    annotator.force_login(users["ann1"])
    assert 'id="replay"' not in annotator.get(f"/projects/{iris.pk}/").content.decode()


def _versions_more(project: Project) -> None:
    for version, (count, acc) in enumerate([(120, 0.94), (140, 0.945)], start=5):
        ModelVersion.objects.create(
            project=project,
            version=version,
            status=ModelVersion.Status.DONE,
            labels_total=count,
            metrics={
                "accuracy": acc,
                "accuracy_low": acc - 0.1,
                "accuracy_high": acc,
                "macro_f1": acc,
                "n": 40,
            },
        )


def test_the_full_grid_is_every_strategy_with_every_selector(settings):  # type: ignore[no-untyped-def]
    from projects.replay import NOT_REPLAYED
    from strategies.query import STRATEGIES
    from strategies.selection import SELECTORS

    project = Project(strategy="margin", selector="kcenter")
    queries = [q for q, info in STRATEGIES.items() if q != "random" and not info.multilabel]
    selectors = [s for s in SELECTORS if s not in NOT_REPLAYED]
    settings.WINNOW_REPLAY_GRID = "full"
    full = replay_grid(project)
    assert full[0] == "random+top_k" and len(full) == len(set(full))
    assert set(full[1:]) == {f"{q}+{s}" for q in queries for s in selectors}
    settings.WINNOW_REPLAY_GRID = "axes"
    axes = set(replay_grid(project))
    assert axes < set(full) and {f"margin+{s}" for s in selectors} <= axes
    assert {f"{q}+kcenter" for q in queries} <= axes
