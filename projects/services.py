"""Writes for projects: create, configure, import, batches, retrain requests.

Keyword-only functions, each one transaction; work for the worker is enqueued on
commit, and the database (a `pending` ModelVersion) records that it is owed.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction

from projects.batches.services import batch_open
from projects.models import Membership, Project

EDITABLE_FIELDS = (
    "name",
    "labels",
    "batch_size",
    "strategy",
    "selector",
    "overlap",
    "agreement_fraction",
    "agreement_overlap",
    "consensus_method",
    "holdout_fraction",
    "holdout_target",
    "seed_per_class",
    "stopping",
    "stream_budget",
    "consensus_threshold",
    "gold_fraction",
)


def settings_validate(data: dict[str, Any], *, project: Project | None = None) -> dict[str, Any]:
    """Check a project's settings against the strategy library; raise ValidationError."""
    from strategies.query import STRATEGIES
    from strategies.selection import SELECTORS
    from strategies.stopping import validate_rule

    errors: dict[str, str] = {}
    clean = dict(data)
    if "labels" in data:
        labels = data["labels"]
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) and x.strip() for x in labels)
        ):
            errors["labels"] = "labels must be a non-empty list of non-empty strings"
        elif len(set(labels)) != len(labels):
            errors["labels"] = "labels must be distinct"
        elif len(labels) > 200:
            errors["labels"] = "at most 200 labels"
        elif project is not None and not set(project.labels) <= set(labels):
            errors["labels"] = "labels can be added but not removed or renamed"
        else:
            clean["labels"] = [x.strip() for x in labels]
    if "strategy" in data and data["strategy"] not in STRATEGIES:
        errors["strategy"] = f"unknown strategy; choose one of {sorted(STRATEGIES)}"
    if "selector" in data and data["selector"] not in SELECTORS:
        errors["selector"] = f"unknown selector; choose one of {sorted(SELECTORS)}"
    _check_range(data, errors, "batch_size", 1, 10_000)
    _check_range(data, errors, "overlap", 1, 20)
    _check_range(data, errors, "agreement_overlap", 1, 20)
    _check_range(data, errors, "holdout_target", 0, 1_000_000)
    _check_range(data, errors, "seed_per_class", 0, 1000)
    _check_fraction(data, errors, "agreement_fraction")
    _check_fraction(data, errors, "consensus_threshold")
    _check_fraction(data, errors, "gold_fraction", upper=0.5)
    _check_fraction(data, errors, "holdout_fraction", upper=0.9)
    _check_fraction(data, errors, "stream_budget", nullable=True)
    if "consensus_method" in data and data["consensus_method"] not in CONSENSUS_NAMES:
        errors["consensus_method"] = f"choose one of {list(CONSENSUS_NAMES)}"
    if "stopping" in data:
        try:
            clean["stopping"] = [validate_rule(rule) for rule in (data["stopping"] or [])]
        except (ValueError, TypeError, AttributeError) as exc:
            errors["stopping"] = str(exc)
    if errors:
        raise ValidationError(errors)
    return clean


CONSENSUS_NAMES = ("majority", "weighted", "dawid_skene")


def _check_range(data: dict[str, Any], errors: dict[str, str], key: str, lo: int, hi: int) -> None:
    if key not in data:
        return
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        errors[key] = f"{key} must be an integer from {lo} to {hi}"


def _check_fraction(
    data: dict[str, Any],
    errors: dict[str, str],
    key: str,
    *,
    upper: float = 1.0,
    nullable: bool = False,
) -> None:
    if key not in data or (nullable and data[key] is None):
        return
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper:
        errors[key] = f"{key} must be a number from 0 to {upper}"


@transaction.atomic
def project_create(
    *, user: User, name: str, kind: str, labels: list[str], **options: Any
) -> Project:
    from strategies.defaults import DEFAULT_SELECTOR, DEFAULT_STRATEGY

    if kind not in Project.Kind.values:
        raise ValidationError({"kind": f"kind must be one of {Project.Kind.values}"})
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationError({"name": "name must be 1 to 200 characters"})
    unknown = set(options) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({k: "unknown setting" for k in unknown})
    fields = settings_validate(
        {"labels": labels, "strategy": DEFAULT_STRATEGY, "selector": DEFAULT_SELECTOR, **options}
    )
    project = Project.objects.create(name=name.strip(), kind=kind, created_by=user, **fields)
    Membership.objects.create(project=project, user=user, role=Membership.Role.LEAD)
    return project


@transaction.atomic
def project_update(*, project: Project, **changes: Any) -> Project:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({k: "unknown setting" for k in unknown})
    clean = settings_validate(changes, project=project)
    for key, value in clean.items():
        setattr(project, key, value)
    project.save(update_fields=list(clean))
    return project


@transaction.atomic
def membership_add(*, project: Project, username: str, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError({"role": f"role must be one of {Membership.Role.values}"})
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"no user called {username!r}"})
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


@transaction.atomic
def project_resume(*, project: Project) -> None:
    """The lead overrides the stopping rules: collecting resumes with a new batch."""
    Project.objects.filter(pk=project.pk).update(state=Project.State.COLLECTING, stop_reason="")
    project.refresh_from_db()
    batch_open(project=project)


@transaction.atomic
def project_stop(*, project: Project, reason: str) -> None:
    Project.objects.filter(pk=project.pk).update(state=Project.State.STOPPED, stop_reason=reason)
