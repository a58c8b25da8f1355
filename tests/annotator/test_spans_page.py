"""The annotate and review pages of span projects through HTTP: the tokens and their
offsets, the model's suggested spans (off by default), the spans posted as JSON, and
each annotator's spans with the consensus the reviewer starts from."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from annotator.spans_page import consensus_start, token_cells
from projects.models import Annotation, Item, Project
from strategies.spans.tokens import tokenize
from tests.annotator.span_setup import LOC, PER, TEXT, VISITED, span_model_save, span_project

pytestmark = pytest.mark.django_db


def _browser(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _panel(client: Client, pid: int) -> str:
    response = client.post(f"/projects/{pid}/annotate/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


def _script(html: str, name: str) -> Any:
    found = re.search(rf'<script id="{name}" type="application/json">(.*?)</script>', html)
    assert found, name
    return json.loads(found.group(1))


def _item_id(html: str) -> int:
    found = re.search(r'id="item" data-item="(\d+)"', html)
    assert found
    return int(found.group(1))


def test_token_cells_keep_offsets_and_the_spaces_between() -> None:
    text = "  Ada  Lovelace,\nNew York "
    cells = token_cells(text)
    assert [(c.start, c.end, c.text) for c in cells] == [
        (t.start, t.end, t.text) for t in tokenize(text)
    ]
    assert "".join(c.text + c.gap for c in cells) == text.lstrip()


def test_the_page_draws_the_items_tokens_with_their_offsets(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"})
    html = _panel(_browser(users["ann1"]), project.pk)
    text = Item.objects.get(pk=_item_id(html)).text
    drawn = re.findall(
        r'class="tok" id="tok-\d+" data-i="\d+" data-start="(\d+)" data-end="(\d+)">([^<]*)<', html
    )
    assert [(int(a), int(b), w) for a, b, w in drawn] == [
        (t.start, t.end, t.text) for t in tokenize(text)
    ]
    assert 'id="spans-form"' in html and 'name="spans"' in html
    assert 'data-span-label="PER"' in html and 'id="set-form"' not in html
    assert "Backspace" in html and 'id="suggestions"' not in html


def test_posted_spans_are_the_annotation(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"})
    client = _browser(users["ann1"])
    item_id = _item_id(_panel(client, project.pk))
    body = {"item": item_id, "spans": json.dumps([LOC, {**PER, "end": 10}]), "confidence": "4"}
    response = client.post(f"/projects/{project.pk}/annotate/label/", body, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "annotate-error" not in response.content.decode()
    annotation = Annotation.objects.get(item_id=item_id)
    # Snapped outward to the token ("Lovelace" ends at 12) and sorted by start.
    assert annotation.spans == [PER, LOC] and annotation.confidence == 4


@pytest.mark.parametrize(
    ("spans", "says"),
    [
        ("[{", "JSON"),
        (json.dumps([{"start": 0, "end": 3, "label": "DATE"}]), "unknown label"),
        (json.dumps([PER, {"start": 4, "end": 20, "label": "LOC"}]), "overlap"),
    ],
)
def test_bad_spans_are_refused_and_the_item_stays(users: Any, spans: str, says: str) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"})
    client = _browser(users["ann1"])
    item_id = _item_id(_panel(client, project.pk))
    body = {"item": item_id, "spans": spans}
    html = client.post(f"/projects/{project.pk}/annotate/label/", body).content.decode()
    assert 'id="annotate-error"' in html and says in html
    assert _item_id(html) == item_id
    assert not Annotation.objects.filter(item_id=item_id).exists()


@pytest.mark.parametrize(
    ("drawn", "says"),
    [
        ([PER, {"start": 4, "end": 20, "label": "LOC"}], "overlap"),
        ([PER, {"start": 21, "end": 29, "label": "DATE"}], "unknown label"),
        ([PER, {**LOC, "end": 900}], "not inside the text"),
    ],
)
def test_a_refused_submit_redraws_the_editor_with_the_spans_drawn(
    users: Any, drawn: list[dict[str, Any]], says: str
) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"}, show_suggestion=True)
    span_model_save(project)
    client = _browser(users["ann1"])
    item_id = _item_id(_panel(client, project.pk))
    body = {"item": item_id, "spans": json.dumps(drawn), "confidence": "4"}
    response = client.post(f"/projects/{project.pk}/annotate/label/", body, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'id="annotate-error"' in html and says in html
    assert _item_id(html) == item_id
    assert _script(html, "spans-initial") == drawn  # as posted, for the annotator to fix
    assert _script(html, "spans-suggested") == []  # already seen: not offered again
    assert not Annotation.objects.filter(item_id=item_id).exists()
    fixed = {"item": item_id, "spans": json.dumps([PER]), "confidence": "4"}
    client.post(f"/projects/{project.pk}/annotate/label/", fixed, HTTP_HX_REQUEST="true")
    assert Annotation.objects.get(item_id=item_id).spans == [PER]


def test_only_drawable_spans_come_back_and_only_on_the_same_item(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"})
    client = _browser(users["ann1"])
    item_id = _item_id(_panel(client, project.pk))
    junk = [
        PER,
        "LOC",
        {"start": "0", "end": 3, "label": "PER"},
        {"start": 5, "end": 5, "label": "X"},
    ]
    body = {"item": item_id, "spans": json.dumps(junk)}
    html = client.post(f"/projects/{project.pk}/annotate/label/", body).content.decode()
    assert 'id="annotate-error"' in html and _script(html, "spans-initial") == [PER]
    # Another item of the project, not leased to ann1: refused, and its spans not drawn
    # on the item ann1 holds.
    other = Item.objects.filter(project=project).exclude(pk=item_id).first()
    assert other is not None
    body = {"item": other.pk, "spans": json.dumps([PER])}
    html = client.post(f"/projects/{project.pk}/annotate/label/", body).content.decode()
    assert 'id="annotate-error"' in html
    assert _item_id(html) == item_id and _script(html, "spans-initial") == []


def test_suggestions_are_off_by_default_even_with_a_model(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"})
    span_model_save(project)
    html = _panel(_browser(users["ann1"]), project.pk)
    assert 'id="suggestions"' not in html and _script(html, "spans-suggested") == []


def test_suggestions_are_the_latest_models_predicted_spans(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"}, show_suggestion=True)
    span_model_save(project)
    client = _browser(users["ann1"])
    html = _panel(client, project.pk)
    assert 'id="suggestions"' in html
    assert _script(html, "spans-suggested") == [PER, LOC]
    assert "Shift+Enter" in client.get(f"/projects/{project.pk}/annotate/").content.decode()


def test_holdout_items_get_no_suggestion(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"}, show_suggestion=True)
    span_model_save(project)
    client = _browser(users["ann1"])
    item_id = _item_id(_panel(client, project.pk))
    Item.objects.filter(pk=item_id).update(is_holdout=True)  # the lease stays: same item
    html = _panel(client, project.pk)
    assert _item_id(html) == item_id and _script(html, "spans-suggested") == []


def test_gold_items_get_no_suggestion(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"}, show_suggestion=True)
    span_model_save(project)
    client = _browser(users["ann1"])
    item_id = _item_id(_panel(client, project.pk))
    Item.objects.filter(pk=item_id).update(gold_spans=[PER])  # the lease stays: same item
    html = _panel(client, project.pk)
    assert _item_id(html) == item_id and _script(html, "spans-suggested") == []


def test_no_model_yet_no_suggestion(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"}, show_suggestion=True)
    html = _panel(_browser(users["ann1"]), project.pk)
    assert 'id="item"' in html and 'id="suggestions"' not in html


def test_consensus_start_is_the_vote_or_on_a_tie_what_all_gave() -> None:
    text = TEXT.format(i=0)
    assert consensus_start(text, [[PER, LOC], [PER, LOC], [PER]]) == [PER, LOC]
    assert consensus_start(text, [[PER, LOC], [PER]]) == [PER]
    assert consensus_start(text, [[PER], [VISITED]]) == []
    assert consensus_start(text, []) == []


def _review_item(project: Project, users: Any, answers: dict[str, list[dict[str, Any]]]) -> Item:
    item = Item.objects.filter(project=project).order_by("id").first()
    assert item is not None
    for name, spans in answers.items():
        Annotation.objects.create(project=project, item=item, annotator=users[name], spans=spans)
    Item.objects.filter(pk=item.pk).update(state="review", annotation_count=2, required=2)
    return item


def test_review_shows_each_annotators_spans_and_starts_from_the_consensus(users: Any) -> None:
    members = {"ann1": "annotator", "ann2": "annotator", "reviewer": "reviewer"}
    project = span_project(users["lead"], members)
    _review_item(project, users, {"ann1": [PER, LOC], "ann2": [PER]})
    response = _browser(users["reviewer"]).get(f"/projects/{project.pk}/review/")
    html = response.content.decode()
    rows = re.findall(r"<tr><th scope=\"row\">(\w+)</th><td>(.*?)</td></tr>", html, re.S)
    assert [name for name, _ in rows] == ["ann1", "ann2"]
    assert re.findall(r'class="ent-tag c\d">(\w+)<', rows[0][1]) == ["PER", "LOC"]
    assert re.findall(r'class="ent-tag c\d">(\w+)<', rows[1][1]) == ["PER"]
    assert _script(html, "spans-initial") == [PER]


def test_review_posts_the_final_spans(users: Any) -> None:
    members = {"ann1": "annotator", "ann2": "annotator", "reviewer": "reviewer"}
    project = span_project(users["lead"], members)
    item = _review_item(project, users, {"ann1": [PER, LOC], "ann2": [PER]})
    body = {"item": item.pk, "spans": json.dumps([PER, LOC])}
    response = _browser(users["reviewer"]).post(f"/projects/{project.pk}/review/act/", body)
    assert 'id="review-empty"' in response.content.decode()
    item.refresh_from_db()
    assert (item.state, item.spans, item.label_source) == ("labeled", [PER, LOC], "review")


def test_undo_brings_back_the_spans_given(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"})
    client = _browser(users["ann1"])
    item_id = _item_id(_panel(client, project.pk))
    body = {"item": item_id, "spans": json.dumps([PER])}
    client.post(f"/projects/{project.pk}/annotate/label/", body)
    html = client.post(f"/projects/{project.pk}/annotate/undo/").content.decode()
    assert _item_id(html) == item_id and _script(html, "spans-initial") == [PER]
    assert _script(html, "spans-suggested") == [] and "Changing your spans" in html


def test_history_shows_each_answers_spans_on_its_tokens(users: Any) -> None:
    project = span_project(users["lead"], {"ann1": "annotator"})
    client = _browser(users["ann1"])
    item_id = _item_id(_panel(client, project.pk))
    body = {"item": item_id, "spans": json.dumps([PER, LOC])}
    client.post(f"/projects/{project.pk}/annotate/label/", body)
    html = client.get(f"/projects/{project.pk}/annotate/history/").content.decode()
    assert re.findall(r'class="ent-tag c\d">(\w+)<', html) == ["PER", "LOC"]
    assert 'name="label"' not in html
