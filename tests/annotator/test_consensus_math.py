"""Consensus labels: vote rules, thresholds, weights and Dawid-Skene on a simulated crowd."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray

from annotator.quality.consensus import (
    CONSENSUS_METHODS,
    ConsensusResult,
    confidence_weighted_vote,
    dawid_skene,
    majority_vote,
)

Crowd = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]


def simulated_crowd(seed: int = 7, n_items: int = 500, n_labels: int = 3) -> Crowd:
    """Five annotators label every item: three decent, one spammer, one adversary.

    The decent ones are right 70%, 75% and 80% of the time (errors uniform over the
    other labels), the spammer answers uniformly at random and the adversary always
    answers ``(true + 1) mod K``. Returns items, annotators, labels and the truth.
    """
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, n_items)
    answers = []
    for accuracy in (0.7, 0.75, 0.8):
        wrong = (truth + rng.integers(1, n_labels, n_items)) % n_labels
        answers.append(np.where(rng.random(n_items) < accuracy, truth, wrong))
    answers.append(rng.integers(0, n_labels, n_items))
    answers.append((truth + 1) % n_labels)
    items = np.tile(np.arange(n_items), len(answers))
    annotators = np.repeat(np.arange(len(answers)), n_items)
    return items, annotators, np.concatenate(answers), truth


# Majority vote


def test_majority_vote_picks_the_most_frequent_label() -> None:
    items = np.array([0, 0, 0, 1, 1, 1, 1])
    annotators = np.array([0, 1, 2, 0, 1, 2, 3])
    labels = np.array([2, 2, 0, 1, 1, 1, 0])
    result = majority_vote(items, annotators, labels, 3, 2)
    np.testing.assert_array_equal(result.label, [2, 1])
    np.testing.assert_allclose(result.support, [2 / 3, 3 / 4])


def test_majority_vote_tie_means_no_consensus() -> None:
    result = majority_vote(np.array([0, 0]), np.array([0, 1]), np.array([0, 1]), 2, 1)
    assert result.label.tolist() == [-1]
    assert result.support.tolist() == [0.5]
    # a tie for first place among three labels, even above the support threshold
    tied = majority_vote(np.zeros(5, int), np.arange(5), np.array([0, 0, 1, 1, 2]), 3, 1)
    assert tied.label.tolist() == [-1]


def test_majority_vote_support_threshold() -> None:
    items, annotators = np.zeros(4, int), np.arange(4)
    labels = np.array([0, 0, 1, 2])  # support 0.5
    assert majority_vote(items, annotators, labels, 3, 1).label.tolist() == [0]
    strict = majority_vote(items, annotators, labels, 3, 1, min_support=0.6)
    assert strict.label.tolist() == [-1]
    assert strict.support.tolist() == [0.5]


def test_majority_vote_min_votes_and_items_without_annotations() -> None:
    result = majority_vote(np.array([0, 0, 2]), np.array([0, 1, 0]), np.array([1, 1, 0]), 2, 4)
    np.testing.assert_array_equal(result.label, [1, -1, 0, -1])
    np.testing.assert_array_equal(result.support, [1.0, 0.0, 1.0, 0.0])
    two = majority_vote(
        np.array([0, 0, 2]), np.array([0, 1, 0]), np.array([1, 1, 0]), 2, 4, min_votes=2
    )
    np.testing.assert_array_equal(two.label, [1, -1, -1, -1])


def test_majority_vote_counts_an_annotators_last_label_only() -> None:
    items, annotators = np.array([0, 0, 0, 0]), np.array([0, 0, 0, 1])
    result = majority_vote(items, annotators, np.array([1, 1, 0, 0]), 2, 1)
    assert (result.label.tolist(), result.support.tolist()) == ([0], [1.0])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4), st.data())
def test_vote_labels_are_unique_winners(n_labels: int, data: st.DataObject) -> None:
    grid = data.draw(arrays(np.int64, (4, 12), elements=st.integers(-1, n_labels - 1)))
    annotator, item = np.nonzero(grid >= 0)
    result = majority_vote(item, annotator, grid[annotator, item], n_labels, 12)
    votes = np.stack([(grid == c).sum(axis=0) for c in range(n_labels)], axis=1)
    unique_winner = (votes == votes.max(axis=1, keepdims=True)).sum(axis=1) == 1
    expected = np.where(unique_winner & (votes.max(axis=1) > 0), votes.argmax(axis=1), -1)
    expected[votes.max(axis=1) / np.maximum(votes.sum(axis=1), 1) < 0.5] = -1
    np.testing.assert_array_equal(result.label, expected)
    assert ((result.support >= 0) & (result.support <= 1)).all()
    single = votes.sum(axis=1) == 1
    np.testing.assert_array_equal(result.label[single], votes[single].argmax(axis=1))


# Confidence-weighted vote


def test_confident_minority_outweighs_unsure_majority() -> None:
    items, annotators, labels = np.zeros(3, int), np.arange(3), np.array([0, 1, 1])
    confidence = np.array([5.0, 1.0, 1.0])
    assert majority_vote(items, annotators, labels, 2, 1).label.tolist() == [1]
    weighted = confidence_weighted_vote(items, annotators, labels, 2, 1, confidence)
    assert weighted.label.tolist() == [0]
    assert weighted.support[0] == pytest.approx(1.0 / 1.4)


def test_weighted_tie_is_detected_despite_float_rounding() -> None:
    # 3/5 against 1/5 + 2/5, which is 0.6000000000000001 in floating point
    items, annotators, labels = np.zeros(3, int), np.arange(3), np.array([0, 1, 1])
    result = confidence_weighted_vote(items, annotators, labels, 2, 1, np.array([3.0, 1.0, 2.0]))
    assert result.label.tolist() == [-1]
    assert result.support[0] == pytest.approx(0.5)


def test_weighted_vote_threshold_and_single_annotation() -> None:
    items, annotators = np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0])
    labels, confidence = np.array([0, 1, 2, 2]), np.array([4.0, 3.0, 3.0, 1.0])
    result = confidence_weighted_vote(items, annotators, labels, 3, 2, confidence)
    np.testing.assert_array_equal(result.label, [-1, 2])  # 0.4 of the weight is too little
    np.testing.assert_allclose(result.support, [0.4, 1.0])
    lenient = confidence_weighted_vote(items, annotators, labels, 3, 2, confidence, min_support=0.4)
    np.testing.assert_array_equal(lenient.label, [0, 2])


def test_weighted_vote_equals_majority_with_equal_confidence() -> None:
    items, annotators, labels, _ = simulated_crowd()
    majority = majority_vote(items, annotators, labels, 3, 500)
    weighted = confidence_weighted_vote(items, annotators, labels, 3, 500, np.full(len(items), 3.0))
    np.testing.assert_array_equal(weighted.label, majority.label)
    np.testing.assert_allclose(weighted.support, majority.support)


def test_weighted_vote_rejects_missing_or_invalid_confidence() -> None:
    with pytest.raises(ValueError):
        confidence_weighted_vote(np.array([0]), np.array([0]), np.array([0]), 2, 1, np.array([0.0]))
    with pytest.raises(ValueError):
        confidence_weighted_vote(np.array([0]), np.array([0]), np.array([0]), 2, 1, np.array([]))


# Dawid-Skene


def test_dawid_skene_beats_majority_vote_on_a_crowd_with_spammer_and_adversary() -> None:
    items, annotators, labels, truth = simulated_crowd()
    majority = majority_vote(items, annotators, labels, 3, 500)
    estimate = dawid_skene(items, annotators, labels, 3, 500)
    majority_accuracy = (majority.label == truth).mean()
    ds_accuracy = (estimate.label == truth).mean()
    assert majority_accuracy < 0.7
    assert ds_accuracy > 0.95
    assert ds_accuracy > majority_accuracy + 0.25


def test_dawid_skene_learns_each_annotators_confusion() -> None:
    items, annotators, labels, _ = simulated_crowd()
    estimate = dawid_skene(items, annotators, labels, 3, 500)
    assert estimate.confusion is not None and estimate.priors is not None
    assert estimate.confusion.shape == (5, 3, 3)
    np.testing.assert_allclose(estimate.confusion.sum(axis=2), 1.0)
    assert estimate.priors.sum() == pytest.approx(1.0)
    adversary = estimate.confusion[4]
    assert adversary[np.arange(3), (np.arange(3) + 1) % 3].min() > 0.9
    best_decent_accuracy = np.diagonal(estimate.confusion[2]).mean()
    assert 0.7 < best_decent_accuracy < 0.9
    assert np.abs(estimate.confusion[3] - 1 / 3).max() < 0.15  # the spammer tells nothing


def test_dawid_skene_is_deterministic() -> None:
    items, annotators, labels, _ = simulated_crowd(seed=3)
    first = dawid_skene(items, annotators, labels, 3, 500)
    second = dawid_skene(items, annotators, labels, 3, 500)
    np.testing.assert_array_equal(first.label, second.label)
    np.testing.assert_array_equal(first.support, second.support)


def test_dawid_skene_on_unanimous_items_and_items_without_annotations() -> None:
    items = np.array([0, 0, 0, 1, 1, 1, 3])
    annotators = np.array([0, 1, 2, 0, 1, 2, 1])
    labels = np.array([1, 1, 1, 0, 0, 0, 1])
    result = dawid_skene(items, annotators, labels, 2, 4)
    np.testing.assert_array_equal(result.label, [1, 0, -1, 1])
    assert result.support[0] > 0.99 and result.support[2] == 0.0


def test_dawid_skene_min_posterior_sends_uncertain_items_to_review() -> None:
    items, annotators, labels, _ = simulated_crowd()
    loose = dawid_skene(items, annotators, labels, 3, 500)
    strict = dawid_skene(items, annotators, labels, 3, 500, min_posterior=0.9999)
    undecided = strict.label == -1
    assert 0 < undecided.sum() < 500
    assert (loose.support[undecided] < 0.9999).all()
    np.testing.assert_array_equal(strict.label[~undecided], loose.label[~undecided])


def test_dawid_skene_with_no_annotations() -> None:
    empty = np.array([], dtype=np.int64)
    result = dawid_skene(empty, empty, empty, 3, 2)
    np.testing.assert_array_equal(result.label, [-1, -1])


# Registry


def test_consensus_methods_share_one_call_shape() -> None:
    assert set(CONSENSUS_METHODS) == {"majority", "weighted", "dawid_skene"}
    items, annotators, labels, truth = simulated_crowd(n_items=60)
    confidence = np.full(len(items), 4.0)
    for name, (method, description) in CONSENSUS_METHODS.items():
        result = method(items, annotators, labels, 3, 60, confidence)
        assert isinstance(result, ConsensusResult), name
        assert result.label.shape == result.support.shape == (60,)
        assert description and "\n" not in description
