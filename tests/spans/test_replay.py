"""The replay job on a span project, run in-process: the sequence strategies and the
selectors a span project may use, the final spans as the oracle, entity F1 as the score
(tests/projects/test_replay_forecast.py: single-label)."""

from __future__ import annotations

import pytest

from projects.models import ReplayJob
from projects.replay import replay_grid, replay_run
from projects.training import services as training_services
from projects.training import spans as span_training
from strategies.spans.query import SEQUENCE_STRATEGIES
from tests.spans.test_retrain import make_project, retrain

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    settings.WINNOW_REPLAY_REPEATS = 1
    settings.WINNOW_REPLAY_GRID = "axes"  # the project's strategy and selector, one axis each
    monkeypatch.setattr(span_training, "POOL_CHUNK", 7)
    yield
    training_services.load_model.cache_clear()


def test_the_grid_is_the_sequence_strategies_with_selectors_that_need_no_probabilities(
    api, settings
) -> None:  # type: ignore[no-untyped-def]
    settings.WINNOW_REPLAY_GRID = "full"
    project = make_project(api, stopping=[])
    pairs = [name.split("+") for name in replay_grid(project)]
    assert pairs[0] == ["random", "top_k"]
    assert {q for q, _ in pairs[1:]} == set(SEQUENCE_STRATEGIES) - {"random"}
    assert {s for _, s in pairs} == {"top_k", "cluster", "kcenter", "representative"}


def test_the_replay_reaches_the_crfs_entity_f1_on_the_final_spans(api) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[])
    version = retrain(project)
    url = f"/api/projects/{project.pk}/replay/"
    posted = api["lead"].post(url)
    assert posted.status_code == 202, posted.content
    job = ReplayJob.objects.get(pk=posted.json()["id"])
    assert job.target == pytest.approx((version.metrics or {})["f1"])
    assert replay_run(job_id=job.pk) is True
    body = api["lead"].get(url).json()
    assert body["state"] == "done", body.get("error")
    assert body["metric"] == "entity F1"
    assert (body["config"]["pool"], body["config"]["test"]) == (60, 30)
    names = {f"{r['strategy']}+{r['selector']}" for r in body["results"]}
    assert names == set(replay_grid(project)) and f"{project.strategy}+top_k" in names
    for row in body["results"]:
        assert row["repeats"] == 1 and 0 < row["aulc"] <= 1
        if row["labels_to_target"] is not None:
            assert 10 <= row["labels_to_target"] <= 60
    assert any(r["reached"] for r in body["results"])
