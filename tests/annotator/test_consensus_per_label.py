"""Multi-label consensus: each label voted on as yes/no (no database)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.quality.consensus import (
    NO_CONSENSUS,
    confidence_weighted_vote,
    dawid_skene,
    majority_vote,
    per_label_consensus,
)

# Two items; item 0 has three annotators, item 1 two who disagree on label 1.
ITEMS = np.array([0, 0, 0, 1, 1])
CODERS = np.array([0, 1, 2, 0, 1])
SETS = np.array([[1, 0, 1], [1, 0, 0], [1, 1, 1], [0, 1, 0], [0, 0, 0]])


def test_majority_per_label_hand_checked() -> None:
    result = per_label_consensus(majority_vote, ITEMS, CODERS, SETS, 2)
    assert result.label[0].tolist() == [1, 0, 1]
    assert result.support[0].tolist() == pytest.approx([1.0, 2 / 3, 2 / 3])
    assert result.label[1].tolist() == [0, NO_CONSENSUS, 0]  # 1 vs 1 on label 1: a tie


def test_weighted_vote_per_label_follows_confidence() -> None:
    confidence = np.array([3, 3, 3, 5, 1])
    result = per_label_consensus(
        confidence_weighted_vote, ITEMS, CODERS, SETS, 2, confidence, min_support=0.5
    )
    assert result.label[1].tolist() == [0, 1, 0]


def test_dawid_skene_per_label_returns_a_decision_for_every_cell() -> None:
    result = per_label_consensus(dawid_skene, ITEMS, CODERS, SETS, 2, min_posterior=0.0)
    assert result.label.shape == (2, 3)
    assert set(np.unique(result.label)) <= {0, 1}


def test_sets_must_be_indicators() -> None:
    with pytest.raises(ValueError):
        per_label_consensus(majority_vote, ITEMS, CODERS, SETS * 2, 2)
