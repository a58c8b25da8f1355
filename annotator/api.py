"""JSON API for annotating: next item, annotations, skip, undo (PRODUCT.md §10)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import page
from annotator.answer_fields import label_field, labels_field, spans_field
from annotator.assignment import history, services
from annotator.models import Assignment
from projects.access import ANYONE, project_for_member
from projects.models import Annotation, Batch, Item, Project
from projects.selectors import batch_summary, current_batch
from projects.serializers import BatchSummarySerializer
from projects.span_answers import is_spans, tokens_payload
from winnow.errors import error_responses
from winnow.http import api_user


def item_payload(project: Project, item: Item) -> dict[str, Any]:
    payload: dict[str, Any] = {"id": item.pk, "meta": item.meta}
    if project.kind == Project.Kind.IMAGE:
        payload["image_url"] = reverse("api-item-image", args=[project.pk, item.pk])
    else:
        payload["text"] = item.text
    if is_spans(project):
        payload["tokens"] = tokens_payload(item.text)
    return payload


def next_payload(project: Project, assignment: Assignment) -> dict[str, Any]:
    batch = assignment.item.batch
    if batch is None or batch.state != Batch.State.OPEN:
        # Gold items are mixed in unannounced: they show the batch being worked on.
        batch = current_batch(project)
    return {
        "item": item_payload(project, assignment.item),
        "labels": project.labels,
        "task": project.task,
        "expires_at": assignment.expires_at,
        "batch": batch_summary(batch),
        "suggestion": page.suggestion(project, assignment.item),
    }


class SpanSerializer(serializers.Serializer):
    """A labelled character range of the item's text, `end` exclusive."""

    start = serializers.IntegerField()
    end = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]


class TextTokenSerializer(serializers.Serializer):
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    text = serializers.CharField()


class ItemSerializer(serializers.Serializer):
    """An item as handed out: `text`, or for image projects `image_url`; span projects
    add the text's `tokens` (spans snap to their edges)."""

    id = serializers.IntegerField()
    meta = serializers.DictField()
    text = serializers.CharField(required=False)
    image_url = serializers.CharField(required=False)
    tokens = TextTokenSerializer(many=True, required=False)


class NextSerializer(serializers.Serializer):
    item = ItemSerializer()
    labels = serializers.ListField(child=serializers.CharField())
    task = serializers.CharField(
        help_text='"multilabel": answer with a set, "labels": [...]; "spans": answer with '
        '"spans": [{"start", "end", "label"}]'
    )
    expires_at = serializers.DateTimeField()
    batch = BatchSummarySerializer(allow_null=True)
    suggestion = serializers.CharField(
        allow_null=True,
        help_text="The model's predicted label, when the project shows suggestions.",
    )


class UndoSerializer(serializers.Serializer):
    item = ItemSerializer()
    labels = serializers.ListField(child=serializers.CharField())
    previous = inline_serializer(
        "PreviousAnnotation",
        {
            "label": serializers.CharField(allow_blank=True),
            "labels": serializers.ListField(
                child=serializers.CharField(), allow_null=True, required=False
            ),
            "spans": SpanSerializer(many=True, allow_null=True, required=False),
            "confidence": serializers.IntegerField(),
        },
    )


def nothing_now(why: str) -> OpenApiResponse:
    """A 204: nothing to hand out now; the X-Reason header (`REASON`) says why."""
    return OpenApiResponse(description=why)


REASON = OpenApiParameter(
    "X-Reason",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    response=[204],
    required=True,
    description="Why there is nothing to do now.",
)


class NextView(APIView):
    @extend_schema(
        parameters=[REASON],
        responses={
            200: NextSerializer,
            204: nothing_now(
                "Nothing to do now (the batch is done, a retrain runs, the project is "
                "stopped...): X-Reason says which."
            ),
            **error_responses(401, 404),
        },
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        result = services.assignment_next(project=project, user=api_user(request))
        if result.assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT, headers={"X-Reason": result.reason})
        return Response(next_payload(project, result.assignment))


class AnnotationInput(serializers.Serializer):
    """`label` on single-label projects, `labels` (a set) on multi-label ones, `spans`
    on span projects."""

    item = serializers.IntegerField()
    label = label_field()  # type: ignore[assignment]
    labels = labels_field(
        "Multi-label projects: the labels that apply (empty only if the project allows "
        "an empty set)."
    )
    spans = spans_field(
        'Span projects: [{"start", "end", "label"}], character offsets into the text '
        "(end exclusive), snapped outward to tokens; [] means no entity.",
        required=False,
    )
    confidence = serializers.IntegerField(
        required=False, help_text="1-5; the project's default_confidence when left out."
    )


class AnnotationOutput(serializers.ModelSerializer):
    """The response's schema; `annotation_payload` builds it (a ModelSerializer builds its
    fields anew for every instance, a good part of the label round trip)."""

    annotator = serializers.CharField(source="annotator.username")
    label = serializers.CharField(allow_blank=True, help_text='"" on multi-label projects.')  # type: ignore[assignment]
    labels = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="Multi-label projects: the set."
    )
    spans = SpanSerializer(many=True, allow_null=True, help_text="Span projects: the spans.")

    class Meta:
        model = Annotation
        fields = [
            "id", "item", "annotator", "label", "labels", "spans", "confidence", "seconds",
            "created_at",
        ]  # fmt: skip


def annotation_payload(annotation: Annotation, user: User) -> dict[str, Any]:
    return {
        "id": annotation.pk,
        "item": annotation.item_id,
        "annotator": user.username,
        "label": annotation.label,
        "labels": annotation.labels,
        "spans": annotation.spans,
        "confidence": annotation.confidence,
        "seconds": annotation.seconds,
        "created_at": annotation.created_at,
    }


class AnnotationsView(APIView):
    @extend_schema(
        request=AnnotationInput,
        responses={
            201: AnnotationOutput,
            200: OpenApiResponse(AnnotationOutput, description="The same submission again."),
            **error_responses(400, 401, 404, 409),
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        data = AnnotationInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = api_user(request)
        annotation, created = services.annotation_submit(
            project=project,
            user=user,
            item_id=data.validated_data["item"],
            label=data.validated_data.get("label"),
            labels=data.validated_data.get("labels"),
            spans=data.validated_data.get("spans"),
            confidence=data.validated_data.get("confidence", project.default_confidence),
        )
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(annotation_payload(annotation, user), status=code)


class ItemRef(serializers.Serializer):
    item = serializers.IntegerField()


class SkipView(APIView):
    @extend_schema(
        request=ItemRef,
        responses={
            204: OpenApiResponse(description="Skipped."),
            **error_responses(400, 401, 404, 409),
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        data = ItemRef(data=request.data)
        data.is_valid(raise_exception=True)
        services.assignment_skip(
            project=project, user=api_user(request), item_id=data.validated_data["item"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class UndoView(APIView):
    """The caller's last labelled item, to label again (a new POST edits the annotation)."""

    @extend_schema(
        request=None,
        parameters=[REASON],
        responses={
            200: UndoSerializer,
            204: nothing_now("Nothing to undo (X-Reason)."),
            **error_responses(401, 404),
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        last = services.annotation_last(project=project, user=api_user(request))
        if last is None:
            return Response(
                status=status.HTTP_204_NO_CONTENT, headers={"X-Reason": "Nothing to undo."}
            )
        return Response(
            {
                "item": item_payload(project, last.item),
                "labels": project.labels,
                "previous": {
                    "label": last.label,
                    "labels": last.labels,
                    "spans": last.spans,
                    "confidence": last.confidence,
                },
            }
        )


class HistoryEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    item = ItemSerializer()
    label = serializers.CharField(allow_blank=True)  # type: ignore[assignment]
    labels = serializers.ListField(
        child=serializers.CharField(), allow_null=True, help_text="Multi-label projects: the set."
    )
    spans = SpanSerializer(many=True, allow_null=True, help_text="Span projects: the spans.")
    confidence = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    editable = serializers.BooleanField(help_text="True while the item's batch is open.")


class HistorySerializer(serializers.Serializer):
    results = HistoryEntrySerializer(many=True)


class HistoryChangeInput(serializers.Serializer):
    label = label_field()  # type: ignore[assignment]
    labels = labels_field("Multi-label projects: the new set.")
    spans = spans_field("Span projects: the new spans.", required=False)
    confidence = serializers.IntegerField(
        required=False, help_text="1-5; the project's default_confidence when left out."
    )


def history_payload(project: Project, entry: history.HistoryEntry) -> dict[str, Any]:
    annotation = entry.annotation
    return {
        "id": annotation.pk,
        "item": item_payload(project, annotation.item),
        "label": annotation.label,
        "labels": annotation.labels,
        "spans": annotation.spans,
        "confidence": annotation.confidence,
        "created_at": annotation.created_at,
        "editable": entry.editable,
    }


class HistoryView(APIView):
    """The caller's last 50 labels in the project, newest first."""

    @extend_schema(responses={200: HistorySerializer, **error_responses(401, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        entries = history.annotation_history(project=project, user=api_user(request))
        return Response({"results": [history_payload(project, e) for e in entries]})


class HistoryChangeView(APIView):
    """Change one of the caller's labels while its batch is open (409 after)."""

    @extend_schema(
        request=HistoryChangeInput,
        responses={200: HistoryEntrySerializer, **error_responses(400, 401, 404, 409)},
    )
    def patch(self, request: Request, project_id: int, item_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        data = HistoryChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = api_user(request)
        history.annotation_change(
            project=project,
            user=user,
            item_id=item_id,
            label=data.validated_data.get("label"),
            labels=data.validated_data.get("labels"),
            spans=data.validated_data.get("spans"),
            confidence=data.validated_data.get("confidence", project.default_confidence),
        )
        entry = history.history_entry(project=project, user=user, item_id=item_id)
        return Response(history_payload(project, entry))
