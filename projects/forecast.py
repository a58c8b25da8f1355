"""The forecast on the dashboard and in `status/`: more labels and annotator-hours to a target.

The maths is `strategies.forecast` (no Django); this reads the history it needs: each
model version's holdout headline metric (`headline_metric`: accuracy, micro F1 on
multi-label projects) against its label count, and the recorded seconds of the
annotations.

The target is the project's `target` stopping rule's metric when it has one (read as
the figure to reach, not its lower bound). Without it, the target is one point below
the plateau the fitted curve levels off at: "what is left to gain", which a project
without a target still wants to know.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
from django.db.models import Count, Sum

from projects.models import Annotation, ModelVersion, Project
from strategies.forecast import MIN_POINTS, Bootstrap, bootstrap_curve, labels_forecast
from strategies.metrics import HEADLINE_METRIC

BELOW_PLATEAU = 0.01


def headline_metric(project: Project) -> str:
    """The holdout figure the curve and the forecast read: the stopping rules' own."""
    return HEADLINE_METRIC.get(project.task, "accuracy")


def metric_history(project: Project) -> list[tuple[int, float, int]]:
    """(labels, holdout headline metric, holdout size) per evaluated version, oldest first."""
    metric = headline_metric(project)
    versions = ModelVersion.objects.filter(
        project=project, status=ModelVersion.Status.DONE
    ).order_by("version")
    return [
        (v.labels_total, float(v.metrics[metric]), int(v.metrics.get("n") or 0))
        for v in versions.only("labels_total", "metrics")
        if v.metrics and v.metrics.get(metric) is not None and v.labels_total > 0
    ]


def seconds_per_label(project: Project) -> float | None:
    """Annotator-seconds per labelled item: every recorded second over the items they went
    to (so overlap, several annotators per item, counts in full)."""
    totals = Annotation.objects.filter(project=project, seconds__isnull=False).aggregate(
        seconds=Sum("seconds"), items=Count("item", distinct=True)
    )
    if not totals["items"] or not totals["seconds"]:
        return None
    return float(totals["seconds"]) / totals["items"]


def _target(project: Project, plateau: float) -> tuple[float, str]:
    for rule in project.stopping:
        if rule.get("rule") == "target":
            return float(rule["metric_low"]), "target rule"
    return max(0.0, plateau - BELOW_PLATEAU), "plateau"


def _bootstrap(project: Project) -> tuple[Bootstrap, list[int], list[float]] | None:
    history = metric_history(project)
    if len(history) < MIN_POINTS:
        return None
    labels, values, sizes = (tuple(column) for column in zip(*history, strict=True))
    boot = _bootstrap_of(labels, values, sizes[-1] or None, project.random_state)
    return None if boot is None else (boot, list(labels), list(values))


# Bootstraps this process keeps: a dashboard polls `status/` every 2 s and the curve
# changes only with a new version, while a bootstrap is 30 ms of CPU at 6 versions and
# 100 ms at 40, on the CPUs a retrain uses. Keyed by its inputs (it is deterministic in
# them), so a kept one is what a new computation would give.
BOOTSTRAPS_KEPT = 64


@lru_cache(maxsize=BOOTSTRAPS_KEPT)
def _bootstrap_of(
    labels: tuple[int, ...], values: tuple[float, ...], test_size: int | None, random_state: int
) -> Bootstrap | None:
    return bootstrap_curve(labels, values, test_size=test_size, random_state=random_state)


def forecast_band(
    project: Project, *, ahead: float = 1.0, points: int = 12
) -> dict[str, Any] | None:
    """The 80% band of the holdout headline metric from the last version's labels to
    ``(1 + ahead)`` times as many, for the learning-curve chart."""
    fitted = _bootstrap(project)
    if fitted is None:
        return None
    boot, labels, _ = fitted
    grid = np.linspace(labels[-1], labels[-1] * (1 + ahead), points)
    low, high = boot.band(grid)
    return {"labels": grid.tolist(), "low": low.tolist(), "high": high.tolist()}


def project_forecast(project: Project, *, pool: int) -> dict[str, Any] | None:
    """More labels (80% band) and annotator-hours to reach the target; None with fewer
    than `MIN_POINTS` evaluated versions.

    `pool`: the unlabelled items left, as the caller counted them (`status/` has its
    count, kept a while on a large pool): counted here on every poll, it was a tenth of
    a second of a scan at a million items, several times a second while a dashboard
    watched a retrain, on the CPUs the retrain was using."""
    fitted = _bootstrap(project)
    if fitted is None:
        return None
    boot, labels, values = fitted
    target, source = _target(project, boot.fit.a)
    forecast = labels_forecast(boot, current=labels[-1], target=target)
    per_label = seconds_per_label(project)

    def hours(count: int | None) -> float | None:
        return None if count is None or per_label is None else round(count * per_label / 3600, 2)

    return {
        "metric": headline_metric(project),
        "target": round(target, 4),
        "target_source": source,
        "current": values[-1],
        "labels": forecast.labels,
        "hours": hours(forecast.labels),
        "low": forecast.low,
        "high": forecast.high,
        "hours_low": hours(forecast.low),
        "hours_high": hours(forecast.high),
        "level": forecast.level,
        # The unlabelled items left: a forecast beyond them says this pool will not do.
        "pool": pool,
        "beyond_pool": forecast.labels is not None and forecast.labels > pool,
    }
