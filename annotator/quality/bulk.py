"""A lead's actions on a selection of items (the items page's checkboxes, or the API).

Each action is the service that owns the rule: review (`review.items_review_send`),
gold (`gold.gold_set`, with each item's own label unless one is given), exclusion
(`projects.item_services`). The selection is checked whole first: an id that is not an
item of this project refuses the request, and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import Http404

from annotator.quality.gold import gold_set
from annotator.quality.review import items_review_send
from projects.item_services import items_exclude, items_include
from projects.label_sets import is_multilabel
from projects.models import Item, Project
from projects.span_answers import is_spans
from projects.state import project_writable

BULK_MAX = 1000


class BulkAction(models.TextChoices):
    REVIEW = "review", "Send to review"
    GOLD = "gold", "Mark gold"
    EXCLUDE = "exclude", "Exclude from the pool"
    INCLUDE = "include", "Return to the pool"


@dataclass
class BulkResult:
    action: str
    changed: int = 0
    refused: list[dict[str, object]] = field(default_factory=list)


@transaction.atomic
def items_bulk(
    *, project: Project, user: User, action: str, item_ids: list[int], label: str | None = None
) -> BulkResult:
    """Apply `action` to the items; those it does not fit are refused, per item."""
    if action not in BulkAction.values:
        raise ValidationError({"action": f"action must be one of {BulkAction.values}"})
    if not item_ids or len(item_ids) > BULK_MAX:
        raise ValidationError({"items": f"Select between 1 and {BULK_MAX} items."})
    project_writable(project)
    items = _selection(project, item_ids)
    refused = _apply(project, action, items, label)
    return BulkResult(action=action, changed=len(items) - len(refused), refused=refused)


def _selection(project: Project, item_ids: list[int]) -> list[Item]:
    wanted = set(item_ids)
    items = list(
        Item.objects.select_for_update().filter(project=project, pk__in=wanted).order_by("pk")
    )
    if len(items) != len(wanted):
        raise Http404("Some of these ids are not items of this project; nothing was changed.")
    return items


def _apply(
    project: Project, action: str, items: list[Item], label: str | None
) -> list[dict[str, object]]:
    if action == BulkAction.REVIEW:
        return items_review_send(project=project, items=items)
    if action == BulkAction.EXCLUDE:
        return items_exclude(items=items)
    if action == BulkAction.INCLUDE:
        return items_include(items=items)
    return _gold(project, items, label)


def _gold(project: Project, items: list[Item], label: str | None) -> list[dict[str, object]]:
    """Gold with the given label, or each item's own final label (or set, or spans)."""
    if is_multilabel(project) or is_spans(project):
        return _gold_own_answers(project, items, given=label)
    if label is not None and label not in project.labels:
        raise ValidationError({"label": f"unknown label {label!r}; labels are {project.labels}"})
    unlabelled = [i for i in items if (label or i.label) is None]
    entries = [{"item": i.pk, "label": label or i.label} for i in items if (label or i.label)]
    result = gold_set(project=project, entries=entries)
    missing = [{"item": i.pk, "error": "no label: choose the gold label"} for i in unlabelled]
    return [*missing, *result.errors]


def _gold_own_answers(
    project: Project, items: list[Item], *, given: str | None
) -> list[dict[str, object]]:
    """A set's or spans' gold is the item's own final answer: one label cannot be it."""
    key, what = ("spans", "spans") if is_spans(project) else ("labels", "set")
    if given is not None:
        raise ValidationError({"label": f"this project's gold is each item's own final {what}"})
    answers = {i.pk: getattr(i, key) for i in items}
    entries = [{"item": pk, key: a} for pk, a in answers.items() if a is not None]
    result = gold_set(project=project, entries=entries)
    missing = [
        {"item": pk, "error": f"no final {what}: label it first"}
        for pk, a in answers.items()
        if a is None
    ]
    return [*missing, *result.errors]
