"""Reads for projects: status, dashboards. N+1 queries are prevented here (exports:
`projects.exports`)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Substr
from django.utils import timezone
from redis.exceptions import RedisError

from projects.batches.closing import WAITING
from projects.forecast import project_forecast
from projects.models import (
    HAS_FINAL_LABEL,
    Annotation,
    Batch,
    ImportJob,
    Item,
    Membership,
    ModelVersion,
    Project,
    SelectionLog,
)
from projects.training.services import OWED, retrain_failed
from strategies.metrics import HEADLINE_METRIC
from strategies.query import STRATEGIES

log = logging.getLogger(__name__)

# A large pool's count (0.2 s at 1M items, 1.9 s at 10M on 2 cores) is kept in Django's
# cache for COUNTS_REUSE times as long as it took, so however often dashboards poll
# (every 2 s), the database counts for at most 1/COUNTS_REUSE of the time: in all when
# the web processes share a cache (WINNOW_CACHE_URL), else in each of them. A smaller
# pool's, or a quicker one, is never kept.
SLOW_COUNT_SECONDS = 0.05
LARGE_POOL = 100_000
COUNTS_REUSE = 20


def counts_key(project_id: int) -> str:
    return f"project-counts:{project_id}"


def project_counts(project: Project) -> dict[str, int]:
    """The project's items by what they await; a large project's at most
    COUNTS_REUSE times its counting time old."""
    kept = _cached(cache.get, counts_key(project.pk))
    if kept is not None:
        return dict(kept)
    started = time.monotonic()
    counts = Item.objects.filter(project=project).aggregate(
        items=Count("id"),
        labeled=Count("id", filter=HAS_FINAL_LABEL),
        pool=Count("id", filter=Q(state__in=[Item.State.POOL, Item.State.QUEUED])),
        review=Count("id", filter=Q(state=Item.State.REVIEW)),
        holdout=Count("id", filter=Q(is_holdout=True) & HAS_FINAL_LABEL),
        predicted=Count("id", filter=Q(state=Item.State.PREDICTED)),
    )
    took = time.monotonic() - started
    if took >= SLOW_COUNT_SECONDS and counts["items"] >= LARGE_POOL:
        # whole seconds: Redis keeps a key a whole number of them
        _cached(cache.set, counts_key(project.pk), counts, math.ceil(took * COUNTS_REUSE))
    return counts


def _cached(call: Callable[..., Any], *args: Any) -> Any:
    """`call(*args)` on Django's cache; None if a shared cache (Redis) is unreachable:
    dashboards then count as if nothing were kept rather than fail with it."""
    try:
        return call(*args)
    except RedisError as error:
        log.warning("Django's cache is unreachable, counting without it: %s", error)
        return None


def current_batch(project: Project) -> Batch | None:
    batch = Batch.objects.filter(project=project, state=Batch.State.OPEN).first()
    return batch or Batch.objects.filter(project=project).order_by("-number").first()


def batch_summary(batch: Batch | None) -> dict[str, Any] | None:
    if batch is None:
        return None
    done = batch.size - batch.remaining
    return {
        "number": batch.number,
        "size": batch.size,
        "done": done,
        "state": batch.state,
        "kind": batch.kind,
    }


def batch_left(batch_id: int) -> int:
    """How many items still hold the batch open, counted now (the close rule's `WAITING`):
    the stored `remaining` lags a little behind, and this is what people read."""
    return Item.objects.filter(WAITING, batch_id=batch_id).count()


def item_batch(item: Item | None, *, revising: bool = False) -> dict[str, Any] | None:
    """The batch an item belongs to, with what is left of it, for the annotate page.

    `revising`: the item's label is being changed (undo), so it counts as left again.
    """
    batch = item.batch if item is not None else None
    if batch is None:
        return None
    left = batch_left(batch.pk)
    if revising and item is not None and item.state != Item.State.QUEUED:
        left += 1
    return {"number": batch.number, "size": batch.size, "left": left, "state": batch.state}


def open_batches(project: Project) -> list[dict[str, Any]]:
    """The open batches, oldest first, each with a true count: items done, items left
    (an item may need several labels: `labels_left`), and items given back that no longer
    hold the batch (`WAITING`)."""
    batches = list(Batch.objects.filter(project=project, state=Batch.State.OPEN).order_by("number"))
    queued = (
        Item.objects.filter(batch__in=batches, state=Item.State.QUEUED)
        .values("batch_id")
        .annotate(
            n=Count("id"),
            waiting=Count("id", filter=WAITING),
            labels=Sum(F("required") - F("annotation_count"), filter=WAITING),
        )
    )
    counts = {row["batch_id"]: row for row in queued}
    rows = []
    for b in batches:
        row = counts.get(b.pk, {"n": 0, "waiting": 0, "labels": 0})
        rows.append(
            {
                "number": b.number,
                "kind": b.kind,
                "size": b.size,
                "done": b.size - row["n"],
                "left": row["waiting"],
                "given_back": row["n"] - row["waiting"],
                "labels_left": max(int(row["labels"] or 0), 0),
            }
        )
    return rows


def next_retrain(status: dict[str, Any], batches: list[dict[str, Any]]) -> dict[str, Any]:
    """When the model learns next: now (a retrain is owed or running), or once the open
    batch nearest to done gets its last labels (its close owes the retrain)."""
    if status.get("retrain") is not None:
        return {"training": True, "labels": None}
    if status.get("state") not in (Project.State.COLLECTING, Project.State.TRAINING):
        return {"training": False, "labels": None}
    labels = min((b["labels_left"] for b in batches), default=None)
    return {"training": False, "labels": labels}


def project_status(project: Project) -> dict[str, Any]:
    counts = project_counts(project)
    batch = current_batch(project)
    latest = (
        ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
        .order_by("-version")
        .first()
    )
    owed = ModelVersion.objects.filter(project=project, status__in=OWED).order_by("version").first()
    headline = HEADLINE_METRIC.get(project.task, "accuracy")
    return {
        "id": project.pk,
        "name": project.name,
        "state": project.state,
        "stop_reason": project.stop_reason,
        **counts,
        "batch": batch_summary(batch),
        "model": None
        if latest is None
        else {
            "version": latest.version,
            "metrics": latest.metrics,
            # the figure stopping rules read for this task (entity F1 on span projects)
            "headline_metric": headline,
            "headline": (latest.metrics or {}).get(headline),
            **model_labels(latest),
            "finished_at": latest.finished_at,
        },
        "retrain": None if owed is None else _retrain_summary(owed),
        "retrain_failed": _failure_summary(retrain_failed(project)),
        "stopping": stopping_values(project, latest),
        "forecast": project_forecast(project, pool=counts["pool"]),
    }


def _retrain_summary(owed: ModelVersion) -> dict[str, Any]:
    """An owed retrain; delayed when no worker has started it within the re-send bound
    (the broker is down, or no worker runs): annotators go on, the model lags."""
    bound = timezone.now() - timedelta(seconds=settings.WINNOW_RETRAIN_RESEND_SECONDS)
    waiting = owed.status == ModelVersion.Status.PENDING and owed.requested_at < bound
    return {
        "version": owed.version,
        "status": owed.status,
        "attempts": owed.attempts,
        "error": owed.error,
        "delayed": waiting,
    }


def _failure_summary(failed: ModelVersion | None) -> dict[str, Any] | None:
    if failed is None:
        return None
    return {"version": failed.version, "attempts": failed.attempts, "error": failed.error}


def stopping_values(project: Project, latest: ModelVersion | None) -> list[dict[str, Any]]:
    evaluated = {r["rule"]: r for r in (latest.stopping if latest else [])}
    return [
        {
            "rule": rule["rule"],
            "met": bool(evaluated.get(rule["rule"], {}).get("met", False)),
            "value": evaluated.get(rule["rule"], {}).get("value"),
            "detail": evaluated.get(rule["rule"], {}).get("detail", "not evaluated yet"),
            "params": rule,
        }
        for rule in project.stopping
    ]


def model_labels(version: ModelVersion) -> dict[str, int]:
    """The labels a model version saw, one figure for every page: those it was trained on,
    those kept apart as the holdout that measures it, and both together."""
    return {
        "train_size": version.train_size,
        "holdout_size": max(version.labels_total - version.train_size, 0),
        "labels_total": version.labels_total,
    }


def learning_curve(project: Project) -> list[dict[str, Any]]:
    versions = ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
    return [
        {
            "version": v.version,
            "labels": v.labels_total,
            **model_labels(v),
            "metrics": v.metrics,
            "timings": v.timings,
            "finished_at": v.finished_at,
        }
        for v in versions.order_by("version")
    ]


SELECTION_PAGE = 20
SNIPPET_CHARS = 120


def selection_log_page(project: Project, page: int | str | None) -> Page[Any]:
    """One page of the selection log, newest batch first, each row with the start of its
    item's text (never the whole text) and what its strategy's score measures: scores of
    different strategies are on different scales."""
    rows = (
        SelectionLog.objects.filter(batch__project=project, withdrawn=False)
        .select_related("batch")
        .annotate(item_text=Substr("item__text", 1, SNIPPET_CHARS), item_image=F("item__image"))
        .order_by("-batch__number", "rank")
    )
    result = Paginator(rows, SELECTION_PAGE).get_page(page)
    for row in result.object_list:
        info = STRATEGIES.get(row.strategy)
        row.scale = info.description if info else ""
    return result


IMPORT_HISTORY = 20


def import_history(project: Project) -> QuerySet[ImportJob]:
    """The project's latest imports, newest first, with who uploaded each."""
    jobs = ImportJob.objects.filter(project=project).select_related("created_by")
    return jobs.order_by("-created_at", "-pk")[:IMPORT_HISTORY]


def deletion_counts(project: Project) -> dict[str, int]:
    """What a deletion would take, counted for its confirmation page."""
    return {
        "items": Item.objects.filter(project=project).count(),
        "annotations": Annotation.objects.filter(project=project).count(),
        "model versions": ModelVersion.objects.filter(project=project).count(),
        "members": Membership.objects.filter(project=project).count(),
    }


def members(project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("role")


def prediction_name(project: Project, code: int | None) -> str | None:
    """The label name of a prediction code (an index into the project's labels), or None."""
    if code is None or not 0 <= code < len(project.labels):
        return None
    return str(project.labels[code])


# Where each task's gold answer is stored (`annotator.quality.gold.ANSWER_FIELDS` writes it).
GOLD_FIELD = {
    Project.Task.SINGLE: "gold_label",
    Project.Task.MULTILABEL: "gold_labels",
    Project.Task.SPANS: "gold_spans",
}


def gold_answer(project: Project, item: Any) -> Any:
    """An item's gold answer (a label, a set or spans; None: not gold), from an `Item` or
    a row of values holding the task's gold field. Reviewers' and leads' reads only: an
    annotator is never told that the item in hand is gold (`annotator.assignment.gold`)."""
    field = GOLD_FIELD[Project.Task(project.task)]
    return item[field] if isinstance(item, dict) else getattr(item, field)


def gold_summary(answer: Any, text: str = "") -> str:
    """A gold answer in a few words for the badge: the label, the set, or each span's
    text and label."""
    if isinstance(answer, str):
        return answer
    if not answer:
        return "no label" if answer is not None else ""
    if isinstance(answer[0], dict):
        return "; ".join(f"{text[s['start'] : s['end']]} ({s['label']})" for s in answer)
    return ", ".join(answer)
