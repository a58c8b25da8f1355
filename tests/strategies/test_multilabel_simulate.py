"""The multi-label simulator's loop (strategies.multilabel_simulate) on hand-made points."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.multilabel_simulate import micro_f1, resolve_multilabel, run_multilabel_loop


def points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).normal(size=(n, 2))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X.sum(axis=1) > 1]).astype(np.int64)
    return X, Y


def test_micro_f1_counts_every_label_decision() -> None:
    Y = np.array([[1, 0], [1, 1]])
    # tp 2, fp 1, fn 1: 2 * 2 / (2 * 2 + 1 + 1)
    assert micro_f1(Y, np.array([[1, 1], [0, 1]])) == pytest.approx(4 / 6)


def test_resolve_takes_only_multilabel_strategies() -> None:
    assert resolve_multilabel("multilabel_margin+kcenter") == ("multilabel_margin", "kcenter")
    assert resolve_multilabel("random") == ("random", "top_k")
    with pytest.raises(ValueError, match="not a multi-label strategy"):
        resolve_multilabel("margin")
    with pytest.raises(ValueError):
        resolve_multilabel("multilabel_margin+nonsense")


def test_the_loop_labels_batches_up_to_the_budget() -> None:
    X, Y = points(200, 0)
    Xt, Yt = points(100, 1)
    run = run_multilabel_loop(
        X, Y, Xt, Yt, "multilabel_margin", seed=0, seed_size=10, batch_size=15, budget=70
    )
    assert [p["labels"] for p in run["curve"]] == [10, 25, 40, 55, 70]
    assert run["reached"] is None
    assert all(0.0 <= p["micro_f1"] <= 1.0 for p in run["curve"])


def test_the_loop_goes_past_the_budget_until_the_target() -> None:
    X, Y = points(200, 0)
    Xt, Yt = points(100, 1)
    run = run_multilabel_loop(
        X, Y, Xt, Yt, "random", seed=3, seed_size=10, batch_size=10, budget=20, until=0.95
    )
    reached = run["reached"]
    assert reached is not None and reached > 20
    at = {p["labels"]: p["micro_f1"] for p in run["curve"]}
    assert at[reached] >= 0.95 and all(f < 0.95 for n, f in at.items() if n < reached)
    assert run["curve"][-1]["labels"] == reached  # it stops there
    again = run_multilabel_loop(
        X, Y, Xt, Yt, "random", seed=3, seed_size=10, batch_size=10, budget=20, until=0.95
    )
    assert again == run  # seeded
