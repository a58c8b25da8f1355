from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from projects import item_search, services
from projects.models import (
    Annotation,
    Batch,
    ImportJob,
    Item,
    Membership,
    ModelVersion,
    Project,
    SelectionLog,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "state", "strategy", "selector", "batch_size", "created_at"]
    list_filter = ["kind", "state"]
    search_fields = ["name"]
    inlines = [MembershipInline]

    # As the app deletes one: the row locked first (items hold it in place of a foreign
    # key), the files removed after.
    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.project_remove(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset:
            services.project_remove(project)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role"]
    search_fields = ["project__name", "user__username"]


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "state", "label", "label_source", "is_holdout", "score"]
    list_filter = ["state", "label_source", "is_holdout", "from_stream"]
    search_fields = ["text"]
    raw_id_fields = ["project", "batch"]
    list_select_related = ["project"]

    def save_model(self, request: HttpRequest, obj: Item, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change or "text" in form.changed_data:
            item_search.words_renew(obj)  # the browser's search finds it by its text


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["project", "number", "state", "kind", "size", "remaining", "created_at"]
    list_filter = ["state", "kind"]


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["project", "version", "status", "train_size", "labels_total", "finished_at"]
    list_filter = ["status"]
    readonly_fields = ["metrics", "timings", "stopping", "stop_set_predictions"]


@admin.register(SelectionLog)
class SelectionLogAdmin(admin.ModelAdmin):
    list_display = ["batch", "rank", "item", "reason", "model_version", "score", "withdrawn"]
    list_filter = ["reason", "withdrawn"]
    raw_id_fields = ["batch", "item"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["project", "filename", "status", "processed", "total", "created_at"]
    list_filter = ["status"]


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["item", "annotator", "label", "confidence", "seconds", "created_at"]
    list_filter = ["confidence"]
    raw_id_fields = ["project", "item", "annotator"]
