"""Multi-label holdout metrics on hand-checked arrays (no database)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, hamming_loss

from strategies.metrics import evaluate_multilabel

Y_TRUE = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
Y_PRED = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 1]])


def test_point_values_are_hand_checked() -> None:
    m = evaluate_multilabel(Y_TRUE, Y_PRED)
    # Cells: TP = 4 (1,1 / 2,2 / 3,1 / 4,3), FP = 1 (4,2), FN = 2 (1,3 / 3,2).
    assert m["micro_f1"] == pytest.approx(2 * 4 / (2 * 4 + 1 + 2))
    # Per label: a: TP2 -> 1.0; b: TP1 FP1 FN1 -> 0.5; c: TP1 FN1 -> 2/3.
    assert m["macro_f1"] == pytest.approx((1.0 + 0.5 + 2 / 3) / 3)
    assert m["subset_accuracy"] == pytest.approx(1 / 4)  # only row 2 exact
    assert m["hamming_loss"] == pytest.approx(3 / 12)
    assert m["n"] == 4


def test_points_agree_with_sklearn_and_lie_inside_their_intervals() -> None:
    rng = np.random.default_rng(3)
    yt = (rng.random((200, 5)) < 0.3).astype(int)
    yp = np.where(rng.random((200, 5)) < 0.8, yt, 1 - yt)
    m = evaluate_multilabel(yt, yp, random_state=1)
    assert m["micro_f1"] == pytest.approx(f1_score(yt, yp, average="micro"))
    assert m["macro_f1"] == pytest.approx(f1_score(yt, yp, average="macro", zero_division=0))
    assert m["hamming_loss"] == pytest.approx(hamming_loss(yt, yp))
    for name in ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss"):
        assert m[f"{name}_low"] <= m[name] <= m[f"{name}_high"], name
        assert m[f"{name}_high"] - m[f"{name}_low"] > 0


def test_perfect_predictions_have_no_spread_in_f1() -> None:
    m = evaluate_multilabel(Y_TRUE, Y_TRUE)
    assert (m["micro_f1"], m["micro_f1_low"], m["micro_f1_high"]) == (1.0, 1.0, 1.0)
    assert m["hamming_loss_high"] == 0.0


def test_the_same_seed_gives_the_same_intervals() -> None:
    assert evaluate_multilabel(Y_TRUE, Y_PRED, random_state=5) == evaluate_multilabel(
        Y_TRUE, Y_PRED, random_state=5
    )


def test_an_empty_holdout_has_no_figures() -> None:
    m = evaluate_multilabel(np.zeros((0, 3), int), np.zeros((0, 3), int))
    assert m["n"] == 0 and m["micro_f1"] is None


def test_non_indicator_input_is_refused() -> None:
    with pytest.raises(ValueError):
        evaluate_multilabel(np.array([[2, 0]]), np.array([[1, 0]]))
    with pytest.raises(ValueError):
        evaluate_multilabel(np.array([1, 0]), np.array([1, 0]))
