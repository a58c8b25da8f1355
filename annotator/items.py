"""The items page (`/projects/{id}/items/`): the lead's and reviewers' browser of a
project's items, an item's detail, the lead's relabel and bulk actions.

It lives in the annotator app because relabelling and the bulk actions are review and
gold decisions (`annotator.quality`); the reads are `projects.item_selectors`, the same
filters and keyset pages as `GET /api/projects/{id}/items/`, checked by the same query
serializer, so the page and the API keep one rule.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseClientRedirect

from annotator.quality.bulk import BulkAction, items_bulk
from annotator.quality.review import item_relabel
from projects.access import LEAD_ONLY, REVIEWERS, project_for_member
from projects.item_selectors import (
    ORDERINGS,
    ItemFilters,
    item_detail,
    items_page,
    position_decode,
)
from projects.items_api import ItemQuerySerializer
from projects.models import Item, Membership, Project
from winnow.errors import Conflict
from winnow.http import AuthedHttpRequest

PAGE_SIZE = 50
ORDERING_NAMES = {
    "id": "oldest id first",
    "-id": "newest id first",
    "-score": "highest score first",
    "score": "lowest score first",
    "-created_at": "newest first",
    "created_at": "oldest first",
}


def _query(project: Project, params: QueryDict) -> tuple[dict[str, Any], dict[str, Any]]:
    """The filters as the API checks them; the errors per field (an empty dict if none)."""
    fields = {k: v for k, v in params.items() if k != "after" and v != ""}
    query = ItemQuerySerializer(data=fields, context={"project": project})
    if not query.is_valid():
        return {}, dict(query.errors)
    return dict(query.validated_data), {}


def _after(ordering: str, params: QueryDict) -> tuple[Any, int] | None:
    position = params.get("after", "")
    if not position:
        return None
    try:
        return position_decode(ordering, position)
    except (ValueError, OverflowError):
        raise Http404("That page position does not belong to this list.") from None


@login_required
@require_safe
def items_browser(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project, role = project_for_member(request.user, project_id, REVIEWERS)
    data, errors = _query(project, request.GET)
    rows: list[dict[str, Any]] = []
    next_url = ""
    if not errors:
        ordering = data.pop("ordering")
        rows, position = items_page(
            project,
            filters=ItemFilters(**data),
            ordering=ordering,
            after=_after(ordering, request.GET),
            size=PAGE_SIZE,
        )
        if position is not None:
            params = {k: v for k, v in request.GET.items() if k != "after"}
            next_url = f"?{urlencode({**params, 'after': position})}"
    context = {
        "project": project,
        "role": role,
        "is_lead": role == Membership.Role.LEAD,
        "rows": rows,
        "errors": errors,
        "next_url": next_url,
        "params": request.GET,
        "states": Item.State.choices,
        "orderings": [(key, ORDERING_NAMES[key]) for key in ORDERINGS],
        "actions": BulkAction.choices,
        "here": request.get_full_path(),
    }
    if request.htmx and request.htmx.target == "items-results":
        return render(request, "annotator/items.html#results", context)
    return render(request, "annotator/items.html", context)


def _detail_context(project: Project, role: str, item_id: int) -> dict[str, Any]:
    return {
        "project": project,
        "role": role,
        "is_lead": role == Membership.Role.LEAD,
        "detail": item_detail(project, item_id),
        "labels": list(project.labels),
        "relabel_error": "",
    }


@login_required
@require_safe
def item_page(request: AuthedHttpRequest, project_id: int, item_id: int) -> HttpResponse:
    """The item's detail: a page, or the browser's side panel when htmx asks."""
    project, role = project_for_member(request.user, project_id, REVIEWERS)
    context = _detail_context(project, role, item_id)
    if request.htmx:
        return render(request, "annotator/item.html#detail", context)
    return render(request, "annotator/item.html", context)


@login_required
@require_POST
def item_label(request: AuthedHttpRequest, project_id: int, item_id: int) -> HttpResponse:
    """The lead relabels the item; the detail is shown again with its new label."""
    project, role = project_for_member(request.user, project_id, LEAD_ONLY)
    error = ""
    try:
        item_relabel(
            project=project, user=request.user, item_id=item_id, label=request.POST.get("label")
        )
    except ValidationError as exc:
        error = " ".join(exc.messages)
    except Conflict as exc:
        error = str(exc)
    context = {**_detail_context(project, role, item_id), "relabel_error": error}
    if request.htmx:  # htmx swaps 200s only: the refusal is shown in the panel
        return render(request, "annotator/item.html#detail", context)
    if error:
        return render(request, "annotator/item.html", context, status=400)
    messages.success(request, "Relabelled as the lead's decision.")
    return redirect("project-item", project.pk, item_id)


def _ids(values: list[str]) -> list[int]:
    try:
        return [int(v) for v in values]
    except ValueError:
        raise Http404("Those are not item ids.") from None


@login_required
@require_POST
def items_bulk_page(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    """A bulk action on the checked items; back to the same filtered list, with what
    happened said in a message."""
    project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
    try:
        result = items_bulk(
            project=project,
            user=request.user,
            action=request.POST.get("action", ""),
            item_ids=_ids(request.POST.getlist("items")),
            label=request.POST.get("label") or None,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        _say(request, result.action, result.changed, result.refused)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts=None) or not back.startswith("/"):
        back = reverse("project-items", args=[project.pk])
    return HttpResponseClientRedirect(back) if request.htmx else redirect(back)


def _say(
    request: AuthedHttpRequest, action: str, changed: int, refused: list[dict[str, object]]
) -> None:
    done = BulkAction(action).label
    messages.success(request, f"{done}: {changed} item{'s' if changed != 1 else ''}.")
    if refused:
        listed = "; ".join(f"item {r['item']}: {r['error']}" for r in refused[:10])
        more = f" (and {len(refused) - 10} more)" if len(refused) > 10 else ""
        messages.warning(request, f"Left unchanged: {listed}{more}.")
