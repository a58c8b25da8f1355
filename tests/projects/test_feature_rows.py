"""Feature rows gathered from their shards (`features.FeatureTable`), and a rescore
chunk's (`features.features_rows`): a worker that only scores chunks reads just the
shards the chunk's ids fall in, caches each one memory-mapped, and drops a cached shard
once the features change (compaction).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from projects.pool import feature_cache, features
from tests.projects.test_artifacts import object_store, own_dirs, store  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("store")]  # every store


def _rows(ids: list[int]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array([[i, 1.0, 0.0] for i in ids]))


def _add(project_id: int, ids: list[int]) -> None:
    features.features_add(project_id, np.array(ids), _rows(ids))


def _reading(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The shard names read from the store from now on."""
    read: list[str] = []
    real = features._read
    monkeypatch.setattr(features, "_read", lambda name: read.append(name) or real(name))
    return read


def _cached_shards(project_id: int) -> list[str]:
    root = feature_cache.shard_dir(project_id)
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def test_a_chunk_reads_only_its_shards_once_then_from_the_cache(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _add(4, [5, 1, 3])
    _add(4, [10, 12, 11])
    _add(4, [20, 21])
    whole = features.features_load(4)
    assert whole is not None
    features._LOADED.clear()
    feature_cache.drop(4)  # another worker: nothing of this project cached
    read = _reading(monkeypatch)

    chunk = np.array([3, 5, 10, 11])
    rows = features.features_rows(4, chunk)
    assert rows.toarray().tolist() == whole.rows(chunk).toarray().tolist()
    assert len(read) == 2, "the shard of 20-21 is not read"
    assert len(_cached_shards(4)) == 2

    # The next chunk: the cached shards are memory-mapped, not read again.
    again = features.features_rows(4, np.array([1, 12, 21]))
    assert again.toarray()[:, 0].tolist() == [1, 12, 21]
    assert len(read) == 3 and len(_cached_shards(4)) == 3


def test_cached_shards_go_when_the_features_change(monkeypatch, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(features, "COMPACT_AFTER_SHARDS", 2)
    for start in (1, 10, 20):
        _add(6, [start, start + 1])
    features.features_rows(6, np.array([1, 2, 10]))
    before = _cached_shards(6)
    assert len(before) == 2

    # Another worker retrains: it merges the shards (more than COMPACT_AFTER_SHARDS, so
    # one shard replaces them), and new items arrive.
    mine = settings.WINNOW_CACHE_DIR
    settings.WINNOW_CACHE_DIR = tmp_path / "other-worker"
    table = features.features_load(6)
    assert table is not None and table.ids.tolist() == [1, 2, 10, 11, 20, 21]
    features._LOADED.clear()
    settings.WINNOW_CACHE_DIR = mine
    _add(6, [30])

    read = _reading(monkeypatch)
    rows = features.features_rows(6, np.array([11, 30]))
    assert rows.toarray()[:, 0].tolist() == [11, 30]
    assert sorted(read) == list(features._shard_names(6)), "the compacted shard and the new"
    after = _cached_shards(6)
    assert len(after) == 2 and not set(after) & set(before), "the removed shards are dropped"

    # This worker retrains too: it maps the same cached shards, reading none again.
    read.clear()
    assert features.features_load(6) is not None
    assert read == [] and _cached_shards(6) == after


def test_the_table_at_hand_is_used_and_old_shard_names_are_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _add(8, [1, 2])
    name = features._shard_names(8)[0]
    # A shard stored before names carried their ids: its span is unknown, so it is read.
    from projects import artifacts

    with artifacts.artifact_open(name) as fh:
        data = fh.read()
    old = f"features/project_8/shard-{'a' * 32}.npz"
    artifacts.artifact_save(old, data)
    artifacts.artifact_delete(name)
    assert features._shard_span(old) is None
    assert features.features_rows(8, np.array([2])).toarray()[:, 0].tolist() == [2]

    features.features_load(8)  # this worker retrained: the table is at hand
    read = _reading(monkeypatch)
    assert features.features_rows(8, np.array([1])).toarray()[:, 0].tolist() == [1]
    assert read == []


@pytest.mark.parametrize("view", [False, True])
@pytest.mark.parametrize("dense", [False, True])
def test_rows_are_gathered_from_their_shards_in_any_order(dense: bool, view: bool) -> None:
    """Every asked-for row, in the order asked (repeats too), from shards that overlap
    (a row stored twice is read from the first shard holding it) or not."""
    rng = np.random.default_rng(3)
    shards = []
    for low in (0, 50, 40, 200):  # 40-69 overlaps 50-79: ids 50-69 are stored twice
        ids = np.arange(low, low + 30)
        X = rng.random((30, 4))
        X[X < 0.5] = 0.0
        shards.append((ids, X if dense else sp.csr_matrix(X)))
    # Shards listed out of order: the table sorts them by first id (40 before 50), and
    # a row stored twice is the one of the shard sorted first.
    table = features.table_of(shards)
    assert [int(ids[0]) for ids, _ in table.shards] == [0, 40, 50, 200]
    stored: dict[int, np.ndarray] = {}
    for ids, X in table.shards:
        dense_rows = X if dense else X.toarray()
        for i, row in zip(ids.tolist(), dense_rows, strict=True):
            stored.setdefault(i, row)
    assert table.ids.tolist() == sorted(stored)
    for asked in (
        table.ids,
        rng.choice(table.ids, 40),  # any order, with repeats
        np.array([205, 1, 60, 60, 41]),
        np.array([], dtype=np.int64),
    ):
        got = table.rows(asked, view=view)
        got = got if dense else got.toarray()
        want = np.array([stored[int(i)] for i in asked]).reshape(len(asked), 4)
        assert got.shape == (len(asked), 4)
        assert np.array_equal(got, want)
    assert table.missing(np.array([3, 30, 31, 229, 230])).tolist() == [30, 31, 230]


@pytest.mark.parametrize("dense", [False, True])
def test_a_run_of_one_shard_is_read_in_place_only_when_asked(dense: bool) -> None:
    """A rescore chunk's rows (`view`) are the shard's own where they lie in one run of
    one shard: copying 100,000 rows took a tenth of the chunk's time. Otherwise, and
    for every other caller, the rows are a copy the caller may keep or change."""
    rng = np.random.default_rng(5)
    shards = []
    for low in (0, 100):
        X = rng.random((100, 6))
        X[X < 0.6] = 0.0
        shards.append((np.arange(low, low + 100), X if dense else sp.csr_matrix(X)))
    table = features.table_of(shards)

    def arrays(m):  # type: ignore[no-untyped-def]
        return [m] if dense else [m.data, m.indices]

    def shares(rows) -> bool:  # type: ignore[no-untyped-def]
        return any(
            np.shares_memory(a, b) for _, X in shards for a in arrays(rows) for b in arrays(X)
        )

    run = np.arange(120, 170)
    in_place = table.rows(run, view=True)
    assert shares(in_place)
    want = shards[1][1][20:70]
    assert np.array_equal(
        in_place if dense else in_place.toarray(), want if dense else want.toarray()
    )
    assert not shares(table.rows(run))
    assert not shares(table.rows(np.arange(80, 130), view=True)), "two shards: one copy"
    assert not shares(table.rows(np.array([121, 125]), view=True)), "not a run"
