"""Reads for projects: status, dashboards, exports. N+1 queries are prevented here."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from projects.models import Annotation, Batch, Item, Membership, ModelVersion, Project, SelectionLog
from projects.training import rankings
from projects.training.services import OWED, retrain_failed

EXPORT_CHUNK = 2000


def project_counts(project: Project) -> dict[str, int]:
    return Item.objects.filter(project=project).aggregate(
        items=Count("id"),
        labeled=Count("id", filter=Q(label__isnull=False)),
        pool=Count("id", filter=Q(state__in=[Item.State.POOL, Item.State.QUEUED])),
        review=Count("id", filter=Q(state=Item.State.REVIEW)),
        holdout=Count("id", filter=Q(is_holdout=True, label__isnull=False)),
        predicted=Count("id", filter=Q(state=Item.State.PREDICTED)),
    )


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


def project_status(project: Project) -> dict[str, Any]:
    counts = project_counts(project)
    batch = current_batch(project)
    latest = (
        ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
        .order_by("-version")
        .first()
    )
    owed = ModelVersion.objects.filter(project=project, status__in=OWED).order_by("version").first()
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
            "train_size": latest.train_size,
            "finished_at": latest.finished_at,
        },
        "retrain": None if owed is None else _retrain_summary(owed),
        "retrain_failed": _failure_summary(retrain_failed(project)),
        "stopping": stopping_values(project, latest),
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


def learning_curve(project: Project) -> list[dict[str, Any]]:
    versions = ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
    return [
        {
            "version": v.version,
            "labels": v.labels_total,
            "train_size": v.train_size,
            "metrics": v.metrics,
            "timings": v.timings,
            "finished_at": v.finished_at,
        }
        for v in versions.order_by("version")
    ]


def selection_log(project: Project, *, limit: int = 200) -> QuerySet[SelectionLog]:
    return (
        SelectionLog.objects.filter(batch__project=project, withdrawn=False)
        .select_related("batch")
        .order_by("-batch__number", "rank")[:limit]
    )


def members(project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("user").order_by("role")


def _export_records(project: Project) -> Iterator[dict[str, Any]]:

    items = Item.objects.filter(project=project).order_by("id")
    ids = list(items.values_list("id", flat=True))
    ranking = rankings.ranking_latest(project)
    for start in range(0, len(ids), EXPORT_CHUNK):
        chunk = ids[start : start + EXPORT_CHUNK]
        by_item: dict[int, list[dict[str, Any]]] = {}
        annotations = (
            Annotation.objects.filter(item_id__in=chunk)
            .values_list("item_id", "annotator__username", "label", "confidence", "created_at")
            .order_by("created_at")
        )
        for item_id, username, label, confidence, created in annotations:
            by_item.setdefault(item_id, []).append(
                {
                    "annotator": username,
                    "label": label,
                    "confidence": confidence,
                    "created_at": created.isoformat(),
                }
            )
        rows = (
            Item.objects.filter(pk__in=chunk)
            .order_by("id")
            .values(
                "id",
                "text",
                "image",
                "label",
                "label_source",
                "meta",
                "is_holdout",
                "state",
                "prediction",
                "gold_label",
                "consensus_method",
                "consensus_support",
                "review__reviewer__username",
                "review__created_at",
            )
        )
        records: list[dict[str, Any]] = [dict(values) for values in rows]
        _latest_predictions(ranking, records)
        for row in records:
            row["annotations"] = by_item.get(row["id"], [])
            yield row


def _latest_predictions(ranking: rankings.Ranking | None, rows: list[dict[str, Any]]) -> None:
    """The newest model's prediction for the items it ranked (the whole unlabeled pool).

    A retrain stores predictions on the item rows only for the top of its ranking; other
    items keep what was stored (a stream item's prediction, or an earlier version's).
    """
    if ranking is None or not rows:
        return
    codes = ranking.predictions_of(np.array([row["id"] for row in rows], dtype=np.int64))
    for row, code in zip(rows, codes.tolist(), strict=True):
        if code >= 0:
            row["prediction"] = code


def export_jsonl(project: Project) -> Iterator[str]:
    for row in _export_records(project):
        record: dict[str, Any] = {"id": row["id"]}
        if project.kind == Project.Kind.IMAGE:
            record["image"] = row["image"]
        else:
            record["text"] = row["text"]
        record.update(
            {
                "label": row["label"],
                "label_source": row["label_source"] or None,
                "annotations": row["annotations"],
                "consensus": _consensus(row),
                "review": _review(row),
                "gold_label": row["gold_label"],
                "meta": row["meta"],
                "holdout": row["is_holdout"],
                "prediction": prediction_name(project, row["prediction"]),
            }
        )
        yield json.dumps(record, ensure_ascii=False) + "\n"


def _consensus(row: dict[str, Any]) -> dict[str, Any] | None:
    """How the annotations were combined: the method and the winner's vote share/posterior."""
    if not row["consensus_method"]:
        return None
    return {"method": row["consensus_method"], "support": row["consensus_support"]}


def _review(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["review__reviewer__username"] is None:
        return None
    return {
        "reviewer": row["review__reviewer__username"],
        "created_at": row["review__created_at"].isoformat(),
    }


def prediction_name(project: Project, code: int | None) -> str | None:
    """The label name of a prediction code (an index into the project's labels), or None."""
    if code is None or not 0 <= code < len(project.labels):
        return None
    return str(project.labels[code])


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# injection"); such cells are written with a leading apostrophe, which it shows as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting like a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(project: Project) -> Iterator[str]:
    """One row per item, `id,text,label` first; formula-like cells quoted (`csv_cell`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    first = "image" if project.kind == Project.Kind.IMAGE else "text"
    writer.writerow(["id", first, "label", "label_source", "annotations", "holdout", "meta"])
    for row in _export_records(project):
        cells = [
            row["id"],
            row["image"] if first == "image" else row["text"],
            row["label"] or "",
            row["label_source"],
            "; ".join(
                f"{a['annotator']}={a['label']}({a['confidence']})" for a in row["annotations"]
            ),
            int(row["is_holdout"]),
            json.dumps(row["meta"], ensure_ascii=False),
        ]
        writer.writerow([csv_cell(cell) for cell in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def model_choice(project: Project, *, limit: int = 10) -> dict[str, Any]:
    """The project's model settings and, per recent version, what its fit chose."""
    versions = ModelVersion.objects.filter(project=project, status=ModelVersion.Status.DONE)
    rows = [
        {
            "version": v.version,
            "estimator": v.estimator or "logistic_regression",
            "train_size": v.train_size,
            "chosen": {
                k: val for k, val in (v.hyperparameters or {}).items() if k != "min_search_labels"
            },
        }
        for v in versions.order_by("-version")[:limit]
    ]
    return {
        "estimator": project.estimator,
        "params": project.estimator_params,
        "search": project.hyperparameter_search,
        "embedder": project.embedder,
        "versions": rows,
    }
