from django.urls import path

from annotator import items, members, views

urlpatterns = [
    path("projects/<int:project_id>/items/", items.items_browser, name="project-items"),
    path("projects/<int:project_id>/items/bulk/", items.items_bulk_page, name="project-items-bulk"),
    path("projects/<int:project_id>/items/<int:item_id>/", items.item_page, name="project-item"),
    path(
        "projects/<int:project_id>/items/<int:item_id>/label/",
        items.item_label,
        name="project-item-label",
    ),
    path(
        "projects/<int:project_id>/members/<str:username>/remove/",
        members.member_remove_page,
        name="project-member-remove",
    ),
    path("projects/<int:project_id>/annotate/", views.annotate, name="annotate"),
    path("projects/<int:project_id>/annotate/label/", views.annotate_label, name="annotate-label"),
    path("projects/<int:project_id>/annotate/skip/", views.annotate_skip, name="annotate-skip"),
    path("projects/<int:project_id>/annotate/undo/", views.annotate_undo, name="annotate-undo"),
    path(
        "projects/<int:project_id>/annotate/history/",
        views.annotate_history,
        name="annotate-history",
    ),
    path(
        "projects/<int:project_id>/annotate/history/<int:item_id>/",
        views.annotate_history_change,
        name="annotate-history-change",
    ),
    path("projects/<int:project_id>/quality/", views.quality_panel, name="quality-panel"),
    path("projects/<int:project_id>/review/", views.review, name="review"),
    path("projects/<int:project_id>/review/act/", views.review_act, name="review-act"),
]
