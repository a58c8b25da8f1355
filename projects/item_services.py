"""Writes on a lead's selection of items that belong to the pool stage: exclusion.

An excluded item (state `excluded`) leaves the pool: batches are picked from `pool`
items only (`batches.selection`) and only queued items are claimed
(`annotator.assignment.rules`), so that one state keeps it from being picked or handed
out again. Including it again returns it to the pool.
"""

from __future__ import annotations

from projects.models import Item


def _move(items: list[Item], source: str, to: str, wanted: str) -> list[dict[str, object]]:
    """Move the (locked) items in `source` to `to`; the others are refused, per item."""
    movable = [item.pk for item in items if item.state == source]
    Item.objects.filter(pk__in=movable, state=source).update(state=to)
    return [
        {"item": item.pk, "error": f"the item is {item.get_state_display()}, not {wanted}"}
        for item in items
        if item.state != source
    ]


def items_exclude(*, items: list[Item]) -> list[dict[str, object]]:
    """Take pool items out of the pool until included again; items in a batch, labelled,
    gold or waiting for review are refused (they have left the pool already)."""
    return _move(items, Item.State.POOL, Item.State.EXCLUDED, "in the pool")


def items_include(*, items: list[Item]) -> list[dict[str, object]]:
    """Return excluded items to the pool."""
    return _move(items, Item.State.EXCLUDED, Item.State.POOL, "excluded")
