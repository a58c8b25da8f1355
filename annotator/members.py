"""Removing a member from a project, as an API operation and as the members page's button.

It lives in the annotator app because a removal also releases the member's leases, which
are this app's (`annotator.assignment.services.member_remove`); the membership itself is
ended by `projects.services.membership_remove`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.assignment.services import member_remove
from projects.access import LEAD_ONLY, project_for_member
from winnow.errors import Conflict, error_responses
from winnow.http import AuthedHttpRequest


class MemberView(APIView):
    @extend_schema(
        responses={
            204: OpenApiResponse(
                description="Removed; their leases are released, their annotations kept."
            ),
            **error_responses(401, 403, 404, 409),
        },
    )
    def delete(self, request: Request, project_id: int, username: str) -> Response:
        project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
        member_remove(project=project, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)


@login_required
@require_POST
def member_remove_page(request: AuthedHttpRequest, project_id: int, username: str) -> HttpResponse:
    project, _ = project_for_member(request.user, project_id, LEAD_ONLY)
    try:
        member_remove(project=project, username=username)
    except Conflict as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{username} removed; their labels are kept.")
    members = reverse("project-members", args=[project.pk])
    return HttpResponseClientRedirect(members) if request.htmx else redirect(members)
