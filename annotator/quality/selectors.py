"""Reads for annotation quality: agreement, annotator stats and the review queue.

Each figure is computed from one query that loads the project's annotations as
aligned arrays (item, annotator, label codes), then :mod:`annotator.quality.agreement`
does the maths; no per-annotation queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.urls import reverse

from annotator.quality.agreement import (
    IntArray,
    accuracy_against,
    agreement_summary,
    annotator_confusion,
    set_accuracy_against,
    set_agreement_summary,
)
from annotator.quality.arrays import AnnotationArrays, annotation_arrays, set_indicators
from annotator.quality.span_selectors import (
    span_agreement,
    span_consensus_accuracy,
    span_gold_scores,
)
from projects.models import IS_GOLD, Annotation, Item, Membership, Project
from projects.selectors import gold_answer, gold_summary

# Fewest shared items for a pair's kappa, and multiply-labelled items for the project figures.
MIN_SHARED = 2
REVIEW_LIMIT = 200


def _reference(
    arr: AnnotationArrays, pairs: Iterable[tuple[int, str | None]], labels: list[str]
) -> tuple[IntArray, IntArray]:
    """Item codes and label codes of reference labels given as ``(item_id, label)``."""
    index = {name: i for i, name in enumerate(labels)}
    known = [(item, index[label]) for item, label in pairs if label in index]
    ids = np.array([k[0] for k in known], dtype=np.int64)
    codes = np.array([k[1] for k in known], dtype=np.int64)
    item_codes, kept = arr.item_codes(ids)
    return item_codes, codes[kept]


def _accuracy_rows(
    arr: AnnotationArrays, reference: tuple[IntArray, IntArray]
) -> dict[int, tuple[int, float]]:
    ref_items, ref_labels = reference
    if not len(arr.items):
        return {}
    return accuracy_against(arr.items, arr.annotators, arr.labels, ref_items, ref_labels)


def gold_reference(project: Project, arr: AnnotationArrays) -> tuple[IntArray, IntArray]:
    gold = Item.objects.filter(project=project, gold_label__isnull=False)
    return _reference(arr, gold.values_list("id", "gold_label"), project.labels)


def set_gold_rows(project: Project, arr: AnnotationArrays) -> dict[int, tuple[int, float, float]]:
    """A multi-label project's annotators against the gold sets: ``(n, label accuracy,
    MASI agreement)`` per annotator code (`agreement.set_accuracy_against`)."""
    assert arr.sets is not None
    gold = list(
        Item.objects.filter(project=project, gold_labels__isnull=False).values_list(
            "id", "gold_labels"
        )
    )
    codes, kept = arr.item_codes(np.array([g[0] for g in gold], dtype=np.int64))
    truth = set_indicators([gold[i][1] for i in kept], project.labels)
    return set_accuracy_against(arr.items, arr.annotators, arr.sets, codes, truth)


def _consensus_reference(project: Project, arr: AnnotationArrays) -> tuple[IntArray, IntArray]:
    """Final (consensus or reviewed) labels of items with >= 2 annotations.

    Single-annotation items are left out: there the annotator is the consensus.
    """
    final = Item.objects.filter(
        project=project,
        label__isnull=False,
        label_source__in=[
            Item.LabelSource.CONSENSUS,
            Item.LabelSource.REVIEW,
            Item.LabelSource.LEAD,
        ],
    )
    items, labels = _reference(arr, final.values_list("id", "label"), project.labels)
    per_item = np.bincount(arr.items, minlength=len(arr.item_ids))
    multi = per_item[items] >= 2
    return items[multi], labels[multi]


def agreement(project: Project) -> dict[str, Any]:
    """The agreement contract (``items``, ``fleiss_kappa``, ``krippendorff_alpha``, ``pairs``
    with usernames) plus the label confusion between annotators and gold accuracy; span
    projects' figures are `span_selectors.span_agreement`'s."""
    if project.task == Project.Task.SPANS:
        return span_agreement(project, min_shared=MIN_SHARED)
    arr = annotation_arrays(project)
    if arr.sets is not None:
        return _set_agreement(project, arr)
    n_labels = max(len(project.labels), 1)
    summary = agreement_summary(
        arr.items, arr.annotators, arr.labels, n_labels, min_shared=MIN_SHARED
    )
    confusion = annotator_confusion(arr.items, arr.annotators, arr.labels, n_labels)
    gold = _accuracy_rows(arr, gold_reference(project, arr))
    return {
        "items": summary["items"],
        "fleiss_kappa": summary["fleiss_kappa"],
        "krippendorff_alpha": summary["krippendorff_alpha"],
        "pairs": [
            {**pair, "a": arr.usernames[pair["a"]], "b": arr.usernames[pair["b"]]}
            for pair in summary["pairs"]
        ],
        "annotations": len(arr.items),
        "annotators": len(arr.usernames),
        "min_shared": MIN_SHARED,
        "confusion": {
            "labels": list(project.labels),
            "matrix": confusion.tolist(),
            "pairs": int(np.triu(confusion).sum()),
        },
        "gold": [
            {"annotator": arr.usernames[a], "n": n, "accuracy": acc}
            for a, (n, acc) in sorted(gold.items())
        ],
    }


def _named(arr: AnnotationArrays, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**p, "a": arr.usernames[p["a"]], "b": arr.usernames[p["b"]]} for p in pairs]


def _set_agreement(project: Project, arr: AnnotationArrays) -> dict[str, Any]:
    """A multi-label project's agreement: per label and over whole sets (MASI), and each
    annotator against the gold sets. There is no label confusion between annotators of
    sets."""
    assert arr.sets is not None
    gold = set_gold_rows(project, arr)
    summary = set_agreement_summary(
        arr.items, arr.annotators, arr.sets, list(project.labels), min_shared=MIN_SHARED
    )
    return {
        "items": summary["items"],
        "fleiss_kappa": summary["fleiss_kappa"],
        "krippendorff_alpha": summary["krippendorff_alpha"],
        "pairs": _named(arr, summary["pairs"]),
        "annotations": len(arr.items),
        "annotators": len(arr.usernames),
        "min_shared": MIN_SHARED,
        "confusion": {"labels": [], "matrix": [], "pairs": 0},
        "gold": [
            {"annotator": arr.usernames[a], "n": n, "accuracy": acc, "masi": masi}
            for a, (n, acc, masi) in sorted(gold.items())
        ],
        "per_label": [
            {**entry, "pairs": _named(arr, entry["pairs"])} for entry in summary["per_label"]
        ],
        "distance": "masi",
    }


def annotator_stats(
    project: Project, user: User | AnonymousUser | None = None
) -> list[dict[str, Any]]:
    """One row per annotator: items, median seconds, agreement with consensus and gold.

    Rows cover the project's members and anyone who annotated; ``user`` limits the
    answer to that user's own row (what an annotator may see).
    """
    arr = annotation_arrays(project)
    codes = {int(pk): code for code, pk in enumerate(arr.annotator_ids.tolist())}
    consensus, gold, extra = _references(project, arr, codes)
    people = _people(project, arr)
    if user is not None:
        people = [p for p in people if p[0] == user.pk]
    return [
        {**_stats_row(arr, codes.get(pk), name, role, consensus, gold), **extra[pk]}
        for pk, name, role in people
    ]


Scores = dict[int, tuple[int, float]]


def _references(
    project: Project, arr: AnnotationArrays, codes: dict[int, int]
) -> tuple[Scores, Scores, defaultdict[int, dict[str, Any]]]:
    """Per annotator code, agreement with consensus and with gold; per annotator id, the
    figures the task adds (span projects: span F1 against the gold spans)."""
    if project.task == Project.Task.SPANS:
        scores = span_gold_scores(project)
        gold = {codes[pk]: (s["n"], s["accuracy"]) for pk, s in scores.items() if pk in codes}
        extra: defaultdict[int, dict[str, Any]] = defaultdict(
            lambda: {"gold_exact_f1": None, "gold_partial_f1": None}
        )
        for pk, s in scores.items():
            extra[pk] = {"gold_exact_f1": s["exact_f1"], "gold_partial_f1": s["partial_f1"]}
        return span_consensus_accuracy(project, arr.annotator_ids), gold, extra
    consensus = _accuracy_rows(arr, _consensus_reference(project, arr))
    if arr.sets is not None:  # sets: label accuracy against the gold sets
        gold = {a: (n, acc) for a, (n, acc, _) in set_gold_rows(project, arr).items()}
        return consensus, gold, defaultdict(dict)
    return consensus, _accuracy_rows(arr, gold_reference(project, arr)), defaultdict(dict)


def _people(project: Project, arr: AnnotationArrays) -> list[tuple[int, str, str | None]]:
    members = list(
        Membership.objects.filter(project=project)
        .values_list("user_id", "user__username", "role")
        .order_by("user__username")
    )
    known = {m[0] for m in members}
    former = [
        (int(pk), name, None)
        for pk, name in zip(arr.annotator_ids.tolist(), arr.usernames, strict=True)
        if pk not in known
    ]
    people: list[tuple[int, str, str | None]] = [(pk, name, role) for pk, name, role in members]
    return people + former


def _stats_row(
    arr: AnnotationArrays,
    code: int | None,
    username: str,
    role: str | None,
    consensus: dict[int, tuple[int, float]],
    gold: dict[int, tuple[int, float]],
) -> dict[str, Any]:
    mine = arr.annotators == code if code is not None else np.zeros(len(arr.items), dtype=bool)
    seconds = arr.seconds[mine]
    seconds = seconds[~np.isnan(seconds)]
    c_n, c_acc = consensus.get(code, (0, None)) if code is not None else (0, None)
    g_n, g_acc = gold.get(code, (0, None)) if code is not None else (0, None)
    return {
        "annotator": username,
        "role": role,
        "items": int(mine.sum()),
        "median_seconds": float(np.median(seconds)) if len(seconds) else None,
        "consensus_items": c_n,
        "consensus_agreement": c_acc,
        "gold_items": g_n,
        "gold_accuracy": g_acc,
    }


def review_queue(project: Project, *, limit: int = REVIEW_LIMIT) -> list[dict[str, Any]]:
    """Items waiting for review, oldest first, each with every annotator's label and confidence."""
    items = list(
        Item.objects.filter(project=project, state=Item.State.REVIEW)
        .order_by("id")
        .values(
            "id",
            "text",
            "image",
            "meta",
            "consensus_support",
            "gold_label",
            "gold_labels",
            "gold_spans",
        )[:limit]  # fmt: skip
    )
    by_item: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in items}
    annotations = (
        Annotation.objects.filter(item_id__in=list(by_item))
        .order_by("created_at", "pk")
        .values_list(
            "item_id", "annotator__username", "label", "confidence", "seconds", "created_at",
            "labels", "spans",
        )
    )  # fmt: skip
    for item_id, username, label, confidence, seconds, created, chosen, spans in annotations:
        by_item[item_id].append(
            {
                "annotator": username,
                "label": label,
                "labels": chosen,
                "spans": spans,
                "confidence": confidence,
                "seconds": seconds,
                "created_at": created,
            }
        )
    return [_review_entry(project, dict(row), by_item[row["id"]]) for row in items]


def _review_entry(
    project: Project, row: dict[str, Any], annotations: list[dict[str, Any]]
) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": row["id"], "item": row["id"], "meta": row["meta"]}
    if project.kind == Project.Kind.IMAGE:
        entry["image_url"] = reverse("api-item-image", args=[project.pk, row["id"]])
        entry["thumb_url"] = entry["image_url"] + "?thumb=1"
    else:
        entry["text"] = row["text"]
    votes: dict[str, int] = {}
    for a in annotations:
        for name in _voted_names(a):
            votes[name] = votes.get(name, 0) + 1
    entry.update(support=row["consensus_support"], votes=votes, annotations=annotations)
    # A reviewer may see that the item is gold, and its answer (annotators never do).
    gold = gold_answer(project, row)
    entry.update(gold=gold, gold_summary=gold_summary(gold, row["text"] or ""))
    return entry


def _voted_names(annotation: dict[str, Any]) -> list[str]:
    """The labels an annotation votes for: its label, its set, or its spans' labels."""
    if annotation["spans"] is not None:
        return sorted({s["label"] for s in annotation["spans"]})
    return annotation["labels"] if annotation["labels"] is not None else [annotation["label"]]


def review_count(project: Project) -> int:
    return Item.objects.filter(project=project, state=Item.State.REVIEW).count()


def gold_items(project: Project) -> QuerySet[Item]:
    return Item.objects.filter(project=project).filter(IS_GOLD).order_by("id")


def agreement_over_time(project: Project) -> list[dict[str, Any]]:
    """Fleiss' kappa and Krippendorff's alpha of each batch's items with >= 2 annotations,
    in batch order (batches with fewer than ``MIN_SHARED`` such items are left out); none
    for span projects, whose figures are over tokens (`span_selectors`)."""
    arr = annotation_arrays(project)
    if not len(arr.items) or project.task == Project.Task.SPANS:
        return []
    batch_of = dict(
        Item.objects.filter(pk__in=arr.item_ids.tolist(), batch__isnull=False).values_list(
            "id", "batch__number"
        )
    )
    numbers = np.array([batch_of.get(int(i), -1) for i in arr.item_ids], dtype=np.int64)
    row_batch = numbers[arr.items]
    n_labels = max(len(project.labels), 1)
    points = []
    for number in np.unique(numbers[numbers >= 0]).tolist():
        rows = row_batch == number
        summary = agreement_summary(
            arr.items[rows], arr.annotators[rows], arr.labels[rows], n_labels, min_shared=MIN_SHARED
        )
        if summary["items"] >= MIN_SHARED:
            points.append(
                {
                    "batch": number,
                    "items": summary["items"],
                    "fleiss_kappa": summary["fleiss_kappa"],
                    "krippendorff_alpha": summary["krippendorff_alpha"],
                }
            )
    return points
