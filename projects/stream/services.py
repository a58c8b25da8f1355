"""Stream mode (PRODUCT.md §6): one item arrives, the latest model answers at once.

``stream_item_add`` computes the item's features and the model's probabilities
outside any transaction, then decides with ``strategies.stream.stream_decide``
(Žliobaitė et al. 2014, randomised variable uncertainty, one rule:
``Decision.decide``) and stores the item with the new stream state. On Postgres
that is one compare-and-swap statement (``projects.stream.write``); elsewhere the
project row is locked for the read, decision and write. Either way the threshold
and the budget counters are exact under concurrent posts. A queried item joins
the open batch while it has room (else it waits at the head of the pool ranking
for the next batch); any other item keeps the model's prediction (state
``predicted``). Retraining still happens per batch, in the worker.

Feature rows are buffered per process and written as one shard per
``FEATURE_FLUSH_ROWS`` arrivals: a shard per item would cost a file each. A row
lost with a dying process is recomputed from the stored item by
``pool.features_ready`` at the next retrain.
"""

from __future__ import annotations

import atexit
import math
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import Trunc

from projects.batches import services as batch_services
from projects.models import Batch, Item, ModelVersion, Project, SelectionLog
from projects.pool import features
from projects.state import ITEMS_ARRIVED, project_transition
from projects.stream import write as stream_write
from projects.stream.access import StreamCaller
from projects.stream.model import HashedRow, hashed_rows_csr
from strategies.stream import StreamState, stream_decide
from winnow.db import commit_without_flush

DEFAULT_BUDGET = 0.1  # when the project sets none
# Queried items waiting for room in a batch rank above any strategy score.
QUEUE_SCORE = 1e6
FEATURE_FLUSH_ROWS = 512
FEATURE_FLUSH_SECONDS = 10.0
MAX_META_CHARS = 10_000


class StreamClosed(Exception):
    """The project takes no stream items in its state (HTTP 409)."""


@dataclass
class StreamDecision:
    item: int
    query: bool
    score: float | None  # the model's uncertainty 1 - max P(y|x); None before any model
    prediction: str | None
    model_version: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "query": self.query,
            "score": self.score,
            "prediction": self.prediction,
            "model_version": self.model_version,
        }


@dataclass
class _Arrival:
    fields: dict[str, Any]  # Item columns holding the content
    X: features.Matrix | HashedRow  # one feature row
    image: Any = None  # decoded PIL image, image projects only
    image_bytes: bytes = b""
    image_format: str = ""


# -- the decision ----------------------------------------------------------------


class StaleCaller(Exception):
    """The caller's remembered access or model no longer holds; look them up afresh."""


def stream_item_add(
    *,
    caller: StreamCaller,
    token: str | None = None,
    text: object = None,
    vector: object = None,
    image: bytes | None = None,
    meta: object = None,
) -> StreamDecision:
    """Store one arriving item and decide at once whether a human should label it.

    ``caller`` is what ``projects.stream.access`` remembers of the poster's access
    (``token``: the key that authenticated, or None); on Postgres the write re-checks
    it and raises ``StaleCaller`` if it no longer holds.
    """
    project, latest = caller.project, caller.version
    fast = connection.vendor == "postgresql"  # else the project is fresh, not remembered
    if not fast and project.state == Project.State.ARCHIVED:
        raise StreamClosed("The project is archived; it takes no stream items.")
    arrival = _arrival(project, text=text, vector=vector, image=image, meta=meta)
    proba = _proba(project, latest, arrival.X)
    written = _store_image(project, arrival) if arrival.image is not None else []
    try:
        if fast:
            item, query = stream_write.decide_and_write(caller, token, Decision(arrival, proba))
        else:
            item, query = _decide_and_store(project, arrival, latest, proba)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    _buffer_features(project.pk, item["id"], arrival.X)
    return StreamDecision(
        item=item["id"],
        query=query,
        score=_uncertainty(proba),
        prediction=_label(project, item["prediction"]),
        model_version=latest,
    )


def _uncertainty(proba: np.ndarray | None) -> float | None:
    return None if proba is None else float(1.0 - proba.max())


def _label(project: Project, code: int | None) -> str | None:
    return None if code is None else str(project.labels[code])


def _proba(
    project: Project, version: int | None, X: features.Matrix | HashedRow
) -> np.ndarray | None:
    from projects.stream.model import stream_scorer

    if version is None:
        return None
    scorer = stream_scorer(project.pk, version)
    expected = scorer.n_features or X.shape[1]
    if X.shape[1] != expected:
        raise ValidationError({"features": f"expected {expected} features, found {X.shape[1]}"})
    return scorer.proba(X)


@dataclass
class Decision:
    """How to decide and what to store, given the stream state found at write time."""

    arrival: _Arrival
    proba: np.ndarray | None

    def decide(
        self, project: Project, raw_state: dict[str, Any] | None, budget: float | None, state: str
    ) -> tuple[bool, StreamState]:
        """The query decision and the next stream state (the one rule, whatever the path)."""
        current = StreamState.from_dict(raw_state or {})
        fraction = DEFAULT_BUDGET if budget is None else float(budget)
        if state == Project.State.STOPPED:  # the model still answers; nobody labels
            return False, StreamState(current.threshold, current.seen + 1, current.queried)
        if self.proba is None:  # cold start: query while the budget allows, no threshold yet
            query = current.queried < fraction * max(current.seen, 1)
            return query, StreamState(current.threshold, current.seen + 1, current.queried + query)
        rng = np.random.default_rng((project.random_state, current.seen))
        return stream_decide(current, float(self.proba.max()), budget=fraction, rng=rng)

    def row(self, project: Project, version: int | None, query: bool) -> dict[str, Any]:
        """The arrival's item as the decision leaves it: its columns by attribute name
        (the item's other columns keep their defaults)."""
        uncertainty = _uncertainty(self.proba)
        score: float | None = uncertainty
        state = Item.State.PREDICTED
        if query:
            state, score = Item.State.POOL, QUEUE_SCORE + (uncertainty or 0.0)
        return {
            "project_id": project.pk,
            "from_stream": True,
            "state": state,
            "score": score,
            "prediction": None if self.proba is None else int(self.proba.argmax()),
            "scored_version": version,
            **self.arrival.fields,
        }


def _decide_and_store(
    project: Project, arrival: _Arrival, version: int | None, proba: np.ndarray | None
) -> tuple[dict[str, Any], bool]:
    """The portable path: the project row locked for the read, decision and write."""
    with transaction.atomic():
        _relax_commit()
        raw_state, budget, state = (
            Project.objects.select_for_update(no_key=True)
            .filter(pk=project.pk)
            .values_list("stream_state", "stream_budget", "state")
            .get()
        )
        decision = Decision(arrival, proba)
        query, new = decision.decide(project, raw_state, budget, state)
        row = decision.row(project, version, query)
        item = Item(**row)
        item.save(force_insert=True)
        row["id"] = item.pk
        Project.objects.filter(pk=project.pk).update(stream_state=new.to_dict())
        if state in ITEMS_ARRIVED.sources:
            project_transition(project_id=project.pk, to=ITEMS_ARRIVED.to, from_=state)
        if query:
            stream_enqueue(project, [row], version)
    return row, query


def _relax_commit() -> None:
    """Don't wait for the WAL flush at commit (WINNOW_STREAM_ASYNC_COMMIT): item and
    stream state commit together, and the flush wait is most of a decision's time."""
    if settings.WINNOW_STREAM_ASYNC_COMMIT:
        commit_without_flush()


def stream_enqueue(project: Project, rows: list[dict[str, Any]], version: int | None) -> None:
    """Put queried items (stored rows, with their ids) in the open batch while it has
    room, or open a batch for them.

    Called in the transaction that stored the items, the project row locked by it."""
    from projects.batches.selection import Picks

    batch = Batch.objects.filter(project=project, state=Batch.State.OPEN).first()
    if batch is None:
        batch_services.batch_open(project=project, quick=True)
        return
    room = project.batch_size - batch.size
    if room <= 0:
        return  # they head the ranking of the next batch (QUEUE_SCORE)
    taken = rows[:room]
    last = SelectionLog.objects.filter(batch=batch).aggregate(r=Max("rank"))["r"]
    model_version = (
        None
        if version is None
        else ModelVersion.objects.filter(project=project, version=version).first()
    )
    picks = Picks(
        item_ids=[row["id"] for row in taken],
        kind="stream",  # the selection log's reason
        strategy="stream",
        model_version=model_version,
        scores={row["id"]: float(row["score"] or 0.0) for row in taken},
    )
    batch_services.batch_add_items(
        project=project, batch=batch, picks=picks, start_rank=0 if last is None else last + 1
    )


# -- the arriving content ------------------------------------------------------------


def _arrival(
    project: Project, *, text: object, vector: object, image: bytes | None, meta: object
) -> _Arrival:
    clean_meta = _meta(meta)
    if project.kind == Project.Kind.TEXT:
        return _text_arrival(text, clean_meta)
    if project.kind == Project.Kind.VECTOR:
        return _vector_arrival(project, vector, text, clean_meta)
    return _image_arrival(image, clean_meta)


def _meta(meta: object) -> dict[str, Any]:
    import json

    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise ValidationError({"meta": "meta must be an object"})
    if len(json.dumps(meta)) > MAX_META_CHARS:
        raise ValidationError({"meta": f"meta larger than {MAX_META_CHARS} characters"})
    return meta


def _text_arrival(text: object, meta: dict[str, Any]) -> _Arrival:
    from projects.stream.model import hashed_text

    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"text": "text is required and must be a non-empty string"})
    if len(text) > settings.WINNOW_MAX_TEXT_CHARS:
        raise ValidationError({"text": f"text longer than {settings.WINNOW_MAX_TEXT_CHARS}"})
    return _Arrival({"text": text, "meta": meta}, hashed_text(text))


def _vector_arrival(
    project: Project, vector: object, text: object, meta: dict[str, Any]
) -> _Arrival:
    from strategies.features import vector_features

    if (
        not isinstance(vector, list)
        or not vector
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector)
        or not all(math.isfinite(v) for v in vector)
    ):
        raise ValidationError({"features": "features must be a non-empty list of finite numbers"})
    expected = _vector_dim(project)
    if expected is not None and len(vector) != expected:
        raise ValidationError({"features": f"expected {expected} features, found {len(vector)}"})
    fields = {
        "vector": [float(v) for v in vector],
        "meta": meta,
        "text": text if isinstance(text, str) else "",
    }
    return _Arrival(fields, vector_features([vector]))


def _vector_dim(project: Project) -> int | None:
    """The project's feature length, from its first item (the model checks it too)."""
    first = (
        Item.objects.filter(project=project, vector__isnull=False)
        .order_by("id")
        .values_list("vector", flat=True)
        .first()
    )
    return len(first) if isinstance(first, list) else None


def _image_arrival(data: bytes | None, meta: dict[str, Any]) -> _Arrival:
    from projects.ingest.images import max_image_pixels
    from strategies.images import ImageRejected, image_features, normalise_image

    if not data:
        raise ValidationError({"image": "attach the image as multipart field 'image'"})
    try:
        img, fmt = normalise_image(data, max_pixels=max_image_pixels())
    except ImageRejected as exc:
        raise ValidationError({"image": str(exc)}) from None
    X = image_features(img)[None, :]
    return _Arrival({"meta": meta}, X, image=img, image_bytes=data, image_format=fmt)


def _store_image(project: Project, arrival: _Arrival) -> list[Path]:
    """Write the original and its thumbnail; the caller deletes them if the insert fails."""
    from projects.ingest.images import EXTENSIONS, thumbnail_path
    from strategies.images import thumbnail_bytes

    relative = f"project_{project.pk}/s-{uuid.uuid4().hex}{EXTENSIONS[arrival.image_format]}"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(arrival.image_bytes)
    thumb = thumbnail_path(path)
    thumb.write_bytes(thumbnail_bytes(arrival.image))
    arrival.fields["image"] = relative
    return [path, thumb]


# -- buffered feature rows ------------------------------------------------------------


class _FeatureBuffer:
    """Feature rows of stream items, written one shard per many items."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: dict[int, tuple[list[int], list[features.Matrix | HashedRow]]] = {}
        self.since: dict[int, float] = {}

    def add(self, project_id: int, item_id: int, X: features.Matrix | HashedRow) -> None:
        with self.lock:
            ids, blocks = self.rows.setdefault(project_id, ([], []))
            self.since.setdefault(project_id, time.monotonic())
            ids.append(item_id)
            blocks.append(X)
            due = len(ids) >= FEATURE_FLUSH_ROWS or (
                time.monotonic() - self.since[project_id] > FEATURE_FLUSH_SECONDS
            )
            taken = self._take(project_id) if due else None
        if taken is not None:
            _write_rows(project_id, *taken)

    def _take(self, project_id: int) -> tuple[list[int], list[features.Matrix | HashedRow]] | None:
        self.since.pop(project_id, None)
        return self.rows.pop(project_id, None)

    def flush(self) -> None:
        with self.lock:
            taken = {pid: self._take(pid) for pid in list(self.rows)}
        for pid, rows in taken.items():
            if rows is not None:
                _write_rows(pid, *rows)


def _write_rows(project_id: int, ids: list[int], blocks: list[features.Matrix | HashedRow]) -> None:
    import scipy.sparse as sp

    X: features.Matrix
    if isinstance(blocks[0], HashedRow):
        X = hashed_rows_csr(blocks)  # type: ignore[arg-type]
    elif sp.issparse(blocks[0]):
        X = sp.vstack(blocks, format="csr")
    else:
        X = np.vstack(blocks)  # type: ignore[arg-type]
    features.features_add(project_id, np.asarray(ids, dtype=np.int64), X)


_buffer = _FeatureBuffer()
atexit.register(_buffer.flush)


def _buffer_features(project_id: int, item_id: int, X: features.Matrix | HashedRow) -> None:
    _buffer.add(project_id, item_id, X)


def stream_features_flush() -> None:
    """Write every buffered feature row now (tests, shutdown)."""
    _buffer.flush()


# -- the dashboard's data ------------------------------------------------------------

_UNITS = ((120, "second"), (2 * 3600, "minute"), (3 * 86400, "hour"))


def stream_stats(project: Project, *, max_buckets: int = 60) -> dict[str, Any]:
    """Arrivals, query rate against budget and predicted labels over time (drift).

    ``timeline`` has one entry per time bucket (second, minute, hour or day,
    whichever keeps the span under about ``max_buckets`` entries) with the
    arrivals, queries and the predicted-label shares of that bucket; ``drift``
    is the total-variation distance between the first and the last bucket's
    predicted-label distributions (0 = same mix, 1 = disjoint).
    """
    from strategies.stream import StreamState

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
