"""The settings forms come grouped from the schema, and offer only what fits (issue 16)."""

from __future__ import annotations

from typing import Any

import pytest

from projects.forms import ProjectCreateForm, ProjectSettingsForm
from projects.settings_checks import SettingsInvalid, settings_validate
from projects.settings_schema import SETTING, SETTINGS
from projects.settings_types import GROUP_TEXT, Group, Page, Task, Type
from strategies.query import STRATEGIES

MULTILABEL = sorted(name for name, info in STRATEGIES.items() if info.multilabel)


def test_the_registry_has_multilabel_strategies_a_single_label_project_cannot_take() -> None:
    assert MULTILABEL
    offered = set(SETTING["strategy"].choice_map())
    assert offered and not offered & set(MULTILABEL)
    assert set(MULTILABEL) <= set(SETTING["strategy"].choice_map(Task.MULTILABEL))
    for name in MULTILABEL:
        with pytest.raises(SettingsInvalid) as refused:
            settings_validate({"strategy": name})
        assert set(refused.value.errors) == {"strategy"}
    # A single-label project's settings page offers none; the create page, where the task
    # is chosen, offers both kinds (the service refuses the ones that do not fit).
    settings_page = ProjectSettingsForm(task=Task.SINGLE).fields["strategy"]
    assert not set(dict(settings_page.choices)) & set(MULTILABEL)  # type: ignore[attr-defined]
    multi_page = ProjectSettingsForm(task=Task.MULTILABEL).fields["strategy"]
    assert set(dict(multi_page.choices)) - {""} == set(MULTILABEL)  # type: ignore[attr-defined]
    choices = dict(ProjectCreateForm().fields["strategy"].choices)  # type: ignore[attr-defined]
    assert set(MULTILABEL) <= set(choices)


@pytest.mark.django_db
@pytest.mark.parametrize("strategy", MULTILABEL)
def test_the_api_refuses_a_multilabel_strategy_with_400(api: Any, strategy: str) -> None:
    body = {"name": "P", "kind": "text", "labels": ["a", "b"], "strategy": strategy}
    assert api["lead"].post("/api/projects/", body, format="json").status_code == 400
    created = api["lead"].post("/api/projects/", {**body, "strategy": "margin"}, format="json")
    pid = created.json()["id"]
    patched = api["lead"].patch(f"/api/projects/{pid}/", {"strategy": strategy}, format="json")
    assert patched.status_code == 400


@pytest.mark.parametrize("form_class", [ProjectCreateForm, ProjectSettingsForm])
def test_every_field_is_in_exactly_one_section(form_class: type[ProjectSettingsForm]) -> None:
    form = form_class()
    placed: list[str] = []
    for section in form.sections():
        placed += [f.name for f in section["fields"] + section["advanced"]]
        for rule in section["rules"]:
            placed += [rule["toggle"].name] + [f.name for f in rule["params"]]
    assert sorted(placed) == sorted(form.fields)


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_each_setting_is_labelled_as_a_sentence(setting: Any) -> None:
    assert setting.label[:1].isupper() and setting.label.endswith(("?", "."))
    if setting.type != Type.RULES and setting.page == Page.SETTINGS:
        assert ProjectSettingsForm().fields[setting.name].label == setting.label


def test_groups_have_titles_and_the_batch_size_says_when_it_applies() -> None:
    assert set(GROUP_TEXT) == set(Group)
    assert "applies from the next batch" in SETTING["batch_size"].help
    assert not SETTING["batch_size"].advanced and SETTING["selector"].advanced
