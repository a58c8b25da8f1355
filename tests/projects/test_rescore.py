"""A retrain ranks the whole pool but stores only the top of it on the item rows.

The pool here is larger than what a retrain writes (`refreshes.ranked_rows`), so the
rest of the ranking lives only in the version's file; retrains run in-process, as
the worker would (tests/integration/test_loop.py runs them in a real worker).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse

from projects import tasks
from projects.batches import refresh as refreshes
from projects.batches import room as rooms
from projects.batches import services as batch_services
from projects.batches.room import MAX_OPEN_BATCHES
from projects.models import RANKING_ORDER, Batch, Item, ModelVersion, Project
from projects.training import rankings, scores
from projects.training import run as training
from projects.training import services as training_services

pytestmark = pytest.mark.django_db

POOL = 3000
SEEDS = 40
BATCH_SIZE = 10


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    yield
    # Models are cached per (project id, version), and ids restart with the next test's
    # database on SQLite: the next test's project 1 must not get this one's model.
    training_services.load_model.cache_clear()


def make_pool(api) -> tuple[Project, dict[int, str]]:  # type: ignore[no-untyped-def]
    """A vector project of POOL two-class points, SEEDS of them labelled; truth by item id."""
    response = api["lead"].post(
        "/api/projects/",
        {
            "name": "Points",
            "kind": "vector",
            "labels": ["a", "b"],
            "batch_size": BATCH_SIZE,
            "strategy": "least_confidence",
            "selector": "top_k",
            "holdout_fraction": 0,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    pid = response.json()["id"]
    api["lead"].post(
        f"/api/projects/{pid}/members/", {"username": "ann1", "role": "annotator"}, format="json"
    )
    X = np.random.default_rng(0).normal(size=(POOL, 2))
    truth = np.where(X[:, 0] + 0.3 * X[:, 1] > 0, "a", "b")
    lines = [
        json.dumps({"features": x.tolist(), **({"label": str(y)} if i < SEEDS else {})})
        for i, (x, y) in enumerate(zip(X, truth, strict=True))
    ]
    upload = SimpleUploadedFile("pool.jsonl", "\n".join(lines).encode())
    response = api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload})
    assert response.status_code == 201 and response.json()["created"] == POOL, response.content
    ids = Item.objects.filter(project_id=pid).order_by("id").values_list("id", flat=True)
    return Project.objects.get(pk=pid), dict(zip(ids, truth.tolist(), strict=True))


def retrain_owed(project: Project) -> int:
    owed = ModelVersion.objects.get(project=project, status=ModelVersion.Status.PENDING)
    assert tasks.retrain(owed.pk)
    return owed.version


def label_open_batch(api, project: Project, truth: dict[int, str]) -> None:  # type: ignore[no-untyped-def]
    batch = Batch.objects.get(project=project, state=Batch.State.OPEN)
    for _ in range(batch.size):
        item = api["ann1"].get(f"/api/projects/{project.pk}/next/").json()["item"]
        answer = {"item": item["id"], "label": truth[item["id"]], "confidence": 4}
        posted = api["ann1"].post(f"/api/projects/{project.pk}/annotations/", answer, format="json")
        assert posted.status_code == 201, posted.content
    # What the annotations' on-commit hook does (a test transaction never commits): the
    # batch closes, a retrain is owed, and the next batch opens from the stored ranking.
    batch_services.batch_progress(batch_id=batch.pk)


def top_of(ranking: rankings.Ranking, ids: np.ndarray, n: int) -> np.ndarray:
    """The `n` best of `ids` in the ranking's order (score descending, ties by id)."""
    scores = ranking.scores[np.searchsorted(ranking.ids, ids)]
    return ids[np.lexsort((ids, -scores))[:n]]


def assert_top_stored(project: Project, version: int) -> rankings.Ranking:
    """The version ranked every unlabeled item; the item rows hold only the top of it."""
    ranking = rankings.ranking_load(project.pk, version)
    assert ranking is not None
    unlabeled = Item.objects.filter(
        project=project, state__in=[Item.State.POOL, Item.State.QUEUED], is_holdout=False
    )
    unlabeled_ids = np.array(list(unlabeled.values_list("id", flat=True)), dtype=np.int64)
    assert np.isin(unlabeled_ids, ranking.ids).all()
    stored = dict(unlabeled.filter(score__isnull=False).values_list("id", "scored_version"))
    rows = refreshes.ranked_rows(project)
    assert rows < POOL - SEEDS  # else this test would not see unstored rows
    assert set(top_of(ranking, ranking.ids, rows).tolist()) <= set(stored)
    assert len(stored) <= rows + BATCH_SIZE * MAX_OPEN_BATCHES
    assert set(stored.values()) == {version}  # no older ranking's top is left behind
    for item_id, score, prediction in unlabeled.filter(score__isnull=False).values_list(
        "id", "score", "prediction"
    ):
        at = np.searchsorted(ranking.ids, item_id)
        assert score == pytest.approx(ranking.scores[at])
        assert prediction == ranking.predictions[at]
    return ranking


def assert_open_batch_is_top(project: Project, ranking: rankings.Ranking) -> None:
    batch = Batch.objects.get(project=project, state=Batch.State.OPEN)
    in_batch = np.array(list(Item.objects.filter(batch=batch).values_list("id", flat=True)))
    pool = Item.objects.filter(project=project, state=Item.State.POOL, is_holdout=False)
    candidates = np.union1d(in_batch, np.array(list(pool.values_list("id", flat=True))))
    assert set(in_batch.tolist()) == set(top_of(ranking, candidates, len(in_batch)).tolist())
    # The stored ranking agrees: its first pool rows are the next of the file's ranking.
    after = top_of(ranking, np.setdiff1d(candidates, in_batch), 5)
    first = pool.order_by(*RANKING_ORDER).values_list("id", flat=True)[:5]
    assert list(first) == after.tolist()


def test_retrains_store_only_the_top_of_a_whole_pool_ranking(api) -> None:  # type: ignore[no-untyped-def]
    project, truth = make_pool(api)
    first = assert_top_stored(project, retrain_owed(project))
    assert_open_batch_is_top(project, first)

    label_open_batch(api, project, truth)
    second = assert_top_stored(project, retrain_owed(project))
    assert_open_batch_is_top(project, second)
    # The first top's rows this ranking placed lower were taken out of the stored ranking.
    dropped = set(top_of(first, first.ids, refreshes.ranked_rows(project)).tolist()) - set(
        top_of(second, second.ids, refreshes.ranked_rows(project)).tolist()
    )
    assert dropped
    assert not Item.objects.filter(
        pk__in=dropped, state=Item.State.POOL, score__isnull=False
    ).exists()


def test_export_predictions_are_the_newest_models_for_the_whole_pool(api) -> None:  # type: ignore[no-untyped-def]
    project, truth = make_pool(api)
    retrain_owed(project)
    label_open_batch(api, project, truth)
    ranking = rankings.ranking_load(project.pk, retrain_owed(project))
    assert ranking is not None

    response = api["lead"].get(f"/api/projects/{project.pk}/export/?format=jsonl")
    assert response.status_code == 200
    body = b"".join(
        response.streaming_content if isinstance(response, StreamingHttpResponse) else []
    )
    records = {r["id"]: r for r in map(json.loads, body.decode().splitlines())}
    assert len(records) == POOL
    expected = ranking.predictions_of(ranking.ids)
    exported = [records[int(i)]["prediction"] for i in ranking.ids]
    assert exported == [project.labels[code] for code in expected]
    unstored = Item.objects.filter(project=project, prediction__isnull=True, state="pool")
    assert unstored.count() > POOL // 4  # most of these predictions came from the file


def test_a_retrain_refreshes_only_the_last_open_batch(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Batches are handed out oldest first: the earlier open batch keeps its items (it is
    being worked on), the last one gets the new model's picks for its untouched items."""
    project, truth = make_pool(api)
    retrain_owed(project)
    label_open_batch(api, project, truth)  # v2 is owed; batch 2 opened from v1's ranking
    first = Batch.objects.get(project=project, state=Batch.State.OPEN)
    with monkeypatch.context() as patch:  # as when many annotators are at work
        patch.setattr(rooms.BatchRoom, "enough_free", property(lambda room: False))
        last = batch_services.batch_open(project=project, another=True)
    assert last is not None and last.pk != first.pk
    before = {
        b.pk: set(Item.objects.filter(batch=b).values_list("id", flat=True)) for b in (first, last)
    }

    retrain_owed(project)

    after_first = set(Item.objects.filter(batch=first).values_list("id", flat=True))
    after_last = set(Item.objects.filter(batch=last).values_list("id", flat=True))
    assert after_first == before[first.pk]
    assert after_last != before[last.pk] and len(after_last) == BATCH_SIZE
    last.refresh_from_db()
    assert last.model_version is not None and last.model_version.version == 2


@pytest.mark.postgres
def test_a_retrain_holds_few_rows_requests_may_be_taking_at_a_time(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Claims skip locked queued items and batch openings locked top rows: a retrain
    writes their scores a few rows per transaction, so requests find most rows free."""
    from projects.training import scores as bulk

    project, truth = make_pool(api)
    retrain_owed(project)
    label_open_batch(api, project, truth)
    with monkeypatch.context() as patch:  # as when many annotators are at work
        patch.setattr(rooms.BatchRoom, "enough_free", property(lambda room: False))
        for _ in range(3):
            batch_services.batch_open(project=project, another=True)
    queued = set(Item.objects.filter(project=project, state="queued").values_list("id", flat=True))
    assert len(queued) > training.QUEUED_CHUNK
    chunks: list[list[int]] = []
    write = scores._chunk_update

    def spy(ids, *statement_and_params):  # type: ignore[no-untyped-def]
        chunks.append(ids)
        write(ids, *statement_and_params)

    monkeypatch.setattr(bulk, "_chunk_update", spy)
    retrain_owed(project)

    assert chunks and max(len(chunk) for chunk in chunks) <= training.TOP_CHUNK
    held = [len(queued.intersection(chunk)) for chunk in chunks]
    assert max(held) <= training.QUEUED_CHUNK
    assert sum(held) == len(queued)  # every queued row was scored
