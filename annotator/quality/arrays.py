"""A project's annotations as aligned arrays (item, annotator, label codes), loaded
with one query: what every quality figure (agreement, consensus, annotator stats) is
computed from. Split from `annotator.quality.selectors`, which reads the figures."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from django.db.models import QuerySet

from annotator.quality.agreement import FloatArray, IntArray
from projects.models import Annotation, Project


@dataclass(frozen=True)
class AnnotationArrays:
    """A project's annotations, one row each, coded for :mod:`annotator.quality.agreement`.

    ``items``/``annotators`` are codes into ``item_ids``/``usernames``; ``labels``
    are indices into ``project.labels``. On multi-label projects ``labels`` is all
    zeros and ``sets`` holds each annotation's set as a 0/1 row over the labels.
    """

    item_ids: IntArray
    annotator_ids: IntArray
    usernames: list[str]
    items: IntArray
    annotators: IntArray
    labels: IntArray
    confidence: FloatArray
    seconds: FloatArray  # NaN where unknown
    sets: IntArray | None = None  # (annotations, labels) 0/1; multi-label projects only

    def item_codes(self, ids: IntArray) -> tuple[IntArray, IntArray]:
        """Codes of those ``ids`` that have annotations, and the positions they came from."""
        if not len(self.item_ids):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.item_ids, ids), len(self.item_ids) - 1)
        found = self.item_ids[pos] == ids
        return pos[found].astype(np.int64), np.flatnonzero(found)


def annotation_arrays(
    project: Project, annotations: QuerySet[Annotation] | None = None
) -> AnnotationArrays:
    """Load annotations (default: the project's) with one query."""
    source = Annotation.objects.filter(project=project) if annotations is None else annotations
    rows = list(
        source.order_by("pk").values_list(
            "item_id",
            "annotator_id",
            "annotator__username",
            "label",
            "confidence",
            "seconds",
            "labels",
        )
    )
    return _coded(project, [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows])


Row = tuple[int, int, str, str, int, float | None, list[str] | None]


def _coded(project: Project, rows: list[Row]) -> AnnotationArrays:
    """Rows of (item, annotator, username, label, confidence, seconds, labels) coded;
    those whose label (or set, on multi-label projects) the project does not know are
    left out. On span projects every annotation is kept with label code 0: the arrays
    then serve who annotated what and when (the spans are `span_selectors`')."""
    index = {name: i for i, name in enumerate(project.labels)}
    multilabel = project.task == Project.Task.MULTILABEL
    spans = project.task == Project.Task.SPANS
    if multilabel:
        rows = [r for r in rows if r[6] is not None and all(x in index for x in r[6])]
    elif spans:
        rows = [r for r in rows if r[3] == ""]
    else:
        rows = [r for r in rows if r[3] in index]
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        none = np.zeros(0, dtype=np.float64)
        sets = np.zeros((0, len(index)), dtype=np.int64) if multilabel else None
        return AnnotationArrays(empty, empty, [], empty, empty, empty, none, none, sets)
    item_id, annotator_id, username, label, confidence, seconds, chosen = zip(*rows, strict=True)
    item_ids, items = np.unique(np.array(item_id, dtype=np.int64), return_inverse=True)
    annotator_ids, first, annotators = np.unique(
        np.array(annotator_id, dtype=np.int64), return_index=True, return_inverse=True
    )
    return AnnotationArrays(
        item_ids=item_ids,
        annotator_ids=annotator_ids,
        usernames=[username[i] for i in first],
        items=items.astype(np.int64),
        annotators=annotators.astype(np.int64),
        labels=np.array([0 if multilabel or spans else index[x] for x in label], dtype=np.int64),
        confidence=np.asarray(confidence, dtype=np.float64),
        seconds=np.asarray([np.nan if s is None else s for s in seconds], dtype=np.float64),
        sets=set_indicators(chosen, project.labels) if multilabel else None,
    )


def set_indicators(sets: Iterable[list[str] | None], labels: list[str]) -> IntArray:
    """Sets of label names as 0/1 rows over `labels` (a row of zeros for None)."""
    index = {name: i for i, name in enumerate(labels)}
    rows = list(sets)
    out = np.zeros((len(rows), len(labels)), dtype=np.int64)
    for row, chosen in enumerate(rows):
        out[row, [index[x] for x in chosen or ()]] = 1
    return out


def annotation_arrays_of(project: Project, annotations: list[Annotation]) -> AnnotationArrays:
    """The same arrays from annotations already in memory (no query); their annotators
    must be loaded."""
    rows: list[Row] = [
        (a.item_id, a.annotator_id, a.annotator.username, a.label, a.confidence, a.seconds,
         a.labels)
        for a in annotations
    ]  # fmt: skip
    return _coded(project, rows)
