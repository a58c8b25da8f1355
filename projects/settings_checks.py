"""Project settings checked against their schema (`projects.settings_schema`).

Every value a client sends, through the API, a page or an import, is cleaned here
before a service stores it; `SettingsInvalid` carries one message per setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projects.label_keys import MAX_DESCRIPTION, key_problem
from projects.settings_schema import SETTING
from projects.settings_types import (
    MAX_LABELS,
    MAX_MARKDOWN,
    MAX_NAME,
    MAX_NAMES,
    Setting,
    Task,
    Type,
)
from strategies.spans.formats import span_label_problem
from strategies.stopping import validate_rule


def refuse_unknown(names: set[str] | Mapping[str, Any]) -> None:
    unknown = set(names) - set(SETTING)
    if unknown:
        raise SettingsInvalid({name: "unknown setting" for name in sorted(unknown)})


class SettingsInvalid(ValueError):
    """Per-setting messages; the services raise them as Django's ValidationError."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def settings_validate(
    data: Mapping[str, Any],
    *,
    labels_before: list[str] | None = None,
    task: Task = Task.SINGLE,
) -> dict[str, Any]:
    """`data` checked against the schema, cleaned; raise SettingsInvalid with every problem.

    `labels_before` are a project's labels: they can be added to but not removed or
    renamed, since annotations refer to them by name. `task` decides which choices fit.
    """
    refuse_unknown(set(data))
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, value in data.items():
        try:
            clean[name] = value_check(SETTING[name], value, labels_before, task=task)
        except ValueError as exc:
            errors[name] = str(exc)
    if "label_options" in clean and "labels" not in errors:
        problem = options_labels_problem(clean["label_options"], clean.get("labels", labels_before))
        if problem:
            errors["label_options"] = problem
    if errors:
        raise SettingsInvalid(errors)
    return clean


def options_labels_problem(options: Mapping[str, Any], labels: list[str] | None) -> str:
    """Options for labels the project does not have: a typo, or a label never added."""
    unknown = sorted(set(options) - set(labels or []))
    return f"label_options names labels the project does not have: {unknown}" if unknown else ""


def value_check(
    setting: Setting,
    value: Any,
    labels_before: list[str] | None = None,
    *,
    task: Task | None = None,
) -> Any:
    """One setting's value, cleaned; ValueError says what a valid one is.

    `task` None (the API's field check, before the project's task is known) accepts a
    choice that fits any task; the services check again with the project's.
    """
    if value is None and setting.nullable:
        return None
    if setting.type == Type.LABELS:
        return _labels(value, labels_before, spans=task == Task.SPANS)
    if setting.type == Type.RULES:
        try:
            return [validate_rule(rule) for rule in (value or [])]
        except (TypeError, AttributeError) as exc:
            raise ValueError(str(exc)) from exc
    if setting.type == Type.OBJECT:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ValueError(f"{setting.name} must be a JSON object")
        return value
    if setting.type == Type.TEXT:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
            raise ValueError(setting.problem)
        return value.strip()
    if setting.type == Type.CHOICE:
        tasks = list(Task) if task is None else [task]
        if not any(value in setting.choice_map(t) for t in tasks):
            raise ValueError(setting.problem_for(task or Task.SINGLE))
        return value
    if setting.type == Type.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(setting.problem)
        return value
    if setting.type == Type.MARKDOWN:
        if not isinstance(value, str) or len(value) > MAX_MARKDOWN:
            raise ValueError(setting.problem)
        return value
    if setting.type == Type.NAMES:
        return _names(setting, value)
    if setting.type == Type.LABEL_OPTIONS:
        return label_options_check(value)
    return _number(setting, value)


def _names(setting: Setting, value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_NAMES:
        raise ValueError(setting.problem)
    if not all(isinstance(x, str) and x.strip() and len(x) <= MAX_NAME for x in value):
        raise ValueError(setting.problem)
    names = [x.strip() for x in value]
    if len(set(names)) != len(names):
        raise ValueError(setting.problem)
    return names


def label_options_check(value: Any) -> dict[str, dict[str, str]]:
    """`{label: {"key", "description"}}` cleaned: each key one character, not an action's
    key, and no two labels sharing one. Empty entries are dropped."""
    if not isinstance(value, Mapping) or len(value) > MAX_LABELS:
        raise ValueError("label_options must be an object of {label: {key, description}}")
    clean: dict[str, dict[str, str]] = {}
    for label, option in value.items():
        entry = _label_option(label, option)
        if entry:
            clean[label] = entry
    keys = [entry["key"] for entry in clean.values() if "key" in entry]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(f"each label needs its own key; used more than once: {repeated}")
    return clean


def _label_option(label: Any, option: Any) -> dict[str, str]:
    if not isinstance(option, Mapping) or set(option) - {"key", "description"}:
        raise ValueError(f"{label!r}: an option is {{'key': str, 'description': str}}")
    entry: dict[str, str] = {}
    key, description = option.get("key") or "", option.get("description") or ""
    if key:
        problem = key_problem(key)
        if problem:
            raise ValueError(f"{label!r}: {problem}")
        entry["key"] = key.lower()
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        raise ValueError(f"{label!r}: a description is at most {MAX_DESCRIPTION} characters")
    if description.strip():
        entry["description"] = description.strip()
    return entry


def _number(setting: Setting, value: Any) -> int | float:
    kinds = int if setting.type == Type.INTEGER else int | float
    assert setting.low is not None and setting.high is not None
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(setting.problem)
    if not setting.low <= value <= setting.high:
        raise ValueError(setting.problem)
    return value


def _labels(labels: Any, before: list[str] | None, *, spans: bool = False) -> list[str]:
    """The labels cleaned. On span projects a new name must also suit the span formats
    (`span_label_problem`); names a project already has stay, as they cannot be renamed."""
    if (
        not isinstance(labels, list)
        or not labels
        or not all(isinstance(x, str) and x.strip() for x in labels)
    ):
        raise ValueError("labels must be a non-empty list of non-empty strings")
    if len(set(labels)) != len(labels):
        raise ValueError("labels must be distinct")
    if len(labels) > MAX_LABELS:
        raise ValueError(f"at most {MAX_LABELS} labels")
    if before is not None and not set(before) <= set(labels):
        raise ValueError("labels can be added but not removed or renamed")
    clean = [x.strip() for x in labels]
    if spans:
        added = [x for x in clean if x not in (before or [])]
        problems = [problem for problem in map(span_label_problem, added) if problem]
        if problems:
            raise ValueError("; ".join(problems))
    return clean
