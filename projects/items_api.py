"""The item list API (PRODUCT.md §10): filtered, ordered, cursor-paginated items with
their annotations, for leads and reviewers. The reads are in `projects.item_selectors`."""

from __future__ import annotations

import math
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.access import REVIEWERS, project_for_member
from projects.item_selectors import ORDERINGS, ItemFilters, items_page, position_decode
from projects.models import Item
from winnow.errors import error_responses


class ItemQuerySerializer(serializers.Serializer):
    """The filters and the order; an empty value means no filter (or the default order).
    CharField refuses NUL characters, which PostgreSQL cannot compare."""

    search = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text="Part of the text, any case."
    )
    state = serializers.ChoiceField(choices=Item.State.values, required=False, allow_blank=True)
    label = serializers.CharField(  # type: ignore[assignment]
        required=False, allow_blank=True, max_length=200, help_text="The final label."
    )
    annotator = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text="A username who annotated it."
    )
    predicted = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="The model's predicted label."
    )
    score_min = serializers.FloatField(
        required=False, allow_null=True, default=None, help_text="Least model score (inclusive)."
    )
    score_max = serializers.FloatField(
        required=False, allow_null=True, default=None, help_text="Greatest model score."
    )
    holdout = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: holdout items only; false: none of them; empty: both.",
    )
    disagreement = serializers.BooleanField(
        required=False, default=False, help_text="Only items whose annotators disagree."
    )
    gold = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: gold items only; false: no gold items.",
    )
    ordering = serializers.ChoiceField(
        choices=list(ORDERINGS), required=False, allow_blank=True, default="id"
    )

    def validate_predicted(self, value: str) -> int | None:
        if not value:
            return None
        labels = list(self.context["project"].labels)
        if value not in labels:
            raise serializers.ValidationError(f"{value!r} is not one of the project's labels.")
        return labels.index(value)

    def validate_ordering(self, value: str) -> str:
        return value or "id"

    def _finite(self, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise serializers.ValidationError("A score bound is a finite number.")
        return value

    validate_score_min = _finite
    validate_score_max = _finite


class AnnotationRowSerializer(serializers.Serializer):
    annotator = serializers.CharField()
    label = serializers.CharField(allow_blank=True)  # type: ignore[assignment]
    labels = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="Multi-label projects: the set."
    )
    spans = serializers.ListField(
        child=serializers.DictField(), allow_null=True, help_text="Span projects: the spans."
    )
    confidence = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ItemRowSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField(required=False)
    image_url = serializers.CharField(required=False)
    state = serializers.ChoiceField(choices=Item.State.values)
    label = serializers.CharField(allow_null=True)  # type: ignore[assignment]
    labels = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        help_text="Multi-label projects: the final set (null: none yet).",
    )
    spans = serializers.ListField(
        child=serializers.DictField(),
        allow_null=True,
        help_text='Span projects: the final spans [{"start", "end", "label"}] (null: none yet).',
    )
    prediction = serializers.CharField(allow_null=True)
    score = serializers.FloatField(allow_null=True)
    holdout = serializers.BooleanField()
    gold = serializers.BooleanField(help_text="A gold item (the lead gave its true answer).")
    gold_answer = serializers.JSONField(
        allow_null=True, help_text="The gold label, set or spans; null when not gold."
    )
    created_at = serializers.DateTimeField()
    annotations = AnnotationRowSerializer(many=True)


class ItemPageSerializer(serializers.Serializer):
    results = ItemRowSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="The next page's URL, or null.")


class ItemCursorPagination(CursorPagination):
    """DRF's opaque cursor, carrying a keyset position (sort value and id), forward only."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def position(self, request: Request, ordering: str) -> tuple[Any, int] | None:
        self.base_url = request.build_absolute_uri()
        cursor = self.decode_cursor(request)
        if cursor is None:
            return None
        try:
            return position_decode(ordering, str(cursor.position))
        except (ValueError, OverflowError):  # OverflowError: a time past year 9999 in UTC
            raise NotFound(self.invalid_cursor_message) from None

    def next_link(self, position: str | None) -> str | None:
        if position is None:
            return None
        # DRF's positions are strings (the stubs say int).
        cursor = Cursor(offset=0, reverse=False, position=position)  # type: ignore[arg-type]
        return self.encode_cursor(cursor)


class ItemListView(APIView):
    @extend_schema(
        parameters=[
            ItemQuerySerializer,
            OpenApiParameter("cursor", str, description="From the previous page's `next`."),
            OpenApiParameter("page_size", int, description="Items per page, 50 unless given."),
        ],
        responses={200: ItemPageSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, REVIEWERS)
        query = ItemQuerySerializer(data=request.query_params, context={"project": project})
        query.is_valid(raise_exception=True)
        data = query.validated_data
        ordering = data.pop("ordering")
        pagination = ItemCursorPagination()
        results, position = items_page(
            project,
            filters=ItemFilters(**data),
            ordering=ordering,
            after=pagination.position(request, ordering),
            size=pagination.get_page_size(request) or ItemCursorPagination.page_size,
        )
        return Response({"results": results, "next": pagination.next_link(position)})
