"""A large pool's vocabulary is fitted on an evenly spaced sample of its texts (issue 17).

Small pools (every test and demo) still fit on every text; the sample only bounds what a
pool of millions holds in memory and how long its fit takes.
"""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from projects.models import Item, Project
from projects.pool import features, snapshot
from strategies.features import TextVectorizer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_features(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Each test's own feature store: on SQLite, project ids restart with every test."""
    settings.FEATURES_ROOT = tmp_path / "features"


WORDS = ["cat", "mat", "stock", "market", "rain", "goal", "vote", "chip"]


def _pool(n: int) -> Project:
    project = Project.objects.create(name="vocabulary", kind="text", labels=["a", "b"])
    Item.objects.bulk_create(
        Item(project=project, text=f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} word{i % 13}")
        for i in range(n)
    )
    return project


def _texts(project: Project) -> list[str]:
    return list(Item.objects.filter(project=project).order_by("id").values_list("text", flat=True))


def test_a_pool_within_the_limit_fits_on_every_text() -> None:
    project = _pool(30)
    ids, texts = snapshot.vocabulary_sample(project, limit=30)
    assert texts == _texts(project)
    assert ids.tolist() == list(Item.objects.order_by("id").values_list("id", flat=True))


def test_a_larger_pool_fits_on_every_kth_text_by_id() -> None:
    project = _pool(100)
    _, sample = snapshot.vocabulary_sample(project, limit=30)
    assert sample == _texts(project)[::4]  # ceil(100 / 30) = 4: 25 texts, first to last
    assert len(sample) <= 30


def test_the_stored_vocabulary_is_the_samples_and_rows_use_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    project = _pool(90)
    monkeypatch.setattr(snapshot, "VOCABULARY_SAMPLE", 20)
    ids = snapshot.candidate_ids_all(project)
    X = snapshot.features_ready(project, ids).rows(ids)
    rep = features.representation_load(project.pk)
    assert rep is not None and rep["kind"] == "vocabulary"
    expected = TextVectorizer().fit(_texts(project)[::5])
    assert rep["vectorizer"].tfidf_.vocabulary_ == expected.tfidf_.vocabulary_
    np.testing.assert_allclose(rep["vectorizer"].tfidf_.idf_, expected.tfidf_.idf_)
    assert (expected.transform(_texts(project)) != X).nnz == 0


def test_the_representation_is_read_once_for_all_chunks(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Reading it once per 20k-row chunk was most of a 1M pool's feature time."""
    project = _pool(50)
    monkeypatch.setattr(snapshot, "FEATURE_CHUNK", 10)
    monkeypatch.setattr(snapshot, "VOCABULARY_SAMPLE", 10)  # sampled: every row to compute
    snapshot.representation(project)  # fitted and stored
    reads: list[int] = []
    real = features.representation_load
    monkeypatch.setattr(features, "representation_load", lambda pid: reads.append(pid) or real(pid))
    ids = snapshot.candidate_ids_all(project)
    assert snapshot.features_ready(project, ids).rows(ids).shape[0] == 50
    assert reads == [project.pk]


def test_the_fit_stores_every_texts_rows_equal_to_computing_them() -> None:
    """The fit counts every text's terms anyway: their rows are stored with the
    vocabulary, not computed again (half of a 100k import's feature time)."""
    project = _pool(90)
    rep = snapshot.representation(project)
    ids = snapshot.candidate_ids_all(project)
    table = features.features_load(project.pk)
    assert table is not None
    assert table.ids.tolist() == ids.tolist()
    computed = rep["vectorizer"].transform(_texts(project))
    assert (computed != table.X).nnz == 0
    assert (computed != snapshot.features_ready(project, ids).rows(ids)).nnz == 0


def test_a_sampled_fit_stores_no_rows(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A pool over the sample is split into id ranges, which compute every row anyway."""
    project = _pool(90)
    monkeypatch.setattr(snapshot, "VOCABULARY_SAMPLE", 20)
    snapshot.representation(project)
    assert features.features_load(project.pk) is None


def test_a_fit_that_lost_to_another_stores_no_rows() -> None:
    project = _pool(60)
    other = {"kind": "vocabulary", "vectorizer": TextVectorizer().fit(["cat mat", "cat vote"])}
    assert features.representation_create_once(project.pk, other)
    snapshot._vocabulary_fit(project)
    assert features.features_load(project.pk) is None
    stored = features.representation_load(project.pk)
    assert stored is not None
    assert stored["vectorizer"].tfidf_.vocabulary_ == other["vectorizer"].tfidf_.vocabulary_


def test_item_values_read_dense_and_sparse_ids_alike() -> None:
    project = _pool(40)
    other = _pool(40)  # ids in the same range skipped: only the asked ones come back
    ids = snapshot.candidate_ids_all(project)
    texts = dict(Item.objects.values_list("id", "text"))
    for asked in (
        ids,
        ids[5:30],
        ids[::7],
        np.concatenate([ids[:3], snapshot.candidate_ids_all(other)[-2:]]),
    ):
        assert snapshot.item_values(asked, "text") == {i: (texts[i],) for i in asked.tolist()}
    assert snapshot.item_values(np.zeros(0, dtype=np.int64), "text") == {}


def test_an_imports_fit_draws_its_sample_from_the_ids_it_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """pool_prepare reads the pool's ids once: the vocabulary's sample is drawn from
    them, not from a second read (half a second at 1M items)."""
    from projects.ingest import services as ingest

    project = _pool(90)
    monkeypatch.setattr(snapshot, "VOCABULARY_SAMPLE", 20)
    reads: list[int] = []
    real = snapshot.candidate_ids_all
    monkeypatch.setattr(snapshot, "candidate_ids_all", lambda p: reads.append(p.pk) or real(p))
    ingest.pool_prepared(project_id=project.pk)
    assert reads == [project.pk]
    rep = features.representation_load(project.pk)
    assert rep is not None and rep["kind"] == "vocabulary"
    expected = TextVectorizer().fit(_texts(project)[::5])  # ceil(90 / 20) = 5
    assert rep["vectorizer"].tfidf_.vocabulary_ == expected.tfidf_.vocabulary_


@pytest.mark.parametrize(
    ("vectors", "streamed", "kind"),
    [
        ((), (), "vocabulary"),
        ((0, 1, 2, 3), (), "own"),
        ((), (3,), "hashing"),
        ((2,), (0,), "own"),  # own vectors win, whichever item the first look finds
    ],
)
def test_a_pool_s_items_choose_its_representation(vectors, streamed, kind) -> None:  # type: ignore[no-untyped-def]
    project = _pool(4)
    items = list(Item.objects.filter(project=project).order_by("id"))
    for i in vectors:
        items[i].vector = [1.0, 0.0]
    for i in streamed:
        items[i].from_stream = True
    Item.objects.bulk_update(items, ["vector", "from_stream"])
    assert snapshot.representation(project)["kind"] == kind


def test_spaced_ids_are_read_as_runs_of_their_range(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A 1M pool's sample (every 5th id) read as 200k ids to look up took 0.9 s; as a
    range filtered by the spacing, one scan, 0.3 s. Runs too short or too sparse, and
    ids between runs, still go by their list; another project's rows are never read."""
    monkeypatch.setattr(snapshot, "SPACED_RUN", 4)
    monkeypatch.setattr(snapshot, "SPACED_GAP", 6)
    project, other = _pool(60), _pool(60)
    ids = np.concatenate([snapshot.candidate_ids_all(project), snapshot.candidate_ids_all(other)])
    texts = dict(Item.objects.values_list("id", "text"))
    cases = {
        "every 5th": (ids[::5], 1),
        "two spacings": (np.concatenate([ids[0:30:3], ids[40:100:5]]), 2),
        "a run, then scattered ids": (np.concatenate([ids[:20:2], ids[[25, 33, 90, 117]]]), 2),
        "too sparse for runs": (ids[::7], 1),
        "too short for runs": (ids[[0, 5, 10, 50, 61, 99]], 1),
    }
    for name, (asked, queries) in cases.items():
        with CaptureQueriesContext(connection) as seen:
            got = snapshot.item_values(asked, "text")
        assert got == {i: (texts[i],) for i in asked.tolist()}, name
        assert len(seen.captured_queries) == queries, name
    every_5th = ids[::5]
    with CaptureQueriesContext(connection) as seen:
        snapshot.item_values(every_5th, "text")
    sql = seen.captured_queries[0]["sql"].upper()
    assert " IN (" not in sql and "ANY(" not in sql  # a range, not a list
