"""A small synthetic NER corpus for the span tests (no package data needed)."""

from __future__ import annotations

import numpy as np

from strategies.spans.formats import SpanDocument, document_from_tokens

PEOPLE = ["Alice", "Bob", "Carol", "Dmitri", "Esther", "Farid", "Grace", "Hiro"]
PLACES = ["Paris", "Lagos", "Lima", "Oslo", "Kyoto", "Quito", "Berlin", "Perth"]
VERBS = ["visited", "left", "loves", "flew to", "lives in", "returned to"]


def synthetic_corpus(n: int, seed: int = 0) -> list[SpanDocument]:
    """``n`` sentences "PER verb LOC [on day] ." with gold PER and LOC spans."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(n):
        person = str(rng.choice(PEOPLE))
        verb = str(rng.choice(VERBS)).split()
        place = str(rng.choice(PLACES))
        words = [person, *verb, place]
        tags = ["B-PER", *["O"] * len(verb), "B-LOC"]
        if rng.random() < 0.5:
            words += ["with", str(rng.choice(PEOPLE)), str(rng.choice(["Smith", "Ng"]))]
            tags += ["O", "B-PER", "I-PER"]
        docs.append(document_from_tokens([*words, "."], [*tags, "O"]))
    return docs
