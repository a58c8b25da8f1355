"""Forms for project pages; they only shape input, services do the checking."""

from __future__ import annotations

from typing import Any

from django import forms

from projects.models import Membership, Project
from projects.settings_schema import SETTING, SETTINGS, rule_param_label
from projects.settings_types import (
    EXTRA_RULE_PARAMS,
    GROUP_TEXT,
    MAX_NAME,
    Group,
    Page,
    Setting,
    Task,
    Type,
)
from strategies.stopping import RULES


def form_field(setting: Setting, task: Task | None = Task.SINGLE) -> forms.Field:
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
    if setting.type in (Type.LABELS, Type.NAMES):
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), **common)
    if setting.type == Type.BOOLEAN:
        return forms.BooleanField(**{**common, "required": False})
    if setting.type == Type.MARKDOWN:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 14}), strip=False, **common)
    if setting.type == Type.OBJECT:
        return forms.JSONField(widget=forms.Textarea(attrs={"rows": 2}), **common)
    if setting.type == Type.CHOICE:
        choices = [(name, f"{name} — {text}") for name, text in _choices(setting, task).items()]
        if not setting.required:
            choices = [("", "—"), *choices]
        return forms.ChoiceField(choices=choices, initial=setting.default, **common)
    bounds = {"min_value": setting.low, "max_value": setting.high, "initial": setting.default}
    if setting.type == Type.INTEGER:
        return forms.IntegerField(**bounds, **common)
    return forms.FloatField(**bounds, **common)


def _choices(setting: Setting, task: Task | None) -> dict[str, str]:
    """The choices that fit `task`; every task's on the create page (task not chosen yet)."""
    tasks = list(Task) if task is None else [task]
    return {name: text for t in tasks for name, text in setting.choice_map(t).items()}


def stopping_fields(setting: Setting) -> dict[str, forms.Field]:
    """A box per stopping rule, and a field per parameter (`stop_<rule>__<param>`)."""
    fields: dict[str, forms.Field] = {}
    for name, description in setting.choice_map().items():
        fields[f"stop_{name}"] = forms.BooleanField(
            required=False,
            label=description,
            help_text=name,
            widget=forms.CheckboxInput(attrs={"data-rule-toggle": name}),
        )
        for param, default in rule_params(name).items():
            fields[f"stop_{name}__{param}"] = forms.FloatField(
                required=False,
                initial=default,
                label=rule_param_label(name, param),
                help_text="leave empty to not use" if default is None else "",
            )
    return fields


def rule_params(name: str) -> dict[str, Any]:
    return {**RULES[name].defaults, **EXTRA_RULE_PARAMS.get(name, {})}


class ProjectSettingsForm(forms.Form):
    """Every setting of `projects.settings_schema` edited on the settings page, in its order.

    `task`: the project's, whose strategies the form offers (None: every task's).
    """

    def __init__(self, *args: Any, task: Task | None = Task.SINGLE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for setting in SETTINGS:
            if setting.page != Page.SETTINGS:
                continue
            if setting.type == Type.RULES:
                self.fields.update(stopping_fields(setting))
            else:
                self.fields[setting.name] = form_field(setting, task)

    def sections(self) -> list[dict[str, Any]]:
        """The fields by the schema's groups, in its order: each group's title and intro,
        its fields, its stopping rules (each box with its parameters) and, apart, those
        the schema calls advanced."""
        by_group: dict[Group, dict[str, Any]] = {
            group: {"group": group.value, "title": title, "intro": intro, "fields": [],
                    "rules": [], "advanced": []}
            for group, (title, intro) in GROUP_TEXT.items()
        }  # fmt: skip
        for fixed in ("kind", "task"):
            if fixed in self.fields:
                by_group[Group.BASICS]["fields"].append(self[fixed])
        for setting in SETTINGS:
            if setting.type != Type.RULES and setting.name not in self.fields:
                continue  # edited on another page (the guidelines)
            section = by_group[setting.group]
            if setting.type == Type.RULES:
                section["rules"] = [
                    {
                        "name": name,
                        "toggle": self[f"stop_{name}"],
                        "params": [self[f"stop_{name}__{p}"] for p in rule_params(name)],
                    }
                    for name in setting.choice_map()
                ]
            else:
                section["advanced" if setting.advanced else "fields"].append(self[setting.name])
        return list(by_group.values())

    def clean_labels(self) -> list[str]:
        raw = self.cleaned_data["labels"].replace(",", "\n")
        return [line.strip() for line in raw.splitlines() if line.strip()]

    def clean_meta_fields(self) -> list[str]:
        """One name per line; empty is a choice (no field shown), not "keep as it was"."""
        raw = self.cleaned_data.get("meta_fields") or ""
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
        initial = {
            s.name: getattr(project, s.name)
            for s in SETTINGS
            if s.type != Type.RULES and s.page == Page.SETTINGS
        }
        initial["labels"] = "\n".join(project.labels)
        initial["meta_fields"] = "\n".join(project.meta_fields)
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
    kind = forms.ChoiceField(
        choices=Project.Kind.choices,
        initial="text",
        label="What are the items?",
        help_text="Texts, images or feature vectors; it cannot change later.",
    )
    task = forms.ChoiceField(
        choices=[
            (Project.Task.SINGLE.value, "One label per item"),
            (Project.Task.MULTILABEL.value, "A set of labels per item (multi-label)"),
            (Project.Task.SPANS.value, "Spans of the text, each with a label (named entities)"),
        ],
        initial=Project.Task.SINGLE,
        required=False,
        label="What does an annotator give each item?",
        help_text="One label, any number of them (multi-label), or labelled spans of a "
        "text (text projects only); it cannot change later. Leave the strategy empty "
        "for the task's default.",
    )
    field_order = ["name", "kind", "task", "labels"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, task=None, **kwargs)
        # Empty: the chosen task's default strategy (a single-label one would not fit).
        self.fields["strategy"].initial = ""

    def clean_task(self) -> str:
        """Left out: single-label, as over the API."""
        return str(self.cleaned_data.get("task") or Project.Task.SINGLE)


class GuidelinesForm(forms.Form):
    """The guidelines page: the settings whose page is `guidelines`. The labels' options
    are a key and a description field per label, gathered into `label_options`."""

    def __init__(self, *args: Any, labels: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.labels = labels
        for setting in SETTINGS:
            if setting.page == Page.GUIDELINES and setting.type != Type.LABEL_OPTIONS:
                self.fields[setting.name] = form_field(setting)
        for i, label in enumerate(labels):
            self.fields[f"key_{i}"] = forms.CharField(
                required=False, max_length=1, label=f"Key for {label}", strip=False
            )
            self.fields[f"description_{i}"] = forms.CharField(
                required=False, max_length=500, label=f"Description of {label}"
            )

    def label_rows(self) -> list[dict[str, Any]]:
        return [
            {"label": label, "key": self[f"key_{i}"], "description": self[f"description_{i}"]}
            for i, label in enumerate(self.labels)
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        options = {
            label: {
                "key": data.pop(f"key_{i}", "") or "",
                "description": data.pop(f"description_{i}", "") or "",
            }
            for i, label in enumerate(self.labels)
        }
        data["label_options"] = options
        data["guidelines"] = data.get("guidelines") or ""
        return data

    @staticmethod
    def initial_for(project: Project) -> dict[str, Any]:
        initial: dict[str, Any] = {"guidelines": project.guidelines}
        for i, label in enumerate(project.labels):
            option = project.label_options.get(label, {})
            initial[f"key_{i}"] = option.get("key", "")
            initial[f"description_{i}"] = option.get("description", "")
        return initial


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV (text,label,…) or JSONL (text/features, label, meta); "
        "ZIP of images for image projects."
    )


class MemberForm(forms.Form):
    username = forms.CharField()
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)


class MemberCreateForm(forms.Form):
    """Someone new: the lead picks their sign-in name and initial password."""

    username = forms.CharField(max_length=150, label="Their username")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        label="Initial password",
        help_text="Give it to them yourself; Django's password rules apply.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.ANNOTATOR)


class ProjectDeleteForm(forms.Form):
    confirm = forms.CharField(max_length=MAX_NAME, label="Type the project's name to confirm")
