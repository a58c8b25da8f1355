"""What a stream decision answers, per task kind (PRODUCT.md §6, §10): a single-label
decision keeps its five fields; a multi-label one adds the model's predicted set
(`labels`), a span one the model's predicted spans (`spans`), null before any model."""

from __future__ import annotations

import numpy as np
import pytest

from projects.training import services as training_services
from strategies.spans.tokens import tags_to_spans, tokenize
from tests.multilabel import test_retrain as multilabel_setup
from tests.multilabel.test_retrain import LABELS as SET_LABELS
from tests.projects import test_stream as single_setup
from tests.spans import test_retrain as span_setup
from tests.spans.helpers import span_project
from tests.strategies.spans_corpus import synthetic_corpus
from tests.support.stream import own_files as own_files  # noqa: F401 - autouse
from tests.support.stream import stream_decisions, stream_post

pytestmark = pytest.mark.django_db

DECISION_FIELDS = {"item", "query", "score", "prediction", "model_version"}


def test_a_single_label_decision_keeps_its_five_fields(api) -> None:  # type: ignore[no-untyped-def]
    project = single_setup.make_project(api)
    assert set(stream_post(api, project, {"text": "a cat"}).json()) == DECISION_FIELDS
    single_setup.train_now(api, project)
    decisions = stream_decisions(api, project, [{"text": "a dog"}, {"text": "a loan"}])
    assert all(set(d) == DECISION_FIELDS for d in decisions)
    assert {d["model_version"] for d in decisions} == {1}


def test_a_multilabel_decision_carries_the_predicted_set(api) -> None:  # type: ignore[no-untyped-def]
    project = multilabel_setup.make_project(api, stopping=[])
    member = {"username": "ann1", "role": "annotator"}
    api["lead"].post(f"/api/projects/{project.pk}/members/", member, format="json")
    cold = stream_post(api, project, {"features": [0.5, 0.5]}).json()
    assert set(cold) == DECISION_FIELDS | {"labels"} and cold["labels"] is None
    assert multilabel_setup.retrain(project).status == "done"
    X = np.array([[2.0, 2.0], [2.0, -2.0], [-2.0, 2.0], [-2.0, -2.0], [0.3, 0.1]])
    decisions = stream_decisions(api, project, [{"features": x.tolist()} for x in X])
    predicted = training_services.load_model(project.pk, 1).predict(X)
    expected = [[SET_LABELS[j] for j in np.flatnonzero(row)] for row in predicted]
    assert [d["labels"] for d in decisions] == expected
    # Far from every boundary the set is the truth itself, the empty set included.
    assert expected[:4] == [multilabel_setup.truth(x) for x in X[:4]]
    assert expected[3] == []
    single = stream_post(api, project, {"features": [2.0, 2.0]}).json()
    assert single["labels"] == expected[0] and single["model_version"] == 1


def test_a_span_decision_carries_the_predicted_spans(api) -> None:  # type: ignore[no-untyped-def]
    cold_project = span_project(api, stream={"budget": 0.5})
    cold = stream_post(api, cold_project, {"text": "Alice met Bob"}).json()
    assert set(cold) == DECISION_FIELDS | {"spans"} and cold["spans"] is None
    project = span_setup.make_project(api, stopping=[], stream={"budget": 0.5})
    assert span_setup.retrain(project).status == "done"
    texts = [d.text for d in synthetic_corpus(40, seed=11)] + ["."]
    decisions = stream_decisions(api, project, [{"text": t} for t in texts])
    model = training_services.load_model(project.pk, 1)
    tokens = [tokenize(t) for t in texts]
    paths = model.predict_sequences([[t.text for t in row] for row in tokens]).paths
    expected = [
        [s.as_dict() for s in tags_to_spans(row, path)]
        for row, path in zip(tokens, paths, strict=True)
    ]
    assert [d["spans"] for d in decisions] == expected
    assert sum(map(len, expected)) > 20  # the corpus's entities are found
    assert decisions[-1]["spans"] == [] and decisions[-1]["prediction"] is None
    for decision, text in zip(decisions, texts, strict=True):
        assert all(0 <= s["start"] < s["end"] <= len(text) for s in decision["spans"])
