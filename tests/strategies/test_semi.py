"""Pseudo-label refits measured for issue 15 (``strategies.semi``; off by default)."""

from __future__ import annotations

import numpy as np
import pytest

from strategies import semi
from strategies.datasets import Split
from strategies.models import LinearModel, train_model


def test_confident_rows_keep_the_threshold_and_the_cap() -> None:
    proba = np.array([[0.95, 0.05], [0.5, 0.5], [0.02, 0.98], [0.91, 0.09], [0.2, 0.8]])
    rows, labels = semi.confident_rows(proba, n_labels=2)
    assert rows.tolist() == [2, 0] and labels.tolist() == [1, 0]  # most confident first
    rows, _ = semi.confident_rows(proba, n_labels=10)
    assert sorted(rows.tolist()) == [0, 2, 3]  # 0.8 is below the threshold


def test_label_spreading_reaches_the_unlabelled_members_of_a_cluster(blobs) -> None:  # type: ignore[no-untyped-def]
    X, y = blobs
    labeled = np.array([0, 20, 40])
    proba = semi.spread_proba(X, labeled, y[labeled], 3)
    assert proba.shape == (60, 3)
    np.testing.assert_array_equal(proba.argmax(axis=1), y)


@pytest.mark.parametrize("mode", ["self-training", "label-spreading"])
def test_a_refit_adds_pseudo_labels_and_is_off_by_default(
    blobs, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    X, y = blobs
    split = Split(X, y, X, y, 3, seed=0)
    labeled = np.array([0, 1, 20, 21, 40, 41])
    model = train_model(X[labeled], y[labeled], 3, C=1.0)
    assert semi.pseudo_label_refit(model, split, labeled) is model
    monkeypatch.setattr(semi, "MODE", mode)
    fitted: list[np.ndarray] = []

    def spy(X_fit, y_fit, n_classes, **kwargs):  # type: ignore[no-untyped-def]
        fitted.append(y_fit)
        return train_model(X_fit, y_fit, n_classes, **kwargs)

    monkeypatch.setattr(semi, "train_model", spy)
    refit = semi.pseudo_label_refit(model, split, labeled)
    assert isinstance(refit, LinearModel) and refit is not model
    # The true labels first, then at most as many pseudo-labels (all correct here).
    (y_fit,) = fitted
    assert 6 < len(y_fit) <= 12 and (y_fit[:6] == y[labeled]).all()
    assert (refit.predict(X) == y).all()
    monkeypatch.setattr(semi, "MODE", "nonsense")
    with pytest.raises(ValueError, match="unknown semi-supervised mode"):
        semi.pseudo_label_refit(model, split, labeled)
