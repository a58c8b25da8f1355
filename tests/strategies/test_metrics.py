from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from strategies.metrics import evaluate, macro_f1_from_confusion, wilson_interval


def test_wilson_interval_by_hand() -> None:
    # Known value: 8/10 -> (0.4902, 0.9433) at 95%.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)


def test_evaluate_matches_sklearn_and_brackets_the_point() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, size=300)
    pred = np.where(rng.random(300) < 0.8, y, rng.integers(0, 4, size=300))
    m = evaluate(y, pred, 4)
    assert m["n"] == 300
    assert m["accuracy"] == pytest.approx((y == pred).mean())
    assert m["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["accuracy_low"] < m["accuracy"] < m["accuracy_high"]
    assert m["macro_f1_low"] < m["macro_f1"] < m["macro_f1_high"]
    assert evaluate(y, pred, 4) == m  # seeded bootstrap


def test_confusion_macro_f1_matches_sklearn() -> None:
    y = np.array([0, 0, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 2, 0, 2])
    conf = np.zeros((3, 3))
    np.add.at(conf, (y, p), 1)
    assert macro_f1_from_confusion(conf, np.arange(3)) == pytest.approx(
        f1_score(y, p, average="macro")
    )


def test_perfect_and_empty_evaluations() -> None:
    m = evaluate(np.array([1, 1, 1]), np.array([1, 1, 1]), 3)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0 and m["macro_f1_low"] == 1.0
    assert evaluate(np.array([], dtype=int), np.array([], dtype=int), 2)["accuracy"] is None
    with pytest.raises(ValueError):
        evaluate(np.array([0, 5]), np.array([0, 1]), 2)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 12, 13, 48, 100, 999])
def test_wilson_interval_holds_the_estimate_exactly_at_the_edges(n: int) -> None:
    """No rounding puts the estimate outside its interval (0 of 12 once gave a low of
    2e-17 above an estimate of 0.0)."""
    for successes in range(n + 1):
        low, high = wilson_interval(successes, n)
        assert 0.0 <= low <= successes / n <= high <= 1.0
    assert wilson_interval(0, n)[0] == 0.0
    assert wilson_interval(n, n)[1] == 1.0
