"""The one place that decides who may touch a project.

Outsiders get 404 (a project's existence is not disclosed); members whose role
is too low get 403. Staff count as leads everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404

from projects.models import Item, Membership, Project
from winnow.db import execute_prepared, model_from_row, select_list

Role = Membership.Role
LEAD_ONLY = (Role.LEAD,)
REVIEWERS = (Role.LEAD, Role.REVIEWER)
ANYONE = (Role.LEAD, Role.REVIEWER, Role.ANNOTATOR)
# Who may post stream arrivals: the lead, and annotators (e.g. a service account's token).
STREAM_ROLES = (Role.LEAD, Role.ANNOTATOR)

AnyUser = User | AnonymousUser


def projects_for_user(user: AnyUser) -> QuerySet[Project]:
    """Projects listed for the user: all for staff, else those they belong to, minus the
    archived ones they do not lead (an archive is out of the way; a lead may unarchive)."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    listed = Q(memberships__role=Role.LEAD) | ~Q(state=Project.State.ARCHIVED)
    return Project.objects.filter(Q(memberships__user=user) & listed)


def item_for_update(project: Project, item_id: object) -> Item:
    """A project's item, row-locked; 404 for another project's (or a malformed) id."""
    try:
        return Item.objects.select_for_update().get(project=project, pk=int(item_id))  # type: ignore[call-overload]
    except (Item.DoesNotExist, ValueError, TypeError):
        raise Http404("No such item in this project.") from None


# The project with the caller's membership role: every request asks, so it is one plain
# SELECT read through a cursor (no queryset to build). It is portable SQL, the single
# implementation on SQLite and PostgreSQL; `execute_prepared` only prepares it on Postgres.
_PROJECT_WITH_ROLE = (
    "SELECT {columns}, (SELECT m.role FROM {membership} m"
    " WHERE m.project_id = p.id AND m.user_id = %s) AS member_role"
    " FROM {project} p WHERE p.id = %s"
)
MAX_ID = 2**63 - 1


def _project_with_role(user: User, project_id: int | str) -> tuple[Project, str | None] | None:
    try:
        pk = int(project_id)
    except (ValueError, TypeError):
        return None
    if not 0 < pk <= MAX_ID:
        return None
    sql = _PROJECT_WITH_ROLE.format(
        columns=select_list(Project, "p"),
        membership=Membership._meta.db_table,
        project=Project._meta.db_table,
    )
    with connection.cursor() as cursor:
        execute_prepared(cursor, sql, [user.pk, pk])
        row = cursor.fetchone()
    if row is None:
        return None
    return model_from_row(Project, row), row[-1]


def project_for_member(
    user: AnyUser, project_id: int | str, roles: Iterable[str] = ANYONE
) -> tuple[Project, str]:
    """The project and the caller's role; 404 for outsiders, 403 for a too-low role."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    found = _project_with_role(user, project_id)
    if found is None:
        raise Http404("No such project.")
    project, member_role = found
    role = Role.LEAD if user.is_staff else member_role
    if role is None:
        raise Http404("No such project.")
    if role not in tuple(roles):
        raise PermissionDenied(f"This needs the role {' or '.join(roles)}; you are {role}.")
    return project, role
