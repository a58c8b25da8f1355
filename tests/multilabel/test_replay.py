"""The replay job on a multi-label project, run in-process: the multi-label strategies
and the selectors that need no class probabilities, the final sets as the oracle, micro
F1 as the score (tests/projects/test_replay_forecast.py: single-label)."""

from __future__ import annotations

import pytest

from projects.models import ReplayJob
from projects.replay import replay_grid, replay_run
from projects.training import services as training_services
from strategies.query import STRATEGIES
from tests.multilabel.test_retrain import make_project, retrain

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    settings.WINNOW_REPLAY_REPEATS = 2
    yield
    training_services.load_model.cache_clear()


def test_the_grid_is_the_multilabel_strategies_with_selectors_that_need_no_probabilities(
    api,
) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[])
    pairs = [name.split("+") for name in replay_grid(project)]
    assert pairs[0] == ["random", "top_k"]
    assert {q for q, _ in pairs[1:]} == {q for q, i in STRATEGIES.items() if i.multilabel}
    assert {s for _, s in pairs} == {"top_k", "cluster", "kcenter", "representative"}


def test_the_replay_reaches_the_models_micro_f1_on_the_final_sets(api) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[])
    version = retrain(project)
    url = f"/api/projects/{project.pk}/replay/"
    posted = api["lead"].post(url)
    assert posted.status_code == 202, posted.content
    job = ReplayJob.objects.get(pk=posted.json()["id"])
    assert job.target == pytest.approx((version.metrics or {})["micro_f1"])
    assert replay_run(job_id=job.pk) is True
    body = api["lead"].get(url).json()
    assert body["state"] == "done", body.get("error")
    assert body["metric"] == "micro-F1"
    assert (body["config"]["pool"], body["config"]["test"]) == (120, 80)
    assert {f"{r['strategy']}+{r['selector']}" for r in body["results"]} == set(
        replay_grid(project)
    )
    for row in body["results"]:
        assert row["repeats"] == 2 and 0 < row["aulc"] <= 1
        if row["labels_to_target"] is not None:
            assert 10 <= row["low"] <= row["labels_to_target"] <= row["high"] <= 120
    # The model that set the target trained on all 120: the replay gets there too.
    assert any(r["reached"] == 2 for r in body["results"])
    reached = [r["labels_to_target"] for r in body["results"] if r["labels_to_target"]]
    assert reached == sorted(reached)
