"""Final labels from annotations: consensus per item, or the review queue."""

from __future__ import annotations

from collections import Counter

from projects.models import Item, Project

from annotator.models import Annotation


def item_finalise(*, project: Project, item: Item) -> None:
    """Set the item's final label from its annotations, or send it to review on a tie."""
    if item.label_source == Item.LabelSource.REVIEW:
        return
    annotations = list(Annotation.objects.filter(item=item).values_list("label", "confidence"))
    label = _consensus(project.consensus_method, annotations)
    if label is None:
        Item.objects.filter(pk=item.pk).update(
            state=Item.State.REVIEW, label=None, label_source=""
        )
    else:
        Item.objects.filter(pk=item.pk).update(
            state=Item.State.LABELED, label=label, label_source=Item.LabelSource.CONSENSUS
        )


def _consensus(method: str, annotations: list[tuple[str, int]]) -> str | None:
    """Majority (or confidence-weighted) vote on one item; a tie has no consensus."""
    weights: Counter[str] = Counter()
    for label, confidence in annotations:
        weights[label] += confidence if method == "weighted" else 1
    ranked = weights.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]
