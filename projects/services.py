"""Writes for projects: create, configure, import, batches, retrain requests.

Keyword-only functions, each one transaction; work for the worker is enqueued on
commit, and the database (a `pending` ModelVersion) records that it is owed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from projects import artifacts
from projects.batches.services import batch_open
from projects.models import Membership, Project
from projects.pool import features
from projects.pool.embedders import embedder_names
from projects.settings_checks import SettingsInvalid, settings_validate
from projects.settings_schema import BUILTIN_EMBEDDER, defaults
from projects.settings_types import TASKS_AVAILABLE, Task
from projects.state import ARCHIVE, RESUME, STOP, UNARCHIVE, project_move, project_writable
from projects.training.estimators import estimator_validate
from winnow.errors import Conflict

NOT_ADDABLE = "No user can be added under that name. Check the spelling with them."


def _validated(
    data: dict[str, Any], *, task: Task, labels_before: list[str] | None = None
) -> dict[str, Any]:
    try:
        return settings_validate(data, labels_before=labels_before, task=task)
    except SettingsInvalid as exc:
        raise ValidationError(exc.errors) from None


def _task_check(kind: str, task: str) -> Task:
    """The task a new project may have: spans only for texts."""
    if task not in [t.value for t in Task]:
        raise ValidationError({"task": f"task must be one of {[t.value for t in Task]}"})
    if task == Task.SPANS and kind != Project.Kind.TEXT:
        raise ValidationError({"task": "spans are for text projects only"})
    if task not in TASKS_AVAILABLE:
        raise ValidationError({"task": f"task {task!r} is not available yet"})
    return Task(task)


@transaction.atomic
def project_create(
    *,
    user: User,
    name: str,
    kind: str,
    labels: list[str],
    task: str = Task.SINGLE,
    **options: Any,
) -> Project:
    """A new project; its kind and task are fixed from now on."""
    if kind not in Project.Kind.values:
        raise ValidationError({"kind": f"kind must be one of {Project.Kind.values}"})
    fixed = _task_check(kind, task)
    fields = _validated({**defaults(fixed), "name": name, "labels": labels, **options}, task=fixed)
    _model_check(kind, fields)
    project = Project.objects.create(kind=kind, task=fixed, created_by=user, **fields)
    Membership.objects.create(project=project, user=user, role=Membership.Role.LEAD)
    return project


@transaction.atomic
def project_update(*, project: Project, **changes: Any) -> Project:
    project_writable(project)
    clean = _validated(changes, labels_before=project.labels, task=Task(project.task))
    current = {name: getattr(project, name) for name in MODEL_SETTINGS}
    _model_check(project.kind, {**current, **clean})
    for key, value in clean.items():
        setattr(project, key, value)
    project.save(update_fields=list(clean))
    if clean.get("embedder", current["embedder"]) != current["embedder"]:
        # Every row must come from one representation: recompute them all at next use.
        transaction.on_commit(lambda: features.representation_delete(project.pk))
    return project


MODEL_SETTINGS = ("strategy", "estimator", "estimator_params", "embedder")


def _model_check(kind: str, fields: dict[str, Any]) -> None:
    """The model settings together: the estimator built and tried, the embedder's kind."""
    errors: dict[str, str] = {}
    try:
        estimator_validate(fields["estimator"], fields["estimator_params"], fields["strategy"])
    except ValueError as exc:
        key = "strategy" if "needs the logistic_regression" in str(exc) else "estimator_params"
        errors[key] = str(exc)
    embedder = fields["embedder"]
    if embedder != BUILTIN_EMBEDDER and embedder not in embedder_names(kind):
        errors["embedder"] = f"embedder {embedder!r} is not for {kind} projects"
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def membership_add(*, project: Project, username: str, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"role must be one of {Membership.Role.values}"})
    # An unknown name and an inactive account get the same answer: which names exist is
    # not the business of whoever has just created a project (projects/throttles.py).
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise ValidationError({"username": NOT_ADDABLE})
    current = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if current is not None and role != Membership.Role.LEAD:
        _keep_a_lead(project, current, username)
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def member_create(*, project: Project, username: str, password: str, role: str) -> Membership:
    """Create a sign-in for someone new and add them with `role`.

    The lead chooses the initial password and hands it over; Django's password
    validators apply, so it is no weaker than one the person would have to choose.
    Unlike `membership_add`, a taken name has to be said: the throttle bounds how many
    names a lead may try this way (projects/throttles.py).
    """
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"role must be one of {Membership.Role.values}"})
    users = get_user_model()
    user = users(username=username)
    try:
        user.clean_fields(exclude=["password"])
    except ValidationError as exc:
        problems = exc.message_dict.get("username", exc.messages)
        raise ValidationError({"username": problems}) from None
    if users.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "That name is taken: pick another one."})
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)
    user.save()
    return Membership.objects.create(project=project, user=user, role=role)


@transaction.atomic
def membership_remove(*, project: Project, username: str) -> User:
    """End a membership and return its user. A project keeps at least one lead.

    Their leases are the annotator app's: `annotator.assignment.services.member_remove`
    is the removal that also releases them.
    """
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(project=project, user__username=username)
        .first()
    )
    if membership is None:
        raise Http404("No such member in this project.")
    _keep_a_lead(project, membership, username)
    membership.delete()
    return membership.user


def _keep_a_lead(project: Project, membership: Membership, username: str) -> None:
    """Refuse to remove or demote the project's last lead (its leads' rows locked, so
    two such changes cannot both pass)."""
    if membership.role != Membership.Role.LEAD:
        return
    leads = Membership.objects.select_for_update().filter(
        project=project, role=Membership.Role.LEAD
    )
    if len(leads.values_list("pk", flat=True)) == 1:
        raise Conflict(f"{username} is the project's last lead: make another member a lead first.")


@transaction.atomic
def project_resume(*, project: Project) -> None:
    """The lead overrides the stopping rules: collecting resumes with a new batch."""
    project_move(project, to=RESUME.to, from_=RESUME.sources)
    project.refresh_from_db()
    batch_open(project=project)


@transaction.atomic
def project_stop(*, project: Project, reason: str) -> None:
    project_move(project, to=STOP.to, from_=STOP.sources, reason=reason)


@transaction.atomic
def project_archive(*, project: Project) -> None:
    """Read-only from now on: no batches open, nobody claims, annotators no longer list
    it. Everything is kept; the lead may unarchive."""
    if not project_move(project, to=ARCHIVE.to, from_=ARCHIVE.sources):
        raise Conflict("The project is already archived.")


@transaction.atomic
def project_unarchive(*, project: Project) -> None:
    """Back as a stopped project: collecting again is the lead's resume, a second step."""
    reason = "Unarchived: resume to collect labels again."
    if not project_move(project, to=UNARCHIVE.to, from_=UNARCHIVE.sources, reason=reason):
        raise Conflict("The project is not archived.")


# What a deletion removes and keeps, as the confirmation page and the API say it.
DELETED = (
    "its items and their images",
    "every annotation, review decision and gold label in it",
    "its batches, selection log, imports and stream history",
    "its model versions, model files and rankings",
    "its memberships",
)
KEPT = ("the people's accounts, and their work in other projects",)


def _project_dirs(project_id: int) -> list[Path]:
    roots = (settings.MEDIA_ROOT, settings.FEATURES_ROOT, settings.MODELS_ROOT)
    return [Path(root) / f"project_{project_id}" for root in roots]


@transaction.atomic
def project_delete(*, project: Project, confirm: str) -> None:
    """Delete the project and everything in it (`DELETED`); its files go once the rows have.

    `confirm` must be the project's name, typed: a deletion cannot be undone.
    """
    if confirm.strip() != project.name.strip():
        raise ValidationError({"confirm": "Type the project's name exactly to delete it."})
    project_remove(project)


@transaction.atomic
def project_remove(project: Project) -> None:
    """Delete a project's rows, then (once they have gone) its files; no questions asked.

    The project row is locked first: an import still adding items (which holds the row,
    `ingest.bulk.projects_hold`, in place of a foreign key) finishes before its items are
    collected for deletion, and one that starts later finds no project.
    """
    Project.objects.select_for_update().filter(pk=project.pk).first()
    dirs = _project_dirs(project.pk)
    pk = project.pk
    project.delete()
    transaction.on_commit(lambda: _remove_dirs(pk, dirs))


def _remove_dirs(project_id: int, dirs: list[Path]) -> None:
    """Its artifacts from the store every host shares, then what is left on this host."""
    for prefix in ("features", "models", "media"):  # media: its images (projects.item_images)
        artifacts.artifacts_delete_dir(f"{prefix}/project_{project_id}")
    for directory in dirs:
        shutil.rmtree(directory, ignore_errors=True)
