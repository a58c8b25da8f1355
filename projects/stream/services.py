"""Stream mode (PRODUCT.md §6): items arrive, the latest model answers at once.

``stream_items_add`` takes one post's entries (one item, or a batch of up to
``MAX_BATCH``): it computes their features and the model's answers for all of them
at once (``answers.py``: a confidence per item, whatever the project's task),
outside any transaction; then, with the project row locked, it
decides item by item in arrival order with ``Decision.decide`` (Žliobaitė et al.
2014, randomised variable uncertainty; the threshold and the budget counters move
once per item, so a batch is decided exactly as its items posted alone one after
another), inserts the items with one bulk insert and stores the new stream state. The
lock keeps the counters exact under concurrent posts on every database.

A queried item joins the open batch while it has room (else it waits at the head
of the pool ranking for the next batch); any other item keeps the model's
prediction (state ``predicted``). Retraining still happens per batch, in the worker.

Every decision names the predicted label (``prediction``); on multi-label projects it
also carries the predicted set (``labels``), on span projects the predicted spans
(``spans``): ``None`` before any model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from projects import item_images, item_search
from projects.batches import services as batch_services
from projects.batches.selection import Picks
from projects.ingest import bulk
from projects.models import Batch, Item, ModelVersion, Project, SelectionLog
from projects.state import ITEMS_ARRIVED, project_transition
from projects.stream.answers import ModelAnswers, model_answers, model_features
from projects.stream.arrivals import arrivals_parse, images_store
from projects.stream.buffer import stream_features_add
from projects.training.predicted import ANSWER_COLUMN
from strategies.stream import StreamState, stream_decide
from winnow.db import commit_without_flush

DEFAULT_BUDGET = 0.1  # when the project sets none
MAX_BATCH = 1_000  # items per post
# Queried items waiting for room in a batch rank above any strategy score.
QUEUE_SCORE = 1e6


class StreamClosed(Exception):
    """The project takes no stream items in its state (HTTP 409)."""


@dataclass
class StreamDecision:
    item: int
    query: bool
    score: float | None  # the model's uncertainty, 1 - confidence (answers.py); None: no model
    prediction: str | None
    model_version: int | None
    # The task's whole answer (`TASK_ANSWER`): {"labels": [...]} or {"spans": [...]}.
    answer: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "query": self.query,
            "score": self.score,
            "prediction": self.prediction,
            "model_version": self.model_version,
            **self.answer,
        }


# The decision's field holding the predicted set or spans, per task (none on single-label).
TASK_ANSWER = {Project.Task.MULTILABEL: "labels", Project.Task.SPANS: "spans"}


@dataclass(frozen=True)
class Decision:
    """The stream policy for a project as its locked row stands (the one rule)."""

    random_state: int
    budget: float | None
    state: str

    def decide(self, current: StreamState, top: float | None) -> tuple[bool, StreamState]:
        """Whether to query the next arrival, whose model confidence is ``top`` (the top
        class probability, or the task's own, ``answers.py``; None before any model),
        and the stream state after it."""
        fraction = DEFAULT_BUDGET if self.budget is None else float(self.budget)
        if self.state == Project.State.STOPPED:  # the model still answers; nobody labels
            return False, StreamState(current.threshold, current.seen + 1, current.queried)
        if top is None:  # cold start: query while the budget allows, no threshold yet
            query = current.queried < fraction * max(current.seen, 1)
            return query, StreamState(current.threshold, current.seen + 1, current.queried + query)
        rng = np.random.default_rng((self.random_state, current.seen))
        return stream_decide(current, top, budget=fraction, rng=rng)


def stream_items_add(
    *, project: Project, entries: Sequence[object], image: bytes | None = None
) -> list[StreamDecision]:
    """Store the arriving items ``entries`` (``{"text"}`` or ``{"features"}``, each with
    an optional ``"meta"``; an image project's one entry comes with ``image``) and
    decide, in order, whether a human should label each.

    Raises ``ValidationError`` for a post of the wrong size, ``EntryInvalid`` naming
    the first invalid entry, ``StreamClosed`` for an archived project; then nothing
    is written.
    """
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_BATCH:
        raise ValidationError({"items": f"send a list of 1 to {MAX_BATCH} items per post"})
    if project.state == Project.State.ARCHIVED:
        raise StreamClosed("The project is archived; it takes no stream items.")
    version = latest_version(project.pk)
    n_features = model_features(project, version)
    arrivals = arrivals_parse(project, entries, image=image, n_features=n_features)
    answers = None if version is None else model_answers(project, version, arrivals)
    written = images_store(project, arrivals)
    try:
        items = _decide_and_store(project, arrivals.fields, version, answers)
    except BaseException:
        item_images.images_delete(written)
        raise
    ids = np.fromiter((item.id for item in items), dtype=np.int64, count=len(items))
    stream_features_add(project.pk, ids, arrivals.X)
    return [_answer(project, item, answers, i, version) for i, item in enumerate(items)]


def latest_version(project_id: int) -> int | None:
    return (
        ModelVersion.objects.filter(project_id=project_id, status=ModelVersion.Status.DONE)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )


@dataclass
class _Stored:
    """An arrival as stored: its id once written, and what the walk decided."""

    row: dict[str, Any]  # the item's own columns (`bulk.item_rows_insert`)
    id: int = 0

    @property
    def query(self) -> bool:
        return self.row["state"] != Item.State.PREDICTED


def _answer(
    project: Project, item: _Stored, answers: ModelAnswers | None, i: int, version: int | None
) -> StreamDecision:
    prediction = item.row["prediction"]
    name = TASK_ANSWER.get(Project.Task(project.task))
    return StreamDecision(
        item=item.id,
        query=item.query,
        score=None if answers is None else answers.score(i),
        prediction=None
        if prediction is None or prediction < 0
        else str(project.labels[prediction]),
        model_version=version,
        answer={} if name is None else {name: None if answers is None else answers.answer(i)},
    )


def _decide_and_store(
    project: Project,
    fields: list[dict[str, Any]],
    version: int | None,
    answers: ModelAnswers | None,
) -> list[_Stored]:
    """The project row locked for the read, the decisions and the write."""
    items = [_item(project, f, version, answers, i) for i, f in enumerate(fields)]
    with transaction.atomic():
        _relax_commit()
        raw_state, budget, state = (
            Project.objects.select_for_update(no_key=True)
            .filter(pk=project.pk)
            .values_list("stream_state", "stream_budget", "state")
            .get()
        )
        if state == Project.State.ARCHIVED:
            raise StreamClosed("The project is archived; it takes no stream items.")
        decision = Decision(project.random_state, budget, state)
        queries, current = _walk(
            decision, StreamState.from_dict(raw_state or {}), answers, len(items)
        )
        queried = [_queue(item) for item, query in zip(items, queries, strict=True) if query]
        ids = bulk.item_rows_insert([i.row for i in items])
        for item, item_id in zip(items, ids, strict=True):
            item.id = item_id
        item_search.words_owe(project.pk, min(ids))
        Project.objects.filter(pk=project.pk).update(stream_state=current.to_dict())
        if state in ITEMS_ARRIVED.sources:
            project_transition(project_id=project.pk, to=ITEMS_ARRIVED.to, from_=state)
        if queried:
            stream_enqueue(project, queried, version)
    return items


def _walk(
    decision: Decision, current: StreamState, answers: ModelAnswers | None, n: int
) -> tuple[list[bool], StreamState]:
    """Each arrival decided in turn: the threshold and counters move item by item."""
    tops: list[float | None] = [None] * n if answers is None else answers.confidence.tolist()
    queries = []
    for top in tops:
        query, current = decision.decide(current, top)
        queries.append(query)
    return queries, current


def _item(
    project: Project,
    fields: dict[str, Any],
    version: int | None,
    answers: ModelAnswers | None,
    i: int,
) -> _Stored:
    """The arrival's item as a skip leaves it (``_queue`` makes it a query)."""
    column = ANSWER_COLUMN.get(Project.Task(project.task))
    answer = {} if column is None or answers is None else {column: answers.answer(i)}
    row = {
        "project_id": project.pk,
        "from_stream": True,
        "state": Item.State.PREDICTED,
        "score": None if answers is None else answers.score(i),
        "prediction": None if answers is None else answers.label(i),
        "scored_version": version,
        **answer,
        **fields,
    }
    return _Stored(row)


def _queue(item: _Stored) -> _Stored:
    """A queried item waits in the pool, ranked above any strategy score."""
    item.row["state"] = Item.State.POOL
    item.row["score"] = QUEUE_SCORE + (item.row["score"] or 0.0)
    return item


def _relax_commit() -> None:
    """Don't wait for the WAL flush at commit (WINNOW_STREAM_ASYNC_COMMIT): items and
    stream state commit together, and the flush wait is most of a decision's time."""
    if settings.WINNOW_STREAM_ASYNC_COMMIT:
        commit_without_flush()


def stream_enqueue(project: Project, items: list[_Stored], version: int | None) -> None:
    """Put queried items (stored, in arrival order) in the open batch while it has room,
    or open a batch for them.

    Called in the transaction that stored the items, the project row locked by it."""
    batch = Batch.objects.filter(project=project, state=Batch.State.OPEN).first()
    if batch is None:
        batch_services.batch_open(project=project, quick=True)
        return
    room = project.batch_size - batch.size
    if room <= 0:
        return  # they head the ranking of the next batch (QUEUE_SCORE)
    taken = items[:room]
    last = SelectionLog.objects.filter(batch=batch).aggregate(r=Max("rank"))["r"]
    model_version = (
        None
        if version is None
        else ModelVersion.objects.filter(project=project, version=version).first()
    )
    picks = Picks(
        item_ids=[item.id for item in taken],
        kind="stream",  # the selection log's reason
        strategy="stream",
        model_version=model_version,
        scores={item.id: float(item.row["score"] or 0.0) for item in taken},
    )
    batch_services.batch_add_items(
        project=project, batch=batch, picks=picks, start_rank=0 if last is None else last + 1
    )
