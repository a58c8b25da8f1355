"""JSON API for projects (PRODUCT.md §10). Views parse, check access, call one service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import (
    Direction,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import selectors, services
from projects.access import ANYONE, LEAD_ONLY, project_for_member, projects_for_user
from projects.ingest import uploads
from projects.media import item_image_response
from projects.models import Membership, Project
from projects.settings_schema import (
    MAX_NAME,
    SETTINGS,
    Setting,
    Type,
    from_api,
    nested_api_groups,
    value_check,
)
from projects.throttles import MemberAddThrottle
from projects.training.services import model_path
from winnow.errors import error_responses
from winnow.http import api_user


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict with the item's state."


class TooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


def _schema_check(setting: Setting) -> Callable[[Any], None]:

    def check(value: Any) -> None:
        try:
            value_check(setting, value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    return check


def serializer_field(setting: Setting, *, partial: bool = False) -> serializers.Field:
    """The API field of a setting; every invalid value gets the schema's message."""
    common: dict[str, Any] = {
        "required": setting.required and not partial,
        "help_text": setting.help,
        "allow_null": setting.nullable,
    }
    if setting.type == Type.TEXT:
        # min_length only states in the schema what allow_blank=False already refuses.
        return serializers.CharField(max_length=MAX_NAME, min_length=1, **common)
    if setting.type in (Type.LABELS, Type.RULES):
        # Types DRF cannot spell out: the schema's own check, so the 400 says what the
        # services would.
        common["validators"] = [_schema_check(setting)]
    if setting.type == Type.LABELS:
        return serializers.ListField(
            child=serializers.CharField(max_length=200, min_length=1), min_length=1, **common
        )
    if setting.type == Type.RULES:
        rules = ", ".join(setting.choice_map())
        common["help_text"] = f"{setting.help} Rules: {rules}."
        return serializers.ListField(child=serializers.DictField(), **common)
    messages: dict[str, Any] = dict.fromkeys(
        ("invalid", "invalid_choice", "min_value", "max_value", "max_string_length"),
        setting.problem,
    )
    if setting.type == Type.CHOICE:
        choices = list(setting.choice_map())
        return serializers.ChoiceField(choices=choices, error_messages=messages, **common)
    bounds: dict[str, Any] = {
        "min_value": setting.low,
        "max_value": setting.high,
        "error_messages": messages,
    }
    if setting.type == Type.INTEGER:
        return serializers.IntegerField(**bounds, **common)
    return serializers.FloatField(**bounds, **common)


class RefusesUnknown(serializers.Serializer):
    """A serializer that answers 400 for fields it does not know, rather than drop them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["unknown setting"] for k in unknown})
        return super().to_internal_value(data)


class RefusesUnknownSchema(OpenApiSerializerExtension):
    """The schema says what `RefusesUnknown` does: no properties besides its fields."""

    target_class = RefusesUnknown
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


def _nested(outer: str, partial: bool) -> serializers.Serializer:
    settings = nested_api_groups()[outer]
    fields = {s.api_path[1]: serializer_field(s, partial=True) for s in settings}
    name = f"{outer.title()}Settings{'Patch' if partial else ''}"
    serializer_class = type(name, (RefusesUnknown,), fields)
    return serializer_class(required=False)


def settings_fields(*, partial: bool) -> dict[str, serializers.Field]:
    """The settings as API fields, derived from `projects.settings_schema`."""
    fields: dict[str, serializers.Field] = {
        s.name: serializer_field(s, partial=partial) for s in SETTINGS if not s.api_path
    }
    for outer in nested_api_groups():
        fields[outer] = _nested(outer, partial)
    return fields


class ProjectCreateSerializer(RefusesUnknown):
    """A new project: only `name`, `kind` and `labels` are required."""

    kind = serializers.ChoiceField(choices=Project.Kind.values)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {**super().get_fields(), **settings_fields(partial=False)}


class ProjectUpdateSerializer(RefusesUnknown):
    """The settings to change; labels can be added but not removed or renamed."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return settings_fields(partial=True)


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = [
            "id",
            "kind",
            "state",
            *(s.name for s in SETTINGS),
            "stop_reason",
            "created_at",
        ]


class ProjectListView(APIView):
    @extend_schema(responses={200: ProjectSerializer(many=True), **error_responses(401)})
    def get(self, request: Request) -> Response:
        projects = projects_for_user(request.user).order_by("-created_at")
        return Response(ProjectSerializer(projects, many=True).data)

    @extend_schema(
        # Nested settings (stream, stopping rules) need JSON; forms cannot carry them.
        request={"application/json": ProjectCreateSerializer},
        responses={201: ProjectSerializer, **error_responses(400, 401)},
    )
    def post(self, request: Request) -> Response:
        serializer = ProjectCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = services.project_create(
            user=api_user(request), kind=data["kind"], **from_api(data)
        )
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    @extend_schema(responses={200: ProjectSerializer, **error_responses(401, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id)
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        request={"application/json": ProjectUpdateSerializer},
        responses={200: ProjectSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        serializer = ProjectUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = services.project_update(project=project, **from_api(serializer.validated_data))
        return Response(ProjectSerializer(project).data)


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Membership.Role.values)


class MembersView(APIView):
    throttle_classes = [MemberAddThrottle]

    @extend_schema(responses={200: MemberSerializer(many=True), **error_responses(401, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id)
        return Response(
            [{"username": m.user.username, "role": m.role} for m in selectors.members(project)]
        )

    @extend_schema(
        request=MemberSerializer,
        responses={201: MemberSerializer, **error_responses(400, 401, 403, 404, 409, 429)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        serializer = MemberSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_add(project=project, **serializer.validated_data)
        return Response(
            {"username": membership.user.username, "role": membership.role},
            status=status.HTTP_201_CREATED,
        )


ImportResult = inline_serializer(
    "ImportResult",
    {
        "created": serializers.IntegerField(),
        "skipped": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.DictField()),
        "job": serializers.IntegerField(required=False),
    },
)


class ImportView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            }
        },
        responses={
            201: ImportResult,
            202: OpenApiResponse(
                ImportResult, description="Images import in the worker: poll imports/{job}/."
            ),
            **error_responses(400, 401, 403, 404, 413, 415),
        },
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"file": ["Attach the file as multipart field 'file'."]}, status=400)
        # Bodies over WINNOW_MAX_UPLOAD_BYTES were refused (413) while being read.
        result = uploads.import_upload(project=project, upload=upload, user=api_user(request))
        code: int = status.HTTP_202_ACCEPTED if result.get("job") else status.HTTP_201_CREATED
        if not result.get("job") and result["created"] == 0 and result["errors"]:
            code = status.HTTP_400_BAD_REQUEST
        return Response(result, status=code)


class BatchSummarySerializer(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField()
    done = serializers.IntegerField()
    state = serializers.CharField()
    kind = serializers.CharField()


class StoppingValueSerializer(serializers.Serializer):
    rule = serializers.CharField()
    met = serializers.BooleanField()
    value = serializers.FloatField(allow_null=True)
    detail = serializers.CharField()
    params = serializers.DictField()


class StatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.CharField()
    stop_reason = serializers.CharField()
    items = serializers.IntegerField()
    labeled = serializers.IntegerField()
    pool = serializers.IntegerField()
    review = serializers.IntegerField()
    holdout = serializers.IntegerField()
    predicted = serializers.IntegerField()
    batch = BatchSummarySerializer(allow_null=True)
    model = inline_serializer(
        "StatusModel",
        {
            "version": serializers.IntegerField(),
            "metrics": serializers.DictField(allow_null=True),
            "train_size": serializers.IntegerField(),
            "finished_at": serializers.DateTimeField(allow_null=True),
        },
        allow_null=True,
    )
    retrain = inline_serializer(
        "StatusRetrain",
        {"version": serializers.IntegerField(), "status": serializers.CharField()},
        allow_null=True,
    )
    stopping = StoppingValueSerializer(many=True)


class StatusView(APIView):
    @extend_schema(responses={200: StatusSerializer, **error_responses(401, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        return Response(selectors.project_status(project))


class ExportView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["jsonl", "csv"], default="jsonl")],
        responses={
            (200, "application/jsonl"): str,
            (200, "text/csv"): str,
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, project_id: int) -> StreamingHttpResponse:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        fmt = request.query_params.get("format", "jsonl")
        if fmt not in ("jsonl", "csv"):
            raise serializers.ValidationError({"format": "format must be jsonl or csv"})
        rows = selectors.export_jsonl(project) if fmt == "jsonl" else selectors.export_csv(project)
        content_type = "application/jsonl" if fmt == "jsonl" else "text/csv"
        response = StreamingHttpResponse(rows, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="project-{project.pk}.{fmt}"'
        return response


class ResumeView(APIView):
    @extend_schema(
        request=None, responses={200: ProjectSerializer, **error_responses(401, 403, 404)}
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        services.project_resume(project=project)
        project.refresh_from_db()
        return Response(ProjectSerializer(project).data)


class ModelDownloadView(APIView):
    @extend_schema(
        responses={(200, "application/octet-stream"): bytes, **error_responses(401, 403, 404)}
    )
    def get(self, request: Request, project_id: int, version: int) -> FileResponse:

        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        path = model_path(project.pk, int(version))
        if not path.exists():
            raise Http404("No such model version.")
        return FileResponse(open(path, "rb"), as_attachment=True, filename=path.name)


CurvePoints = inline_serializer(
    "CurvePoint",
    many=True,
    fields={
        "version": serializers.IntegerField(),
        "labels": serializers.IntegerField(),
        "train_size": serializers.IntegerField(),
        "metrics": serializers.DictField(allow_null=True),
        "timings": serializers.DictField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
    },
)


class LearningCurveView(APIView):
    @extend_schema(responses={200: CurvePoints, **error_responses(401, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id)
        return Response(selectors.learning_curve(project))


class ItemImageView(APIView):
    """An item's image, to members only (there is no public media URL)."""

    @extend_schema(
        parameters=[OpenApiParameter("thumb", int, enum=[1], description="1: the thumbnail")],
        responses={(200, "image/*"): bytes, **error_responses(401, 404)},
    )
    def get(self, request: Request, project_id: int, item_id: int) -> FileResponse:

        project, _ = project_for_member(request.user, project_id)
        return item_image_response(
            project, item_id, thumbnail=request.query_params.get("thumb") == "1"
        )
