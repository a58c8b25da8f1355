"""The latest model's whole answer kept with the items (`training.predicted`): a
multi-label model's sets in `Item.predicted_labels`, a CRF's spans in
`Item.predicted_spans`, written by the rescore with the scores, kept whole in the
ranking file, stored with stream arrivals and exported."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from django.db import connection

from projects.models import Item, Project
from projects.training import rankings, scores
from projects.training import services as training_services
from strategies.spans.tokens import tags_to_spans, tokenize
from tests.multilabel import test_retrain as multilabel_setup
from tests.multilabel.test_retrain import LABELS as SET_LABELS
from tests.projects.test_score_rows import ids as ids  # noqa: F401 - the fixture
from tests.spans import test_retrain as span_setup
from tests.support.stream import own_files as own_files  # noqa: F401 - autouse
from tests.support.stream import stream_decisions

pytestmark = pytest.mark.django_db


def exported(api: Any, project: Project) -> dict[int, dict[str, Any]]:
    response = api["lead"].get(f"/api/projects/{project.pk}/export/?format=jsonl")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return {line["id"]: line for line in map(json.loads, text.splitlines())}


def pool_items(project: Project) -> list[Item]:
    return list(Item.objects.filter(project=project, state=Item.State.POOL).order_by("id"))


def test_a_multilabel_rescore_keeps_every_pool_items_predicted_set(api) -> None:  # type: ignore[no-untyped-def]
    project = multilabel_setup.make_project(api, stopping=[])
    assert multilabel_setup.retrain(project).status == "done"
    items = pool_items(project)
    model = training_services.load_model(project.pk, 1)
    predicted = model.predict(np.array([item.vector for item in items]))
    expected = {
        item.pk: [SET_LABELS[j] for j in np.flatnonzero(row)]
        for item, row in zip(items, predicted, strict=True)
    }
    assert len({json.dumps(v) for v in expected.values()}) >= 3  # sets differ item to item
    written = {i.pk: i.predicted_labels for i in items if i.scored_version == 1}
    assert written and written == {pk: expected[pk] for pk in written}
    ranking = rankings.ranking_load(project.pk, 1)
    assert ranking is not None and ranking.answers is not None
    found, answers = ranking.answers_of(np.array(list(expected), dtype=np.int64))
    assert found.all() and answers is not None
    assert answers.lists(SET_LABELS) == list(expected.values())
    lines = exported(api, project)
    assert {pk: lines[pk]["predicted_labels"] for pk in expected} == expected
    labelled = Item.objects.filter(project=project, labels__isnull=False).first()
    assert labelled is not None and lines[labelled.pk]["predicted_labels"] is None


def test_a_multilabel_stream_item_left_to_the_model_keeps_its_set(api) -> None:  # type: ignore[no-untyped-def]
    project = multilabel_setup.make_project(api, stopping=[])
    member = {"username": "ann1", "role": "annotator"}
    api["lead"].post(f"/api/projects/{project.pk}/members/", member, format="json")
    assert multilabel_setup.retrain(project).status == "done"
    X = np.random.default_rng(4).normal(size=(40, 2)) * 2
    decisions = stream_decisions(api, project, [{"features": x.tolist()} for x in X])
    stored = dict(
        Item.objects.filter(pk__in=[d["item"] for d in decisions]).values_list(
            "id", "predicted_labels"
        )
    )
    assert stored == {d["item"]: d["labels"] for d in decisions}
    assert {pk: exported(api, project)[pk]["predicted_labels"] for pk in stored} == stored


def test_a_span_rescore_keeps_every_pool_items_predicted_spans(api) -> None:  # type: ignore[no-untyped-def]
    project = span_setup.make_project(api, stopping=[])
    assert span_setup.retrain(project).status == "done"
    items = pool_items(project)
    model = training_services.load_model(project.pk, 1)
    tokens = [tokenize(item.text) for item in items]
    paths = model.predict_sequences([[t.text for t in row] for row in tokens]).paths
    expected = {
        item.pk: [s.as_dict() for s in tags_to_spans(row, path)]
        for item, row, path in zip(items, tokens, paths, strict=True)
    }
    assert sum(map(len, expected.values())) > 20
    written = {i.pk: i.predicted_spans for i in items if i.scored_version == 1}
    assert written and written == {pk: expected[pk] for pk in written}
    lines = exported(api, project)
    assert {pk: lines[pk]["predicted_spans"] for pk in expected} == expected
    assert "predicted_labels" not in lines[items[0].pk]


def test_answers_are_written_with_the_scores_on_every_database(ids: np.ndarray) -> None:  # noqa: F811
    cells = [json.dumps(["a"] * (n % 3)) for n in range(len(ids))]
    scores.scores_write(
        ids[::-1], np.linspace(0, 1, len(ids)), np.zeros(len(ids)), 2,
        chunk_size=3, answer_column="predicted_labels", answers=cells[::-1],
    )  # fmt: skip
    stored = Item.objects.filter(pk__in=ids.tolist()).order_by("id")
    assert [i.predicted_labels for i in stored] == [["a"] * (n % 3) for n in range(len(ids))]
    assert {i.scored_version for i in stored} == {2}


@pytest.mark.postgres
def test_the_retry_that_skips_locked_rows_writes_answers_too(ids: np.ndarray) -> None:  # noqa: F811
    chunk = ids.tolist()[:2]
    params = [v for i in chunk for v in (i, 0.5, 1, '["a", "b"]')] + [5]
    with connection.cursor() as cursor:
        cursor.execute(scores._scores_statement(2, True, column="predicted_labels"), params)
    stored = Item.objects.filter(pk__in=chunk).order_by("id")
    assert [(i.predicted_labels, i.scored_version) for i in stored] == [(["a", "b"], 5)] * 2
