"""Reads for the item list (`GET /api/projects/{id}/items/`): filters, keyset pages and
each item's annotations, fetched in one more query whatever the page size.

A page is a keyset range: the rows after the last one shown, in an order whose last key is
the id, so no row is repeated or skipped and the cost does not grow with the depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import F, OrderBy, Prefetch, Q, QuerySet, prefetch_related_objects
from django.urls import reverse

from projects.access import MAX_ID
from projects.models import Annotation, Item, Project
from projects.selectors import prediction_name


@dataclass(frozen=True)
class Ordering:
    """A sort key and the id as its tiebreak; NULL keys (unscored items) come last."""

    field: str
    descending: bool
    id_descending: bool

    def order_by(self) -> tuple[OrderBy, ...]:
        key = F(self.field)
        first = key.desc(nulls_last=True) if self.descending else key.asc(nulls_last=True)
        tiebreak = F("id").desc() if self.id_descending else F("id").asc()
        return (first,) if self.field == "id" else (first, tiebreak)

    def after(self, items: QuerySet[Item], value: Any, item_id: int) -> list[QuerySet[Item]]:
        """The rows after (value, item_id), as ranges an index in this order can serve:
        no OR in the condition, and the NULL keys, which come last, as a second range."""
        if self.id_descending:
            id_after, id_not_after = Q(id__lt=item_id), Q(id__gte=item_id)
        else:
            id_after, id_not_after = Q(id__gt=item_id), Q(id__lte=item_id)
        if self.field == "id":
            return [items.filter(id_after)]
        nulls = items.filter(**{f"{self.field}__isnull": True})
        if value is None:
            return [nulls.filter(id_after)]
        bound = "lte" if self.descending else "gte"
        ahead = items.filter(**{f"{self.field}__{bound}": value}).exclude(
            Q(**{self.field: value}) & id_not_after
        )
        return (
            [ahead, nulls] if getattr(Item._meta.get_field(self.field), "null", False) else [ahead]
        )


# `-score` is the ranking order (`RANKING_ORDER`: ties by ascending id), which the
# `item_pool_ranking` index serves once a state is chosen; `score` is its reverse.
ORDERINGS = {
    "id": Ordering("id", descending=False, id_descending=False),
    "-id": Ordering("id", descending=True, id_descending=True),
    "score": Ordering("score", descending=False, id_descending=True),
    "-score": Ordering("score", descending=True, id_descending=False),
    "created_at": Ordering("created_at", descending=False, id_descending=False),
    "-created_at": Ordering("created_at", descending=True, id_descending=True),
}


@dataclass(frozen=True)
class ItemFilters:
    search: str = ""
    state: str = ""
    label: str = ""
    annotator: str = ""
    predicted: int | None = None  # a code into project.labels


def position_encode(ordering: str, item: Item) -> str:
    """Where a page ended: the sort key's value and the id, as the cursor carries it."""
    value = getattr(item, ORDERINGS[ordering].field)
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else value
    return f"{ordering}|{text}|{item.pk}"


def position_decode(ordering: str, position: str) -> tuple[Any, int]:
    """(value, id) of a cursor's position; ValueError for one of another ordering or with
    values no row can have (a cursor is the client's text)."""
    name, text, id_text = position.split("|")
    item_id = int(id_text)
    if name != ordering or not 0 < item_id <= MAX_ID:
        raise ValueError("the cursor belongs to another ordering, or to no item")
    field = ORDERINGS[ordering].field
    if field == "score" and text:
        score = float(text)
        if not math.isfinite(score):
            raise ValueError("scores are finite")
        return score, item_id
    if field == "created_at":
        created = datetime.fromisoformat(text)
        if created.tzinfo is None:
            raise ValueError("the cursor's time has no zone")
        return created.astimezone(UTC), item_id
    return None, item_id


def items_filtered(project: Project, filters: ItemFilters) -> QuerySet[Item]:
    items = Item.objects.filter(project=project)
    if filters.search:
        # icontains on both databases: a scan of the project's texts (no trigram index yet).
        items = items.filter(text__icontains=filters.search)
    if filters.state:
        items = items.filter(state=filters.state)
    if filters.label:
        items = items.filter(label=filters.label)
    if filters.annotator:
        # One annotation per item and annotator: the join repeats no item.
        items = items.filter(annotations__annotator__username=filters.annotator)
    if filters.predicted is not None:
        items = items.filter(prediction=filters.predicted)
    return items


def _annotations() -> Prefetch:
    annotations = (
        Annotation.objects.select_related("annotator")
        .only("item_id", "label", "confidence", "created_at", "annotator", "annotator__username")
        .order_by("created_at", "id")
    )
    return Prefetch("annotations", queryset=annotations)


def items_page(
    project: Project,
    *,
    filters: ItemFilters,
    ordering: str,
    after: tuple[Any, int] | None,
    size: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of items as the API shows them, and the position of the next page (or None)."""
    order = ORDERINGS[ordering]
    items = items_filtered(project, filters)
    ranges = [items] if after is None else order.after(items, *after)
    columns = ("id", "text", "state", "label", "prediction", "score", "created_at")
    fetched: list[Item] = []
    for rows in ranges:
        wanted = size + 1 - len(fetched)
        if wanted > 0:
            fetched += rows.order_by(*order.order_by()).only(*columns)[:wanted]
    page = fetched[:size]
    prefetch_related_objects(page, _annotations())
    more = len(fetched) > size
    return [item_row(project, item) for item in page], (
        position_encode(ordering, page[-1]) if more else None
    )


def item_row(project: Project, item: Item) -> dict[str, Any]:
    row: dict[str, Any] = {"id": item.pk}
    if project.kind == Project.Kind.IMAGE:
        row["image_url"] = reverse("api-item-image", args=[project.pk, item.pk])
    else:
        row["text"] = item.text
    annotations = [
        {
            "annotator": a.annotator.username,
            "label": a.label,
            "confidence": a.confidence,
            "created_at": a.created_at,
        }
        for a in item.annotations.all()
    ]
    return {
        **row,
        "state": item.state,
        "label": item.label,
        "prediction": prediction_name(project, item.prediction),
        "score": item.score,
        "annotations": annotations,
    }
