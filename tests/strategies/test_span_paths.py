"""Viterbi paths read as spans in one pass agree with the tag-by-tag reading."""

from __future__ import annotations

import numpy as np

from strategies.spans.crf import tag_set
from strategies.spans.paths import path_runs, path_spans
from strategies.spans.tokens import tag_runs, tags_to_spans, tokenize

LABELS = ["PER", "LOC", "ORG"]


def test_runs_match_tag_runs_on_random_padded_paths() -> None:
    rng = np.random.default_rng(0)
    tags = np.asarray(tag_set(LABELS), dtype=object)
    lengths = rng.integers(0, 12, size=300)
    columns = rng.integers(0, len(tags), size=(300, 12))
    columns[np.arange(12)[None, :] >= lengths[:, None]] = -1
    rows, first, last, labels = path_runs(columns)
    found = list(zip(rows.tolist(), first.tolist(), last.tolist(), labels.tolist(), strict=True))
    expected = [
        (i, a, b, LABELS.index(label))
        for i, length in enumerate(lengths.tolist())
        for a, b, label in tag_runs(tags[columns[i, :length]].tolist())
    ]
    assert found == expected


def test_an_i_after_o_or_another_label_starts_an_entity() -> None:
    # O I-PER I-PER B-PER I-LOC O B-ORG
    rows, first, last, labels = path_runs(np.array([[0, 2, 2, 1, 4, 0, 5]]))
    assert list(zip(first.tolist(), last.tolist(), labels.tolist(), strict=True)) == [
        (1, 3, 0),
        (3, 4, 0),
        (4, 5, 1),
        (6, 7, 2),
    ]


def test_spans_carry_the_tokens_character_offsets() -> None:
    texts = ["Alice met Bob in Paris", "", "New York Times ."]
    sentences = [tokenize(t) for t in texts]
    columns = np.array([[1, 0, 1, 0, 3], [-1] * 5, [5, 6, 6, 0, -1]])
    spans = path_spans(columns, sentences).per_row(3, LABELS)
    expected = [
        [
            s.as_dict()
            for s in tags_to_spans(tokens, np.asarray(tag_set(LABELS))[row[: len(tokens)]])
        ]
        for tokens, row in zip(sentences, columns, strict=True)
    ]
    assert spans == expected
    assert spans[0] == [
        {"start": 0, "end": 5, "label": "PER"},
        {"start": 10, "end": 13, "label": "PER"},
        {"start": 17, "end": 22, "label": "LOC"},
    ]
    assert spans[2] == [{"start": 0, "end": 14, "label": "ORG"}]
