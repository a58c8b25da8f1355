"""Guidelines rendered safely, and the labels' keys validated wherever they are set."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client

from projects import services
from projects.guidelines import markdown_html
from projects.label_keys import DEFAULT_KEYS, RESERVED, label_keys
from projects.settings_checks import SettingsInvalid, settings_validate

HOSTILE = """# Tagging

Use **pets** for animals. <script>alert(1)</script>

<img src=x onerror="alert(2)"> <a href="javascript:alert(3)">raw link</a>

[md link](javascript:alert(4)) [ok](https://example.org/guide)

<div style="color:red" onclick="alert(5)">styled</div>

| label | when |
|---|---|
| pets | animals |
"""


class _Tags(HTMLParser):
    """The elements and attributes a piece of HTML really has (escaped text aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: set[tuple[str, str]] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes |= {(tag, name) for name, _ in attrs}
        self.hrefs += [value or "" for name, value in attrs if name == "href"]


def test_guidelines_render_markdown_and_pass_no_html_through() -> None:
    html = markdown_html(HOSTILE)
    assert "<h1>Tagging</h1>" in html and "<strong>pets</strong>" in html
    assert "<table>" in html and "<td>animals</td>" in html
    assert '<a href="https://example.org/guide" rel="noopener noreferrer">ok</a>' in html
    tags = _Tags()
    tags.feed(html)
    assert tags.names <= {"h1", "p", "strong", "a", "table", "thead", "tbody", "tr", "th", "td"}
    assert tags.attributes <= {("a", "href"), ("a", "rel")}
    assert all(href.startswith("https://") for href in tags.hrefs)
    assert "&lt;script&gt;" in html  # shown as text, so the lead sees what they typed
    assert markdown_html("   ") == ""


def test_default_keys_are_digits_then_letters_no_action_uses() -> None:
    assert DEFAULT_KEYS[:10] == tuple("1234567890")
    assert not set(DEFAULT_KEYS) & RESERVED
    keys = [lk.key for lk in label_keys([f"l{i}" for i in range(40)], {})]
    assert len(set(k for k in keys if k)) == len(DEFAULT_KEYS) and keys[-1] == ""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"a": {"key": "s"}}, "reserved"),
        ({"a": {"key": "Z"}}, "reserved"),
        ({"a": {"key": "?"}}, "reserved"),
        ({"a": {"key": "ab"}}, "one printable character"),
        ({"a": {"key": " "}}, "one printable character"),
        ({"a": {"key": 5}}, "one printable character"),
        ({"a": {"key": "k"}, "b": {"key": "K"}}, "used more than once"),
        ({"a": {"colour": "red"}}, "an option is"),
        ({"a": "k"}, "an option is"),
        ({"a": {"description": "x" * 501}}, "at most 500"),
        ({"nope": {"key": "k"}}, "does not have"),
    ],
)
def test_bad_label_options_are_refused(options: Any, message: str) -> None:
    with pytest.raises(SettingsInvalid) as refused:
        settings_validate({"labels": ["a", "b"], "label_options": options})
    assert message in refused.value.errors["label_options"]


def test_good_label_options_are_cleaned() -> None:
    clean = settings_validate(
        {
            "labels": ["a", "b"],
            "label_options": {"a": {"key": "K", "description": " cats "}, "b": {"key": ""}},
        }
    )
    assert clean["label_options"] == {"a": {"key": "k", "description": "cats"}}


@pytest.mark.django_db
def test_api_answers_400_for_a_bad_key_and_saves_a_good_one(api: Any) -> None:
    created = api["lead"].post(
        "/api/projects/", {"name": "G", "kind": "text", "labels": ["a", "b"]}, format="json"
    )
    url = f"/api/projects/{created.json()['id']}/"
    for bad in ({"a": {"key": "u"}}, {"a": {"key": "xy"}}, {"c": {"key": "k"}}):
        response = api["lead"].patch(url, {"label_options": bad}, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert "label_options" in response.json()
    good = {"label_options": {"b": {"key": "k", "description": "the second"}}, "guidelines": "Hi"}
    response = api["lead"].patch(url, good, format="json")
    assert response.status_code == 200, response.content
    body = api["ann1"].get(url)  # not a member: 404
    assert body.status_code == 404
    assert response.json()["label_options"] == {"b": {"key": "k", "description": "the second"}}
    assert response.json()["guidelines"] == "Hi"
    refused = api["ann1"].patch(url, good, format="json")
    assert refused.status_code == 404


@pytest.fixture
def project(users: Any) -> Any:
    project = services.project_create(
        user=users["lead"], name="G", kind="text", labels=["cat", "dog"]
    )
    services.membership_add(project=project, username="ann1", role="annotator")
    return project


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_guidelines_page_saves_text_keys_and_descriptions(users: Any, project: Any) -> None:
    url = f"/projects/{project.pk}/guidelines/"
    form = {
        "guidelines": "Read *carefully*.<script>x()</script>",
        "key_0": "",
        "description_0": "Felines",
        "key_1": "D",
        "description_1": "",
    }
    response = _client(users["lead"]).post(url, form)
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.guidelines.startswith("Read *carefully*")
    assert project.label_options == {"cat": {"description": "Felines"}, "dog": {"key": "d"}}
    page = _client(users["ann1"]).get(f"/projects/{project.pk}/annotate/").content.decode()
    assert "<em>carefully</em>" in page and "<script>x()" not in page
    assert "Felines" in page


@pytest.mark.django_db
def test_guidelines_page_shows_a_bad_key_and_keeps_the_old_one(users: Any, project: Any) -> None:
    url = f"/projects/{project.pk}/guidelines/"
    form = {"guidelines": "", "key_0": "s", "description_0": "", "key_1": "", "description_1": ""}
    response = _client(users["lead"]).post(url, form)
    assert response.status_code == 200
    assert "reserved" in response.content.decode()
    project.refresh_from_db()
    assert project.label_options == {}
    assert _client(users["ann1"]).get(url).status_code == 403
