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

from datetime import datetime
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.db.models import F
from django.utils import timezone

from annotator.assignment import rules
from annotator.models import Assignment
from projects.models import IS_GOLD, Annotation, Item, Project
from winnow.errors import Conflict

GOLD_CANDIDATES = 500


def is_gold(item: Item) -> bool:
    """Whether the item has a true label (or set, or spans) from the lead."""
    return any(truth is not None for truth in (item.gold_label, item.gold_labels, item.gold_spans))


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
            IS_GOLD,
            project=project,
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
    *,
    project: Project,
    user: User,
    item: Item,
    label: str,
    confidence: int,
    labels: list[str] | None = None,
    spans: list[dict[str, Any]] | None = None,
) -> Annotation:
    """Record an answer (a label, a set on multi-label projects, spans on span projects)
    to a gold item handed out by :func:`gold_claim`."""
    assignment = Assignment.objects.filter(
        item=item,
        annotator_id=user.pk,
        state__in=[Assignment.State.ACTIVE, Assignment.State.EXPIRED],
    ).first()
    if assignment is None:
        raise Conflict("This item is not assigned to you: ask for it with next/ first.")
    assignment.state = Assignment.State.DONE
    assignment.save(update_fields=["state"])
    annotation = Annotation.objects.create(
        project=project,
        item=item,
        annotator_id=user.pk,
        label=label,
        labels=labels,
        spans=spans,
        confidence=confidence,
        seconds=rules.seconds_spent(leased_at=assignment.created_at, now=timezone.now()),
    )
    Item.objects.filter(pk=item.pk).update(annotation_count=F("annotation_count") + 1)
    return annotation
