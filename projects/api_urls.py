"""The projects app's JSON API, under /api/ (PRODUCT.md §10)."""

from django.urls import path

from projects import api, items_api
from projects.stream import api as api_stream

urlpatterns = [
    path("projects/", api.ProjectListView.as_view(), name="api-projects"),
    path("projects/<int:project_id>/", api.ProjectDetailView.as_view(), name="api-project"),
    path("projects/<int:project_id>/members/", api.MembersView.as_view(), name="api-members"),
    path(
        "projects/<int:project_id>/archive/", api.ArchiveView.as_view(), name="api-project-archive"
    ),
    path(
        "projects/<int:project_id>/unarchive/",
        api.UnarchiveView.as_view(),
        name="api-project-unarchive",
    ),
    path("projects/<int:project_id>/import/", api.ImportView.as_view(), name="api-import"),
    path("projects/<int:project_id>/status/", api.StatusView.as_view(), name="api-status"),
    path("projects/<int:project_id>/export/", api.ExportView.as_view(), name="api-export"),
    path("projects/<int:project_id>/resume/", api.ResumeView.as_view(), name="api-resume"),
    path("projects/<int:project_id>/replay/", api.ReplayView.as_view(), name="api-replay"),
    path("projects/<int:project_id>/curve/", api.LearningCurveView.as_view(), name="api-curve"),
    path(
        "projects/<int:project_id>/models/<int:version>/",
        api.ModelDownloadView.as_view(),
        name="api-model-download",
    ),
    path("projects/<int:project_id>/items/", items_api.ItemListView.as_view(), name="api-items"),
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
]
