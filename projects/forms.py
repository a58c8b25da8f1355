"""Forms for project pages; they only shape input, services do the checking."""

from __future__ import annotations

from typing import Any

from django import forms

from projects.models import Membership, Project
from projects.settings_schema import (
    EXTRA_RULE_PARAMS,
    MAX_NAME,
    SETTING,
    SETTINGS,
    Setting,
    Type,
)
from strategies.stopping import RULES


def form_field(setting: Setting) -> forms.Field:
    """The form field of a setting: its bounds, choices, default and help from the schema.

    Only the required settings are required here: a field left empty keeps the
    project's value (or, on creation, takes the default); a nullable one becomes None.
    """
    common: dict[str, Any] = {
        "required": setting.required,
        "help_text": setting.help,
        "label": setting.label or None,
    }
    if setting.type == Type.TEXT:
        return forms.CharField(max_length=MAX_NAME, **common)
    if setting.type == Type.LABELS:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), **common)
    if setting.type == Type.OBJECT:
        return forms.JSONField(widget=forms.Textarea(attrs={"rows": 2}), **common)
    if setting.type == Type.CHOICE:
        choices = [(name, f"{name} — {text}") for name, text in setting.choice_map().items()]
        if not setting.required:
            choices = [("", "—"), *choices]
        return forms.ChoiceField(choices=choices, initial=setting.default, **common)
    bounds = {"min_value": setting.low, "max_value": setting.high, "initial": setting.default}
    if setting.type == Type.INTEGER:
        return forms.IntegerField(**bounds, **common)
    return forms.FloatField(**bounds, **common)


def stopping_fields(setting: Setting) -> dict[str, forms.Field]:
    """A box per stopping rule, and a field per parameter (`stop_<rule>__<param>`)."""
    fields: dict[str, forms.Field] = {}
    for name, description in setting.choice_map().items():
        fields[f"stop_{name}"] = forms.BooleanField(
            required=False, label=f"Stop rule: {name}", help_text=description
        )
        params = {**RULES[name].defaults, **EXTRA_RULE_PARAMS.get(name, {})}
        for param, default in params.items():
            fields[f"stop_{name}__{param}"] = forms.FloatField(
                required=False,
                initial=default,
                label=f"{name}: {param}",
                help_text="leave empty to not use" if default is None else "",
            )
    return fields


class ProjectSettingsForm(forms.Form):
    """Every setting of `projects.settings_schema`, in its order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for setting in SETTINGS:
            if setting.type == Type.RULES:
                self.fields.update(stopping_fields(setting))
            else:
                self.fields[setting.name] = form_field(setting)

    def clean_labels(self) -> list[str]:
        raw = self.cleaned_data["labels"].replace(",", "\n")
        return [line.strip() for line in raw.splitlines() if line.strip()]

    def clean(self) -> dict[str, Any]:
        """Settings left empty are not sent; the enabled rules are gathered in `stopping`."""
        data = super().clean() or {}
        rules = [_rule(name, data) for name in RULES if data.get(f"stop_{name}")]
        data = {k: v for k, v in data.items() if not k.startswith("stop_")}
        data = {
            k: v
            for k, v in data.items()
            if k not in SETTING or SETTING[k].nullable or v not in (None, "")
        }
        data["stopping"] = rules
        return data

    @classmethod
    def initial_for(cls, project: Project) -> dict[str, Any]:
        initial = {s.name: getattr(project, s.name) for s in SETTINGS if s.type != Type.RULES}
        initial["labels"] = "\n".join(project.labels)
        return {**initial, **cls.stopping_initial(project.stopping)}

    @staticmethod
    def stopping_initial(rules: list[dict[str, Any]]) -> dict[str, Any]:
        initial: dict[str, Any] = {}
        for rule in rules:
            initial[f"stop_{rule['rule']}"] = True
            for key, value in rule.items():
                if key != "rule":
                    initial[f"stop_{rule['rule']}__{key}"] = value
        return initial


def _rule(name: str, data: dict[str, Any]) -> dict[str, Any]:
    rule: dict[str, Any] = {"rule": name}
    prefix = f"stop_{name}__"
    for key, value in data.items():
        if key.startswith(prefix) and value is not None:
            rule[key.removeprefix(prefix)] = int(value) if value.is_integer() else value
    return rule


class ProjectCreateForm(ProjectSettingsForm):
    kind = forms.ChoiceField(choices=Project.Kind.choices, initial="text")
    field_order = ["name", "kind", "labels"]


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV (text,label,…) or JSONL (text/features, label, meta); "
        "ZIP of images for image projects."
    )


class MemberForm(forms.Form):
    username = forms.CharField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)
