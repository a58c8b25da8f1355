"""A large pool's features are split over every free worker (issue 17).

The split's rows equal one pass's; a chunk another worker computes lands in the table; a
chunk whose worker died (its claim stale) is computed by the caller; a second caller
joins the split in flight rather than starting another.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from projects.feature_chunk import FeatureChunk
from projects.models import Item, Project
from projects.pool import feature_chunks, features, snapshot

pytestmark = pytest.mark.django_db

WORDS = ["cat", "mat", "stock", "market", "rain", "goal", "vote", "chip"]


@pytest.fixture(autouse=True)
def own_dirs(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    # A vocabulary fitted on every text stores their rows: a sample leaves them to compute.
    monkeypatch.setattr(snapshot, "VOCABULARY_SAMPLE", 5)
    settings.WINNOW_CACHE_DIR = tmp_path / "cache"
    settings.WINNOW_FEATURE_CHUNK_ITEMS = 12
    features._LOADED.clear()
    yield
    features._LOADED.clear()


def _pool(n: int) -> tuple[Project, np.ndarray]:
    project = Project.objects.create(name="chunks", kind="text", labels=["a", "b"])
    Item.objects.bulk_create(
        Item(project=project, text=f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} word{i % 13}")
        for i in range(n)
    )
    return project, snapshot.candidate_ids_all(project)


def test_the_split_rows_equal_one_pass(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    project, ids = _pool(50)
    computed: list[int] = []
    real = feature_chunks._compute
    monkeypatch.setattr(
        feature_chunks, "_compute", lambda p, c, r: computed.append(c.index) or real(p, c, r)
    )
    X = snapshot.features_ready(project, ids).rows(ids)
    assert sorted(computed) == [0, 1, 2, 3, 4]  # 50 rows in chunks of 12
    assert len(features._shard_names(project.pk)) == 5  # one shard per chunk
    one_pass = snapshot.compute_features(project, ids)
    assert (one_pass != X).nnz == 0
    assert not FeatureChunk.objects.exists()  # done: the split's rows are removed


def test_a_chunk_computed_by_another_worker_is_used_and_a_dead_ones_is_taken_over(  # type: ignore[no-untyped-def]
    monkeypatch,
) -> None:
    project, ids = _pool(30)
    snapshot.representation(project)
    job = feature_chunks._job_join_or_create(project, ids, 12)  # 3 chunks: 0-11, 12-23, 24-29
    chunks = list(FeatureChunk.objects.filter(job=job).order_by("index"))
    assert [(c.first_id, c.last_id) for c in chunks] == [
        (ids[0], ids[11]),
        (ids[12], ids[23]),
        (ids[24], ids[29]),
    ]
    # Another worker's task computes chunk 0.
    assert snapshot.feature_chunk_compute(chunks[0].pk)
    assert not snapshot.feature_chunk_compute(chunks[0].pk)  # done: nothing left to do
    # Chunk 1's worker died mid-chunk: its claim is older than three heartbeats.
    FeatureChunk.objects.filter(pk=chunks[1].pk).update(
        status=FeatureChunk.Status.RUNNING,
        claims=1,
        claimed_at=timezone.now() - timedelta(minutes=10),
    )
    computed: list[int] = []
    real = feature_chunks._compute
    monkeypatch.setattr(
        feature_chunks, "_compute", lambda p, c, r: computed.append(c.index) or real(p, c, r)
    )
    table = snapshot.features_ready(project, ids)  # joins the split in flight
    assert sorted(computed) == [1, 2]
    assert len(table.missing(ids)) == 0
    assert (table.rows(ids) != snapshot.compute_features(project, ids)).nnz == 0
    assert not FeatureChunk.objects.exists()


def test_a_live_claim_is_waited_for_not_taken(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    project, ids = _pool(20)
    snapshot.representation(project)
    job = feature_chunks._job_join_or_create(project, ids, 12)
    first = FeatureChunk.objects.get(job=job, index=0)
    FeatureChunk.objects.filter(pk=first.pk).update(
        status=FeatureChunk.Status.RUNNING, claims=1, claimed_at=timezone.now()
    )
    waits: list[int] = []

    def sleep(_: float) -> None:  # the other worker finishes while the caller waits
        waits.append(1)
        chunk = FeatureChunk.objects.get(pk=first.pk)
        feature_chunks._compute(project, chunk, snapshot.rows_function)

    monkeypatch.setattr(feature_chunks.time, "sleep", sleep)
    assert feature_chunks.features_split(project, ids, snapshot.rows_function)
    assert waits == [1]
    table = features.features_load(project.pk)
    assert table is not None and len(table.missing(ids)) == 0


def test_few_missing_rows_are_computed_by_the_caller(settings) -> None:  # type: ignore[no-untyped-def]
    project, ids = _pool(10)
    assert not feature_chunks.features_split(project, ids, snapshot.rows_function)
    assert snapshot.features_ready(project, ids).rows(ids).shape[0] == 10
    assert not FeatureChunk.objects.exists()


def test_chunk_sizes(settings) -> None:  # type: ignore[no-untyped-def]
    settings.WINNOW_FEATURE_CHUNK_ITEMS = 100_000
    assert feature_chunks.chunk_size(20_000) == 20_000  # not split
    assert feature_chunks.chunk_size(100_000) == 25_000  # four chunks
    assert feature_chunks.chunk_size(1_000_000) == 100_000


def test_a_split_reads_the_representation_once_for_all_its_chunks(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    project, ids = _pool(50)
    snapshot.representation(project)
    made: list[int] = []

    def rows(p: Project):  # type: ignore[no-untyped-def]
        made.append(p.pk)
        return snapshot.rows_function(p)

    assert feature_chunks.features_split(project, ids, rows)  # 5 chunks of 12
    assert made == [project.pk]
    table = features.features_load(project.pk)
    assert table is not None and len(table.missing(ids)) == 0
