"""HTML pages for projects: list, create, settings, import, export, members, lifecycle
(the dashboard is in `projects.dashboard_views`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from projects import replay, selectors, services
from projects.access import LEAD_ONLY, project_for_member, projects_for_user
from projects.dashboard_views import live_context
from projects.forms import (
    ImportForm,
    MemberCreateForm,
    MemberForm,
    ProjectCreateForm,
    ProjectDeleteForm,
    ProjectSettingsForm,
)
from projects.ingest import labelstudio, uploads
from projects.ingest.images import import_job_status
from projects.ingest.parsers import ImportRejected
from projects.models import ImportJob, Item, Membership, Project
from projects.settings_types import Task
from projects.throttles import member_add_allowed
from projects.training.services import retrain_again
from winnow.errors import Conflict
from winnow.http import AuthedHttpRequest


@login_required
@require_safe
def home(request: AuthedHttpRequest) -> HttpResponse:
    projects = (
        projects_for_user(request.user)
        .annotate(
            n_items=Count("items", distinct=True),
            n_labeled=Count(
                "items",
                filter=Q(items__label__isnull=False) | Q(items__labels__isnull=False),
                distinct=True,
            ),
        )
        .order_by("-created_at")
    )
    roles = dict(Membership.objects.filter(user=request.user).values_list("project_id", "role"))
    rows = [{"project": p, "role": roles.get(p.pk, "admin")} for p in projects]
    return render(request, "projects/home.html", {"rows": rows})


def _apply_errors(form: Any, error: ValidationError) -> None:
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields else None, problems)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: AuthedHttpRequest) -> HttpResponse:
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            project = services.project_create(user=request.user, **data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, "Project created: import a pool to start.")
            return redirect("project-import", project.pk)
    return render(request, "projects/create.html", {"form": form})


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    form = ProjectSettingsForm(
        request.POST or None,
        initial=ProjectSettingsForm.initial_for(project),
        task=Task(project.task),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(project=project, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Settings saved.")
            return redirect("project-dashboard", project.pk)
    context = {"project": project, "role": role, "form": form}
    return render(request, "projects/settings.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_import(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    form = ImportForm(request.POST or None, request.FILES or None)
    result: dict[str, Any] | None = None
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            result = uploads.import_upload(
                project=project, upload=form.cleaned_data["file"], user=request.user
            )
        except ImportRejected as exc:
            error = str(exc)
        except Conflict as exc:  # the project was deleted while its rows were read
            raise Http404(str(exc)) from exc
    context = {
        "project": project,
        "role": role,
        "form": form,
        "result": result,
        "error": error,
        "history": selectors.import_history(project),
    }
    if request.htmx:
        return render(request, "projects/import.html#result", context)
    return render(request, "projects/import.html", context)


@login_required
@require_POST
def project_import_preview(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """The columns and first rows of the chosen file, as they would import; writes nothing."""
    project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
    form = ImportForm(request.POST, request.FILES)
    context: dict[str, Any] = {"project": project, "preview": None, "error": ""}
    if not form.is_valid():
        context["error"] = " ".join(str(e) for e in form.errors.get("file", ["Choose a file."]))
    else:
        try:
            context["preview"] = uploads.import_preview(
                project=project, upload=form.cleaned_data["file"]
            )
        except ImportRejected as exc:
            context["error"] = str(exc)
    return render(request, "projects/_import_preview.html", context)


@login_required
@require_safe
def project_export(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    return render(
        request,
        "projects/export.html",
        {
            "project": project,
            "role": role,
            "curve": selectors.learning_curve(project),
            "item_states": Item.State.choices,
            "labelstudio_config": labelstudio.labeling_config(
                kind=project.kind,
                labels=list(project.labels),
                multilabel=project.task == Project.Task.MULTILABEL,
                spans=project.task == Project.Task.SPANS,
            ),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id)
    form = MemberForm(request.POST or None)
    if request.method == "POST":
        project_for_member(request.user, project_id, LEAD_ONLY)
        if not member_add_allowed(request):
            form.add_error(None, "Too many additions in the last hour: try again later.")
        elif form.is_valid():
            try:
                services.membership_add(project=project, **form.cleaned_data)
            except ValidationError as exc:
                _apply_errors(form, exc)
            except Conflict as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"{form.cleaned_data['username']} added.")
                return redirect("project-members", project.pk)
    return _members_page(request, project, role, form=form, create_form=MemberCreateForm())


def _members_page(
    request: AuthedHttpRequest,
    project: Project,
    role: str,
    *,
    form: MemberForm,
    create_form: MemberCreateForm,
) -> HttpResponse:
    return render(
        request,
        "projects/members.html",
        {
            "project": project,
            "role": role,
            "form": form,
            "create_form": create_form,
            "members": selectors.members(project),
            "is_lead": role == Membership.Role.LEAD,
        },
    )


@login_required
@require_POST
def project_member_create(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """A new account, added with a role; counted by the same throttle as additions."""
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    form = MemberCreateForm(request.POST)
    if not member_add_allowed(request):
        form.add_error(None, "Too many additions in the last hour: try again later.")
    elif form.is_valid():
        try:
            services.member_create(project=project, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            name = form.cleaned_data["username"]
            messages.success(request, f"Account {name} created and added: give them the password.")
            return redirect("project-members", project.pk)
    return _members_page(request, project, role, form=MemberForm(), create_form=form)


@login_required
@require_POST
def project_resume(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
    services.project_resume(project=project)
    messages.success(request, "Collecting resumed: the stopping rules were overridden.")
    if request.htmx:
        return HttpResponseClientRedirect(f"/projects/{project.pk}/")
    return redirect("project-dashboard", project.pk)


@login_required
@require_POST
def project_retrain(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """The lead asks again for a retrain after one failed for good."""
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    retrain_again(project=project)
    if request.htmx:
        return render(request, "projects/dashboard.html#live", live_context(project, role))
    return redirect("project-dashboard", project.pk)


@login_required
@require_safe
def import_job(request: AuthedHttpRequest, project_id: int, job_id: int) -> HttpResponse:
    """Progress of an image import running in the worker (polled by the import page)."""

    project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
    job = get_object_or_404(ImportJob, project=project, pk=job_id)
    return render(
        request, "projects/import.html#job", {"project": project, "job": import_job_status(job)}
    )


def _lead_transition(
    request: AuthedHttpRequest,
    project_id: int,
    service: Callable[..., object],
    done: str,
) -> HttpResponse:
    """Archive and unarchive alike: the lead asks, the state machine may refuse (a message)."""
    project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
    try:
        service(project=project)
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("project-dashboard", project.pk)


@login_required
@require_POST
def project_archive(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    return _lead_transition(
        request,
        project_id,
        services.project_archive,
        "Archived: read-only, and hidden from its annotators.",
    )


@login_required
@require_POST
def project_unarchive(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    return _lead_transition(
        request,
        project_id,
        services.project_unarchive,
        "Unarchived: the project is stopped; resume it to collect.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_delete(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """A confirmation page that says what goes and what stays; the name typed deletes."""
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    form = ProjectDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_delete(project=project, confirm=form.cleaned_data["confirm"])
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, f"Project {project.name} deleted.")
            return redirect("home")
    context = {
        "project": project,
        "role": role,
        "form": form,
        "deleted": services.DELETED,
        "kept": services.KEPT,
        "counts": list(selectors.deletion_counts(project).items()),
    }
    return render(request, "projects/delete.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def project_replay(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """The replay card (polled while a job runs); POST starts a replay."""
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    if request.method == "POST":
        try:
            replay.replay_request(project=project, user=request.user)
        except Conflict as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Replay started: the results appear on the dashboard.")
        return redirect("project-dashboard", project.pk)
    context = {"project": project, "replay": replay.replay_status(project)}
    return render(request, "projects/_replay.html", context)


@login_required
@require_POST
def project_replay_switch(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """Switch the project to a replayed strategy and selector: the settings service checks
    them, as it checks any settings change."""
    project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
    strategy, selector = request.POST.get("strategy"), request.POST.get("selector")
    try:
        services.project_update(project=project, strategy=strategy, selector=selector)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"Strategy switched to {strategy} with the {selector} selector.")
    return redirect("project-dashboard", project.pk)
