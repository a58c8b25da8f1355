"""The answer fields of every input that carries one: an annotation, its edit, a
review's decision, a lead's label, a gold answer, a bulk action's label.

Their limits live here once; each input gives its own help text and null rule. What an
answer means for the project (a known label, a set it allows, spans on tokens) is the
services' to check (`projects.answers`, `projects.span_answers`).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from projects.models import Item

LABEL_LENGTH: int = Item._meta.get_field("label").max_length  # type: ignore[assignment]
SET_SIZE = 200  # labels in one multi-label answer
SPANS = 10_000  # spans in one answer


def label_field(**kwargs: Any) -> serializers.CharField:
    """A single-label project's answer: one label."""
    return serializers.CharField(max_length=LABEL_LENGTH, required=False, **kwargs)


def labels_field(help_text: str, **kwargs: Any) -> serializers.ListField:
    """A multi-label project's answer: a set of labels."""
    return serializers.ListField(
        child=serializers.CharField(max_length=LABEL_LENGTH),
        required=False,
        max_length=SET_SIZE,
        help_text=help_text,
        **kwargs,
    )


def spans_field(help_text: str, **kwargs: Any) -> serializers.ListField:
    """A span project's answer as clients send it: a list of objects."""
    return serializers.ListField(
        child=serializers.DictField(), max_length=SPANS, help_text=help_text, **kwargs
    )
