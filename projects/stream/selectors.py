"""The stream dashboard's data (PRODUCT.md §6): arrivals, query rate, predicted-label drift."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Trunc

from projects.models import Item, Project
from projects.stream.services import DEFAULT_BUDGET
from strategies.stream import StreamState

_UNITS = ((120, "second"), (2 * 3600, "minute"), (3 * 86400, "hour"))


def stream_stats(project: Project, *, max_buckets: int = 60) -> dict[str, Any]:
    """Arrivals, query rate against budget and predicted labels over time (drift).

    ``timeline`` has one entry per time bucket (second, minute, hour or day,
    whichever keeps the span under about ``max_buckets`` entries) with the
    arrivals, queries and the predicted-label shares of that bucket; ``drift``
    is the total-variation distance between the first and the last bucket's
    predicted-label distributions (0 = same mix, 1 = disjoint).
    """
    stream = Item.objects.filter(project=project, from_stream=True)
    stored = stream.count()
    state = StreamState.from_dict(project.stream_state or {})
    budget = DEFAULT_BUDGET if project.stream_budget is None else project.stream_budget
    timeline = _timeline(project, stream, max_buckets) if stored else []
    labels = [str(x) for x in project.labels]
    totals = np.zeros(len(labels))
    for bucket in timeline:
        totals += np.array([bucket["predicted"][x] for x in labels], dtype=np.float64)
    return {
        "arrivals": state.seen,
        "queried": state.queried,
        "query_rate": round(state.query_rate, 4),
        "budget": budget,
        "threshold": round(state.threshold, 4),
        "stored": stored,
        "predicted": dict(zip(labels, totals.astype(int).tolist(), strict=True)),
        "timeline": timeline,
        "drift": _drift(timeline, labels),
        "labels": labels,
    }


def _unit(stream: Any, max_buckets: int) -> str:
    bounds = stream.aggregate(start=Min("created_at"), end=Max("created_at"))
    seconds = (bounds["end"] - bounds["start"]).total_seconds()
    for limit, unit in _UNITS:
        if seconds <= limit * max_buckets / 60:
            return unit
    return "day"


def _timeline(project: Project, stream: Any, max_buckets: int) -> list[dict[str, Any]]:
    unit = _unit(stream, max_buckets)
    rows = (
        stream.annotate(bucket=Trunc("created_at", unit))
        .values("bucket", "prediction")
        .annotate(n=Count("id"), queried=Count("id", filter=~Q(state=Item.State.PREDICTED)))
        .order_by("bucket")
    )
    labels = [str(x) for x in project.labels]
    buckets: dict[Any, dict[str, Any]] = {}
    for row in rows:
        bucket = buckets.setdefault(
            row["bucket"],
            {
                "start": row["bucket"],
                "unit": unit,
                "arrivals": 0,
                "queried": 0,
                "predicted": dict.fromkeys(labels, 0),
            },
        )
        bucket["arrivals"] += row["n"]
        bucket["queried"] += row["queried"]
        if row["prediction"] is not None and 0 <= row["prediction"] < len(labels):
            bucket["predicted"][labels[row["prediction"]]] += row["n"]
    ordered = list(buckets.values())[-max_buckets:]
    for bucket in ordered:
        bucket["query_rate"] = round(bucket["queried"] / bucket["arrivals"], 4)
        total = sum(bucket["predicted"].values())
        bucket["shares"] = {
            k: round(v / total, 4) if total else 0.0 for k, v in bucket["predicted"].items()
        }
    return ordered


def _drift(timeline: list[dict[str, Any]], labels: list[str]) -> float | None:
    with_predictions = [b for b in timeline if sum(b["predicted"].values())]
    if len(with_predictions) < 2:
        return None
    first, last = with_predictions[0]["shares"], with_predictions[-1]["shares"]
    return round(0.5 * sum(abs(first[k] - last[k]) for k in labels), 4)
