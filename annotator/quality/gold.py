"""Gold items: the lead marks items with their true label, set (multi-label projects)
or spans (span projects) (PRODUCT.md §7).

A gold item that was still in the pool leaves it (state `gold`): it is a quality
check, not training data. Labelled items can be gold too: the lead's label then
becomes their final label (source `gold`), which consensus never re-decides. How gold
items are mixed into hand-outs is `annotator.assignment.gold`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from projects.label_sets import is_multilabel, label_set_check
from projects.models import Item, Project
from projects.span_answers import is_spans, spans_clean

# Items in these states can be marked gold (items in a batch or the review queue cannot).
MARKABLE = (Item.State.POOL, Item.State.LABELED, Item.State.GOLD)


@dataclass
class GoldResult:
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@transaction.atomic
def gold_set(*, project: Project, entries: list[dict[str, Any]]) -> GoldResult:
    """Mark items gold with their true label, or their true set (``labels``) on
    multi-label projects, or true spans (``spans``) on span projects; ``null`` unmarks.
    Bad entries are reported per item and the good ones kept."""
    result = GoldResult()
    wanted = {e.get("item"): e for e in entries}
    ids = [i for i in wanted if isinstance(i, int) and not isinstance(i, bool)]
    items = Item.objects.select_for_update().filter(project=project).in_bulk(ids)
    for item_id, entry in wanted.items():
        try:
            truth = _gold_answer(project, items.get(item_id), entry)  # type: ignore[arg-type]
        except ValueError as exc:
            result.errors.append({"item": item_id, "error": str(exc)})
            continue
        _gold_write(project, items[item_id], truth)  # type: ignore[index]
        result.updated += 1
    return result


# What each task's gold answer is: (the entry's key, the gold field, the final field).
ANSWER_FIELDS = {
    Project.Task.SINGLE: ("label", "gold_label", "label"),
    Project.Task.MULTILABEL: ("labels", "gold_labels", "labels"),
    Project.Task.SPANS: ("spans", "gold_spans", "spans"),
}


def _gold_answer(project: Project, item: Item | None, entry: dict[str, Any]) -> object:
    """The entry's gold answer as stored (a label, a set in the project's order, spans
    snapped to tokens, or None)."""
    own = ANSWER_FIELDS[Project.Task(project.task)][0]
    for other in sorted({key for key, _, _ in ANSWER_FIELDS.values()} - {own}):
        if entry.get(other) is not None:
            raise ValueError(f'this project takes "{own}", not "{other}"')
    answer = entry.get(own)
    if item is None:
        raise ValueError("no such item in this project")
    if item.state not in MARKABLE:
        raise ValueError(
            f"the item is {item.state}; mark it gold once it has left the batch or review"
        )
    if answer is None:
        return None
    try:
        if is_spans(project):
            return spans_clean(project, item.text or "", answer)
        if is_multilabel(project):
            return label_set_check(project, answer)
    except ValidationError as exc:
        raise ValueError(" ".join(exc.message_dict[own])) from None
    if answer not in project.labels:
        raise ValueError(f"unknown label {answer!r}; the project's labels are {project.labels}")
    return answer


def _gold_write(project: Project, item: Item, truth: object) -> None:
    """A labelled item takes the lead's true answer as its final, training one."""
    _, field, final = ANSWER_FIELDS[Project.Task(project.task)]
    updates: dict[str, object] = {field: truth, "state": item.state}
    if truth is not None and item.state == Item.State.POOL:
        updates["state"] = Item.State.GOLD
    elif truth is None and item.state == Item.State.GOLD:
        updates["state"] = Item.State.POOL
    elif truth is not None and item.state == Item.State.LABELED:
        updates.update({final: truth, "label_source": Item.LabelSource.GOLD})
    Item.objects.filter(pk=item.pk).update(**updates)
