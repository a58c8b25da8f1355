"""Multi-label and span rescores are split in chunks as single-label ones are, and rank
the pool exactly as one pass does (tests/projects/test_chunked_rescore.py does it for
single-label; tests/integration/test_scaleout.py with real workers).

In-process, the retrain scores every chunk itself (one worker); across processes, a
second process loads the chunk files (ids and the pickled `ChunkScorer`) and scores its
share, and the merged result is the same bits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings

from projects import artifacts
from projects.models import ModelVersion, Project, RescoreChunk
from projects.pool import features, snapshot
from projects.training import chunks, rankings
from projects.training import multilabel as multilabel_steps
from projects.training import services as training_services
from projects.training import spans as span_training
from projects.training.predicted import PredictedAnswers
from strategies.models import multilabel_sets
from tests.integration.test_scaleout import HEARTBEAT, _kill_inside_a_chunk, _retrainer
from tests.integration.test_scaleout import artifact_store as artifact_store  # fixtures
from tests.integration.test_scaleout import two_workers as two_workers
from tests.multilabel.test_retrain import make_project as multilabel_project
from tests.projects.test_rescore import retrain_owed
from tests.spans.helpers import span_project as span_project_bare
from tests.spans.helpers import upload
from tests.spans.test_retrain import make_project as span_project
from tests.strategies.spans_corpus import synthetic_corpus
from tests.support.services import ROOT, Worker, child_env

pytestmark = pytest.mark.django_db
Status = ModelVersion.Status
STEP = 7  # sentences per scoring pass here: several passes per chunk, a short last one


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The layout settings.py derives from WINNOW_DATA_DIR, under this test's tmp_path
    (a child process given WINNOW_DATA_DIR=tmp_path reads the same files)."""
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    settings.WINNOW_CACHE_DIR = tmp_path / "cache"
    monkeypatch.setattr(span_training, "POOL_CHUNK", STEP)
    yield
    training_services.load_model.cache_clear()
    chunks._LAST.clear()


def _rescored_twice(
    project: Project, chunked: Callable[[bool], None]
) -> tuple[rankings.Ranking, rankings.Ranking, ModelVersion]:
    """The owed version retrained in one pass, then again in chunks (`chunked(True)`).

    No holdout share: the batch the first run opens then leaves the unlabeled pool as it
    was, so both runs score the same items."""
    Project.objects.filter(pk=project.pk).update(holdout_fraction=0)
    owed = ModelVersion.objects.get(project=project, status=Status.PENDING)
    chunked(False)
    retrain_owed(project)
    single = rankings.ranking_load(project.pk, owed.version)
    one_pass = ModelVersion.objects.get(pk=owed.pk)
    assert single is not None and one_pass.status == Status.DONE, one_pass.error
    assert "score_chunks" not in one_pass.timings

    ModelVersion.objects.filter(pk=owed.pk).update(status=Status.PENDING)
    artifacts.artifact_delete(rankings.ranking_name(project.pk, owed.version))
    chunked(True)
    retrain_owed(project)
    again = rankings.ranking_load(project.pk, owed.version)
    assert again is not None
    assert not RescoreChunk.objects.exists(), "the chunk rows go once merged"
    version = ModelVersion.objects.get(pk=owed.pk)
    assert version.max_uncertainty == one_pass.max_uncertainty
    assert version.stop_set_predictions == one_pass.stop_set_predictions
    return single, again, version


def _assert_same(single: rankings.Ranking, chunked: rankings.Ranking) -> None:
    assert np.array_equal(chunked.ids, single.ids)
    assert np.array_equal(chunked.scores, single.scores)  # exactly, not approximately
    assert np.array_equal(chunked.predictions, single.predictions)
    assert single.answers is not None and chunked.answers is not None
    _assert_same_answers(chunked.answers, single.answers)


def _assert_same_answers(got: PredictedAnswers, want: PredictedAnswers) -> None:
    """The same predicted sets, or the same spans on the same rows, in the same order."""
    assert got.n == want.n
    if want.sets is not None:
        assert got.sets is not None and np.array_equal(got.sets, want.sets)
        return
    assert want.spans is not None and got.spans is not None
    for field in ("rows", "starts", "ends", "labels"):
        assert np.array_equal(getattr(got.spans, field), getattr(want.spans, field)), field


@pytest.mark.parametrize("strategy", ["multilabel_entropy", "multilabel_adaptive", "random"])
def test_a_multilabel_rescore_in_chunks_ranks_as_one_pass(api, settings, strategy) -> None:  # type: ignore[no-untyped-def]
    project = multilabel_project(api, stopping=[])
    Project.objects.filter(pk=project.pk).update(strategy=strategy)

    def chunked(on: bool) -> None:
        settings.WINNOW_RESCORE_CHUNK_ITEMS = 30 if on else 10**9

    single, again, version = _rescored_twice(project, chunked)
    _assert_same(single, again)
    assert len(single.ids) == 200 and len(np.unique(single.scores)) > 100
    assert single.answers is not None and single.answers.sets is not None
    assert single.answers.sets.sum() > 0, "predicted sets, not all empty"
    assert version.timings["score_chunks"] == 7  # 200 rows by 30, the last one short


@pytest.mark.parametrize("strategy", ["mnlp", "token_entropy_sum", "random"])
def test_a_span_rescore_in_chunks_ranks_as_one_pass(api, settings, strategy) -> None:  # type: ignore[no-untyped-def]
    project = span_project(api, stopping=[], strategy=strategy)

    def chunked(on: bool) -> None:
        settings.WINNOW_SPAN_SCORE_SENTENCES = 2 * STEP if on else 10**9

    single, again, version = _rescored_twice(project, chunked)
    _assert_same(single, again)
    assert len(single.ids) == 60
    assert version.timings["score_chunks"] == 5  # 60 sentences by 14, the last one short
    assert single.answers is not None and single.answers.spans is not None
    # spans in several chunks (rows past the first chunk, offset by its start)
    assert np.unique(single.answers.spans.rows // (2 * STEP)).size > 2
    # Scores that tell sentences apart (random: drawn once, not a stream per chunk).
    assert len(np.unique(single.scores)) > 10


def test_span_chunks_are_whole_scoring_passes(settings) -> None:  # type: ignore[no-untyped-def]
    settings.WINNOW_SPAN_SCORE_SENTENCES = 10
    assert span_training.chunk_sentences() == (14, STEP)
    settings.WINNOW_SPAN_SCORE_SENTENCES = 5
    assert span_training.chunk_sentences() == (5, 5)


# -- a second process scores chunks from the files alone ---------------------------------

CHILD = """
import json, sys
import django
django.setup()
from projects.training.chunks import chunk_score
print(json.dumps([chunk_score(chunk_id=int(i)) for i in sys.argv[1:]]))
"""


def _in_another_process(tmp_path: Path, chunk_ids: list[int]) -> list[bool]:
    env = child_env(WINNOW_DATA_DIR=str(tmp_path), WINNOW_CACHE_DIR=str(tmp_path / "child"))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, chunk_ids)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


def _two_workers(
    version: ModelVersion, ids: np.ndarray, scorer: chunks.ChunkScorer, size: int, width: int,
    here: chunks.Here, tmp_path: Path,
) -> tuple[chunks.Part, chunks.Rescore]:  # fmt: skip
    """What the retrain does, with every chunk but its own scored in another process."""
    with chunks.rescore_started(
        version=version, attempt=1, ids=ids, scorer=scorer, size=size
    ) as rescore:
        others = RescoreChunk.objects.filter(version=version, attempt=1).exclude(index=0)
        theirs = list(others.order_by("index").values_list("pk", flat=True))
        assert _in_another_process(tmp_path, theirs) == [True] * len(theirs)
        merged = rescore.results(len(ids), width, here)
    return merged, rescore


def _running(project: Project) -> ModelVersion:
    """The project's next version, claimed by attempt 1 (as a retrain holds it)."""
    version = ModelVersion.objects.create(project=project, version=99, status=Status.RUNNING)
    ModelVersion.objects.filter(pk=version.pk).update(attempts=1)
    return version


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_span_chunks_scored_elsewhere_are_the_same_bits(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = span_project(api, stopping=[], strategy="mnlp")
    retrain_owed(project)
    model = training_services.load_model(project.pk, 1)
    snap = snapshot.pool_snapshot(project)
    scorer = span_training.SpanChunkScorer(model, None, project.strategy, 3, STEP)
    ids = snap.ids[snap.unlabeled]
    one_worker = scorer.score_ids(project.pk, ids)

    def here(start: int, stop: int) -> chunks.Part:
        return scorer.score_ids(project.pk, ids[start:stop])

    merged, rescore = _two_workers(_running(project), ids, scorer, 2 * STEP, 3, here, tmp_path)
    assert rescore.count == 5 and rescore.scored_here == 1
    assert np.array_equal(merged.rows, one_worker.rows)
    assert np.unique(merged.rows[:, span_training.SCORE]).size > 1, "scores, not a constant"
    assert merged.answers is not None and one_worker.answers is not None
    _assert_same_answers(merged.answers, one_worker.answers)
    assert merged.answers.spans is not None
    assert merged.answers.spans.rows.max() >= 4 * STEP, "spans from other processes' chunks"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_multilabel_chunks_scored_elsewhere_are_the_same_bits(api, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = multilabel_project(api, stopping=[])
    retrain_owed(project)
    model = training_services.load_model(project.pk, 1)
    snap = snapshot.pool_snapshot(project)
    ids, X = snap.ids[snap.unlabeled], snap.X[snap.unlabeled]
    scorer = chunks.ProbaScorer(model)
    here = chunks._rows_here(scorer, X)
    merged, rescore = _two_workers(_running(project), ids, scorer, 30, 3, here, tmp_path)
    assert rescore.count == 7 and rescore.scored_here == 1
    assert np.array_equal(merged.rows, model.predict_proba(X))
    assert merged.rows.shape == (len(ids), 3) and merged.answers is None
    assert Path(django_settings.FEATURES_ROOT).is_relative_to(tmp_path)


# -- a worker killed inside a chunk: real processes (tests/integration/test_scaleout.py) --

# Workers that wait inside each chunk they claimed (before loading its scorer) while the
# flag file exists, so the kill lands in the chunk however fast it scores.
PAUSE_HOOK = """
import os, time
from celery.signals import worker_ready

FLAG = os.environ.get("WINNOW_TEST_CHUNK_PAUSE")


@worker_ready.connect
def _pause_inside_chunks(**_):
    if not FLAG:
        return
    from projects.training import chunks

    load = chunks._scorer

    def paused(*args, **kwargs):
        while os.path.exists(FLAG):
            time.sleep(0.02)
        return load(*args, **kwargs)

    chunks._scorer = paused
"""


@pytest.fixture
def worker_env(tmp_path: Path) -> dict[str, str]:
    """Both workers': small chunks of either kind, a fast heartbeat, the pause hook."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PAUSE_HOOK)
    return {
        "WINNOW_RESCORE_CHUNK_ITEMS": "10",
        "WINNOW_SPAN_SCORE_SENTENCES": "20",
        "WINNOW_RETRAIN_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "WINNOW_TEST_CHUNK_PAUSE": str(tmp_path / "pause"),
        "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}",
    }


def _span_import(api: Any) -> Project:
    project = span_project_bare(api, batch_size=10, strategy="mnlp", stopping=[])
    docs = synthetic_corpus(300, seed=7)
    lines = [json.dumps(d.as_dict() if i < 60 else {"text": d.text}) for i, d in enumerate(docs)]
    assert upload(api, project, "pool.jsonl", "\n".join(lines)).status_code == 201
    return project


def _one_pass(
    project: Project, ranking: rankings.Ranking
) -> tuple[np.ndarray, np.ndarray, PredictedAnswers | None]:
    """(what the ranking holds, what one pass here gives): span scores (MNLP), or the
    multi-label predictions (the probabilities' top label); and one pass's predicted
    spans or sets."""
    model = training_services.load_model(project.pk, 1)
    if project.task == Project.Task.SPANS:
        scorer = span_training.SpanChunkScorer(model, None, project.strategy, 3, step=20)
        part = scorer.score_ids(project.pk, ranking.ids)
        return ranking.scores, part.rows[:, span_training.SCORE], part.answers
    proba = model.predict_proba(features.features_rows(project.pk, ranking.ids))
    sets = PredictedAnswers(len(proba), sets=multilabel_sets(proba))
    return ranking.predictions, multilabel_steps.top_label(proba), sets


@pytest.mark.worker
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("artifact_store", ["database"], indirect=True)
@pytest.mark.parametrize("kind", ["multilabel", "spans"])
def test_a_worker_killed_mid_chunk_leaves_its_chunk_to_the_retrain(
    two_workers: list[Worker], api: dict[str, Any], tmp_path: Path, kind: str
) -> None:
    """SIGKILL while it holds a chunk of a multi-label or span rescore: the retrain
    claims the chunk again once the claim is stale, and the ranking is whole."""
    flag = tmp_path / "pause"
    flag.touch()
    try:  # the seeds owe version 1, sent to the workers once the import commits
        project = (
            multilabel_project(api, stopping=[]) if kind == "multilabel" else _span_import(api)
        )
        retrainer, victim = _retrainer(two_workers)
        _kill_inside_a_chunk(retrainer, victim)
    finally:
        flag.unlink(missing_ok=True)

    deadline = time.monotonic() + 120
    version = ModelVersion.objects.get(project=project, version=1)
    while version.status != Status.DONE and time.monotonic() < deadline:
        time.sleep(0.2)
        version.refresh_from_db()
    assert version.status == Status.DONE, (version.error, retrainer.output()[-3000:])
    assert version.attempts == 1 and version.timings["score_chunks"] > 2
    assert not RescoreChunk.objects.filter(version=version).exists(), "merged and cleared"
    assert victim.process.returncode == -signal.SIGKILL
    ranking = rankings.ranking_load(project.pk, 1)
    assert ranking is not None and len(ranking.ids) > 100
    held, one_pass, answers = _one_pass(project, ranking)
    assert np.array_equal(held, one_pass)
    assert ranking.answers is not None and answers is not None
    _assert_same_answers(ranking.answers, answers)
