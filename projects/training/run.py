"""Retrain + rescore: the work a Celery worker does between batches (PRODUCT.md §2.4).

`retrain_run` is idempotent: it claims a pending (or abandoned) ModelVersion with
a compare-and-set update, trains outside any transaction (SQLite must not hold
its write lock for seconds), and commits the results, the stopping decision and
the refreshed batch in one short transaction at the end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.module_loading import import_string

from projects import item_search
from projects.models import Annotation, Batch, Item, ModelVersion, Project
from projects.pool import snapshot as pool
from projects.pool import stats
from projects.state import RETRAIN_ENDED, STOP, project_move
from projects.training import model_files, rankings
from projects.training import scores as score_rows
from projects.training.classify import classify_steps
from projects.training.heartbeat import Heartbeat
from projects.training.predicted import PredictedAnswers
from projects.training.services import (
    Superseded,
    heartbeat_stale,
    owed_send,
    retrain_fail,
)
from projects.training.spans import span_steps
from strategies import metrics
from strategies.stopping import BatchRecord, evaluate_rules
from winnow.priority import urgently

log = logging.getLogger(__name__)
Status = ModelVersion.Status

STOP_SET_SIZE = 1000
# Rows per transaction when a retrain writes scores to rows requests may be taking
# (`_ranking_top_write`).
TOP_CHUNK = 250
QUEUED_CHUNK = 25


class BatchHooks(Protocol):
    """What a retrain asks of the open batches.

    `projects.batches` sits above training (a batch close owes a retrain), so it passes
    itself in (`projects.tasks.retrain`) rather than being imported from here.
    """

    def ranked_rows(self, project: Project) -> int:
        """How many of the ranking's best items to store on the item rows."""
        ...

    def prepare(self, project: Project, latest: ModelVersion) -> Any:
        """Picks for the refresh, chosen before any lock is taken."""
        ...

    def refresh(self, project: Project, prepared: Any) -> None:
        """Give the open batches the new picks, inside the finishing transaction."""
        ...


def retrain_run(*, model_version_id: int, batches: BatchHooks) -> bool:
    """Train, evaluate, rescore the whole pool and refresh the batch; False if not claimed."""
    attempt = _claim(model_version_id)
    if attempt is None:
        return False
    version = ModelVersion.objects.select_related("project").get(pk=model_version_id)
    with Heartbeat(version_id=version.pk, attempt=attempt):
        try:
            _before_retrain(version.project)
            rows = batches.ranked_rows(version.project)
            results = _train_and_score(version.project, version, rows, attempt)
        except Superseded:  # taken for dead while scoring: the new attempt's results count
            log.warning("retrain %s attempt %s was superseded", model_version_id, attempt)
            raise
        except Exception as exc:
            log.exception("retrain %s failed (attempt %s)", model_version_id, attempt)
            if not retrain_fail(version=version, attempt=attempt, error=repr(exc)[:2000]):
                owed_send(version.project_id)
            raise
        _finish_retrying(version, attempt, results, batches)
    owed_send(version.project_id)
    item_search.words_due(version.project_id)  # an import's words wait for its model
    return True


def _finish_retrying(
    version: ModelVersion,
    claimed: int,
    results: dict[str, Any],
    batches: BatchHooks,
    attempts: int = 3,
) -> None:
    """`_finish`, again if Postgres picked it as a deadlock victim (it rolled back whole)."""
    for attempt in range(1, attempts + 1):
        try:
            _finish(version, claimed, results, batches)
            return
        except OperationalError:
            if attempt == attempts:
                raise
            log.warning("retrain %s: finishing hit a lock conflict, retrying", version.pk)
            time.sleep(0.1 * attempt)


def _before_retrain(project: Project) -> None:
    """Hooks named in settings (consensus from the annotator app), so projects imports none."""
    for path in settings.WINNOW_BEFORE_RETRAIN:
        import_string(path)(project=project)


def _claim(model_version_id: int) -> int | None:
    """Take the version to run (compare-and-set); the attempt number it now holds, or None.

    Claimable: pending, due for its retry, or running under a heartbeat gone stale (its
    worker died). Not while another of the project's retrains beats: that one's end
    sends this one (`services.owed_send`).
    """
    now = timezone.now()
    fresh = now - heartbeat_stale()
    version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is None or _superseded(version):
        return None
    beating = Q(status=Status.RUNNING, heartbeat_at__gte=fresh)
    busy = ModelVersion.objects.filter(beating, project_id=version.project_id)
    if busy.exclude(pk=model_version_id).exists():
        return None
    claimable = (
        Q(status=Status.PENDING)
        | Q(status=Status.RETRYING, retry_at__lte=now)
        | (Q(status=Status.RUNNING) & ~beating)
    )
    attempt = version.attempts + 1
    claimed = ModelVersion.objects.filter(
        claimable, pk=model_version_id, attempts=version.attempts
    ).update(status=Status.RUNNING, started_at=now, heartbeat_at=now, attempts=attempt)
    return attempt if claimed == 1 else None


def _superseded(version: ModelVersion) -> bool:
    """A retry that a newer retrain made pointless (it trains on every label): failed."""
    if version.status != Status.RETRYING:
        return False
    newer = ModelVersion.objects.filter(project_id=version.project_id, version__gt=version.version)
    if not newer.exists():
        return False
    ModelVersion.objects.filter(pk=version.pk, status=Status.RETRYING).update(
        status=Status.FAILED, finished_at=timezone.now()
    )
    return True


def _train_and_score(
    project: Project, version: ModelVersion, rows: int, attempt: int | None = None
) -> dict[str, Any]:
    """`attempt`: the claim this run holds (the rescore's chunks are keyed by it)."""
    attempt = version.attempts if attempt is None else attempt

    timings: dict[str, float] = {}
    started = time.perf_counter()
    snap = pool.pool_snapshot(project)
    timings["load_features"] = time.perf_counter() - started
    if not snap.train.any():
        raise ValueError("no labelled items to train on yet")

    def save(model: Any) -> str:  # before the rescore's chunks read it
        return model_files.model_save(
            project.pk, version.version, model, project.labels, project.kind
        )

    # The task's own steps: train, save, evaluate, score the pool (`steps.Scored`).
    if project.task == Project.Task.SPANS:
        scored = span_steps(project, version, snap, save, timings, attempt)
    else:
        scored = classify_steps(project, version, snap, save, timings, attempt)

    t = time.perf_counter()
    in_pool = snap.unlabeled
    scored_ids = snap.ids[in_pool]
    scores, predictions = scored.scores, scored.predictions
    rankings.ranking_save(
        project.pk, version.version, scored_ids, scores, predictions, scored.answers
    )
    rankings.rankings_prune(project)
    timings["save_ranking"] = time.perf_counter() - t
    t = time.perf_counter()
    queued = snap.in_state(Item.State.QUEUED)[in_pool]
    top = _Written(scored_ids, scores, predictions, scored.answers, list(project.labels))
    _ranking_top_write(version, top, queued, rows)
    timings["write_scores"] = time.perf_counter() - t
    t = time.perf_counter()
    stats.items_tidy_after_rescore()
    timings["tidy"] = time.perf_counter() - t

    stop_predictions = scored.stop_set_predictions(_stop_set(project, snap.ids))
    timings["total"] = time.perf_counter() - started
    return {
        "metrics": scored.evaluation,
        "train_size": int(snap.train.sum()),
        "pool_size": int(snap.pool.sum()),
        "labels_total": int(snap.labeled.sum()),
        "max_uncertainty": scored.uncertainty,
        "stop_set_predictions": stop_predictions,
        "model_file": scored.model_file,
        "estimator": scored.estimator,
        "hyperparameters": scored.hyperparameters,
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }


@dataclass(frozen=True)
class _Written:
    """What the ranking writes to item rows: scores, predictions and whole answers."""

    ids: np.ndarray
    scores: np.ndarray
    predictions: np.ndarray
    answers: PredictedAnswers | None
    labels: list[str]

    def write(self, version: int, part: np.ndarray, chunk_size: int) -> None:
        """Write the rows selected by the mask `part` (answers as JSON: those rows only)."""
        at = np.flatnonzero(part)
        column, cells = "", []
        if self.answers is not None:
            column, cells = self.answers.column, self.answers.take(at).json_cells(self.labels)
        score_rows.scores_write(
            self.ids[at], self.scores[at], self.predictions[at], version,
            chunk_size=chunk_size, answer_column=column, answers=cells,
        )  # fmt: skip


def _ranking_top_write(
    version: ModelVersion, written: _Written, queued: np.ndarray, rows: int
) -> None:
    """Store the top of the ranking (and the open batches' items) on the item rows.

    Then the rows of an older ranking that this one scored lower lose their score, so
    the ranking index holds only the newest top: its first rows are the next batch.
    Items that arrived after the snapshot (a stream item queued meanwhile) keep theirs.
    """
    ids = written.ids
    top = np.zeros(len(ids), dtype=bool)
    top[rankings.ranking_top(ids, written.scores, rows)] = True
    # Requests skip the rows these writes hold: a claim the open batches' queued items, a
    # batch opening the top of the ranking. Written in one chunk, all the queued rows
    # were locked at once, and every claim meanwhile found nothing free and fell back on
    # the slow path or came away empty; in small chunks only a few are held at a time.
    for part, size in ((top & ~queued, TOP_CHUNK), (queued, QUEUED_CHUNK)):
        written.write(version.version, part, size)
    older = Item.objects.filter(
        project_id=version.project_id,
        state__in=[Item.State.POOL, Item.State.QUEUED],
        score__isnull=False,
    ).exclude(scored_version__gte=version.version)
    older_ids = np.array(list(older.values_list("id", flat=True)), dtype=np.int64)
    score_rows.scores_clear(rankings.sorted_common(ids, older_ids), chunk_size=TOP_CHUNK)


def _stop_set(project: Project, ids: np.ndarray) -> np.ndarray:
    """A fixed random sample of items, chosen once, for stabilizing predictions."""
    if not project.stop_set:
        rng = np.random.default_rng(project.random_state)
        chosen = rng.choice(ids, size=min(STOP_SET_SIZE, len(ids)), replace=False)
        project.stop_set = sorted(int(i) for i in chosen)
        Project.objects.filter(pk=project.pk).update(stop_set=project.stop_set)
    return rankings.sorted_common(ids, np.array(project.stop_set, dtype=np.int64))


def _finish(
    version: ModelVersion, claimed: int, results: dict[str, Any], batches: BatchHooks
) -> None:
    """Record the version and the stopping decision, and refresh the open batches.

    What takes a while is done first, outside any transaction: the stopping rules
    over the history, and the refresh's picks (the full selector, on a large pool).
    Under the batch and project locks, which annotators closing a batch or opening
    the next one also take, only rows are written, and at the worker's starting
    priority (`winnow.priority.urgently`).
    """
    for field, value in results.items():
        setattr(version, field, value)
    version.annotation_seconds = _annotation_seconds(version.project)
    stopping = stopping_evaluate(project=version.project, latest=version)
    prepared = batches.prepare(version.project, version)
    # At the worker's starting priority: annotators' requests wait on these locks.
    urgently(lambda: _record(version, claimed, results, batches, stopping, prepared))


def _record(
    version: ModelVersion,
    claimed: int,
    results: dict[str, Any],
    batches: BatchHooks,
    stopping: list[dict[str, Any]],
    prepared: Any,
) -> None:
    """`_finish`'s transaction: the version done, the project moved, the batch refreshed."""
    project_id = version.project_id
    with transaction.atomic():
        # The open batch's row before the project's, the order in which an annotation
        # that completes the batch takes them (the reverse order deadlocked with it), and
        # NO KEY UPDATE, which still lets rows whose foreign keys point here be written.
        list(
            # `of` and a plain order: the default ordering joins the project, and FOR
            # UPDATE would then lock the project row amid the batch rows (a deadlock
            # with a request closing a batch, which takes its batch row, then the project).
            Batch.objects.select_for_update(no_key=True, of=("self",))
            .filter(project_id=project_id, state=Batch.State.OPEN)
            .order_by("number")
            .values_list("pk", flat=True)
        )
        project = Project.objects.select_for_update(no_key=True).get(pk=project_id)
        mine = ModelVersion.objects.filter(pk=version.pk, status=Status.RUNNING, attempts=claimed)
        done = mine.update(
            status=Status.DONE,
            finished_at=timezone.now(),
            annotation_seconds=version.annotation_seconds,
            stopping=stopping,
            **results,
        )
        if not done:  # taken for dead and claimed again: that run's results count, not ours
            raise Superseded(f"retrain {version.pk} attempt {claimed}")
        fired = [rule for rule in stopping if rule["met"]]
        if fired and project.state in STOP.sources:
            reason = "; ".join(f"{r['rule']}: {r['detail']}" for r in fired)
            project_move(project, to=STOP.to, from_=project.state, reason=reason)
        elif project.state in RETRAIN_ENDED.sources:
            project_move(project, to=RETRAIN_ENDED.to, from_=project.state)
        if project.state != Project.State.STOPPED:
            batches.refresh(project, prepared)


def _annotation_seconds(project: Project) -> float:

    total = Annotation.objects.filter(project=project).aggregate(s=Sum("seconds"))["s"]
    return float(total or 0.0)


def stopping_evaluate(*, project: Project, latest: ModelVersion) -> list[dict[str, Any]]:
    """Each enabled stopping rule's value over the done versions before `latest`, and it.

    `latest` need not be saved as done yet: its results may be only in memory.
    """

    if not project.stopping:
        return []
    earlier = ModelVersion.objects.filter(
        project=project, status=ModelVersion.Status.DONE, version__lt=latest.version
    ).order_by("version")
    headline = metrics.HEADLINE_METRIC.get(project.task, "accuracy")
    history = [
        BatchRecord(
            labels=v.labels_total,
            seconds=v.annotation_seconds,
            metric=(v.metrics or {}).get(headline),
            metric_low=(v.metrics or {}).get(f"{headline}_low"),
            stop_set_predictions=np.array(v.stop_set_predictions)
            if v.stop_set_predictions is not None
            else None,
            max_uncertainty=v.max_uncertainty,
        )
        for v in [*earlier, latest]
    ]
    return [
        {"rule": r.rule, "met": bool(r.met), "value": r.value, "detail": r.detail}
        for r in evaluate_rules(history, project.stopping)
    ]
