from django.urls import path

from projects import dashboard_views, guidelines_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/new/", views.project_create, name="project-create"),
    path("projects/<int:project_id>/", dashboard_views.dashboard, name="project-dashboard"),
    path("projects/<int:project_id>/settings/", views.project_settings, name="project-settings"),
    path(
        "projects/<int:project_id>/guidelines/",
        guidelines_views.project_guidelines,
        name="project-guidelines",
    ),
    path("projects/<int:project_id>/import/", views.project_import, name="project-import"),
    path(
        "projects/<int:project_id>/import/preview/",
        views.project_import_preview,
        name="project-import-preview",
    ),
    path("projects/<int:project_id>/export/", views.project_export, name="project-export"),
    path("projects/<int:project_id>/members/", views.project_members, name="project-members"),
    path(
        "projects/<int:project_id>/selections/",
        dashboard_views.selection_log,
        name="project-selections",
    ),
    path(
        "projects/<int:project_id>/members/new/",
        views.project_member_create,
        name="project-member-create",
    ),
    path("projects/<int:project_id>/archive/", views.project_archive, name="project-archive"),
    path("projects/<int:project_id>/unarchive/", views.project_unarchive, name="project-unarchive"),
    path("projects/<int:project_id>/delete/", views.project_delete, name="project-delete"),
    path("projects/<int:project_id>/resume/", views.project_resume, name="project-resume"),
    path("projects/<int:project_id>/replay/", views.project_replay, name="project-replay"),
    path(
        "projects/<int:project_id>/replay/switch/",
        views.project_replay_switch,
        name="project-replay-switch",
    ),
    path("projects/<int:project_id>/retrain/", views.project_retrain, name="project-retrain"),
    path("projects/<int:project_id>/imports/<int:job_id>/", views.import_job, name="import-job"),
]
