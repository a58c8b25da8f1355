"""HTML pages for projects: list, create, dashboard, settings, import, export, members."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from projects import charts, selectors, services
from projects.access import LEAD_ONLY, project_for_member, projects_for_user
from projects.forms import ImportForm, MemberForm, ProjectCreateForm, ProjectSettingsForm
from projects.ingest import uploads
from projects.ingest.images import import_job_status
from projects.ingest.parsers import ImportRejected
from projects.models import ImportJob, Membership, Project
from projects.stream.selectors import stream_stats
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
            n_labeled=Count("items", filter=Q(items__label__isnull=False), distinct=True),
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
@require_safe
def dashboard(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id)
    if request.htmx:  # the live part, polled every 2 s
        return render(request, "projects/dashboard.html#live", _live_context(project, role))
    context = {
        **_live_context(project, role),
        "selections": selectors.selection_log(project, limit=60),
        "stream": _stream(project),
        "model_choice": selectors.model_choice(project),
    }
    return render(request, "projects/dashboard.html", context)


def _live_context(project: Project, role: str) -> dict[str, Any]:
    curve = selectors.learning_curve(project)
    return {
        "project": project,
        "role": role,
        "status": selectors.project_status(project),
        "chart": charts.learning_curve_svg(curve),
        "is_lead": role == Membership.Role.LEAD,
    }


def _stream(project: Project) -> dict[str, Any] | None:
    """Arrivals, query rate against budget and predicted-label mix over time (§6)."""

    if project.stream_budget is None and not project.items.filter(from_stream=True).exists():
        return None
    stats = stream_stats(project)
    stats["rows"] = [
        {"bucket": b, "bars": _mix_bars(b["shares"], stats["labels"])} for b in stats["timeline"]
    ]
    return stats


_COLOURS = ["#3b5bdb", "#e67700", "#2b8a3e", "#c92a2a", "#7048e8", "#0c8599", "#5c940d"]


def _mix_bars(shares: dict[str, float], labels: list[str]) -> list[dict[str, Any]]:
    """One stacked bar's segments, each starting where the previous ended (SVG x)."""
    bars, x = [], 0.0
    for i, label in enumerate(labels):
        share = round(100 * shares.get(label, 0.0), 1)
        bars.append({"label": label, "share": share, "x": x, "colour": _COLOURS[i % len(_COLOURS)]})
        x = round(x + share, 1)
    return bars


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    form = ProjectSettingsForm(
        request.POST or None, initial=ProjectSettingsForm.initial_for(project)
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(project=project, **form.cleaned_data)
        except ValidationError as exc:
            _apply_errors(form, exc)
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
    context = {"project": project, "role": role, "form": form, "result": result, "error": error}
    if request.htmx:
        return render(request, "projects/import.html#result", context)
    return render(request, "projects/import.html", context)


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
    return render(
        request,
        "projects/members.html",
        {
            "project": project,
            "role": role,
            "form": form,
            "members": selectors.members(project),
            "is_lead": role == Membership.Role.LEAD,
        },
    )


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
        return render(request, "projects/dashboard.html#live", _live_context(project, role))
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
