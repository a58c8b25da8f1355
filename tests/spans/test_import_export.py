"""Span projects' imports (JSONL, CoNLL/IOB, Label Studio JSON) with their per-line
errors, and exports (JSONL, CSV, CoNLL, Label Studio) that import back into a new
project with the same spans."""

from __future__ import annotations

import csv
import io
import json

import pytest

from projects.models import Item, Project
from tests.spans.helpers import LABELS, TEXT, span, span_project, upload

pytestmark = pytest.mark.django_db

ALICE, PARIS = span(0, 5, "PER"), span(17, 22, "LOC")

CONLL = """-DOCSTART- -X- O O

EU B-ORG
rejects O
German B-MISC
call O

Peter B-PER
Blackburn I-PER
visited O
Paris B-LOC
"""


@pytest.fixture
def project(api):  # type: ignore[no-untyped-def]
    return span_project(api, labels=[*LABELS, "MISC"])


def _items(project: Project) -> list[Item]:
    return list(Item.objects.filter(project=project).order_by("id"))


def test_jsonl_spans_are_seed_labels_and_lines_without_spans_join_the_pool(api, project):  # type: ignore[no-untyped-def]
    rows = [
        {"text": TEXT, "spans": [PARIS, span(1, 4, "PER")]},
        {"text": "Nobody here", "spans": []},
        {"text": "Carol went to Rome", "meta": {"source": "news"}},
    ]
    response = upload(api, project, "pool.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["seeded"]) == (3, 2)
    first, empty, pool = _items(project)
    assert (first.state, first.spans, first.label_source) == ("labeled", [ALICE, PARIS], "seed")
    assert (empty.state, empty.spans) == ("labeled", [])
    assert (pool.state, pool.spans, pool.meta) == ("pool", None, {"source": "news"})
    assert api["lead"].get(f"/api/projects/{project.pk}/status/").json()["labeled"] == 2


def test_jsonl_lines_with_bad_spans_are_reported_by_line_and_the_rest_kept(api, project):  # type: ignore[no-untyped-def]
    lines = [
        json.dumps({"text": TEXT, "spans": [ALICE]}),
        json.dumps({"text": TEXT, "spans": [span(0, 5, "DATE")]}),
        json.dumps({"text": TEXT, "spans": [ALICE, span(2, 9, "LOC")]}),
        json.dumps({"text": TEXT, "spans": [span(0, 80, "PER")]}),
        json.dumps({"text": TEXT, "spans": "PER"}),
        json.dumps({"text": TEXT, "label": "PER"}),
        json.dumps({"text": TEXT, "spans": [{"start": "0", "end": 5, "label": "PER"}]}),
        "{not json",
    ]
    response = upload(api, project, "pool.jsonl", "\n".join(lines) + "\n")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["skipped"]) == (1, 7)
    errors = {e["line"]: e["error"] for e in body["errors"]}
    assert "unknown labels ['DATE']" in errors[2]
    assert "overlaps" in errors[3]
    assert "not inside the text" in errors[4]
    assert "must be a list" in errors[5]
    assert '"spans"' in errors[6] and "label" in errors[6]
    assert "integers" in errors[7]
    assert "invalid JSON" in errors[8]


def test_conll_documents_become_items_with_their_spans(api, project):  # type: ignore[no-untyped-def]
    response = upload(api, project, "train.conll", CONLL)
    assert response.status_code == 201, response.content
    assert (response.json()["created"], response.json()["seeded"]) == (2, 2)
    eu, peter = _items(project)
    assert eu.text == "EU rejects German call"
    assert eu.spans == [span(0, 2, "ORG"), span(11, 17, "MISC")]
    assert peter.text == "Peter Blackburn visited Paris"
    assert peter.spans == [span(0, 15, "PER"), span(24, 29, "LOC")]


@pytest.mark.parametrize("name", ["train.iob", "train.bio", "train.txt"])
def test_iob_bio_and_txt_files_read_as_conll_on_span_projects(api, project, name):  # type: ignore[no-untyped-def]
    response = upload(api, project, name, CONLL)
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 2


def test_conll_errors_carry_the_files_line_numbers_and_skip_that_document(api, project):  # type: ignore[no-untyped-def]
    bad = "EU B-ORG\nrejects\n\nPeter B-PER\nParis B-DATE\n\nBonn B-LOC\nnow X-LOC\n\nRome B-LOC\n"
    response = upload(api, project, "bad.conll", bad)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] == 1 and _items(project)[0].text == "Rome"
    errors = {e["line"]: e["error"] for e in body["errors"]}
    assert "expected a token and a tag" in errors[2]
    assert "unknown labels ['DATE']" in errors[4]  # the document's first line
    assert "not an IOB tag" in errors[8]


def test_conll_files_are_refused_on_other_projects(api):  # type: ignore[no-untyped-def]
    body = {"name": "c", "kind": "text", "labels": ["ORG", "PER"]}
    project = Project.objects.get(
        pk=api["lead"].post("/api/projects/", body, format="json").json()["id"]
    )
    response = upload(api, project, "train.conll", CONLL)
    assert response.status_code == 400
    assert "span projects" in str(response.json())
    assert not Item.objects.filter(project=project).exists()


def test_spans_in_jsonl_are_refused_on_other_projects(api):  # type: ignore[no-untyped-def]
    body = {"name": "c", "kind": "text", "labels": ["PER"]}
    project = Project.objects.get(
        pk=api["lead"].post("/api/projects/", body, format="json").json()["id"]
    )
    response = upload(api, project, "pool.jsonl", json.dumps({"text": TEXT, "spans": [ALICE]}))
    assert response.json()["created"] == 0
    assert "only span projects" in response.json()["errors"][0]["error"]


def _labelstudio_task(results, *, truth=False, cancelled=False):  # type: ignore[no-untyped-def]
    return {
        "result": [
            {
                "type": "labels", "from_name": "label", "to_name": "text",
                "value": {"start": s, "end": e, "text": TEXT[s:e], "labels": [name]},
            }
            for s, e, name in results
        ],
        "ground_truth": truth,
        "was_cancelled": cancelled,
    }  # fmt: skip


def test_a_label_studio_export_with_span_results_imports(api, project):  # type: ignore[no-untyped-def]
    tasks = [
        {"id": 7, "data": {"text": TEXT}, "annotations": [
            _labelstudio_task([(0, 5, "PER")]),
            _labelstudio_task([(0, 5, "PER"), (17, 22, "LOC")], truth=True),
        ]},
        {"id": 8, "data": {"text": TEXT}, "annotations": [
            _labelstudio_task([(0, 5, "PER")]), _labelstudio_task([]),
        ]},
        {"id": 9, "data": {"text": TEXT}, "annotations": [_labelstudio_task([])]},
        {"id": 10, "data": {"text": TEXT}, "annotations": [_labelstudio_task([(0, 5, "DATE")])]},
        {"id": 11, "data": {"text": TEXT}, "annotations": [_labelstudio_task([(0, 50, "PER")])]},
    ]  # fmt: skip
    response = upload(api, project, "export.json", json.dumps(tasks))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["seeded"], body["skipped"]) == (3, 2, 2)
    truth, disagreed, none = _items(project)
    assert truth.spans == [ALICE, PARIS] and truth.meta["labelstudio_id"] == 7
    assert (disagreed.state, disagreed.spans) == ("pool", None)
    assert (none.state, none.spans) == ("labeled", [])
    errors = {e["line"]: e["error"] for e in body["errors"]}
    assert "DATE" in errors[4] and "not inside the text" in errors[5]


def _labelled_project(api, project):  # type: ignore[no-untyped-def]
    rows = [
        {"text": "Peter Blackburn visited Paris , said EU", "spans": [
            span(0, 15, "PER"), span(24, 29, "LOC"), span(37, 39, "ORG"),
        ]},
        {"text": "Nobody here", "spans": []},
        {"text": TEXT, "spans": [ALICE, PARIS]},
        {"text": "Still unlabelled"},
    ]  # fmt: skip
    response = upload(api, project, "pool.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    assert response.json()["created"] == 4
    return rows


def _export(api, project, fmt):  # type: ignore[no-untyped-def]
    response = api["lead"].get(f"/api/projects/{project.pk}/export/?format={fmt}")
    assert response.status_code == 200, response
    return b"".join(response.streaming_content).decode()


def _spans_by_text(project: Project) -> dict[str, list[tuple[str, str]] | None]:
    """Each item's spans as (covered text, label): offsets may move when CoNLL rebuilds
    a text from its tokens, the entities may not."""
    return {
        " ".join(item.text.split()): None
        if item.spans is None
        else [(item.text[s["start"] : s["end"]], s["label"]) for s in item.spans]
        for item in _items(project)
    }


@pytest.mark.parametrize(("fmt", "name"), [("jsonl", "back.jsonl"), ("labelstudio", "back.json")])
def test_an_export_imports_into_a_new_project_with_the_same_spans(api, project, fmt, name):  # type: ignore[no-untyped-def]
    _labelled_project(api, project)
    exported = _export(api, project, fmt)
    again = span_project(api, labels=[*LABELS, "MISC"])
    response = upload(api, again, name, exported)
    assert response.status_code == 201, response.content
    assert response.json()["errors"] == []
    before = [(i.text, i.spans, i.state) for i in _items(project)]
    assert [(i.text, i.spans, i.state) for i in _items(again)] == before


def test_a_conll_export_holds_the_labelled_items_and_imports_back(api, project):  # type: ignore[no-untyped-def]
    _labelled_project(api, project)
    exported = _export(api, project, "conll")
    assert exported.startswith("Peter\tB-PER\nBlackburn\tI-PER\nvisited\tO\nParis\tB-LOC\n")
    assert "Still" not in exported
    again = span_project(api, labels=[*LABELS, "MISC"])
    response = upload(api, again, "back.conll", exported)
    assert response.status_code == 201, response.content
    labelled = {k: v for k, v in _spans_by_text(project).items() if v is not None}
    assert _spans_by_text(again) == labelled


def test_a_conll_export_is_refused_on_other_projects(api):  # type: ignore[no-untyped-def]
    body = {"name": "c", "kind": "text", "labels": ["PER"]}
    pid = api["lead"].post("/api/projects/", body, format="json").json()["id"]
    response = api["lead"].get(f"/api/projects/{pid}/export/?format=conll")
    assert response.status_code == 400 and "span projects" in str(response.json())


def test_the_jsonl_export_carries_final_and_annotators_spans(api, users, project):  # type: ignore[no-untyped-def]
    from tests.spans.helpers import annotated

    item = annotated(project, TEXT, [(users["ann1"], [ALICE], 4)])
    Item.objects.filter(pk=item.pk).update(state="labeled", spans=[ALICE], label_source="consensus")
    [line] = [json.loads(x) for x in _export(api, project, "jsonl").splitlines()]
    assert (line["spans"], line["label"]) == ([ALICE], None)
    assert [(a["annotator"], a["spans"], a["label"]) for a in line["annotations"]] == [
        ("ann1", [ALICE], None)
    ]
    tasks = json.loads(_export(api, project, "labelstudio"))
    results = [r["value"] for r in tasks[0]["annotations"][0]["result"]]
    assert results == [{"start": 0, "end": 5, "text": "Alice", "labels": ["PER"]}]
    rows = list(csv.DictReader(io.StringIO(_export(api, project, "csv"))))
    assert json.loads(rows[0]["spans"]) == [ALICE]
    only = api["lead"].get(f"/api/projects/{project.pk}/export/?label=LOC")
    assert b"".join(only.streaming_content) == b""


def test_a_csv_spans_column_holds_json_as_the_csv_export_writes_it(api, project):  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "spans"])
    writer.writerows([[TEXT, json.dumps([ALICE])], ["Nobody", "[]"], ["Pool", ""], ["Bad", "PER"]])
    response = upload(api, project, "pool.csv", buffer.getvalue())
    body = response.json()
    assert (body["created"], body["seeded"]) == (3, 2)
    assert [i.spans for i in _items(project)] == [[ALICE], [], None]
    assert body["errors"][0]["line"] == 5 and "JSON" in body["errors"][0]["error"]


def test_the_label_studio_export_carries_the_models_spans_as_its_prediction(api, project):  # type: ignore[no-untyped-def]
    """The predicted spans are Label Studio's pre-annotation; importing the file back
    reads annotations only, so a prediction never becomes a label."""
    _labelled_project(api, project)
    unlabelled = Item.objects.get(project=project, text="Still unlabelled")
    Item.objects.filter(pk=unlabelled.pk).update(predicted_spans=[span(0, 5, "ORG")])
    tasks = {t["data"]["text"]: t for t in json.loads(_export(api, project, "labelstudio"))}
    predicted = tasks["Still unlabelled"]["predictions"]
    assert predicted == [{"model_version": "winnow", "result": [{
        "id": "s1", "type": "labels", "from_name": "label", "to_name": "text",
        "origin": "prediction",
        "value": {"start": 0, "end": 5, "text": "Still", "labels": ["ORG"]},
    }]}]  # fmt: skip
    assert tasks["Nobody here"]["predictions"] == []
    again = span_project(api, labels=[*LABELS, "MISC"])
    assert upload(api, again, "back.json", json.dumps(list(tasks.values()))).status_code == 201
    assert Item.objects.get(project=again, text="Still unlabelled").spans is None
