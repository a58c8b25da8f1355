"""The one place that decides who may touch a project.

Outsiders get 404 (a project's existence is not disclosed); members whose role
is too low get 403.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from projects.models import Item, Membership, Project

Role = Membership.Role
LEAD_ONLY = (Role.LEAD,)
REVIEWERS = (Role.LEAD, Role.REVIEWER)
ANYONE = (Role.LEAD, Role.REVIEWER, Role.ANNOTATOR)

AnyUser = User | AnonymousUser


def projects_for_user(user: AnyUser) -> QuerySet[Project]:
    """Projects the user may see: all for staff, else those they belong to."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def member_role(user: AnyUser, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_staff:
        return Role.LEAD
    membership = Membership.objects.filter(project=project, user=user).first()
    return membership.role if membership else None


def item_for_update(project: Project, item_id: object) -> Item:
    """A project's item, row-locked; 404 for another project's (or a malformed) id."""
    try:
        return Item.objects.select_for_update().get(project=project, pk=int(item_id))  # type: ignore[call-overload]
    except (Item.DoesNotExist, ValueError, TypeError):
        raise Http404("No such item in this project.") from None


def project_for_member(
    user: AnyUser, project_id: int | str, roles: Iterable[str] = ANYONE
) -> tuple[Project, str]:
    """The project and the caller's role; 404 for outsiders, 403 for a too-low role."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    # One query: the project with the caller's role (this runs on every request).
    own_role = Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk).values("role")
    try:
        project = Project.objects.annotate(member_role=Subquery(own_role[:1])).get(
            pk=int(project_id)
        )
    except (Project.DoesNotExist, ValueError, TypeError):
        raise Http404("No such project.") from None
    role = Role.LEAD if user.is_staff else getattr(project, "member_role", None)
    if role is None:
        raise Http404("No such project.")
    if role not in tuple(roles):
        raise PermissionDenied(f"This needs the role {' or '.join(roles)}; you are {role}.")
    return project, role
