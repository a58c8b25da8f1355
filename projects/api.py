"""JSON API for projects (PRODUCT.md §10). Views parse, check access, call one service."""

from __future__ import annotations

import io

from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from projects import exports, replay, selectors, services
from projects.access import ANYONE, LEAD_ONLY, project_for_member, projects_for_user
from projects.ingest import uploads
from projects.media import item_image_response
from projects.models import Item, Project
from projects.serializers import (
    CurvePoints,
    ImportResult,
    MemberSerializer,
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
    ReplayAccepted,
    ReplaySerializer,
    StatusSerializer,
)
from projects.settings_schema import from_api
from projects.settings_types import Task
from projects.throttles import MemberAddThrottle
from projects.training import model_files
from projects.training.services import model_name
from winnow.errors import error_responses
from winnow.http import api_user


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflict with the item's state."


class TooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


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
            user=api_user(request),
            kind=data["kind"],
            task=data.get("task", Task.SINGLE),
            **from_api(data),
        )
        return Response(ProjectSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailView(APIView):
    @extend_schema(responses={200: ProjectSerializer, **error_responses(401, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id)
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        request={"application/json": ProjectUpdateSerializer},
        responses={200: ProjectSerializer, **error_responses(400, 401, 403, 404, 409)},
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        serializer = ProjectUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        project = services.project_update(project=project, **from_api(serializer.validated_data))
        return Response(ProjectSerializer(project).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "confirm", str, required=True, description="The project's name, as a check."
            )
        ],
        responses={
            204: OpenApiResponse(
                description="Deleted: its items, labels, batches, models and memberships. "
                "The people's accounts are kept."
            ),
            **error_responses(400, 401, 403, 404),
        },
    )
    def delete(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        services.project_delete(project=project, confirm=request.query_params.get("confirm", ""))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ArchiveView(APIView):
    @extend_schema(
        request=None,
        responses={200: ProjectSerializer, **error_responses(401, 403, 404, 409)},
        description="Archive: read-only, no new batches, hidden from its annotators' lists.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        services.project_archive(project=project)
        return Response(ProjectSerializer(project).data)


class UnarchiveView(APIView):
    @extend_schema(
        request=None,
        responses={200: ProjectSerializer, **error_responses(401, 403, 404, 409)},
        description="Unarchive: the project comes back stopped; resume it to collect again.",
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        services.project_unarchive(project=project)
        return Response(ProjectSerializer(project).data)


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
            # 409: the project was deleted while the upload was read.
            **error_responses(400, 401, 403, 404, 409, 413, 415),
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


class StatusView(APIView):
    @extend_schema(responses={200: StatusSerializer, **error_responses(401, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, ANYONE)
        return Response(selectors.project_status(project))


class ExportQuerySerializer(serializers.Serializer):
    """The export's optional filters; their defaults give every item (the §10 contract)."""

    format = serializers.ChoiceField(
        choices=["jsonl", "csv", "labelstudio", "conll"],
        default="jsonl",
        help_text="labelstudio: Label Studio's JSON export (a JSON array of tasks); conll "
        "(span projects): token<TAB>IOB2 tag lines of the items with final spans.",
    )
    items = serializers.ChoiceField(
        choices=["all", "labelled"], default="all", help_text="Every item, or labelled ones only."
    )
    state = serializers.ChoiceField(choices=Item.State.values, required=False, allow_blank=True)
    label = serializers.CharField(  # type: ignore[assignment]
        required=False, allow_blank=True, max_length=200, help_text="The final label."
    )

    def validate_format(self, value: str) -> str:
        if value == "conll" and self.context["project"].task != Project.Task.SPANS:
            raise serializers.ValidationError("CoNLL exports are for span projects.")
        return value

    def validate_label(self, value: str) -> str:
        if value and value not in self.context["project"].labels:
            raise serializers.ValidationError(f"{value!r} is not one of the project's labels.")
        return value


class ExportView(APIView):
    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={
            (200, "application/jsonl"): str,
            (200, "text/csv"): str,
            (200, "application/json"): OpenApiTypes.ANY,
            (200, "text/plain"): str,
            **error_responses(400, 401, 403, 404),
        },
    )
    def get(self, request: Request, project_id: int) -> StreamingHttpResponse:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        query = ExportQuerySerializer(data=request.query_params, context={"project": project})
        query.is_valid(raise_exception=True)
        fmt = query.validated_data["format"]
        which = exports.ExportFilter(
            labelled_only=query.validated_data["items"] == "labelled",
            state=query.validated_data.get("state", ""),
            label=query.validated_data.get("label", ""),
        )
        export, content_type, suffix = EXPORTS[fmt]
        response = StreamingHttpResponse(
            export(project, which), content_type=f"{content_type}; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="project-{project.pk}.{suffix}"'
        return response


# format -> (writer, content type, file suffix)
EXPORTS = {
    "jsonl": (exports.export_jsonl, "application/jsonl", "jsonl"),
    "csv": (exports.export_csv, "text/csv", "csv"),
    "labelstudio": (exports.export_labelstudio, "application/json", "json"),
    "conll": (exports.export_conll, "text/plain", "conll"),
}


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
        name = model_name(project.pk, int(version))
        try:
            data = model_files.model_file_bytes(project.pk, int(version))
        except FileNotFoundError:
            raise Http404("No such model version.") from None
        filename = name.rsplit("/", 1)[-1]
        return FileResponse(io.BytesIO(data), as_attachment=True, filename=filename)


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


class ReplayView(APIView):
    """Which strategy, on my data? (`projects.replay`): leads only."""

    @extend_schema(responses={200: ReplaySerializer, **error_responses(401, 403, 404)})
    def get(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        return Response(ReplaySerializer(replay.replay_status(project)).data)

    @extend_schema(
        request=None,
        responses={202: ReplayAccepted, **error_responses(401, 403, 404, 409)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        job = replay.replay_request(project=project, user=api_user(request))
        return Response({"id": job.pk}, status=status.HTTP_202_ACCEPTED)
