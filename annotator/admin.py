from django.contrib import admin

from annotator.models import Assignment, ReviewDecision


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["item", "annotator", "state", "created_at", "expires_at"]
    list_filter = ["state"]
    raw_id_fields = ["project", "item", "annotator"]


@admin.register(ReviewDecision)
class ReviewDecisionAdmin(admin.ModelAdmin):
    list_display = ["item", "reviewer", "label", "created_at"]
    raw_id_fields = ["item", "reviewer"]
