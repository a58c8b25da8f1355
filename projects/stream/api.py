"""JSON API for stream mode and image import jobs (PRODUCT.md §6, §10)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.access import ANYONE, LEAD_ONLY, STREAM_ROLES, project_for_member
from projects.api import Conflict, TooLarge
from projects.ingest import images as image_import
from projects.models import ImportJob
from projects.stream import services as stream
from projects.stream.arrivals import EntryInvalid
from projects.stream.selectors import stream_stats
from winnow import parsers as json_input
from winnow.errors import error_responses


class StreamInput(serializers.Serializer):  # type: ignore[type-arg]
    """One arriving item (the schema's; the service checks the content)."""

    text = serializers.CharField(required=False)
    features = serializers.ListField(child=serializers.FloatField(), required=False)
    meta = serializers.DictField(required=False)


class StreamBatchInput(serializers.Serializer):  # type: ignore[type-arg]
    items = serializers.ListField(child=StreamInput(), min_length=1, max_length=stream.MAX_BATCH)


class PredictedSpan(serializers.Serializer):  # type: ignore[type-arg]
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]


class StreamDecision(serializers.Serializer):  # type: ignore[type-arg]
    item = serializers.IntegerField()
    query = serializers.BooleanField()
    score = serializers.FloatField(allow_null=True)
    prediction = serializers.CharField(allow_null=True)
    model_version = serializers.IntegerField(allow_null=True)
    labels = serializers.ListField(
        child=serializers.CharField(),
        allow_null=True,
        required=False,
        help_text="Multi-label projects: the model's predicted set (null before any model).",
    )
    spans = serializers.ListField(
        child=PredictedSpan(),
        allow_null=True,
        required=False,
        help_text="Span projects: the model's predicted spans (null before any model).",
    )


class StreamDecisions(serializers.Serializer):  # type: ignore[type-arg]
    decisions = serializers.ListField(child=StreamDecision())


class StreamView(APIView):
    """Arriving items: the latest model decides at once whether a human labels each.

    One item (``{"text"}``, ``{"features"}`` or a multipart image) answers one
    decision; ``{"items": [...]}`` answers ``{"decisions": [...]}`` in order."""

    parser_classes = [json_input.SafeJSONParser, MultiPartParser, FormParser]

    @extend_schema(
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="StreamPost",
                serializers=[StreamInput, StreamBatchInput],
                resource_type_field_name=None,
            ),
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "meta": {"type": "string", "description": "a JSON object"},
                },
            },
        },
        responses={
            200: PolymorphicProxySerializer(
                component_name="StreamAnswer",
                serializers=[StreamDecision, StreamDecisions],
                resource_type_field_name=None,
            ),
            **error_responses(400, 401, 403, 404, 409, 413, 415),
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, STREAM_ROLES)
        data = request.data
        if not isinstance(data, dict):
            raise ValidationError({"detail": "send a JSON object (or a multipart form)"})
        batch = "items" in data
        entries = data["items"] if batch else [_single(data)]
        try:
            decisions = stream.stream_items_add(
                project=project, entries=entries, image=None if batch else _image_bytes(request)
            )
        except stream.StreamClosed as exc:
            raise Conflict(str(exc)) from None
        except EntryInvalid as exc:
            if not batch:
                raise exc.error from None
            raise exceptions.ValidationError(
                {"items": {str(exc.index): _detail(exc.error)}}
            ) from None
        if batch:
            return Response({"decisions": [d.as_dict() for d in decisions]})
        return Response(decisions[0].as_dict())


def _single(data: Any) -> dict[str, Any]:
    return {
        "text": data.get("text"),
        "features": data.get("features"),
        "meta": _meta(data.get("meta")),
    }


def _detail(error: ValidationError) -> Any:
    return error.message_dict if hasattr(error, "error_dict") else error.messages


def _image_bytes(request: Request) -> bytes | None:
    upload = request.FILES.get("image")
    if upload is None:
        return None
    limit = settings.WINNOW_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise TooLarge(f"The image is {upload.size} bytes; the limit is {limit}.")
    return bytes(upload.read(limit))


def _meta(value: Any) -> Any:
    """Multipart forms carry meta as JSON text; JSON bodies as an object."""
    if isinstance(value, str):
        try:
            return json_input.loads(value)
        except ValueError:  # not JSON, or JSON refused (`winnow.parsers`)
            raise ValidationError({"meta": "meta must be a JSON object"}) from None
    return value


class StreamStatsView(APIView):
    """The stream dashboard's data: arrivals, query rate against budget, drift."""

    @extend_schema(
        responses={
            200: inline_serializer(
                "StreamStats",
                {
                    "arrivals": serializers.IntegerField(),
                    "queried": serializers.IntegerField(),
                    "query_rate": serializers.FloatField(),
                    "budget": serializers.FloatField(),
                    "threshold": serializers.FloatField(),
                    "stored": serializers.IntegerField(),
                    "predicted": serializers.DictField(child=serializers.IntegerField()),
                    "timeline": serializers.ListField(child=serializers.DictField()),
                    "drift": serializers.FloatField(allow_null=True),
                    "labels": serializers.ListField(child=serializers.CharField()),
                },
            ),
            **error_responses(401, 404),
        }
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        return Response(stream_stats(project))


class ImportJobView(APIView):
    """Progress of an image import: the worker fills in `processed` until `done`."""

    @extend_schema(
        responses={
            200: inline_serializer(
                "ImportJob",
                {
                    "id": serializers.IntegerField(),
                    "status": serializers.CharField(),
                    "total": serializers.IntegerField(),
                    "processed": serializers.IntegerField(),
                    "created": serializers.IntegerField(),
                    "skipped": serializers.IntegerField(),
                    "errors": serializers.ListField(child=serializers.DictField()),
                    "progress": serializers.FloatField(),
                },
            ),
            **error_responses(401, 403, 404),
        }
    )
    def get(self, request: Request, project_id: int, job_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        job = ImportJob.objects.filter(project=project, pk=job_id).first()
        if job is None:
            raise Http404("No such import in this project.")
        return Response(image_import.import_job_status(job))
