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

from django.db.models import (
    Exists,
    F,
    OrderBy,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    prefetch_related_objects,
)
from django.shortcuts import get_object_or_404
from django.urls import reverse

from projects.access import MAX_ID
from projects.item_search import text_search
from projects.models import IS_GOLD, Annotation, Item, Membership, Project, SelectionLog
from projects.selectors import gold_answer, gold_summary, prediction_name
from projects.training import rankings


@dataclass(frozen=True)
class Ordering:
    """A sort key and the id as its tiebreak; NULL keys (unscored items) come last, as a
    range of their own."""

    field: str
    descending: bool
    id_descending: bool

    def order_by(self) -> tuple[OrderBy, ...]:
        """The order within one range. A range's keys are all NULL or none is (`first`,
        `after`), so where NULLs go within it changes nothing, and it is written as an
        index scan reads it (PostgreSQL matches NULLS FIRST/LAST literally, even on a NOT
        NULL column): plain ASC/DESC for the NOT NULL keys; `item_project_score` is
        `score DESC NULLS LAST, id`, whose backward scan is `score ASC NULLS FIRST, id DESC`.
        """
        key = F(self.field)
        if not self.nullable:
            first = key.desc() if self.descending else key.asc()
        else:
            first = key.desc(nulls_last=True) if self.descending else key.asc(nulls_first=True)
        tiebreak = F("id").desc() if self.id_descending else F("id").asc()
        return (first,) if self.field == "id" else (first, tiebreak)

    @property
    def nullable(self) -> bool:
        return bool(getattr(Item._meta.get_field(self.field), "null", False))

    def first(self, items: QuerySet[Item]) -> list[QuerySet[Item]]:
        """The first page's rows: the keyed ones, then the NULL keys, as two ranges."""
        if not self.nullable:
            return [items]
        return [
            items.filter(**{f"{self.field}__isnull": False}),
            items.filter(**{f"{self.field}__isnull": True}),
        ]

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
        return [ahead, nulls] if self.nullable else [ahead]


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
    score_min: float | None = None
    score_max: float | None = None
    holdout: bool | None = None
    disagreement: bool = False
    gold: bool | None = None  # gold items only (True), or none of them (False)


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


def _disagreed() -> Exists:
    """Two of the item's annotations give different labels."""
    other = Annotation.objects.filter(item_id=OuterRef("item_id")).exclude(label=OuterRef("label"))
    return Exists(Annotation.objects.filter(item_id=OuterRef("pk")).filter(Exists(other)))


def items_filtered(project: Project, filters: ItemFilters) -> QuerySet[Item]:
    """The one rule for which items a filter keeps: the API and the items page use it."""
    items = Item.objects.filter(project=project)
    if filters.search:
        items = text_search(project, items, filters.search)
    if filters.state:
        items = items.filter(state=filters.state)
    if filters.label:
        items = items.filter(label=filters.label)
    if filters.annotator:
        # One annotation per item and annotator: the join repeats no item.
        items = items.filter(annotations__annotator__username=filters.annotator)
    if filters.predicted is not None:
        items = items.filter(prediction=filters.predicted)
    if filters.score_min is not None:
        items = items.filter(score__gte=filters.score_min)
    if filters.score_max is not None:
        items = items.filter(score__lte=filters.score_max)
    if filters.holdout is not None:
        items = items.filter(is_holdout=filters.holdout)
    if filters.disagreement:
        items = items.filter(_disagreed())
    if filters.gold is not None:
        items = items.filter(IS_GOLD) if filters.gold else items.exclude(IS_GOLD)
    return items


def _annotations() -> Prefetch:
    annotations = (
        Annotation.objects.select_related("annotator")
        .only(
            "item_id",
            "label",
            "labels",
            "spans",
            "confidence",
            "created_at",
            "annotator",
            "annotator__username",
        )
        .order_by("created_at", "id")
    )
    return Prefetch("annotations", queryset=annotations)


COLUMNS = (
    *("id", "text", "image", "state", "label", "labels", "spans", "label_source", "is_holdout"),
    *("prediction", "score", "scored_version", "created_at"),
    *("gold_label", "gold_labels", "gold_spans"),
)


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
    ranges = order.first(items) if after is None else order.after(items, *after)
    fetched: list[Item] = []
    for rows in ranges:
        wanted = size + 1 - len(fetched)
        if wanted > 0:
            fetched += rows.order_by(*order.order_by()).only(*COLUMNS)[:wanted]
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
            "labels": a.labels,
            "spans": a.spans,
            "confidence": a.confidence,
            "created_at": a.created_at,
        }
        for a in item.annotations.all()
    ]
    return {
        **row,
        "state": item.state,
        "label": item.label,
        "labels": item.labels,
        "spans": item.spans,
        "prediction": prediction_name(project, item.prediction),
        "score": item.score,
        "holdout": item.is_holdout,
        "gold": gold_answer(project, item) is not None,
        "gold_answer": gold_answer(project, item),
        "created_at": item.created_at,
        "annotations": annotations,
    }


@dataclass(frozen=True)
class Prediction:
    version: int
    label: str | None
    score: float | None
    source: str  # where it is recorded: the item row, or the version's ranking file


@dataclass(frozen=True)
class ItemDetail:
    """One item as the lead inspects it: what people said, what the models said, and why
    it was picked. Only what is recorded; nothing is recomputed."""

    item: Item
    annotations: list[dict[str, Any]]
    predictions: list[Prediction]
    selections: list[SelectionLog]
    gold: Any = None  # the gold answer (a label, a set or spans); None: not gold

    @property
    def gold_summary(self) -> str:
        return gold_summary(self.gold, self.item.text)


def item_detail(project: Project, item_id: int) -> ItemDetail:
    """404 for an id of another project (or none)."""
    item = get_object_or_404(Item.objects.select_related("batch"), project=project, pk=item_id)
    return ItemDetail(
        item=item,
        annotations=_annotations_with_roles(project, item),
        predictions=_predictions(project, item),
        gold=gold_answer(project, item),
        selections=list(
            SelectionLog.objects.filter(item=item).select_related("batch").order_by("created_at")
        ),
    )


def _annotations_with_roles(project: Project, item: Item) -> list[dict[str, Any]]:
    annotations = list(
        Annotation.objects.filter(item=item).select_related("annotator").order_by("created_at")
    )
    roles = dict(
        Membership.objects.filter(
            project=project, user_id__in=[a.annotator_id for a in annotations]
        ).values_list("user_id", "role")
    )
    return [
        {
            "annotator": a.annotator.username,
            "label": a.label,
            "confidence": a.confidence,
            "seconds": a.seconds,
            "created_at": a.created_at,
            "role": roles.get(a.annotator_id, "former member"),
            "by_lead": roles.get(a.annotator_id) == Membership.Role.LEAD,
        }
        for a in annotations
    ]


def _predictions(project: Project, item: Item) -> list[Prediction]:
    """The row's score (the newest scoring of this item) and each kept ranking's."""
    found = [
        Prediction(version, prediction_name(project, code), score, "ranking")
        for version, score, code in rankings.rankings_of_item(project, item.pk)
    ]
    versions = {p.version for p in found}
    if item.scored_version is not None and item.scored_version not in versions:
        row = Prediction(
            item.scored_version, prediction_name(project, item.prediction), item.score, "item row"
        )
        found = sorted([*found, row], key=lambda p: -p.version)
    return found
