"""Stream mode on a span project: the CRF's length-normalised path probability of the
arriving text (exp(-MNLP), decoded in one vectorised pass) drives the same budget and
threshold rules as single-label, and a queried text is answered with spans."""

from __future__ import annotations

import numpy as np
import pytest

from projects.models import Annotation, Item, Project
from projects.stream import answers
from projects.training import services as training_services
from projects.training.spans import entity_label_codes
from strategies.spans.query import mnlp_scores, path_indices
from strategies.spans.tokens import tokenize
from tests.spans.helpers import LABELS, span
from tests.spans.test_retrain import make_project, retrain
from tests.strategies.spans_corpus import synthetic_corpus
from tests.support.stream import own_files as own_files  # noqa: F401 - autouse
from tests.support.stream import replayed

pytestmark = pytest.mark.django_db


def streaming_project(api, budget: float) -> Project:  # type: ignore[no-untyped-def]
    project = make_project(api, stopping=[], stream={"budget": budget})
    assert retrain(project).status == "done"
    return Project.objects.get(pk=project.pk)


def stream_post(api, project: Project, body: dict[str, object]):  # type: ignore[no-untyped-def]
    return api["ann1"].post(f"/api/projects/{project.pk}/stream/", body, format="json")


def test_the_decision_reads_the_crfs_per_token_confidence_and_keeps_the_budget(api) -> None:  # type: ignore[no-untyped-def]
    project = streaming_project(api, budget=0.3)
    texts = [d.text for d in synthetic_corpus(120, seed=11)]
    texts += ["Zanzibar Qwerty frobnicated Xylo Vumba near Plonk ."] * 20  # unseen words
    texts += ["."]  # no entity: no predicted label
    response = stream_post(api, project, {"items": [{"text": t} for t in texts]})
    assert response.status_code == 200, response.content
    decisions = response.json()["decisions"]
    # The tagger's own answer, sentence by sentence, against the vectorised one.
    model = training_services.load_model(project.pk, 1)
    words = [[t.text for t in tokenize(text)] for text in texts]
    tagged = model.predict_sequences(words)
    expected = 1 - np.exp(-mnlp_scores(tagged.path_proba, tagged.lengths))
    assert [d["score"] for d in decisions] == pytest.approx(expected, abs=1e-6)
    codes = entity_label_codes(path_indices(tagged), len(LABELS))
    assert [d["prediction"] for d in decisions] == [LABELS[c] if c >= 0 else None for c in codes]
    assert decisions[-1]["prediction"] is None
    queried = np.array([d["query"] for d in decisions])
    assert 0.15 * len(texts) <= queried.sum() <= 0.3 * len(texts) + 1
    # Exactly the single-label rule (budget, threshold), read on the task's confidence.
    assert queried.tolist() == replayed(project, 1 - expected)
    skipped = Item.objects.filter(pk__in=[d["item"] for d in decisions if not d["query"]])
    assert set(skipped.values_list("state", flat=True)) == {Item.State.PREDICTED}
    assert all(i.spans is None for i in skipped)


def test_the_compiled_crf_is_kept_while_the_model_is(api) -> None:  # type: ignore[no-untyped-def]
    project = streaming_project(api, budget=0.3)
    model = training_services.load_model(project.pk, 1)
    first = answers.compiled_crf(project.pk, 1, model)
    assert answers.compiled_crf(project.pk, 1, model) is first
    training_services.load_model.cache_clear()  # a new object for the same version
    again = training_services.load_model(project.pk, 1)
    assert answers.compiled_crf(project.pk, 1, again) is not first


def test_a_queried_stream_text_is_answered_with_spans(api) -> None:  # type: ignore[no-untyped-def]
    project = streaming_project(api, budget=1.0)
    text = "Quentin Zorblatt frobnicated Vumba ."
    answer = stream_post(api, project, {"text": text}).json()
    assert answer["query"] is True and 0.0 < answer["score"] <= 1.0
    base = f"/api/projects/{project.pk}"
    for _ in range(60):  # the stream item heads the open batch or the next one
        got = api["ann1"].get(f"{base}/next/")
        assert got.status_code == 200, got.content
        item = got.json()["item"]["id"]
        spans = [span(0, 16, "PER"), span(29, 34, "LOC")] if item == answer["item"] else []
        body = {"item": item, "spans": spans, "confidence": 4}
        assert api["ann1"].post(f"{base}/annotations/", body, format="json").status_code == 201
        if item == answer["item"]:
            break
    assert Annotation.objects.get(item_id=answer["item"]).spans == [
        span(0, 16, "PER"),
        span(29, 34, "LOC"),
    ]
