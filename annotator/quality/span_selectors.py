"""Agreement of a span project's annotators, from one query of its annotations.

Pairwise span F1 (exact; partial and overlap via nervaluate) per annotator pair, and
Krippendorff's alpha over tokens: each token of an item with two or more annotations is
a unit whose value is the entity label it falls in (`O` outside); each annotator against
the gold spans by the same span F1. The maths is
`strategies.spans.agreement` and the nominal alpha `annotator.quality.agreement`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from annotator.quality.agreement import krippendorff_alpha
from projects.models import Annotation, Item, Project
from strategies.spans.agreement import pairwise_span_agreement, span_f1, token_units
from strategies.spans.tokens import Span


def span_annotations(project: Project) -> dict[int, dict[str, list[Span]]]:
    """item id -> annotator's username -> their spans, for every span annotation."""
    by_item: dict[int, dict[str, list[Span]]] = {}
    rows = Annotation.objects.filter(project=project, spans__isnull=False).order_by("pk")
    for item_id, username, spans in rows.values_list("item_id", "annotator__username", "spans"):
        by_item.setdefault(item_id, {})[username] = _spans(spans)
    return by_item


def span_agreement(project: Project, *, min_shared: int) -> dict[str, Any]:
    """The agreement contract for a span project: `items` with >= 2 annotations,
    `krippendorff_alpha` over their tokens, `pairs` with span F1 (`exact_f1`,
    `partial_f1`, `overlap_f1`); `fleiss_kappa` and each pair's `cohen_kappa` are null
    (a span answer is not one category). Figures are null below `min_shared` items."""
    by_item = span_annotations(project)
    shared = {item: by for item, by in by_item.items() if len(by) >= 2}
    texts = dict(Item.objects.filter(pk__in=list(shared)).values_list("id", "text"))
    units, coders, values, names = token_units(texts, shared)
    alpha = krippendorff_alpha(units, coders, values, len(names)) if len(units) else None
    pairs = [_pair(p, min_shared) for p in pairwise_span_agreement(by_item)]
    return {
        "items": len(shared),
        "fleiss_kappa": None,
        "krippendorff_alpha": alpha if len(shared) >= min_shared else None,
        "pairs": pairs,
        "annotations": sum(len(by) for by in by_item.values()),
        "annotators": len({who for by in by_item.values() for who in by}),
        "min_shared": min_shared,
        "confusion": {"labels": [], "matrix": [], "pairs": 0},
        "gold": sorted(span_gold_scores(project).values(), key=lambda s: str(s["annotator"])),
        "unit": "token",
    }


def _pair(pair: dict[str, Any], min_shared: int) -> dict[str, Any]:
    enough = pair["n"] >= min_shared
    return {
        "a": pair["a"],
        "b": pair["b"],
        "n": pair["n"],
        "cohen_kappa": None,
        "exact_f1": pair["exact"] if enough else None,
        "partial_f1": pair["partial"] if enough else None,
        "overlap_f1": pair["overlap"] if enough else None,
    }


# Final spans an annotator is compared with: decided by others than the seed import.
JUDGED = (Item.LabelSource.CONSENSUS, Item.LabelSource.REVIEW, Item.LabelSource.LEAD)


def span_consensus_accuracy(
    project: Project, annotator_ids: np.ndarray
) -> dict[int, tuple[int, float]]:
    """Per annotator code (position in `annotator_ids`): on items with >= 2 annotations
    and final spans, how many they annotated and the share where their spans equal the
    final ones exactly (the single-label stat's "agreement with consensus")."""
    final = dict(
        Item.objects.filter(
            project=project, spans__isnull=False, label_source__in=JUDGED
        ).values_list("id", "spans")
    )
    rows = Annotation.objects.filter(item_id__in=list(final), spans__isnull=False)
    answers = list(rows.values_list("item_id", "annotator_id", "spans"))
    per_item: dict[int, int] = {}
    for item_id, _, _ in answers:
        per_item[item_id] = per_item.get(item_id, 0) + 1
    code = {int(pk): c for c, pk in enumerate(annotator_ids.tolist())}
    tally: dict[int, list[int]] = {}
    for item_id, annotator_id, spans in answers:
        if per_item[item_id] >= 2 and annotator_id in code:
            entry = tally.setdefault(code[annotator_id], [0, 0])
            entry[0] += 1
            entry[1] += int(spans == final[item_id])
    return {c: (n, hits / n) for c, (n, hits) in tally.items()}


def span_gold_scores(project: Project) -> dict[int, dict[str, Any]]:
    """Per annotator id: their answers on gold items against the lead's gold spans.

    `annotator` their username, `n` gold items answered, `accuracy` the share answered
    with exactly the gold spans (the single-label stat's accuracy), and span F1 over
    all those items (`span_f1`: `exact_f1`, and `partial_f1` where overlapping spans
    count half, labels ignored; null when neither side has a span).
    """
    gold = dict(
        Item.objects.filter(project=project, gold_spans__isnull=False).values_list(
            "id", "gold_spans"
        )
    )
    rows = Annotation.objects.filter(project=project, item_id__in=list(gold), spans__isnull=False)
    answered: dict[int, tuple[str, list[list[Span]], list[list[Span]]]] = {}
    for item_id, who, name, spans in rows.order_by("pk").values_list(
        "item_id", "annotator_id", "annotator__username", "spans"
    ):
        _, truth, given = answered.setdefault(who, (name, [], []))
        truth.append(_spans(gold[item_id]))
        given.append(_spans(spans))
    return {who: _gold_score(name, truth, given) for who, (name, truth, given) in answered.items()}


def _spans(stored: list[dict[str, Any]] | None) -> list[Span]:
    return [Span(s["start"], s["end"], s["label"]) for s in stored or ()]


def _gold_score(name: str, truth: list[list[Span]], given: list[list[Span]]) -> dict[str, Any]:
    f1 = span_f1(truth, given)
    exact = sum(t == g for t, g in zip(truth, given, strict=True)) / len(truth)
    return {
        "annotator": name,
        "n": len(truth),
        "accuracy": exact,
        "exact_f1": f1["exact"],
        "partial_f1": f1["partial"],
    }
