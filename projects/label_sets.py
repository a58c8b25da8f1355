"""What a multi-label answer is: known, distinct label names, kept in the project's
order; empty only where the project allows an empty set. Submits, reviews and a lead's
relabel all check a set here."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from projects.models import Project


def label_set_check(project: Project, labels: object, *, field: str = "labels") -> list[str]:
    """`labels` as the stored set; ValidationError (under `field`) says what is wrong."""
    if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
        raise ValidationError({field: "labels must be a list of label names"})
    unknown = sorted(set(labels) - set(project.labels))
    if unknown:
        raise ValidationError(
            {field: f"unknown labels {unknown}; the project's labels are {project.labels}"}
        )
    if not labels and not project.allow_empty_set:
        raise ValidationError({field: "choose at least one label (no empty set here)"})
    return [name for name in project.labels if name in set(labels)]


def is_multilabel(project: Project) -> bool:
    return project.task == Project.Task.MULTILABEL
