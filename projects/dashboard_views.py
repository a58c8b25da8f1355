"""The project dashboard: its live part (polled by htmx), the charts, the stream panel
and the selection log's pages. Split from `projects.views`, which keeps the pages that
change a project."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from projects import chart_selectors, charts, replay, selectors
from projects.access import project_for_member
from projects.forecast import forecast_band
from projects.models import Membership, Project
from projects.stream.selectors import stream_stats
from winnow.http import AuthedHttpRequest


@login_required
@require_safe
def dashboard(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id)
    if request.htmx:  # the live part, polled every 2 s
        return render(request, "projects/dashboard.html#live", live_context(project, role))
    context = {
        **live_context(project, role),
        "selections": selectors.selection_log_page(project, 1),
        "stream": _stream(project),
        "charts": _charts(project),
        "replay": replay.replay_status(project) if role == Membership.Role.LEAD else None,
        "model_choice": chart_selectors.model_choice(project),
    }
    return render(request, "projects/dashboard.html", context)


@login_required
@require_safe
def selection_log(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """A page of the dashboard's selection log (htmx swaps it in; a plain link works too)."""
    project, _ = project_for_member(request.user, project_id)
    context = {
        "project": project,
        "selections": selectors.selection_log_page(project, request.GET.get("page")),
    }
    return render(request, "projects/_selections.html", context)


def live_context(project: Project, role: str) -> dict[str, Any]:
    curve = selectors.learning_curve(project)
    status = selectors.project_status(project)
    batches = selectors.open_batches(project)
    return {
        "project": project,
        "role": role,
        "status": status,
        "batches": batches,
        "next_retrain": selectors.next_retrain(status, batches),
        "chart": charts.learning_curve_svg(curve, forecast_band(project), task=project.task),
        "is_lead": role == Membership.Role.LEAD,
    }


def _charts(project: Project) -> dict[str, Any]:
    """Labels per annotator over time, and the labels given against the predicted mix."""
    work = chart_selectors.labels_per_annotator(project)
    mix = chart_selectors.label_distribution(project)
    return {
        "annotators": charts.line_chart(
            work["series"],
            x_label="Period",
            y_label="Labels (cumulative)",
            caption="Labels per annotator over time",
            x_names=work["periods"],
        ),
        "distribution": charts.paired_bars(
            mix["labels"],
            mix["given"],
            mix["predicted"],
            names=(
                f"labels given (n={mix['given_n']})",
                f"model's predictions for the pool (n={mix['predicted_n']})",
            ),
            caption="Label distribution: labels given and the model's predictions",
        ),
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
