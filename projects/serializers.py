"""The API's serializers: the project settings' fields derived from the settings schema,
and the shapes of the status, import and curve answers (PRODUCT.md §10)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import (
    Direction,
    inline_serializer,
)
from rest_framework import serializers

from projects.models import Membership, Project
from projects.settings_checks import value_check
from projects.settings_schema import SETTINGS, nested_api_groups
from projects.settings_types import MAX_MARKDOWN, MAX_NAME, Setting, Task, Type


def _schema_check(setting: Setting) -> Callable[[Any], None]:

    def check(value: Any) -> None:
        try:
            value_check(setting, value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    return check


def serializer_field(setting: Setting, *, partial: bool = False) -> serializers.Field:
    """The API field of a setting; every invalid value gets the schema's message."""
    common: dict[str, Any] = {
        "required": setting.required and not partial,
        "help_text": setting.help,
        "allow_null": setting.nullable,
    }
    if setting.type == Type.TEXT:
        # min_length only states in the schema what allow_blank=False already refuses.
        return serializers.CharField(max_length=MAX_NAME, min_length=1, **common)
    if setting.type in (Type.LABELS, Type.RULES, Type.NAMES, Type.LABEL_OPTIONS, Type.OBJECT):
        # Types DRF cannot spell out: the schema's own check, so the 400 says what the
        # services would.
        common["validators"] = [_schema_check(setting)]
    if setting.type == Type.LABELS:
        return serializers.ListField(
            child=serializers.CharField(max_length=200, min_length=1), min_length=1, **common
        )
    if setting.type == Type.NAMES:
        return serializers.ListField(child=serializers.CharField(max_length=MAX_NAME), **common)
    if setting.type == Type.LABEL_OPTIONS:
        option = serializers.DictField(child=serializers.CharField(allow_blank=True))
        return serializers.DictField(child=option, **common)
    if setting.type == Type.BOOLEAN:
        return serializers.BooleanField(**common)
    if setting.type == Type.MARKDOWN:
        return serializers.CharField(
            max_length=MAX_MARKDOWN, allow_blank=True, trim_whitespace=False, **common
        )
    if setting.type == Type.RULES:
        rules = ", ".join(setting.choice_map())
        common["help_text"] = f"{setting.help} Rules: {rules}."
        return serializers.ListField(child=serializers.DictField(), **common)
    if setting.type == Type.OBJECT:
        return serializers.DictField(**common)
    messages: dict[str, Any] = dict.fromkeys(
        ("invalid", "invalid_choice", "min_value", "max_value", "max_string_length"),
        setting.problem,
    )
    if setting.type == Type.CHOICE:
        # Every task's choices: which fit the project's task the services decide.
        choices = list(dict.fromkeys(c for t in Task for c in setting.choice_map(t)))
        return serializers.ChoiceField(choices=choices, error_messages=messages, **common)
    bounds: dict[str, Any] = {
        "min_value": setting.low,
        "max_value": setting.high,
        "error_messages": messages,
    }
    if setting.type == Type.INTEGER:
        return serializers.IntegerField(**bounds, **common)
    return serializers.FloatField(**bounds, **common)


class RefusesUnknown(serializers.Serializer):
    """A serializer that answers 400 for fields it does not know, rather than drop them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({k: ["unknown setting"] for k in unknown})
        return super().to_internal_value(data)


class RefusesUnknownSchema(OpenApiSerializerExtension):
    """The schema says what `RefusesUnknown` does: no properties besides its fields."""

    target_class = RefusesUnknown
    match_subclasses = True

    def map_serializer(self, auto_schema: AutoSchema, direction: Direction) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


def _nested(outer: str, partial: bool) -> serializers.Serializer:
    settings = nested_api_groups()[outer]
    fields = {s.api_path[1]: serializer_field(s, partial=True) for s in settings}
    name = f"{outer.title()}Settings{'Patch' if partial else ''}"
    serializer_class = type(name, (RefusesUnknown,), fields)
    return serializer_class(required=False)


def settings_fields(*, partial: bool) -> dict[str, serializers.Field]:
    """The settings as API fields, derived from `projects.settings_schema`."""
    fields: dict[str, serializers.Field] = {
        s.name: serializer_field(s, partial=partial) for s in SETTINGS if not s.api_path
    }
    for outer in nested_api_groups():
        fields[outer] = _nested(outer, partial)
    return fields


class ProjectCreateSerializer(RefusesUnknown):
    """A new project: only `name`, `kind` and `labels` are required."""

    kind = serializers.ChoiceField(choices=Project.Kind.values)
    task = serializers.ChoiceField(
        choices=[t.value for t in Task],
        required=False,
        help_text="single (default), multilabel, or spans (text projects only). "
        "Fixed after creation.",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        return {**super().get_fields(), **settings_fields(partial=False)}


class ProjectUpdateSerializer(RefusesUnknown):
    """The settings to change; labels can be added but not removed or renamed."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return settings_fields(partial=True)


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = [
            "id",
            "kind",
            "task",
            "state",
            *(s.name for s in SETTINGS),
            "stop_reason",
            "created_at",
        ]


class MemberSerializer(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Membership.Role.values)


ImportResult = inline_serializer(
    "ImportResult",
    {
        "created": serializers.IntegerField(),
        "skipped": serializers.IntegerField(),
        "errors": serializers.ListField(child=serializers.DictField()),
        "seeded": serializers.IntegerField(
            required=False, help_text="Imported rows with a label: they became seed labels."
        ),
        "job": serializers.IntegerField(required=False),
    },
)


class BatchSummarySerializer(serializers.Serializer):
    number = serializers.IntegerField()
    size = serializers.IntegerField()
    done = serializers.IntegerField()
    state = serializers.CharField()
    kind = serializers.CharField()


class StoppingValueSerializer(serializers.Serializer):
    rule = serializers.CharField()
    met = serializers.BooleanField()
    value = serializers.FloatField(allow_null=True)
    detail = serializers.CharField()
    params = serializers.DictField()


class StatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.CharField()
    stop_reason = serializers.CharField()
    items = serializers.IntegerField()
    labeled = serializers.IntegerField()
    pool = serializers.IntegerField()
    review = serializers.IntegerField()
    holdout = serializers.IntegerField()
    predicted = serializers.IntegerField()
    batch = BatchSummarySerializer(allow_null=True)
    model = inline_serializer(
        "StatusModel",
        {
            "version": serializers.IntegerField(),
            "metrics": serializers.DictField(allow_null=True),
            "headline_metric": serializers.CharField(
                help_text="The holdout figure stopping rules read: accuracy, micro_f1 "
                "(multi-label) or f1 (entity F1, spans)."
            ),
            "headline": serializers.FloatField(allow_null=True),
            "train_size": serializers.IntegerField(),
            "holdout_size": serializers.IntegerField(),
            "labels_total": serializers.IntegerField(),
            "finished_at": serializers.DateTimeField(allow_null=True),
        },
        allow_null=True,
    )
    retrain = inline_serializer(
        "StatusRetrain",
        {"version": serializers.IntegerField(), "status": serializers.CharField()},
        allow_null=True,
    )
    stopping = StoppingValueSerializer(many=True)
    forecast = inline_serializer(
        "StatusForecast",
        {
            "metric": serializers.CharField(),
            "target": serializers.FloatField(),
            "target_source": serializers.CharField(),
            "current": serializers.FloatField(),
            "labels": serializers.IntegerField(allow_null=True),
            "hours": serializers.FloatField(allow_null=True),
            "low": serializers.IntegerField(allow_null=True),
            "high": serializers.IntegerField(allow_null=True),
            "hours_low": serializers.FloatField(allow_null=True),
            "hours_high": serializers.FloatField(allow_null=True),
            "level": serializers.FloatField(),
            "pool": serializers.IntegerField(help_text="The unlabelled items left: `pool`."),
            "beyond_pool": serializers.BooleanField(
                help_text="More labels are forecast than `pool` has items."
            ),
        },
        allow_null=True,
    )


CurvePoints = inline_serializer(
    "CurvePoint",
    many=True,
    fields={
        "version": serializers.IntegerField(),
        "labels": serializers.IntegerField(),
        "train_size": serializers.IntegerField(),
        "metrics": serializers.DictField(allow_null=True),
        "timings": serializers.DictField(),
        "finished_at": serializers.DateTimeField(allow_null=True),
    },
)


class ReplayResultSerializer(serializers.Serializer):
    strategy = serializers.CharField()
    selector = serializers.CharField()
    labels_to_target = serializers.FloatField(
        allow_null=True, help_text="Median labels to reach the target (null: not reached)."
    )
    aulc = serializers.FloatField(help_text="Mean area under the learning curve.")
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)
    reached = serializers.IntegerField()
    repeats = serializers.IntegerField()


class ReplaySerializer(serializers.Serializer):
    """The latest replay job; `id` and `state` are null before the first one."""

    id = serializers.IntegerField(allow_null=True)
    state = serializers.ChoiceField(
        choices=["pending", "running", "done", "failed"], allow_null=True
    )
    results = ReplayResultSerializer(many=True)
    current = inline_serializer(
        "ReplayCurrent", {"strategy": serializers.CharField(), "selector": serializers.CharField()}
    )
    target = serializers.FloatField(allow_null=True)
    metric = serializers.CharField(help_text="The holdout metric the target is on.")
    config = serializers.DictField(required=False)
    error = serializers.CharField(required=False, allow_blank=True)
    created_at = serializers.DateTimeField(required=False)
    finished_at = serializers.DateTimeField(required=False, allow_null=True)


ReplayAccepted = inline_serializer("ReplayAccepted", {"id": serializers.IntegerField()})
