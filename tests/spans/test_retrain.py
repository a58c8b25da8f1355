"""A span project's retrain, run in-process as the worker would: a CRF on the final
spans, entity precision/recall/F1 with intervals on the holdout, the pool ranked by the
sequence strategy in chunks, stopping rules on entity F1, the status and dashboard
(tests/integration/test_spans_loop.py runs the loop with a real worker)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.urls import reverse

from projects import tasks
from projects.models import Item, ModelVersion, Project
from projects.training import rankings
from projects.training import services as training_services
from projects.training import spans as span_training
from strategies.spans.crf import SpanModel
from strategies.spans.query import mnlp_scores
from strategies.spans.tokens import tokenize
from tests.spans.helpers import span_project, upload
from tests.strategies.spans_corpus import synthetic_corpus

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    monkeypatch.setattr(span_training, "POOL_CHUNK", 7)  # several chunks, a short last one
    yield
    training_services.load_model.cache_clear()


def make_project(api, **extra: object) -> Project:  # type: ignore[no-untyped-def]
    project = span_project(api, batch_size=10, **extra)
    docs = synthetic_corpus(150, seed=5)
    lines = [json.dumps(d.as_dict() if i < 90 else {"text": d.text}) for i, d in enumerate(docs)]
    assert upload(api, project, "pool.jsonl", "\n".join(lines)).status_code == 201
    seeds = Item.objects.filter(project=project, spans__isnull=False).order_by("id")
    assert seeds.count() == 90
    # A holdout among the seeds, as batches would have drawn it.
    Item.objects.filter(pk__in=list(seeds.values_list("id", flat=True)[:30])).update(
        is_holdout=True
    )
    return project


def retrain(project: Project) -> ModelVersion:
    owed = ModelVersion.objects.get(project=project, status=ModelVersion.Status.PENDING)
    assert tasks.retrain(owed.pk)
    return ModelVersion.objects.get(pk=owed.pk)


def test_retrain_learns_spans_and_reports_entity_metrics_with_intervals(api) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[])
    version = retrain(project)
    assert version.status == "done", version.error
    metrics = version.metrics or {}
    assert metrics["n"] == 30 and metrics["entities"] > 30
    for name in ("precision", "recall", "f1"):
        assert metrics[f"{name}_low"] <= metrics[name] <= metrics[f"{name}_high"], metrics
    assert metrics["f1"] > 0.8, metrics
    assert version.train_size == 60 and version.labels_total == 90
    assert version.estimator == "crf" and version.hyperparameters == {"c1": 0.1, "c2": 0.1}
    model = training_services.load_model(project.pk, version.version)
    assert isinstance(model, SpanModel)
    assert model.predict([["Alice", "visited", "Paris", "."]]) == [["B-PER", "O", "B-LOC", "O"]]


def test_the_ranking_is_the_strategys_score_of_every_pool_sentence(api) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[])
    version = retrain(project)
    ranking = rankings.ranking_load(project.pk, version.version)
    assert ranking is not None and len(ranking.ids) == 60
    pool = dict(Item.objects.filter(pk__in=ranking.ids.tolist()).values_list("id", "text"))
    words = [[t.text for t in tokenize(pool[int(i)])] for i in ranking.ids]
    model = training_services.load_model(project.pk, version.version)
    # crfsuite's own tagger, one sentence at a time: the reference for the chunked pass.
    reference = model.predict_sequences(words)
    want = mnlp_scores(reference.path_proba, reference.lengths)
    np.testing.assert_allclose(ranking.scores, want, atol=1e-4)
    # The item's one prediction column: the label with the most predicted entity tokens.
    labels = project.labels
    for item_id, code, path in zip(ranking.ids, ranking.predictions, reference.paths, strict=True):
        found = [tag.split("-", 1)[1] for tag in path if tag != "O"]
        if not found:
            assert code == -1
        else:
            assert labels[code] in found, (item_id, path)
    # The top of the ranking is on the item rows, where batches read it.
    top = Item.objects.filter(project=project, scored_version=version.version)
    best = top.order_by("-score").first()
    assert best is not None and best.score == pytest.approx(want.max(), abs=1e-4)


def test_stopping_rules_read_entity_f1_and_stabilizing_predictions_compares_tokens(api) -> None:  # type: ignore[no-untyped-def]
    stopping = [
        {"rule": "target", "metric_low": 0.5},
        {"rule": "stabilizing_predictions", "threshold": 0.99, "window": 2},
    ]
    project = make_project(api, stopping=stopping)
    version = retrain(project)
    rule = {r["rule"]: r for r in version.stopping}
    assert rule["target"]["met"]
    assert rule["target"]["value"] == pytest.approx((version.metrics or {})["f1_low"])
    # The stop set's every token's tag column: as many as the stop set's items have tokens.
    project.refresh_from_db()
    texts = Item.objects.filter(pk__in=project.stop_set).values_list("text", flat=True)
    assert len(version.stop_set_predictions or []) == sum(len(tokenize(t)) for t in texts)
    assert project.state == "stopped"


def test_status_and_dashboard_show_entity_precision_recall_and_f1(api, client, users) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[])
    version = retrain(project)
    status = api["lead"].get(f"/api/projects/{project.pk}/status/").json()
    assert status["model"]["headline_metric"] == "f1"
    assert status["model"]["headline"] == pytest.approx((version.metrics or {})["f1"])
    client.force_login(users["lead"])
    page = client.get(reverse("project-dashboard", args=[project.pk])).content.decode()
    m = version.metrics or {}
    assert 'id="span-metrics"' in page
    for name in ("precision", "recall", "f1"):
        assert f"{m[name]:.3f}" in page and f"{m[name + '_low']:.3f}" in page
    # The learning curve plots entity F1 with its band (and recall).
    assert "holdout entity F1 (blue, 95% band), entity recall" in page
    assert f"{m['f1_low']:.3f} to {m['f1_high']:.3f}" in page


@pytest.mark.parametrize("strategy", ["sequence_vote_entropy", "random", "token_entropy_sum"])
def test_every_kind_of_sequence_strategy_ranks_the_pool(api, strategy) -> None:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[], strategy=strategy)
    version = retrain(project)
    assert version.status == "done", version.error
    ranking = rankings.ranking_load(project.pk, version.version)
    assert ranking is not None and len(ranking.ids) == 60
    assert np.isfinite(ranking.scores).all() and (ranking.scores >= 0).all()
    # Chunks of 7: random scores are not the same stream repeated chunk after chunk.
    assert len(np.unique(ranking.scores)) > 7 or strategy != "random"


def test_entity_label_codes_count_tokens_per_label() -> None:
    # columns: O, B-PER, I-PER, B-LOC, I-LOC; -1 is padding
    paths = np.array([[0, 1, 2, 3, -1], [0, 0, 0, -1, -1], [3, 4, 4, 1, 0]])
    assert span_training.entity_label_codes(paths, 2).tolist() == [0, -1, 1]
