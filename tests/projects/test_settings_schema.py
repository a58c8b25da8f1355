"""Every setting of the schema reaches the form, the API and validation: they are derived."""

from __future__ import annotations

from typing import Any

import pytest

from projects.forms import GuidelinesForm, ProjectCreateForm, ProjectSettingsForm
from projects.serializers import (
    ProjectCreateSerializer,
    ProjectSerializer,
    ProjectUpdateSerializer,
)
from projects.settings_checks import SettingsInvalid, settings_validate
from projects.settings_schema import SETTINGS, defaults
from projects.settings_types import CONSENSUS_NAMES, Page, Setting, Task, Type
from strategies.stopping import RULES


def _api_field(fields: Any, setting: Setting) -> Any:
    outer, *inner = setting.api_name
    field = fields[outer]
    return field.fields[inner[0]] if inner else field


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_setting_is_in_both_forms(setting: Setting) -> None:
    if setting.page == Page.GUIDELINES:
        # Edited on the guidelines page; the labels' options as a key and a description
        # field per label.
        form = GuidelinesForm(labels=["a", "b"])
        if setting.type == Type.LABEL_OPTIONS:
            assert {"key_0", "description_0", "key_1", "description_1"} <= set(form.fields)
        else:
            assert form.fields[setting.name].help_text == setting.help
        return
    for form in (ProjectSettingsForm(), ProjectCreateForm()):
        if setting.type == Type.RULES:
            assert {f"stop_{rule}" for rule in RULES} <= set(form.fields)
        else:
            assert form.fields[setting.name].help_text == setting.help


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_setting_is_in_the_serializers(setting: Setting) -> None:
    for serializer in (ProjectCreateSerializer(), ProjectUpdateSerializer()):
        assert _api_field(serializer.fields, setting).help_text.startswith(setting.help)
    assert setting.name in ProjectSerializer.Meta.fields


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_setting_is_validated(setting: Setting) -> None:
    with pytest.raises(SettingsInvalid) as refused:
        settings_validate({setting.name: object()})
    assert set(refused.value.errors) == {setting.name}
    if setting.name in defaults():
        assert setting.name in settings_validate({setting.name: defaults()[setting.name]})


def test_bounds_come_from_the_schema() -> None:
    form = ProjectSettingsForm()
    api = ProjectCreateSerializer().fields
    for setting in SETTINGS:
        if setting.type in (Type.INTEGER, Type.NUMBER):
            api_field = _api_field(api, setting)
            assert (api_field.min_value, api_field.max_value) == (setting.low, setting.high)
            form_field: Any = form.fields[setting.name]
            assert (form_field.min_value, form_field.max_value) == (setting.low, setting.high)
        if setting.type == Type.CHOICE:
            # Every task's choices; the services check the project's task.
            every = {name for task in Task for name in setting.choice_map(task)}
            assert set(_api_field(api, setting).choices) == every


def test_consensus_methods_are_the_schemas_names() -> None:
    from annotator.quality.consensus import CONSENSUS_METHODS

    assert tuple(CONSENSUS_METHODS) == CONSENSUS_NAMES


def test_openapi_schema_shows_bounds_and_choices(api: Any) -> None:
    schema = api["lead"].get("/api/schema/", HTTP_ACCEPT="application/json").json()
    props = schema["components"]["schemas"]["ProjectCreate"]["properties"]
    assert props["batch_size"]["maximum"] == 10_000
    assert "margin" in str(props["strategy"])
    assert set(props) >= {s.api_name[0] for s in SETTINGS} | {"kind"}


def test_api_refuses_unknown_settings_and_says_what_is_wrong(api: Any) -> None:
    base = {"name": "P", "kind": "text", "labels": ["a"]}
    response = api["lead"].post(
        "/api/projects/",
        {**base, "colour": "red", "stream": {"budgett": 0.2}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["colour"] == ["unknown setting"]
    response = api["lead"].post(
        "/api/projects/", {**base, "batch_size": 0, "overlap": "many"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "batch_size": ["batch_size must be an integer from 1 to 10000"],
        "overlap": ["overlap must be an integer from 1 to 20"],
    }
    nested = api["lead"].post("/api/projects/", {**base, "stream": {"budgett": 1}}, format="json")
    assert nested.status_code == 400 and nested.json()["stream"]["budgett"] == ["unknown setting"]


def test_api_create_and_patch_keep_the_contract(api: Any) -> None:
    response = api["lead"].post(
        "/api/projects/",
        {
            "name": "P",
            "kind": "text",
            "labels": ["a", "b"],
            "batch_size": 5,
            "strategy": "entropy",
            "overlap": 2,
            "agreement_fraction": 0.1,
            "agreement_overlap": 3,
            "stopping": [{"rule": "budget", "labels": 50}],
            "stream": {"budget": 0.25},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["batch_size"], body["stream_budget"], body["state"]) == (5, 0.25, "setup")
    assert body["stopping"] == [{"rule": "budget", "labels": 50}]
    pid = body["id"]
    patched = api["lead"].patch(
        f"/api/projects/{pid}/", {"stream": {"budget": None}, "overlap": 1}, format="json"
    )
    assert patched.status_code == 200
    assert (patched.json()["stream_budget"], patched.json()["overlap"]) == (None, 1)
    refused = api["lead"].patch(f"/api/projects/{pid}/", {"labels": ["a"]}, format="json")
    assert refused.status_code == 400 and "not removed" in refused.json()["labels"][0]
