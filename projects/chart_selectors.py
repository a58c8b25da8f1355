"""Reads for the dashboard's charts and model card: labels per annotator over time, the
label mix against the model's predictions, and what each model version's fit chose."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from projects.models import Annotation, Item, ModelVersion, Project
from projects.training import rankings

# Lines drawn per chart of annotators; the rest are summed as "others".
CHART_ANNOTATORS = 7


def labels_per_annotator(project: Project) -> dict[str, Any]:
    """Cumulative annotations per annotator at the end of each period (hours within two
    days of work, else days): ``{"periods": [str], "series": {name: [(i, count)]}}``."""
    times = Annotation.objects.filter(project=project).aggregate(
        first=Min("created_at"), last=Max("created_at")
    )
    if times["first"] is None:
        return {"periods": [], "series": {}}
    hourly = times["last"] - times["first"] <= timedelta(days=2)
    trunc = TruncHour if hourly else TruncDay
    rows = (
        Annotation.objects.filter(project=project)
        .annotate(period=trunc("created_at"))
        .values_list("annotator__username", "period")
        .annotate(n=Count("id"))
        .order_by("period")
    )
    periods = sorted({period for _, period, _ in rows})
    at = {p: i for i, p in enumerate(periods)}
    totals: dict[str, int] = {}
    for name, _, n in rows:
        totals[name] = totals.get(name, 0) + n
    shown = sorted(totals, key=lambda n: (-totals[n], n))[:CHART_ANNOTATORS]
    counts = np.zeros((len(shown) + 1, len(periods)), dtype=np.int64)
    for name, period, n in rows:
        counts[shown.index(name) if name in shown else len(shown), at[period]] += n
    names = [*shown, "others"] if len(totals) > len(shown) else shown
    cumulative = counts.cumsum(axis=1)
    fmt = "%m-%d %H:00" if hourly else "%Y-%m-%d"
    return {
        "periods": [timezone.localtime(p).strftime(fmt) for p in periods],
        "series": {
            name: [(i, int(v)) for i, v in enumerate(cumulative[row])]
            for row, name in enumerate(names)
        },
    }


def label_distribution(project: Project) -> dict[str, Any]:
    """Shares of each label among the final labels, and among the newest model's
    predictions for the unlabelled pool it ranked."""
    given = dict(
        Item.objects.filter(project=project, label__isnull=False)
        .values_list("label")
        .annotate(n=Count("id"))
        .values_list("label", "n")
    )
    ranking = rankings.ranking_latest(project)
    predicted = np.zeros(len(project.labels), dtype=np.int64)
    if ranking is not None and len(ranking.predictions):
        codes = ranking.predictions.astype(np.int64)
        codes = codes[(codes >= 0) & (codes < len(project.labels))]
        predicted = np.bincount(codes, minlength=len(project.labels))
    labelled = np.array([given.get(label, 0) for label in project.labels], dtype=np.float64)
    return {
        "labels": list(project.labels),
        "given": (labelled / max(1.0, labelled.sum())).tolist(),
        "predicted": (predicted / max(1, predicted.sum())).tolist(),
        "given_n": int(labelled.sum()),
        "predicted_n": int(predicted.sum()),
    }


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
