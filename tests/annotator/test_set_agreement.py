"""Multi-label agreement: MASI, Krippendorff's alpha over sets, per-label figures (no database)."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from annotator.quality.agreement import (
    krippendorff_alpha,
    masi_distance,
    set_agreement_summary,
    set_krippendorff_alpha,
)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ([1, 0, 0], [1, 0, 0], 0.0),  # equal
        ([1, 0, 0], [1, 1, 0], 1 - (1 / 2) * (2 / 3)),  # subset: J = 1/2, M = 2/3
        ([1, 1, 0], [0, 1, 1], 1 - (1 / 3) * (1 / 3)),  # overlap: J = 1/3, M = 1/3
        ([1, 0, 0], [0, 1, 0], 1.0),  # disjoint
        ([0, 0, 0], [0, 0, 0], 0.0),  # two empty sets are the same answer
        ([0, 0, 0], [1, 0, 0], 1.0),
    ],
)
def test_masi_distance_hand_checked(a: list[int], b: list[int], distance: float) -> None:
    assert masi_distance(a, b) == pytest.approx(distance)
    assert masi_distance(b, a) == pytest.approx(distance)


def test_set_alpha_hand_checked() -> None:
    # Unit 1: {a} vs {a, b} (MASI 2/3); unit 2: {b} vs {b}. n_c = (1, 1, 2) over the sets
    # {a}, {a,b}, {b}; observed sum 2 * 2/3; expected 2 * (2/3 + 2 + 4/3) = 8;
    # alpha = 1 - (4 - 1) * (4/3) / 8 = 0.5.
    items = [0, 0, 1, 1]
    coders = [0, 1, 0, 1]
    sets = [[1, 0], [1, 1], [0, 1], [0, 1]]
    assert set_krippendorff_alpha(items, coders, sets) == pytest.approx(0.5)


def test_with_singletons_set_alpha_is_the_nominal_alpha_of_krippendorff() -> None:
    rng = np.random.default_rng(4)
    n_items, n_coders, n_labels = 30, 4, 3
    values = rng.integers(0, n_labels, size=(n_coders, n_items)).astype(float)
    values[rng.random(values.shape) < 0.2] = np.nan  # missing values
    coder, item = np.nonzero(~np.isnan(values))
    labels = values[coder, item].astype(int)
    sets = np.eye(n_labels, dtype=int)[labels]
    reference = krippendorff.alpha(reliability_data=values, level_of_measurement="nominal")
    assert set_krippendorff_alpha(item, coder, sets) == pytest.approx(reference)
    assert krippendorff_alpha(item, coder, labels, n_labels) == pytest.approx(reference)


def test_perfect_agreement_on_sets_is_one() -> None:
    sets = [[1, 1, 0], [1, 1, 0], [0, 0, 1], [0, 0, 1]]
    assert set_krippendorff_alpha([0, 0, 1, 1], [0, 1, 0, 1], sets) == pytest.approx(1.0)


def test_summary_reports_each_label_and_the_whole_sets() -> None:
    items = [0, 0, 1, 1, 2, 2]
    coders = [0, 1, 0, 1, 0, 1]
    sets = [[1, 0], [1, 0], [0, 1], [1, 1], [1, 1], [1, 1]]
    summary = set_agreement_summary(items, coders, sets, ["a", "b"])
    assert summary["items"] == 3
    assert [entry["label"] for entry in summary["per_label"]] == ["a", "b"]
    a = krippendorff.alpha(reliability_data=[[1, 0, 1], [1, 1, 1]], level_of_measurement="nominal")
    assert summary["per_label"][0]["krippendorff_alpha"] == pytest.approx(a)
    assert summary["per_label"][1]["krippendorff_alpha"] == pytest.approx(1.0)  # b: all agree
    assert summary["krippendorff_alpha"] is not None
    assert [(p["a"], p["b"], p["n"]) for p in summary["pairs"]] == [(0, 1, 3)]


def test_too_few_shared_items_give_no_figures() -> None:
    summary = set_agreement_summary([0, 0], [0, 1], [[1, 0], [0, 1]], ["a", "b"])
    assert summary["krippendorff_alpha"] is None and summary["fleiss_kappa"] is None
