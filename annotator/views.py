"""The annotate page: one item, keyboard first; htmx swaps in the next item."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from annotator import page, spans_page
from annotator.assignment import history, idle, services
from annotator.quality import review as review_service
from annotator.quality import selectors as quality
from projects import charts, label_keys
from projects.access import REVIEWERS, project_for_member
from projects.label_sets import is_multilabel
from projects.models import Annotation, Item, Project
from projects.selectors import item_batch
from projects.span_answers import is_spans
from winnow.errors import Conflict
from winnow.http import AuthedHttpRequest


def _panel(
    request: AuthedHttpRequest,
    project: Project,
    *,
    item: Item | None,
    reason: str = "",
    error: str = "",
    previous: Annotation | None = None,
    drawn: spans_page.Drawn | None = None,
) -> HttpResponse:
    context: dict[str, Any] = {
        **_page_context(project, shell=False),
        "item": item,
        "reason": reason,
        "error": error,
        "previous": previous,
        "batch": item_batch(item, revising=previous is not None),
        "idle": None if item is not None else idle.idle_summary(project, request.user),
        # Each item starts at the project's default confidence; a changed one at its own.
        "confidence": previous.confidence if previous else project.default_confidence,
        "suggestion": page.suggestion(project, item) if item and not previous else None,
        "meta": page.meta_shown(project, item) if item else [],
        **spans_page.annotate_context(
            project, page.project_label_keys(project), item, previous, drawn
        ),
    }
    template = "annotator/annotate.html#panel" if request.htmx else "annotator/annotate.html"
    return render(request, template, context)


def _page_context(project: Project, *, shell: bool) -> dict[str, Any]:
    labels = page.project_label_keys(project)
    return {
        "project": project,
        "shell": shell,
        "labels": labels,
        "filter_labels": len(labels) > page.FILTER_ABOVE,
        "keymap": page.keymap(project, labels, page="annotate"),
        "guide": page.guide(project, labels),
        "confidence_keys": list(zip(range(1, 6), label_keys.CONFIDENCE_KEYS, strict=True)),
        "confidence_scale": page.CONFIDENCE_SCALE,
        "default_confidence": project.default_confidence,
        "multilabel": is_multilabel(project),
        "span_task": is_spans(project),
    }


def _next(
    request: AuthedHttpRequest,
    project: Project,
    *,
    error: str = "",
    drawn: spans_page.Drawn | None = None,
) -> HttpResponse:
    result = services.assignment_next(project=project, user=request.user)
    item = result.assignment.item if result.assignment else None
    return _panel(request, project, item=item, reason=result.reason, error=error, drawn=drawn)


@login_required
@require_http_methods(["GET", "POST"])
def annotate(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """GET is the page shell, which writes nothing; its panel then POSTs here (htmx, on
    load) to claim an item, so a cross-site link cannot hand out a lease."""
    project, _ = project_for_member(request.user, project_id)
    if request.method == "POST":
        return _next(request, project)
    return render(request, "annotator/annotate.html", _page_context(project, shell=True))


@login_required
@require_POST
def annotate_label(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, _ = project_for_member(request.user, project_id)
    try:
        services.annotation_submit(
            project=project,
            user=request.user,
            item_id=request.POST.get("item"),
            label=request.POST.get("label"),
            labels=_set(request),
            spans=spans_page.posted_spans(request.POST.get("spans")),
            confidence=_int(request.POST.get("confidence"), project.default_confidence),
        )
    except (ValidationError, Conflict) as exc:
        # The editor is drawn again with what was posted: a refusal loses no span.
        drawn = spans_page.drawn_spans(request.POST.get("item"), request.POST.get("spans"))
        return _next(request, project, error=_message(exc), drawn=drawn)
    return _next(request, project)


@login_required
@require_POST
def annotate_skip(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, _ = project_for_member(request.user, project_id)
    try:
        services.assignment_skip(
            project=project, user=request.user, item_id=request.POST.get("item")
        )
    except Conflict as exc:
        return _next(request, project, error=str(exc))
    return _next(request, project)


@login_required
@require_POST
def annotate_undo(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, _ = project_for_member(request.user, project_id)
    last = services.annotation_last(project=project, user=request.user)
    if last is None:
        return _next(request, project, error="Nothing to undo yet.")
    return _panel(request, project, item=last.item, previous=last)


def _set(request: AuthedHttpRequest) -> list[str] | None:
    """The toggled labels of a multi-label form (`set` marks one, so none toggled is the
    empty set rather than no answer)."""
    return request.POST.getlist("labels") if request.POST.get("set") else None


def _int(value: str | None, default: int) -> int | None:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return None


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc)


@login_required
@require_safe
def review(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """The review queue, one item at a time: label keys decide, `r` sends it back."""
    project, role = project_for_member(request.user, project_id, REVIEWERS)
    return _review_panel(request, project, role=role)


@login_required
@require_POST
def review_act(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id, REVIEWERS)
    item_id = request.POST.get("item")
    try:
        if request.POST.get("action") == "send_back":
            review_service.review_send_back(project=project, user=request.user, item_id=item_id)
        else:
            review_service.review_decide(
                project=project,
                user=request.user,
                item_id=item_id,
                label=request.POST.get("label"),
                labels=_set(request),
                spans=spans_page.posted_spans(request.POST.get("spans")),
            )
    except (ValidationError, Conflict) as exc:
        return _review_panel(request, project, role=role, error=_message(exc))
    return _review_panel(request, project, role=role)


# Items after the current one shown as a strip (thumbnails for images), so a reviewer
# sees what is coming.
REVIEW_UPCOMING = 8


def _review_panel(
    request: AuthedHttpRequest, project: Project, *, role: str, error: str = ""
) -> HttpResponse:
    queue = quality.review_queue(project, limit=1 + REVIEW_UPCOMING)
    labels = page.project_label_keys(project)
    context = {
        "project": project,
        "role": role,
        "multilabel": is_multilabel(project),
        # The labels every annotator chose start toggled on: the reviewer adds or removes.
        "agreed": page.labels_all_chose(queue[0]) if queue else [],
        "entry": queue[0] if queue else None,
        "upcoming": queue[1:],
        "error": error,
        "waiting": quality.review_count(project),
        "labels": labels,
        "keymap": page.keymap(project, labels, page="review"),
        "guide": page.guide(project, labels),
        "send_back_key": label_keys.SEND_BACK_KEY,
        "span_task": is_spans(project),
        **spans_page.review_context(project, labels, queue[0] if queue else None),
    }
    template = "annotator/review.html#panel" if request.htmx else "annotator/review.html"
    return render(request, template, context)


@login_required
@require_safe
def annotate_history(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """The caller's last labels in the project; those whose batch is open can be changed."""
    project, role = project_for_member(request.user, project_id)
    entries = history.annotation_history(project=project, user=request.user)
    context = {
        "project": project,
        "role": role,
        "entries": entries,
        "labels": list(project.labels),
        "limit": history.HISTORY_LIMIT,
        "span_task": is_spans(project),
        "span_entries": spans_page.history_rows(project, entries),
    }
    return render(request, "annotator/history.html", context)


@login_required
@require_POST
def annotate_history_change(
    request: AuthedHttpRequest, project_id: int, item_id: int
) -> HttpResponse:
    """Change one label from the history page; answers with its row (htmx) or the page."""
    project, _ = project_for_member(request.user, project_id)
    error = ""
    sets = project.task == Project.Task.MULTILABEL  # the toggles post `labels`, one each
    try:
        history.annotation_change(
            project=project,
            user=request.user,
            item_id=item_id,
            label=None if sets else request.POST.get("label"),
            labels=request.POST.getlist("labels") if sets else None,
            confidence=_int(request.POST.get("confidence"), project.default_confidence),
        )
    except (ValidationError, Conflict) as exc:
        error = _message(exc)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("annotate-history", project.pk)
    entry = history.history_entry(project=project, user=request.user, item_id=item_id)
    context = {"project": project, "entry": entry, "labels": list(project.labels), "error": error}
    return render(request, "annotator/history.html#row", context)


@login_required
@require_safe
def quality_panel(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """The dashboard's agreement and annotator-stats cards, loaded into it by htmx."""
    project, role = project_for_member(request.user, project_id)
    context = {"project": project, "quality": _quality(project, role, request.user)}
    return render(request, "annotator/quality_panel.html", context)


def _quality(project: Project, role: str, user: Any) -> dict[str, Any]:
    """Agreement for leads and reviewers (as in the API); annotators see their own row."""
    sees_all = role in REVIEWERS
    agreement = quality.agreement(project) if sees_all else None
    confusion = agreement["confusion"] if agreement else {"labels": [], "matrix": []}
    return {
        "agreement": agreement,
        "agreement_chart": _agreement_chart(project) if sees_all else None,
        "confusion_rows": [
            {"label": label, "values": values}
            for label, values in zip(confusion["labels"], confusion["matrix"], strict=True)
        ],
        "annotators": quality.annotator_stats(project, user=None if sees_all else user),
    }


def _agreement_chart(project: Project) -> dict[str, Any] | None:
    """Agreement per batch (items with two or more annotations), as a line chart."""
    points = quality.agreement_over_time(project)
    series: dict[str, list[tuple[float, float]]] = {"Fleiss' kappa": [], "Krippendorff's alpha": []}
    for i, p in enumerate(points):
        for name, key in (
            ("Fleiss' kappa", "fleiss_kappa"),
            ("Krippendorff's alpha", "krippendorff_alpha"),
        ):
            if p[key] is not None:
                series[name].append((i, p[key]))
    return charts.line_chart(
        series,
        x_label="Batch",
        y_label="Agreement",
        caption="Agreement per batch (items with two or more annotations)",
        x_names=[f"{p['batch']} (n={p['items']})" for p in points],
        y_range=(-0.2, 1.0),
        y_format="{:.3f}",
    )
