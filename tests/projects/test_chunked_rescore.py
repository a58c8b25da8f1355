"""The chunked rescore ranks the pool exactly as the single pass does, and survives workers.

Chunks are scored in-process here, by the retrain itself and by the task's body (a
second worker's share); tests/integration/test_scaleout.py runs two real workers.
"""

from __future__ import annotations

import io
from datetime import timedelta

import joblib
import numpy as np
import pytest
from django.utils import timezone
from sklearn.linear_model import LogisticRegression

from projects import artifacts
from projects.models import Item, ModelVersion, Project, RescoreChunk
from projects.pool import features, snapshot
from projects.training import chunks, predicted, rankings, run
from projects.training import services as training_services
from projects.training.scorers import Part
from tests.projects.test_rescore import label_open_batch, make_pool, retrain_owed

pytestmark = pytest.mark.django_db
Status = ModelVersion.Status


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    settings.WINNOW_CACHE_DIR = tmp_path / "cache"
    yield
    training_services.load_model.cache_clear()
    chunks._LAST.clear()


def test_the_chunked_ranking_is_the_single_pass_ranking(api, settings) -> None:  # type: ignore[no-untyped-def]
    project, truth = make_pool(api)
    retrain_owed(project)
    label_open_batch(api, project, truth)
    owed = ModelVersion.objects.get(project=project, status=Status.PENDING)

    settings.WINNOW_RESCORE_CHUNK_ITEMS = 10**9  # one pass
    retrain_owed(project)
    single = rankings.ranking_load(project.pk, owed.version)
    assert single is not None and len(single.ids) > 2000

    # The same version again, now in chunks of 700 (the last one short).
    ModelVersion.objects.filter(pk=owed.pk).update(status=Status.PENDING)
    artifacts.artifact_delete(rankings.ranking_name(project.pk, owed.version))
    settings.WINNOW_RESCORE_CHUNK_ITEMS = 700
    retrain_owed(project)
    chunked = rankings.ranking_load(project.pk, owed.version)
    assert chunked is not None
    assert np.array_equal(chunked.ids, single.ids)
    assert np.array_equal(chunked.scores, single.scores)  # exactly, not approximately
    assert np.array_equal(chunked.predictions, single.predictions)
    order = np.lexsort((single.ids, -single.scores))
    assert np.array_equal(np.lexsort((chunked.ids, -chunked.scores)), order)
    assert not RescoreChunk.objects.exists(), "the chunk rows go once merged"
    timings = ModelVersion.objects.get(pk=owed.pk).timings
    assert timings["score_chunks"] == -(-len(single.ids) // 700)
    assert 0 <= timings["score_chunks_elsewhere"] < timings["score_chunks"]
    assert 0 < timings["score_setup"] < timings["score"]  # sharing out, before any chunk
    prefix = f"models/project_{project.pk}"
    assert not [n for n in artifacts.store().listdir(prefix)[0] if n.startswith("rescore_")]


@pytest.fixture
def running(api):  # type: ignore[no-untyped-def]
    """A version whose attempt 1 runs, its model stored, and its pool's rows and ids."""
    project, _ = make_pool(api)
    snap = snapshot.pool_snapshot(project)
    X, y = snap.X[: len(snap.ids)], (snap.X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    version = ModelVersion.objects.get(project=project, status=Status.PENDING)  # the seeds'
    ModelVersion.objects.filter(pk=version.pk).update(
        status=Status.RUNNING, attempts=1, heartbeat_at=timezone.now()
    )
    fh = io.BytesIO()
    joblib.dump({"model": model}, fh)
    name = training_services.model_name(project.pk, version.version)
    artifacts.artifact_save(name, fh.getvalue())
    return version, model, snap.ids, snap.X


def _chunks(version: ModelVersion, ids: np.ndarray, size: int, model: object) -> int:
    """What `pool_proba` records for attempt 1 before anyone scores: ids, model, chunks."""
    with artifacts.artifact_writer(chunks._ids_name(version, 1)) as fh:
        np.save(fh, ids)
    fh = io.BytesIO()
    joblib.dump(model, fh)
    artifacts.artifact_save(chunks._model_name(version, 1), fh.getvalue())
    bounds = range(0, len(ids), size)
    RescoreChunk.objects.bulk_create(
        RescoreChunk(version=version, attempt=1, index=i, start=s, stop=s + size)
        for i, s in enumerate(bounds)
    )
    return len(bounds)


def _pool_proba(
    version: ModelVersion, attempt: int, model: object, ids: np.ndarray, X: object
) -> np.ndarray:
    """What the retrain does: start the rescore, then score what is left and merge (its
    share from `X`, or, if None, from the stored rows as other workers do)."""
    with chunks.rescore_started(version=version, attempt=attempt, model=model, ids=ids) as rescore:
        proba, norms, scores, density = rescore.proba(ids, 2, X)  # type: ignore[arg-type]
        assert norms is None and scores is None and density is None  # asked for none
        return proba


def test_a_dead_workers_chunk_is_claimed_again_and_the_result_is_whole(running) -> None:  # type: ignore[no-untyped-def]
    version, model, ids, X = running
    count = _chunks(version, ids, 1000, model)
    # Chunk 1 was claimed by a worker that died an hour ago (its message acked late, never
    # acked); chunk 2 is scored by another worker (the task's body).
    RescoreChunk.objects.filter(version=version, index=1).update(
        status=RescoreChunk.Status.RUNNING, claimed_at=timezone.now() - timedelta(hours=1)
    )
    assert chunks.chunk_score(chunk_id=RescoreChunk.objects.get(index=2).pk)
    assert not chunks.chunk_score(chunk_id=RescoreChunk.objects.get(index=2).pk), "done once"
    proba = chunks._gather(version, 1, model, X, count)
    assert np.array_equal(proba, model.predict_proba(X))
    assert set(RescoreChunk.objects.values_list("status", flat=True)) == {"done"}


def test_a_chunk_finished_elsewhere_is_read_before_the_next_is_claimed_here(
    running, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The retrain reads another worker's result as soon as it has one, between its own
    chunks: left for the end, those reads ran while the other workers had nothing to do."""
    version, model, ids, X = running
    count = _chunks(version, ids, 1000, model)
    assert count >= 3
    events: list[tuple[str, int]] = []
    elsewhere = RescoreChunk.objects.get(version=version, index=1).pk
    load = chunks._result_load

    def here(start: int, stop: int) -> chunks.Part:
        events.append(("here", start // 1000))
        if len(events) == 1:  # while chunk 0 is scored here, another worker does chunk 1
            assert chunks.chunk_score(chunk_id=elsewhere)
        return chunks.Part(model.predict_proba(X[start:stop]))

    def loaded(chunk: RescoreChunk) -> chunks.Part:
        events.append(("read", chunk.index))
        return load(chunk)

    monkeypatch.setattr(chunks, "_result_load", loaded)
    merged = chunks._collect(version, 1, here, count, len(ids))
    assert events[:2] == [("here", 0), ("read", 1)]
    assert sorted(i for kind, i in events if kind == "here") == [0, *range(2, count)]
    assert np.array_equal(merged.rows, model.predict_proba(X))


def test_the_wait_for_the_others_grows_until_one_finishes(running, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Polled often at first, the last chunk is read soon after it is done; a chunk that
    takes long (its worker died: its claim must go stale) is polled ever less often."""
    version, model, ids, X = running
    count = _chunks(version, ids, 1000, model)
    held = list(RescoreChunk.objects.filter(version=version, index__gte=1).order_by("index"))
    RescoreChunk.objects.filter(pk__in=[c.pk for c in held]).update(
        status=RescoreChunk.Status.RUNNING, claimed_at=timezone.now()
    )
    pauses: list[float] = []
    often = chunks.WAIT_POLLS_OFTEN

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        finishing = {often + 7: held[:1], often + 9: held[1:]}.get(len(pauses), [])
        for chunk in finishing:  # their worker records them done
            chunk.claims = 0
            rows = model.predict_proba(X[chunk.start : chunk.stop])
            chunks._done(chunk, chunks.Part(rows), store=True)

    monkeypatch.setattr(chunks.time, "sleep", sleep)
    here = chunks._rows_here(chunks.ProbaScorer(model), X)
    merged = chunks._collect(version, 1, here, count, len(ids))
    assert np.array_equal(merged.rows, model.predict_proba(X))
    w, longest = chunks.WAIT_SECONDS, chunks.WAIT_LONGEST
    assert pauses[:often] == [w] * often
    # Slower and slower while none finishes; often again once one has.
    assert pauses[often:] == [2 * w, 4 * w, 8 * w, 16 * w, longest, longest, longest, w, w]


def test_a_chunk_result_is_read_as_written_and_one_from_an_older_worker_too(running) -> None:  # type: ignore[no-untyped-def]
    """A result is its arrays one after another (`_result_save`); a worker from before
    that wrote an `.npz`, which the retrain still reads during a rolling upgrade."""
    version, model, ids, _ = running
    _chunks(version, ids, 1000, model)
    first, second = RescoreChunk.objects.filter(version=version).order_by("index")[:2]
    sets = np.arange(30).reshape(10, 3) % 4 == 0
    answers = predicted.PredictedAnswers(10, sets=sets)
    rows = np.linspace(0, 1, 20).reshape(10, 2)
    chunks._result_save(first, Part(rows, answers))
    with artifacts.artifact_writer(chunks._result_name(second, "npz")) as fh:
        np.savez(fh, rows=rows[:4])
    for chunk, want, want_sets in ((first, rows, sets), (second, rows[:4], None)):
        part = chunks._result_load(chunk)
        assert part.rows.dtype == np.float64
        np.testing.assert_array_equal(part.rows, want)
        if want_sets is None:
            assert part.answers is None
        else:
            assert part.answers is not None
            np.testing.assert_array_equal(part.answers.sets, want_sets)


def test_chunks_of_a_superseded_attempt_are_discarded(running) -> None:  # type: ignore[no-untyped-def]
    version, model, ids, X = running
    count = _chunks(version, ids, 1000, model)
    # Attempt 1 was taken for dead; attempt 2 now holds the version.
    ModelVersion.objects.filter(pk=version.pk).update(attempts=2)
    chunk = RescoreChunk.objects.get(index=0)
    assert not chunks.chunk_score(chunk_id=chunk.pk)
    assert not artifacts.artifact_exists(chunks._result_name(chunk))
    assert RescoreChunk.objects.get(pk=chunk.pk).status != RescoreChunk.Status.DONE
    # The old attempt's retrain, waiting on a chunk another worker holds, gives up.
    RescoreChunk.objects.filter(version=version, index=1).update(
        status=RescoreChunk.Status.RUNNING, claimed_at=timezone.now()
    )
    with pytest.raises(training_services.Superseded):
        chunks._gather(version, 1, model, X, count)


def test_a_small_pool_is_scored_in_one_pass(running, settings) -> None:  # type: ignore[no-untyped-def]
    version, model, ids, X = running
    settings.WINNOW_RESCORE_CHUNK_ITEMS = len(ids)
    proba = _pool_proba(version, 1, model, ids, X)
    assert np.array_equal(proba, model.predict_proba(X))
    assert not RescoreChunk.objects.exists()


@pytest.mark.parametrize("rows_held", [True, False])
def test_the_new_attempt_finishes_and_clears_the_old_attempts_chunks(
    running, settings, rows_held
) -> None:  # type: ignore[no-untyped-def]
    version, model, ids, X = running
    _chunks(version, ids, 1000, model)
    RescoreChunk.objects.filter(version=version, index=1).update(
        status=RescoreChunk.Status.RUNNING, claimed_at=timezone.now()
    )
    ModelVersion.objects.filter(pk=version.pk).update(attempts=2)  # attempt 1 died
    settings.WINNOW_RESCORE_CHUNK_ITEMS = 1000
    proba = _pool_proba(version, 2, model, ids, X if rows_held else None)
    assert np.array_equal(proba, model.predict_proba(X))
    assert not RescoreChunk.objects.exists()
    assert not artifacts.artifact_exists(chunks._ids_name(version, 1))


def _both_ways(running, scorer: chunks.ProbaScorer) -> list[chunks.Scores]:  # type: ignore[no-untyped-def]
    """A chunked rescore with `scorer`, another worker scoring chunk 1: once with the
    pool's rows held, once read from the store; the probabilities are the model's."""
    version, model, ids, X = running
    results = []
    for held in (X, None):
        with chunks.rescore_started(version=version, attempt=1, scorer=scorer, ids=ids) as rescore:
            assert chunks.chunk_score(chunk_id=RescoreChunk.objects.get(index=1).pk)
            results.append(rescore.proba(ids, 2, held))
        assert np.array_equal(results[-1].proba, model.predict_proba(X))
    return results


def test_a_chunked_rescore_gives_the_rows_norms_with_the_probabilities(running, settings) -> None:  # type: ignore[no-untyped-def]
    """Expected gradient length reads only the rows' norms: every chunk computes them with
    its probabilities, from the store or from held rows alike."""
    _, model, _, X = running
    settings.WINNOW_RESCORE_CHUNK_ITEMS = 1000
    for result in _both_ways(running, chunks.ProbaScorer(model, norms=True)):
        np.testing.assert_allclose(result.norms, np.linalg.norm(np.asarray(X), axis=1))
        assert result.scores is None and result.density is None


@pytest.mark.parametrize("strategy", ["vote_entropy", "kl_consensus"])
def test_a_committee_scores_each_chunk_as_the_whole_pool_would(running, settings, strategy) -> None:  # type: ignore[no-untyped-def]
    """A committee strategy is scored in the chunks (it is row-local), from the store by
    another worker or from held rows: the joined scores are the single pass's."""
    from strategies.committee import train_committee
    from strategies.query import QueryContext, score

    _, model, _, X = running
    y = (np.asarray(X)[:, 0] > 0).astype(int)
    committee = train_committee(X[::7], y[::7], 2, size=3, random_state=0)
    whole = score(strategy, QueryContext(X_pool=X, model=model, committee=committee))
    settings.WINNOW_RESCORE_CHUNK_ITEMS = 1000
    scorer = chunks.ProbaScorer(model, strategy=strategy, committee=committee)
    for result in _both_ways(running, scorer):
        assert np.array_equal(result.scores, whole) and result.norms is None
    assert len(set(np.round(whole, 6))) > 1  # the committee disagrees somewhere


def test_the_chunks_measure_the_pools_density_as_one_pass_would(running, settings) -> None:  # type: ignore[no-untyped-def]
    from strategies import _space
    from strategies.query import pool_density

    _, model, ids, X = running
    fitted = _space.density_fit(X[_space.density_sample(len(ids), 3)], random_state=3)
    settings.WINNOW_RESCORE_CHUNK_ITEMS = 1000
    for result in _both_ways(running, chunks.ProbaScorer(model, density=fitted)):
        np.testing.assert_allclose(result.density, pool_density(X, random_state=3), rtol=1e-12)
        assert result.norms is None and result.scores is None


@pytest.mark.parametrize(
    "strategy", ["margin", "expected_gradient_length", "vote_entropy", "density_weighted"]
)
def test_the_retrain_never_gathers_the_pools_rows(api, settings, monkeypatch, strategy) -> None:  # type: ignore[no-untyped-def]
    """Memory bounded by the chunk, whatever the strategy reads: the probabilities, the
    rows' norms, a committee's scores (all scored in the chunks) or the pool's density
    (fitted on a sample of FIT_SAMPLE rows, measured in the chunks). The pool's rows
    are never gathered into one matrix; the rows of the density's sample are read once.
    A row-local strategy is scored in the chunks too (the workers share that work);
    density weighting, which is not, scores the merged pool."""
    from strategies import _space, query

    project, truth = make_pool(api)
    retrain_owed(project)
    label_open_batch(api, project, truth)
    Project.objects.filter(pk=project.pk).update(strategy=strategy)
    settings.WINNOW_RESCORE_CHUNK_ITEMS = 700
    monkeypatch.setattr(_space, "FIT_SAMPLE", 300)
    asked: list[int] = []
    real = features.FeatureTable.rows

    def rows(table: features.FeatureTable, ids: np.ndarray, **kwargs: bool) -> object:
        asked.append(len(ids))
        return real(table, ids, **kwargs)

    monkeypatch.setattr(features.FeatureTable, "rows", rows)
    scored: list[int] = []
    score = query.score

    def scoring(name: str, ctx: query.QueryContext) -> np.ndarray:
        scores = score(name, ctx)
        scored.append(len(scores))
        return scores

    monkeypatch.setattr(query, "score", scoring)
    retrain_owed(project)
    version = ModelVersion.objects.filter(project=project).order_by("-version").first()
    assert version is not None and version.status == Status.DONE, version.error
    pool = Item.objects.filter(project=project, state=Item.State.POOL).count()
    labelled = Item.objects.filter(project=project, label__isnull=False).count()
    bound = max(700, labelled, run.STOP_SET_SIZE)
    assert pool > 2 * bound
    assert asked and max(asked) <= bound
    assert (300 in asked) == (strategy == "density_weighted")
    assert scored and (max(scored) <= 700) == query.STRATEGIES[strategy].row_local
