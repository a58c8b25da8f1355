"""The CRF learns spans; its marginals and path probabilities are coherent."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.spans.crf import tag_set, train_span_committee, train_span_model
from strategies.spans.features import (
    gazetteer_tags,
    sentence_features,
    sentence_token_features,
    word_shape,
)
from strategies.spans.simulate import tagged
from tests.strategies.spans_corpus import synthetic_corpus


@pytest.fixture(scope="module")
def corpus() -> tuple[list[list[str]], list[list[str]]]:
    return tagged(synthetic_corpus(80, seed=1))


def test_word_shapes_collapse_repeats() -> None:
    assert word_shape("McDonald's") == "XxXx'x"
    assert word_shape("2026-12") == "d-d"
    assert word_shape("ABC") == "X"


def test_features_describe_the_token_and_its_neighbours() -> None:
    rows = sentence_token_features(["Ada", "met", "Bob"])
    assert rows[0]["BOS"] is True and rows[2]["EOS"] is True
    assert rows[1]["-1:lower"] == "ada" and rows[1]["1:istitle"] is True
    assert rows[0]["suffix3"] == "Ada" and rows[0]["shape"] == "Xx"


def test_gazetteer_marks_the_longest_phrase() -> None:
    gaz = {"new york": "LOC", "new york times": "ORG", "york": "LOC"}
    assert gazetteer_tags(["the", "New", "York", "Times", "in", "york"], gaz) == [
        "O",
        "B-ORG",
        "I-ORG",
        "I-ORG",
        "O",
        "B-LOC",
    ]
    assert sentence_token_features(["York"], gaz)[0]["gazetteer"] == "B-LOC"


def test_sentence_features_are_unit_rows_and_similar_for_similar_sentences() -> None:
    X = sentence_features([["Ada", "met", "Bob"], ["Ada", "met", "Carol"], ["1", "2", "3"], []])
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    assert norms[:3] == pytest.approx(1.0) and norms[3] == 0.0
    sims = (X @ X.T).toarray()
    assert sims[0, 1] > sims[0, 2]


def test_the_crf_learns_the_synthetic_entities(corpus) -> None:  # type: ignore[no-untyped-def]
    words, tags = corpus
    model = train_span_model(words[:60], tags[:60], ["LOC", "PER"])
    predicted = model.predict(words[60:])
    assert np.mean([p == t for p, t in zip(predicted, tags[60:], strict=True)]) > 0.8


def test_marginals_are_distributions_and_bound_the_path_probability(corpus) -> None:  # type: ignore[no-untyped-def]
    words, tags = corpus
    model = train_span_model(words[:10], tags[:10], ["LOC", "PER"], max_iterations=20)
    pred = model.predict_sequences([*words[60:70], []])
    assert pred.tags == tag_set(["LOC", "PER"])
    sums = pred.marginals.sum(axis=2)
    assert sums[pred.mask] == pytest.approx(1.0) and (sums[~pred.mask] == 0).all()
    assert pred.lengths.tolist() == [len(w) for w in [*words[60:70], []]]
    assert ((pred.path_proba > 0) & (pred.path_proba <= 1)).all()
    column = {t: k for k, t in enumerate(pred.tags)}
    for i, path in enumerate(pred.paths[:-1]):
        on_path = pred.marginals[i, np.arange(len(path)), [column[t] for t in path]]
        assert pred.path_proba[i] <= on_path.min() + 1e-9  # P(y*) <= P(y*_t) for every t
    assert pred.paths == [*model.predict(words[60:70]), []]


def test_tags_outside_the_projects_labels_are_refused(corpus) -> None:  # type: ignore[no-untyped-def]
    words, tags = corpus
    with pytest.raises(ValueError, match="unknown tags"):
        train_span_model(words[:5], tags[:5], ["PER"])


def test_a_committee_is_bagged_and_seeded(corpus) -> None:  # type: ignore[no-untyped-def]
    words, tags = corpus
    a = train_span_committee(
        words[:20], tags[:20], ["LOC", "PER"], size=3, random_state=0, max_iterations=10
    )
    b = train_span_committee(
        words[:20], tags[:20], ["LOC", "PER"], size=3, random_state=0, max_iterations=10
    )
    assert len(a) == 3
    probe = words[60:65]
    for x, y in zip(a, b, strict=True):
        assert np.allclose(
            x.predict_sequences(probe).marginals, y.predict_sequences(probe).marginals
        )
    with pytest.raises(ValueError):
        train_span_committee(words[:5], tags[:5], ["LOC", "PER"], size=1)
