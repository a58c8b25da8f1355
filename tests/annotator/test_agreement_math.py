"""Agreement figures checked against scikit-learn, statsmodels, krippendorff and papers."""

from __future__ import annotations

import json
import warnings
from itertools import combinations

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.typing import NDArray
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss_kappa

from annotator.quality.agreement import (
    accuracy_against,
    agreement_summary,
    annotator_confusion,
    cohen_pairs,
    fleiss_kappa,
    krippendorff_alpha,
)

Arrays = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]

# Fleiss (1971) as tabulated on Wikipedia: 10 subjects, 14 raters, 5 categories.
FLEISS_TABLE = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 coders x 12 units.
KRIPPENDORFF_DATA = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
    ]
)


def from_grid(grid: NDArray[np.float64]) -> Arrays:
    """(coders x items) grid of labels, NaN or -1 for missing, to annotation arrays."""
    filled = np.nan_to_num(np.asarray(grid, dtype=np.float64), nan=-1.0)
    coder, item = np.nonzero(filled >= 0)
    return item, coder, filled[coder, item].astype(np.int64)


def from_table(table: NDArray[np.int64]) -> Arrays:
    """(items x labels) count table to annotation arrays, raters numbered per item."""
    item, label = np.nonzero(table)
    repeats = table[item, label]
    items, labels = np.repeat(item, repeats), np.repeat(label, repeats)
    annotators = np.concatenate([np.arange(n) for n in table.sum(axis=1)])
    return items, annotators, labels


def with_nan(grid: NDArray[np.int64]) -> NDArray[np.float64]:
    return np.where(grid >= 0, grid, np.nan).astype(np.float64)


@st.composite
def grids(draw: st.DrawFn, *, complete: bool = False) -> tuple[NDArray[np.int64], int]:
    """A random (coders x items) label grid, -1 marking a missing annotation."""
    n_labels = draw(st.integers(1, 4))
    n_coders = draw(st.integers(2, 6))
    n_items = draw(st.integers(1, 25))
    low = 0 if complete else -1
    elements = st.integers(low, n_labels - 1)
    return draw(arrays(np.int64, (n_coders, n_items), elements=elements)), n_labels


def sklearn_kappa(y1: NDArray[np.int64], y2: NDArray[np.int64]) -> float | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = float(cohen_kappa_score(y1, y2))
    return None if np.isnan(kappa) else kappa


def package_alpha(grid: NDArray[np.int64]) -> float | None:
    try:
        with np.errstate(all="ignore"):
            alpha = float(krippendorff.alpha(with_nan(grid), level_of_measurement="nominal"))
    except ValueError:  # no pairable unit, or a single value in the domain
        return None
    return None if np.isnan(alpha) else alpha  # a single value among the pairable ones


def assert_close(ours: float | None, reference: float | None) -> None:
    if reference is None:
        assert ours is None
    else:
        assert ours is not None
        assert ours == pytest.approx(reference, abs=1e-9)


# Fleiss' kappa


def test_fleiss_kappa_matches_fleiss_1971_worked_example() -> None:
    kappa = fleiss_kappa(*from_table(FLEISS_TABLE), n_labels=5)
    assert kappa == pytest.approx(0.20993070442195522, abs=1e-12)
    assert kappa == pytest.approx(statsmodels_fleiss_kappa(FLEISS_TABLE), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(grids(complete=True))
def test_fleiss_kappa_equals_statsmodels_with_constant_raters(case: tuple) -> None:
    grid, n_labels = case
    items, annotators, labels = from_grid(grid)
    table = np.zeros((grid.shape[1], n_labels))
    np.add.at(table, (items, labels), 1)
    with np.errstate(all="ignore"):
        reference = float(statsmodels_fleiss_kappa(table))
    assert_close(
        fleiss_kappa(items, annotators, labels, n_labels),
        None if not np.isfinite(reference) else reference,
    )


def test_fleiss_kappa_with_varying_raters_follows_documented_generalisation() -> None:
    # items: [0, 0], [0, 1, 1], [1, 1, 1, 0]; P_bar = 11/18, P_e = 41/81 -> kappa = 17/80
    items = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    annotators = np.array([0, 1, 0, 1, 2, 0, 1, 2, 3])
    labels = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0])
    assert fleiss_kappa(items, annotators, labels, 2) == pytest.approx(17 / 80, abs=1e-12)


def test_fleiss_kappa_ignores_singly_annotated_items() -> None:
    items, annotators, labels = from_table(FLEISS_TABLE)
    extra = (np.array([10, 11]), np.array([0, 3]), np.array([4, 0]))
    padded = [
        np.concatenate([a, b]) for a, b in zip((items, annotators, labels), extra, strict=True)
    ]
    assert fleiss_kappa(padded[0], padded[1], padded[2], 5) == pytest.approx(
        0.20993070442195522, abs=1e-12
    )


def test_fleiss_kappa_is_one_when_all_agree_and_none_for_a_single_label() -> None:
    items, annotators = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    assert fleiss_kappa(items, annotators, np.array([0, 0, 1, 1]), 2) == pytest.approx(1.0)
    assert fleiss_kappa(items, annotators, np.array([1, 1, 1, 1]), 2) is None


def test_fleiss_kappa_is_none_without_shared_items() -> None:
    assert fleiss_kappa(np.array([0, 1]), np.array([0, 1]), np.array([0, 1]), 2) is None
    assert fleiss_kappa(np.array([]), np.array([]), np.array([]), 2) is None


# Krippendorff's alpha


def test_krippendorff_alpha_matches_krippendorff_2011_worked_example() -> None:
    items, annotators, values = from_grid(KRIPPENDORFF_DATA)
    alpha = krippendorff_alpha(items, annotators, values - 1, 5)
    assert alpha == pytest.approx(0.743421052631579, abs=1e-12)  # published: 0.743
    reference = krippendorff.alpha(KRIPPENDORFF_DATA, level_of_measurement="nominal")
    assert alpha == pytest.approx(reference, abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(grids())
def test_krippendorff_alpha_equals_package_with_missing_data(case: tuple) -> None:
    grid, n_labels = case
    assert_close(krippendorff_alpha(*from_grid(grid), n_labels=n_labels), package_alpha(grid))


def test_krippendorff_alpha_edge_cases() -> None:
    items, annotators = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])
    assert krippendorff_alpha(items, annotators, np.array([0, 0, 1, 1]), 2) == pytest.approx(1.0)
    assert krippendorff_alpha(items, annotators, np.array([1, 1, 1, 1]), 3) is None
    assert krippendorff_alpha(np.array([0, 1]), np.array([0, 0]), np.array([0, 1]), 2) is None


# Cohen's kappa per pair


@settings(max_examples=200, deadline=None)
@given(grids(), st.integers(1, 4))
def test_cohen_pairs_equal_sklearn_on_shared_items(case: tuple, min_shared: int) -> None:
    grid, n_labels = case
    pairs = cohen_pairs(*from_grid(grid), n_labels=n_labels, min_shared=min_shared)
    expected = []
    for a, b in combinations(range(grid.shape[0]), 2):
        shared = (grid[a] >= 0) & (grid[b] >= 0)
        if shared.sum() >= min_shared:
            expected.append(
                (a, b, int(shared.sum()), sklearn_kappa(grid[a][shared], grid[b][shared]))
            )
    assert [(p.a, p.b, p.n) for p in pairs] == [e[:3] for e in expected]
    for pair, (*_, reference) in zip(pairs, expected, strict=True):
        assert_close(pair.cohen_kappa, reference)


def test_cohen_pairs_fixed_case() -> None:
    a = np.array([0, 1, 2, 0, 1, 2, 0, 0, 1, 2])
    b = np.array([0, 1, 2, 1, 1, 2, 0, 2, 1, 0])
    items = np.concatenate([np.arange(10), np.arange(10)])
    annotators = np.repeat([3, 7], 10)  # codes need not be contiguous
    pairs = cohen_pairs(items, annotators, np.concatenate([a, b]), 3)
    assert [(p.a, p.b, p.n) for p in pairs] == [(3, 7, 10)]
    assert pairs[0].cohen_kappa == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
    assert pairs[0].cohen_kappa == pytest.approx(0.5522388059701492, abs=1e-12)


def test_cohen_kappa_is_none_when_both_constant_and_equal_and_zero_when_unequal() -> None:
    items, annotators = np.array([0, 1, 0, 1]), np.array([0, 0, 1, 1])
    assert cohen_pairs(items, annotators, np.array([1, 1, 1, 1]), 2)[0].cohen_kappa is None
    assert cohen_pairs(items, annotators, np.array([0, 0, 1, 1]), 2)[0].cohen_kappa == 0.0


def test_cohen_pairs_skip_pairs_below_min_shared() -> None:
    # 0 and 1 share two items, 1 and 2 share one, 0 and 2 none.
    items = np.array([0, 1, 0, 1, 2, 2])
    annotators = np.array([0, 0, 1, 1, 1, 2])
    labels = np.array([0, 1, 0, 1, 1, 0])
    assert [(p.a, p.b, p.n) for p in cohen_pairs(items, annotators, labels, 2)] == [(0, 1, 2)]
    assert len(cohen_pairs(items, annotators, labels, 2, min_shared=1)) == 2
    assert cohen_pairs(np.array([0, 1]), np.array([0, 1]), np.array([0, 0]), 2) == []


def test_duplicate_annotations_count_once_with_the_last_label() -> None:
    items, annotators = np.array([0, 0, 1, 1, 0]), np.array([0, 1, 0, 1, 0])
    labels = np.array([1, 0, 1, 1, 0])  # annotator 0 relabelled item 0 as 0
    (pair,) = cohen_pairs(items, annotators, labels, 2)
    assert (pair.n, pair.cohen_kappa) == (2, 1.0)


def test_invalid_codes_are_rejected() -> None:
    with pytest.raises(ValueError):
        fleiss_kappa(np.array([0, 0]), np.array([0, 1]), np.array([0, 2]), 2)
    with pytest.raises(ValueError):
        cohen_pairs(np.array([0, 0]), np.array([0]), np.array([0, 1]), 2)
    with pytest.raises(ValueError):
        krippendorff_alpha(np.array([0, -1]), np.array([0, 1]), np.array([0, 1]), 2)


# Confusion between annotators


def test_annotator_confusion_counts_each_pair_of_annotations_once() -> None:
    items = np.array([0, 0, 0, 1, 1, 2])
    annotators = np.array([0, 1, 2, 0, 1, 0])
    labels = np.array([0, 0, 1, 1, 2, 2])  # item 2 has a single annotation
    expected = np.array([[1, 2, 0], [2, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(annotator_confusion(items, annotators, labels, 3), expected)


@settings(max_examples=100, deadline=None)
@given(grids())
def test_annotator_confusion_is_symmetric_and_sums_to_the_pairs(case: tuple) -> None:
    grid, n_labels = case
    matrix = annotator_confusion(*from_grid(grid), n_labels=n_labels)
    raters = (grid >= 0).sum(axis=0)
    assert matrix.shape == (n_labels, n_labels)
    np.testing.assert_array_equal(matrix, matrix.T)
    assert np.triu(matrix).sum() == (raters * (raters - 1) // 2).sum()


# Summary and accuracy


def test_agreement_summary_matches_the_api_contract() -> None:
    items, annotators, values = from_grid(KRIPPENDORFF_DATA)
    summary = agreement_summary(items, annotators, values - 1, 5)
    assert set(summary) == {"items", "fleiss_kappa", "krippendorff_alpha", "pairs"}
    assert summary["items"] == 11
    assert summary["krippendorff_alpha"] == pytest.approx(0.743421052631579, abs=1e-12)
    assert summary["fleiss_kappa"] == pytest.approx(0.7607655502392345, abs=1e-12)
    assert [(p["a"], p["b"], p["n"]) for p in summary["pairs"]] == [
        (0, 1, 9),
        (0, 2, 8),
        (0, 3, 9),
        (1, 2, 9),
        (1, 3, 10),
        (2, 3, 10),
    ]
    assert summary["pairs"][4]["cohen_kappa"] == pytest.approx(0.8701298701298701, abs=1e-12)
    json.dumps(summary)  # plain Python values only


def test_agreement_summary_has_null_figures_when_too_few_items_are_shared() -> None:
    summary = agreement_summary(np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([0, 1, 1]), 2)
    assert summary == {"items": 1, "fleiss_kappa": None, "krippendorff_alpha": None, "pairs": []}
    empty = agreement_summary(np.array([]), np.array([]), np.array([]), 2)
    assert empty == {"items": 0, "fleiss_kappa": None, "krippendorff_alpha": None, "pairs": []}


def test_accuracy_against_reference_skips_items_without_reference() -> None:
    items = np.array([0, 1, 2, 3, 0, 1, 2])
    annotators = np.array([0, 0, 0, 0, 5, 5, 5])
    labels = np.array([1, 0, 1, 1, 1, 1, 1])
    reference_items, reference_labels = np.array([0, 1, 2]), np.array([1, 0, -1])
    result = accuracy_against(items, annotators, labels, reference_items, reference_labels)
    assert result == {0: (2, 1.0), 5: (2, 0.5)}


def test_accuracy_against_gold_with_no_overlap_is_empty() -> None:
    result = accuracy_against(
        np.array([0]), np.array([0]), np.array([1]), np.array([4]), np.array([1])
    )
    assert result == {}
