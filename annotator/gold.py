"""Gold items: the lead supplies the true label; annotators meet them unannounced.

A gold item that was still in the pool leaves it (state `gold`): it is a quality
check, not training data. Labelled items can be gold too: the lead's label then
becomes their final label (source `gold`), which consensus never re-decides.
At each hand-out, with probability `project.gold_fraction` (seeded per annotator
and hand-out, so a run can be replayed), the annotator gets a gold item they have
not seen instead of a batch item. Their answer is an ordinary annotation, scored
against the gold label in the annotator stats; it does not finalise the item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotator.models import Annotation, Assignment
from projects.models import Item, Project

MAX_SECONDS = 3600.0
GOLD_CANDIDATES = 500
# Items in these states can be marked gold (items in a batch or the review queue cannot).
MARKABLE = (Item.State.POOL, Item.State.LABELED, Item.State.GOLD)


@dataclass
class GoldResult:
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@transaction.atomic
def gold_set(*, project: Project, entries: list[dict[str, Any]]) -> GoldResult:
    """Mark items gold with their true label (``label: null`` unmarks); bad entries are
    reported per item and the good ones kept."""
    result = GoldResult()
    wanted = {e.get("item"): e.get("label") for e in entries}
    ids = [i for i in wanted if isinstance(i, int) and not isinstance(i, bool)]
    items = Item.objects.select_for_update().filter(project=project).in_bulk(ids)
    for item_id, label in wanted.items():
        error = _gold_error(project, items.get(item_id), label)  # type: ignore[arg-type]
        if error:
            result.errors.append({"item": item_id, "error": error})
            continue
        _gold_write(items[item_id], label)  # type: ignore[index]
        result.updated += 1
    return result


def _gold_error(project: Project, item: Item | None, label: object) -> str:
    if item is None:
        return "no such item in this project"
    if label is not None and label not in project.labels:
        return f"unknown label {label!r}; the project's labels are {project.labels}"
    if item.state not in MARKABLE:
        return f"the item is {item.state}; mark it gold once it has left the batch or review"
    return ""


def _gold_write(item: Item, label: object) -> None:
    """A labelled item takes the lead's true label as its final (training) label."""
    updates: dict[str, object] = {"gold_label": label, "state": item.state}
    if label is not None and item.state == Item.State.POOL:
        updates["state"] = Item.State.GOLD
    elif label is None and item.state == Item.State.GOLD:
        updates["state"] = Item.State.POOL
    elif label is not None and item.state == Item.State.LABELED:
        updates.update(label=label, label_source=Item.LabelSource.GOLD)
    Item.objects.filter(pk=item.pk).update(**updates)


def gold_claim(*, project: Project, user: User, expires_at: datetime) -> Assignment | None:
    """Maybe lease a gold item the annotator has not seen (call inside the claim's transaction)."""
    if project.gold_fraction <= 0:
        return None
    handed_out = Assignment.objects.filter(project=project, annotator_id=user.pk).count()
    rng = np.random.default_rng([project.random_state, int(user.pk), handed_out])
    if rng.random() >= project.gold_fraction:
        return None
    candidates = list(
        Item.objects.filter(
            project=project,
            gold_label__isnull=False,
            state__in=[Item.State.GOLD, Item.State.LABELED],
        )
        .exclude(assignments__annotator_id=user.pk)
        .order_by("id")
        .values_list("id", flat=True)[:GOLD_CANDIDATES]
    )
    if not candidates:
        return None
    item = Item.objects.get(pk=candidates[int(rng.integers(len(candidates)))])
    return Assignment.objects.create(
        project=project, item=item, annotator_id=user.pk, expires_at=expires_at
    )


def gold_answer_submit(
    *, project: Project, user: User, item: Item, label: str, confidence: int
) -> Annotation:
    """Record an answer to a gold item handed out by :func:`gold_claim`."""
    from annotator.services import Conflict

    assignment = Assignment.objects.filter(
        item=item,
        annotator_id=user.pk,
        state__in=[Assignment.State.ACTIVE, Assignment.State.EXPIRED],
    ).first()
    if assignment is None:
        raise Conflict("This item is not assigned to you: ask for it with next/ first.")
    assignment.state = Assignment.State.DONE
    assignment.save(update_fields=["state"])
    seconds = (timezone.now() - assignment.created_at).total_seconds()
    annotation = Annotation.objects.create(
        project=project,
        item=item,
        annotator_id=user.pk,
        label=label,
        confidence=confidence,
        seconds=min(seconds, MAX_SECONDS),
    )
    Item.objects.filter(pk=item.pk).update(annotation_count=F("annotation_count") + 1)
    return annotation
