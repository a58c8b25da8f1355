"""JSON API for stream mode and image import jobs (PRODUCT.md §6, §10)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects.access import ANYONE, LEAD_ONLY, STREAM_ROLES, project_for_member
from projects.api import Conflict, TooLarge
from projects.ingest import images as image_import
from projects.models import ImportJob
from projects.stream import services as stream
from projects.stream.access import (
    StreamTokenAuthentication,
    stream_caller,
    stream_caller_forget,
    stream_token_forget,
)
from winnow.auth import TokenAuthentication

# Fresh lookups after a post found what was remembered stale: a retrain may finish
# between a lookup and the write (the worker finishes them back to back).
STALE_RETRIES = 2

StreamInput = inline_serializer(
    "StreamInput",
    {
        "text": serializers.CharField(required=False),
        "features": serializers.ListField(child=serializers.FloatField(), required=False),
        "meta": serializers.DictField(required=False),
    },
)
StreamOutput = inline_serializer(
    "StreamDecision",
    {
        "item": serializers.IntegerField(),
        "query": serializers.BooleanField(),
        "score": serializers.FloatField(allow_null=True),
        "prediction": serializers.CharField(allow_null=True),
        "model_version": serializers.IntegerField(allow_null=True),
    },
)


class StreamView(APIView):
    """One arriving item: the latest model decides at once whether a human labels it."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]
    authentication_classes = [StreamTokenAuthentication, SessionAuthentication]

    @extend_schema(
        request={
            "application/json": StreamInput,
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "image": {"type": "string", "format": "binary"},
                    "meta": {"type": "string", "description": "a JSON object"},
                },
            },
        },
        responses={200: StreamOutput},
    )
    def post(self, request: Request, project_id: int) -> Response:
        token = request.auth.key if isinstance(request.auth, Token) else None
        data = request.data
        if not isinstance(data, dict):
            raise ValidationError({"detail": "send a JSON object (or a multipart form)"})
        content = {
            "text": data.get("text"),
            "vector": data.get("features"),
            "image": _image_bytes(request),
            "meta": _meta(data.get("meta")),
        }
        for attempt in range(1 + STALE_RETRIES):
            try:
                decision = _decide(request, project_id, token, content)
                break
            except stream.StreamClosed as exc:
                raise Conflict(str(exc)) from None
            except stream.StaleCaller as exc:  # what was remembered changed: look it up afresh
                if attempt == STALE_RETRIES:  # it kept changing meanwhile
                    raise Conflict(str(exc)) from None
                stream_forget(request.user, project_id, token)
                if token is not None:
                    request.user, request.auth = TokenAuthentication().authenticate_credentials(
                        token
                    )
        return Response(decision.as_dict())


def stream_forget(user: Any, project_id: int | str, token: str | None) -> None:
    """Forget the remembered token and caller: the next post looks them up afresh."""
    stream_token_forget(token)
    stream_caller_forget(user, project_id, STREAM_ROLES)


def _decide(
    request: Request, project_id: int, token: str | None, content: dict[str, Any]
) -> stream.StreamDecision:
    caller = stream_caller(request.user, project_id, STREAM_ROLES)
    return stream.stream_item_add(caller=caller, token=token, **content)


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
            return json.loads(value)
        except json.JSONDecodeError:
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
            )
        }
    )
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        return Response(stream.stream_stats(project))


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
            )
        }
    )
    def get(self, request: Request, project_id: int, job_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        job = ImportJob.objects.filter(project=project, pk=job_id).first()
        if job is None:
            raise Http404("No such import in this project.")
        return Response(image_import.import_job_status(job))
