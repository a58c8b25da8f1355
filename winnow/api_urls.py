from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token

from annotator import api as annotator_api
from annotator import api_quality
from projects import api, api_stream

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("projects/", api.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", api.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", api.MembersView.as_view(), name="api-members"),
    path("projects/<int:project_id>/import/", api.ImportView.as_view(), name="api-import"),
    path("projects/<int:project_id>/status/", api.StatusView.as_view(), name="api-status"),
    path("projects/<int:project_id>/export/", api.ExportView.as_view(), name="api-export"),
    path("projects/<int:project_id>/resume/", api.ResumeView.as_view(), name="api-resume"),
    path("projects/<int:project_id>/curve/", api.LearningCurveView.as_view(), name="api-curve"),
    path(
        "projects/<int:project_id>/models/<int:version>/",
        api.ModelDownloadView.as_view(),
        name="api-model-download",
    ),
    path(
        "projects/<int:project_id>/items/<int:item_id>/image/",
        api.ItemImageView.as_view(),
        name="api-item-image",
    ),
    path("projects/<int:project_id>/stream/", api_stream.StreamView.as_view(), name="api-stream"),
    path(
        "projects/<int:project_id>/stream/stats/",
        api_stream.StreamStatsView.as_view(),
        name="api-stream-stats",
    ),
    path(
        "projects/<int:project_id>/imports/<int:job_id>/",
        api_stream.ImportJobView.as_view(),
        name="api-import-job",
    ),
    path("projects/<int:project_id>/next/", annotator_api.NextView.as_view(), name="api-next"),
    path(
        "projects/<int:project_id>/annotations/",
        annotator_api.AnnotationsView.as_view(),
        name="api-annotations",
    ),
    path("projects/<int:project_id>/skip/", annotator_api.SkipView.as_view(), name="api-skip"),
    path("projects/<int:project_id>/undo/", annotator_api.UndoView.as_view(), name="api-undo"),
    path(
        "projects/<int:project_id>/agreement/",
        api_quality.AgreementView.as_view(),
        name="api-agreement",
    ),
    path(
        "projects/<int:project_id>/annotators/",
        api_quality.AnnotatorStatsView.as_view(),
        name="api-annotator-stats",
    ),
    path("projects/<int:project_id>/gold/", api_quality.GoldView.as_view(), name="api-gold"),
    path("projects/<int:project_id>/review/", api_quality.ReviewView.as_view(), name="api-review"),
]
