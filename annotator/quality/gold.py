"""Gold items: the lead marks items with their true label (PRODUCT.md §7).

A gold item that was still in the pool leaves it (state `gold`): it is a quality
check, not training data. Labelled items can be gold too: the lead's label then
becomes their final label (source `gold`), which consensus never re-decides. How gold
items are mixed into hand-outs is `annotator.assignment.gold`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from projects.models import Item, Project

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
    if label is not None and project.task != Project.Task.SINGLE:
        # A gold answer is one label; a set's gold check has no rule yet.
        return "gold items are for single-label projects for now"
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
