"""Final labels from annotations: consensus per item, or the review queue.

Two moments decide. At an item's last required annotation, `item_finalise` votes
on that item alone (majority or confidence-weighted; Dawid-Skene cannot judge one
item, so it gives a provisional majority label there). Before each retrain the
worker runs `consensus_recompute`, which applies the project's method to every
multiply-annotated item at once, so Dawid-Skene sees all annotations and a
change of method reaches old items. Reviewed and seed labels are never touched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.db import transaction
from django.db.models import QuerySet

from annotator.quality.arrays import AnnotationArrays, annotation_arrays, annotation_arrays_of
from annotator.quality.consensus import (
    CONSENSUS_METHODS,
    NO_CONSENSUS,
    ConsensusResult,
    per_label_consensus,
)
from annotator.quality.span_consensus import span_vote
from projects.models import Annotation, Item, Project
from projects.settings_types import Consensus
from projects.span_answers import is_spans

FINAL_SOURCES = (
    Item.LabelSource.REVIEW,
    Item.LabelSource.SEED,
    Item.LabelSource.GOLD,
    Item.LabelSource.LEAD,
)
SETTLED_STATES = (Item.State.LABELED, Item.State.REVIEW)
PER_ITEM_FALLBACK = Consensus.MAJORITY


@dataclass(frozen=True)
class Decision:
    state: str
    label: str | None
    support: float | None
    method: str
    labels: list[str] | None = None  # a multi-label project's set
    spans: list[dict[str, object]] | None = None  # a span project's spans

    @property
    def label_source(self) -> str:
        decided = self.label or self.labels is not None or self.spans is not None
        return Item.LabelSource.CONSENSUS if decided else ""


def consensus_compute(
    arr: AnnotationArrays, *, method: str, n_labels: int, threshold: float
) -> ConsensusResult:
    """Run one of :data:`annotator.quality.consensus.CONSENSUS_METHODS` over coded annotations."""
    function, _ = CONSENSUS_METHODS[method]
    cutoff = {"min_posterior" if method == Consensus.DAWID_SKENE else "min_support": threshold}
    if arr.sets is not None:
        return per_label_consensus(
            function,
            arr.items,
            arr.annotators,
            arr.sets,
            len(arr.item_ids),
            arr.confidence,
            **cutoff,
        )
    return function(
        arr.items,
        arr.annotators,
        arr.labels,
        n_labels,
        len(arr.item_ids),
        arr.confidence,
        **cutoff,
    )


def _decision(project: Project, result: ConsensusResult, code: int, method: str) -> Decision:
    if result.label.ndim == 2:
        return _set_decision(project, result, code, method)
    label = int(result.label[code])
    support = float(result.support[code])
    if label == NO_CONSENSUS:
        return Decision(Item.State.REVIEW, None, support, method)
    return Decision(Item.State.LABELED, project.labels[label], support, method)


def _set_decision(project: Project, result: ConsensusResult, code: int, method: str) -> Decision:
    """A multi-label item: its set once every label is decided, else review. The
    support is the weakest label's."""
    row, support = result.label[code], result.support[code]
    weakest = float(support.min()) if len(support) else 1.0
    if (row == NO_CONSENSUS).any():
        return Decision(Item.State.REVIEW, None, weakest, method)
    chosen = [name for name, present in zip(project.labels, row, strict=True) if present == 1]
    return Decision(Item.State.LABELED, None, weakest, method, labels=chosen)


def item_finalise(*, project: Project, item: Item) -> None:
    """Set the item's final label from its annotations, or send it to review without one."""
    if item.label_source in FINAL_SOURCES or item.state == Item.State.GOLD or item.required == 0:
        return
    if is_spans(project):
        annotations = Annotation.objects.filter(item=item, spans__isnull=False)
        answers = [(s or [], c) for s, c in annotations.values_list("spans", "confidence")]
        if answers:
            _apply(item.pk, _span_decision(project, item.text, answers))
        return
    arr = annotation_arrays(project, Annotation.objects.filter(item=item))
    if not len(arr.items):
        return
    _apply(item.pk, _item_decision(project, arr))


def only_label_decision(*, project: Project, annotation: Annotation) -> Decision:
    """What `item_finalise` decides for an item whose one and only annotation this is.

    So an item that needs one label can be settled in the statement that records it.
    """
    return _item_decision(project, annotation_arrays_of(project, [annotation]))


def _item_decision(project: Project, arr: AnnotationArrays) -> Decision:
    """One item's annotations voted on; Dawid-Skene cannot judge one item alone."""
    method = project.consensus_method
    if method not in CONSENSUS_METHODS or method == Consensus.DAWID_SKENE:
        method = PER_ITEM_FALLBACK
    result = consensus_compute(
        arr, method=method, n_labels=len(project.labels), threshold=project.consensus_threshold
    )
    return _decision(project, result, 0, method)


def _span_decision(
    project: Project, text: str, answers: list[tuple[list[dict[str, object]], int]]
) -> Decision:
    """A span item's decision: the token vote (`span_consensus`), or review."""
    vote = span_vote(
        text, answers, method=project.consensus_method, threshold=project.consensus_threshold
    )
    state = Item.State.REVIEW if vote.spans is None else Item.State.LABELED
    return Decision(state, None, vote.support, vote.method, spans=vote.spans)


def _apply(item_id: int, decision: Decision) -> None:
    Item.objects.filter(pk=item_id).update(
        state=decision.state,
        label=decision.label,
        labels=decision.labels,
        spans=decision.spans,
        label_source=decision.label_source,
        consensus_support=decision.support,
        consensus_method=decision.method,
    )


def consensus_recompute(*, project: Project) -> int:
    """Re-decide every finished, multiply-annotated item with the project's method.

    All annotations inform the estimate (Dawid-Skene learns each annotator's
    confusion from single-labelled and gold items too); only items with >= 2
    annotations whose label came from consensus (or who wait for review) change.
    Returns how many items changed label or state.
    """
    method = project.consensus_method
    if method not in CONSENSUS_METHODS or not project.labels:
        return 0
    if is_spans(project):
        return _span_recompute(project)
    arr = annotation_arrays(project)
    if not len(arr.items):
        return 0
    result = consensus_compute(
        arr, method=method, n_labels=len(project.labels), threshold=project.consensus_threshold
    )
    per_item = np.bincount(arr.items, minlength=len(arr.item_ids))
    multi = set(arr.item_ids[per_item >= 2].tolist())
    code_of = {int(pk): code for code, pk in enumerate(arr.item_ids.tolist())}
    current = _recomputable(project).filter(pk__in=list(multi))
    changed: list[Item] = []
    moved = 0
    for item_id, state, label, labels in current.values_list("id", "state", "label", "labels"):
        decision = _decision(project, result, code_of[item_id], method)
        moved += (decision.state, decision.label, decision.labels) != (state, label, labels)
        changed.append(
            Item(
                pk=item_id,
                state=decision.state,
                label=decision.label,
                labels=decision.labels,
                label_source=decision.label_source,
                consensus_support=decision.support,
                consensus_method=method,
            )
        )
    _write(project, changed)
    return moved


def _span_recompute(project: Project) -> int:
    """Every settled span item with >= 2 annotations voted on again (a change of method or
    threshold reaches old items); returns how many changed."""
    answers: dict[int, list[tuple[list[dict[str, object]], int]]] = {}
    rows = Annotation.objects.filter(project=project, spans__isnull=False).order_by("pk")
    for item_id, spans, confidence in rows.values_list("item_id", "spans", "confidence"):
        answers.setdefault(item_id, []).append((spans or [], confidence))
    multi = [pk for pk, given in answers.items() if len(given) >= 2]
    changed: list[Item] = []
    moved = 0
    current = _recomputable(project).filter(pk__in=multi)
    for item_id, text, state, spans in current.values_list("id", "text", "state", "spans"):
        decision = _span_decision(project, text, answers[item_id])
        moved += (decision.state, decision.spans) != (state, spans)
        changed.append(
            Item(
                pk=item_id,
                state=decision.state,
                label=None,
                labels=None,
                spans=decision.spans,
                label_source=decision.label_source,
                consensus_support=decision.support,
                consensus_method=decision.method,
            )
        )
    _write(project, changed)
    return moved


def _recomputable(project: Project) -> QuerySet[Item]:
    """Items consensus may (still) decide: settled, not reviewed, not seed, not gold-only."""
    return Item.objects.filter(project=project, state__in=SETTLED_STATES).exclude(
        label_source__in=FINAL_SOURCES
    )


def _write(project: Project, items: list[Item]) -> None:
    """Write in one transaction; the same guard as the read skips items that a reviewer
    decided or that were sent back meanwhile."""
    if not items:
        return
    with transaction.atomic():
        _recomputable(project).bulk_update(
            items,
            [
                "state",
                "label",
                "labels",
                "spans",
                "label_source",
                "consensus_support",
                "consensus_method",
            ],  # fmt: skip
            batch_size=500,
        )
