"""The lead's item actions in the API: bulk actions on a selection, and relabelling.

`POST /api/projects/{id}/items/bulk/` and `POST /api/projects/{id}/items/{item}/label/`,
both for leads; the services are the items page's (`annotator.quality.bulk`, `review`).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.answer_fields import label_field, labels_field, spans_field
from annotator.quality.bulk import BULK_MAX, BulkAction, items_bulk
from annotator.quality.review import item_relabel
from projects.access import LEAD_ONLY, MAX_ID, project_for_member
from projects.item_selectors import item_row
from projects.items_api import ItemRowSerializer
from winnow.errors import error_responses
from winnow.http import api_user


class BulkInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=BulkAction.choices)
    items = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=BULK_MAX,
        help_text="Item ids of this project; one of another project refuses the request.",
    )
    label = label_field(  # type: ignore[assignment]
        allow_null=True, help_text="For `gold`: the true label; without it each item's own label."
    )


class Refusal(serializers.Serializer):
    item = serializers.IntegerField()
    error = serializers.CharField()


class BulkResultSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=BulkAction.choices)
    changed = serializers.IntegerField()
    refused = Refusal(many=True, help_text="Items the action does not fit, left unchanged.")


class ItemsBulkView(APIView):
    @extend_schema(
        # A list of ids: a form would carry it as one field per id, which Django caps.
        request={"application/json": BulkInput},
        responses={200: BulkResultSerializer, **error_responses(400, 401, 403, 404, 409)},
        description="Send to review, mark gold, exclude from the pool, or return to it. "
        "404 when an id is not an item of this project: then nothing changes.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        data = BulkInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = items_bulk(
            project=project,
            user=api_user(request),
            action=data.validated_data["action"],
            item_ids=data.validated_data["items"],
            label=data.validated_data.get("label"),
        )
        return Response(
            {"action": result.action, "changed": result.changed, "refused": result.refused}
        )


class LabelInput(serializers.Serializer):
    label = label_field()  # type: ignore[assignment]
    labels = labels_field("Multi-label projects: the final set.")
    spans = spans_field(
        'Span projects: the final spans, [{"start", "end", "label"}].', required=False
    )


class ItemLabelView(APIView):
    @extend_schema(
        request=LabelInput,
        responses={200: ItemRowSerializer, **error_responses(400, 401, 403, 404, 409)},
        description="The lead sets the item's final label: recorded as the lead's "
        "annotation and decision (`label_source` `lead`), which consensus does not change.",
    )
    def post(self, request: Request, project_id: int, item_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        data = LabelInput(data=request.data)
        data.is_valid(raise_exception=True)
        item = item_relabel(
            project=project,
            user=api_user(request),
            item_id=item_id,
            label=data.validated_data.get("label"),
            labels=data.validated_data.get("labels"),
            spans=data.validated_data.get("spans"),
        )
        return Response(item_row(project, item))
