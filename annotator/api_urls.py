"""The annotator app's JSON API, under /api/: next item, annotations, quality, review."""

from django.urls import path

from annotator import api as annotator_api
from annotator import items_api, members
from annotator.quality import api as api_quality

urlpatterns = [
    path(
        "projects/<int:project_id>/items/bulk/",
        items_api.ItemsBulkView.as_view(),
        name="api-items-bulk",
    ),
    path(
        "projects/<int:project_id>/items/<int:item_id>/label/",
        items_api.ItemLabelView.as_view(),
        name="api-item-label",
    ),
    path(
        "projects/<int:project_id>/members/<str:username>/",
        members.MemberView.as_view(),
        name="api-member",
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
        "projects/<int:project_id>/history/",
        annotator_api.HistoryView.as_view(),
        name="api-history",
    ),
    path(
        "projects/<int:project_id>/history/<int:item_id>/",
        annotator_api.HistoryChangeView.as_view(),
        name="api-history-change",
    ),
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
