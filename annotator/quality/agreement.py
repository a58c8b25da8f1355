"""Inter-annotator agreement: plain, vectorised numpy over annotation arrays.

Every function takes the annotations of one project as aligned integer arrays
``items``, ``annotators`` and ``labels`` (one row per annotation, each already
coded ``0..n-1``) plus ``n_labels``. If an annotator labelled the same item more
than once, only the last row counts. Only items with at least two annotations
can show agreement; the others are ignored by every figure here. No Django.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Annotations:
    """Validated annotations, one row per (item, annotator)."""

    items: IntArray
    annotators: IntArray
    labels: IntArray
    n_labels: int


@dataclass(frozen=True)
class PairAgreement:
    """Cohen's kappa of annotators ``a < b`` over the ``n`` items both labelled."""

    a: int
    b: int
    n: int
    cohen_kappa: float | None


def annotations_from_arrays(
    items: ArrayLike, annotators: ArrayLike, labels: ArrayLike, n_labels: int
) -> Annotations:
    """Validate the three aligned arrays and keep the last row per (item, annotator)."""
    return annotations_with_rows(items, annotators, labels, n_labels)[0]


def annotations_with_rows(
    items: ArrayLike, annotators: ArrayLike, labels: ArrayLike, n_labels: int
) -> tuple[Annotations, IntArray]:
    """As :func:`annotations_from_arrays`, also returning the input rows that were kept."""
    item, annotator, label = _int_arrays(items, annotators, labels)
    if n_labels < 1:
        raise ValueError("n_labels must be at least 1")
    if len(item) and (min(item.min(), annotator.min(), label.min()) < 0 or label.max() >= n_labels):
        raise ValueError("codes must be non-negative and labels below n_labels")
    keep = _last_per_key(item, annotator)
    return Annotations(item[keep], annotator[keep], label[keep], int(n_labels)), keep


def _int_arrays(*arrays: ArrayLike) -> list[IntArray]:
    """Flat int64 copies of aligned arrays, checked to have one length."""
    flat = [np.asarray(x, dtype=np.int64).ravel() for x in arrays]
    if len({len(x) for x in flat}) > 1:
        raise ValueError("aligned arrays must have the same length")
    return flat


def _last_per_key(item: IntArray, annotator: IntArray) -> IntArray:
    """Row indices of the last annotation of each (item, annotator), in item order."""
    if not len(item):
        return np.zeros(0, dtype=np.int64)
    key = item * (int(annotator.max()) + 1) + annotator
    _, first_in_reversed = np.unique(key[::-1], return_index=True)
    return (len(key) - 1 - first_in_reversed).astype(np.int64)


def label_counts(ann: Annotations) -> tuple[FloatArray, IntArray]:
    """Per-item label counts ``n_ic`` (items with >= 2 annotations only) and their item codes."""
    codes, item_row = np.unique(ann.items, return_inverse=True)
    counts = np.bincount(
        item_row * ann.n_labels + ann.labels, minlength=len(codes) * ann.n_labels
    ).reshape(len(codes), ann.n_labels)
    multi = counts.sum(axis=1) >= 2
    return counts[multi].astype(np.float64), codes[multi].astype(np.int64)


def cohen_pairs(
    items: ArrayLike,
    annotators: ArrayLike,
    labels: ArrayLike,
    n_labels: int,
    *,
    min_shared: int = 2,
) -> list[PairAgreement]:
    """Cohen's kappa (Cohen 1960) for every annotator pair sharing ``>= min_shared`` items.

    ``kappa = (p_o - p_e) / (1 - p_e)`` with ``p_o`` the observed agreement on the shared
    items and ``p_e = sum_c p_a(c) p_b(c)`` from each annotator's own label shares there;
    computed as scikit-learn's ``cohen_kappa_score`` does, but ``None`` where it is
    undefined (``p_e = 1``: both gave one and the same label throughout).
    """
    ann = annotations_from_arrays(items, annotators, labels, n_labels)
    pairs = []
    for a, partners, tables in _pair_confusions(ann, max(min_shared, 1)):
        kappas = _kappas_from_confusions(tables)
        for b, table, kappa in zip(partners.tolist(), tables, kappas.tolist(), strict=True):
            pairs.append(PairAgreement(a, b, int(table.sum()), None if np.isnan(kappa) else kappa))
    return pairs


def _pair_confusions(
    ann: Annotations, min_shared: int
) -> Iterator[tuple[int, IntArray, FloatArray]]:
    """For each annotator ``a``: its partners ``b > a`` sharing ``>= min_shared`` items and
    the label confusions ``C[pair, l_a, l_b]`` with them.

    One bincount per annotator over the shared items it labelled, so the cost is
    ``O(n_annotations * n_annotators)`` rather than one pass over the data per pair.
    """
    _, item_row, per_item = np.unique(ann.items, return_inverse=True, return_counts=True)
    shared = per_item[item_row] >= 2
    shared_items, grid_row = np.unique(item_row[shared], return_inverse=True)
    coders, coder_col = np.unique(ann.annotators[shared], return_inverse=True)
    grid = np.full((len(shared_items), len(coders)), -1, dtype=np.int64)
    grid[grid_row, coder_col] = ann.labels[shared]
    n_lab = ann.n_labels
    for col in range(len(coders) - 1):
        rows = grid[grid[:, col] >= 0]
        own, others = rows[:, col : col + 1], rows[:, col + 1 :]
        given = others >= 0
        index = (np.nonzero(given)[1] * n_lab + np.broadcast_to(own, others.shape)[given]) * n_lab
        counts = np.bincount(index + others[given], minlength=others.shape[1] * n_lab * n_lab)
        tables = counts.reshape(-1, n_lab, n_lab).astype(np.float64)
        keep = np.flatnonzero(tables.sum(axis=(1, 2)) >= min_shared)
        if len(keep):
            yield int(coders[col]), coders[col + 1 + keep].astype(np.int64), tables[keep]


def _kappas_from_confusions(tables: FloatArray) -> FloatArray:
    """Cohen's kappa of each ``C`` in ``tables``, NaN where undefined.

    ``1 - sum_{c != k} C_ck / sum_{c != k} E_ck`` with ``E = outer(rows, cols) / n``
    (scikit-learn's form); the off-diagonal sum of ``E`` is ``(n^2 - sum_c r_c k_c) / n``,
    exact for counts, so "undefined" (zero) is detected exactly.
    """
    n = tables.sum(axis=(1, 2))
    chance = (tables.sum(axis=2) * tables.sum(axis=1)).sum(axis=1)
    expected_off = (n * n - chance) / np.where(n > 0, n, 1)
    observed_off = n - np.trace(tables, axis1=1, axis2=2)
    defined = expected_off > 0
    ratio = np.divide(observed_off, expected_off, out=np.full_like(n, np.nan), where=defined)
    return 1 - ratio


def fleiss_kappa(
    items: ArrayLike, annotators: ArrayLike, labels: ArrayLike, n_labels: int
) -> float | None:
    """Fleiss' kappa (Fleiss 1971) over items with >= 2 annotations.

    ``kappa = (P_bar - P_e) / (1 - P_e)`` where ``P_i = sum_c n_ic (n_ic - 1) / (m_i (m_i - 1))``
    is the agreeing share of the ordered rater pairs of item ``i`` (``m_i`` raters),
    ``P_bar`` its mean over items and ``P_e = sum_c p_c^2`` with ``p_c`` the share of all
    annotations that are ``c``. With a varying number of raters per item, this is the
    usual generalisation (each item weighs equally, ``p_c`` pools all annotations); with
    a constant number it is exactly Fleiss' formula (statsmodels' ``fleiss_kappa``).
    ``None`` when no item has two annotations or when ``P_e = 1`` (one label throughout).
    """
    counts, _ = label_counts(annotations_from_arrays(items, annotators, labels, n_labels))
    if not len(counts):
        return None
    raters = counts.sum(axis=1)
    p_items = ((counts * (counts - 1)).sum(axis=1)) / (raters * (raters - 1))
    p_labels = counts.sum(axis=0) / raters.sum()
    p_expected = float((p_labels**2).sum())
    if p_expected >= 1.0:
        return None
    return float((p_items.mean() - p_expected) / (1 - p_expected))


def krippendorff_alpha(
    items: ArrayLike, annotators: ArrayLike, labels: ArrayLike, n_labels: int
) -> float | None:
    """Krippendorff's alpha for nominal data with missing values (Krippendorff 2011).

    From the coincidence matrix ``o_ck = sum_u (n_uc n_uk - [c = k] n_uc) / (m_u - 1)``
    over units with ``m_u >= 2`` values, ``n_c = sum_k o_ck`` and ``n = sum_c n_c``:
    ``alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k``, i.e. one minus
    observed over expected disagreement. Equals the ``krippendorff`` package's
    ``alpha(..., level_of_measurement="nominal")``; ``None`` where that raises (no unit
    with two values, or a single label in the pairable values).
    """
    counts, _ = label_counts(annotations_from_arrays(items, annotators, labels, n_labels))
    if not len(counts):
        return None
    weights = 1.0 / (counts.sum(axis=1) - 1)
    coincidences = (counts * weights[:, None]).T @ counts - np.diag(weights @ counts)
    n_c = coincidences.sum(axis=0)
    n = n_c.sum()
    expected_disagreement = n * n - (n_c**2).sum()
    if expected_disagreement <= 0:
        return None
    observed_disagreement = n - np.trace(coincidences)
    return float(1 - (n - 1) * observed_disagreement / expected_disagreement)


def annotator_confusion(
    items: ArrayLike, annotators: ArrayLike, labels: ArrayLike, n_labels: int
) -> IntArray:
    """Label pairs given to one item by two different annotators, ``(n_labels, n_labels)``.

    Every unordered pair of annotations of the same item counts once: at ``[c, c]``
    when both said ``c``, and at both ``[c, k]`` and ``[k, c]`` when they differ, so the
    matrix is symmetric and its upper triangle (with the diagonal) sums to the number
    of annotation pairs: ``M = sum_i (n_i n_i^T - diag(n_i))`` with the diagonal halved.
    """
    counts, _ = label_counts(annotations_from_arrays(items, annotators, labels, n_labels))
    pairs = counts.T @ counts - np.diag(counts.sum(axis=0))
    pairs[np.diag_indices_from(pairs)] /= 2
    return np.rint(pairs).astype(np.int64)


def agreement_summary(
    items: ArrayLike,
    annotators: ArrayLike,
    labels: ArrayLike,
    n_labels: int,
    *,
    min_shared: int = 2,
) -> dict[str, Any]:
    """The agreement API payload: ``{"items", "fleiss_kappa", "krippendorff_alpha", "pairs"}``.

    ``items`` counts items with >= 2 annotations; the project-wide figures are ``None``
    below ``min_shared`` such items, and ``pairs`` lists annotator pairs (codes ``a < b``)
    sharing ``>= min_shared`` items. All values are plain Python, ready for JSON.
    """
    ann = annotations_from_arrays(items, annotators, labels, n_labels)
    arrays = (ann.items, ann.annotators, ann.labels, ann.n_labels)
    n_items = len(label_counts(ann)[0])
    enough = n_items >= min_shared
    return {
        "items": n_items,
        "fleiss_kappa": fleiss_kappa(*arrays) if enough else None,
        "krippendorff_alpha": krippendorff_alpha(*arrays) if enough else None,
        "pairs": [
            {"a": p.a, "b": p.b, "n": p.n, "cohen_kappa": p.cohen_kappa}
            for p in cohen_pairs(*arrays, min_shared=min_shared)
        ],
    }


def accuracy_against(
    items: ArrayLike,
    annotators: ArrayLike,
    labels: ArrayLike,
    ref_items: ArrayLike,
    ref_labels: ArrayLike,
) -> dict[int, tuple[int, float]]:
    """Each annotator's ``(n, accuracy)`` against reference labels (consensus or gold).

    ``n`` counts the annotator's annotations of items that have a reference label;
    a reference label of ``-1`` (no consensus) is skipped, as are annotators with
    ``n = 0``. Against consensus the annotator's own vote is part of the reference,
    so this agreement is optimistic for small overlaps.
    """
    item, annotator, label = _int_arrays(items, annotators, labels)
    ref_item, ref_label = _int_arrays(ref_items, ref_labels)
    if not len(item):
        return {}
    keep = _last_per_key(item, annotator)
    item, annotator, label = item[keep], annotator[keep], label[keep]
    size = int(max(item.max(), ref_item.max(initial=-1))) + 1
    reference = np.full(size, -1, dtype=np.int64)
    reference[ref_item] = ref_label
    truth = reference[item]
    scored = truth >= 0
    n = np.bincount(annotator[scored], minlength=int(annotator.max()) + 1)
    correct = np.bincount(
        annotator[scored], weights=label[scored] == truth[scored], minlength=len(n)
    )
    return {int(a): (int(n[a]), float(correct[a] / n[a])) for a in np.flatnonzero(n)}


def masi_distance(a: ArrayLike, b: ArrayLike) -> float:
    """MASI distance between two sets given as 0/1 rows (Passonneau 2006).

    ``1 - J M``: ``J`` is the Jaccard index ``|A ∩ B| / |A ∪ B|`` and ``M`` is 1 for equal
    sets, 2/3 when one contains the other, 1/3 when they only overlap, 0 when disjoint.
    Two empty sets are equal (distance 0).
    """
    return float(masi_distances(np.asarray([a]), np.asarray([b]))[0, 0])


def masi_distances(A: ArrayLike, B: ArrayLike) -> FloatArray:
    """MASI distances between every row of ``A`` and every row of ``B`` (0/1 matrices)."""
    left = np.asarray(A, dtype=np.int64)
    right = np.asarray(B, dtype=np.int64)
    both = left @ right.T
    size_a, size_b = left.sum(axis=1)[:, None], right.sum(axis=1)[None, :]
    union = size_a + size_b - both
    jaccard = np.divide(both, union, out=np.ones(both.shape), where=union > 0)
    monotonicity = np.select(
        [(both == size_a) & (both == size_b), (both == size_a) | (both == size_b), both > 0],
        [1.0, 2 / 3, 1 / 3],
        default=0.0,
    )
    return np.asarray(1.0 - jaccard * monotonicity, dtype=np.float64)


def masi_paired(A: ArrayLike, B: ArrayLike) -> FloatArray:
    """MASI distances between row ``i`` of ``A`` and row ``i`` of ``B`` (0/1 matrices)."""
    left = np.asarray(A, dtype=np.int64)
    right = np.asarray(B, dtype=np.int64)
    both = (left * right).sum(axis=1)
    size_a, size_b = left.sum(axis=1), right.sum(axis=1)
    union = size_a + size_b - both
    jaccard = np.divide(both, union, out=np.ones(both.shape), where=union > 0)
    monotonicity = np.select(
        [(both == size_a) & (both == size_b), (both == size_a) | (both == size_b), both > 0],
        [1.0, 2 / 3, 1 / 3],
        default=0.0,
    )
    return np.asarray(1.0 - jaccard * monotonicity, dtype=np.float64)


def set_accuracy_against(
    items: ArrayLike,
    annotators: ArrayLike,
    sets: ArrayLike,
    ref_items: ArrayLike,
    ref_sets: ArrayLike,
) -> dict[int, tuple[int, float, float]]:
    """Each annotator's ``(n, label accuracy, MASI agreement)`` against reference sets
    (gold), over their last set for each item that has one.

    Label accuracy is the share of label decisions (each label, yes or no) that match
    the reference, ``1 - Hamming loss``; MASI agreement is ``1 - masi_distance`` of the
    whole sets (Passonneau 2006), averaged over the annotator's ``n`` items.
    """
    item, annotator = _int_arrays(items, annotators)
    ref_item = np.asarray(ref_items, dtype=np.int64).ravel()
    S, R = np.asarray(sets, dtype=np.int64), np.asarray(ref_sets, dtype=np.int64)
    if not len(item) or not len(ref_item):
        return {}
    keep = _last_per_key(item, annotator)
    item, annotator, S = item[keep], annotator[keep], S[keep]
    row = np.full(int(max(item.max(), ref_item.max())) + 1, -1, dtype=np.int64)
    row[ref_item] = np.arange(len(ref_item))
    scored = row[item] >= 0
    annotator, S, truth = annotator[scored], S[scored], R[row[item[scored]]]
    if not len(annotator):
        return {}
    hits = (truth == S).mean(axis=1) if S.shape[1] else np.ones(len(S))
    agree = 1.0 - masi_paired(S, truth)
    n = np.bincount(annotator)
    acc = np.bincount(annotator, weights=hits, minlength=len(n))
    masi = np.bincount(annotator, weights=agree, minlength=len(n))
    return {
        int(a): (int(n[a]), float(acc[a] / n[a]), float(masi[a] / n[a])) for a in np.flatnonzero(n)
    }


def set_krippendorff_alpha(
    items: ArrayLike, annotators: ArrayLike, sets: ArrayLike
) -> float | None:
    """Krippendorff's alpha over whole label sets with the MASI distance.

    The sets are coded as values, then ``alpha = 1 - (n - 1) sum_ck o_ck d_ck /
    sum_ck n_c n_k d_ck`` with the coincidence matrix ``o`` of `krippendorff_alpha` and
    ``d`` the MASI distances between the distinct sets (Krippendorff 2011, with
    Passonneau's 2006 distance). With singletons only it is the nominal alpha.
    ``None`` where there is no unit with two values or no expected disagreement.
    """
    indicators = np.asarray(sets, dtype=np.int64)
    distinct, codes = np.unique(indicators, axis=0, return_inverse=True)
    ann = annotations_from_arrays(items, annotators, codes.reshape(-1), len(distinct))
    counts, _ = label_counts(ann)
    if not len(counts):
        return None
    weights = 1.0 / (counts.sum(axis=1) - 1)
    coincidences = (counts * weights[:, None]).T @ counts - np.diag(weights @ counts)
    n_c = coincidences.sum(axis=0)
    distance = masi_distances(distinct, distinct)
    expected = float(n_c @ distance @ n_c)
    if expected <= 0:
        return None
    observed = float((coincidences * distance).sum())
    return 1.0 - (n_c.sum() - 1) * observed / expected


def set_agreement_summary(
    items: ArrayLike,
    annotators: ArrayLike,
    sets: ArrayLike,
    labels: list[str],
    *,
    min_shared: int = 2,
) -> dict[str, Any]:
    """Multi-label agreement: per label (each a yes/no question: Fleiss, Krippendorff,
    Cohen per pair) and over whole sets (Krippendorff's alpha with MASI).

    The contract's figures: ``krippendorff_alpha`` is the whole-set alpha,
    ``fleiss_kappa`` and each pair's ``cohen_kappa`` the mean over the labels where
    they are defined (``None`` where none is).
    """
    indicators = np.asarray(sets, dtype=np.int64)
    per_label = [
        {"label": name, **agreement_summary(items, annotators, indicators[:, j], 2,
                                            min_shared=min_shared)}
        for j, name in enumerate(labels)
    ]  # fmt: skip
    enough = bool(per_label) and per_label[0]["items"] >= min_shared
    return {
        "items": per_label[0]["items"] if per_label else 0,
        "fleiss_kappa": _mean([entry["fleiss_kappa"] for entry in per_label]),
        "krippendorff_alpha": set_krippendorff_alpha(items, annotators, indicators)
        if enough
        else None,
        "pairs": _mean_pairs(per_label),
        "per_label": per_label,
    }


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _mean_pairs(per_label: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each annotator pair once, its kappa averaged over the labels."""
    by_pair: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for entry in per_label:
        for pair in entry["pairs"]:
            by_pair.setdefault((pair["a"], pair["b"]), []).append(pair)
    return [
        {
            "a": a,
            "b": b,
            "n": pairs[0]["n"],
            "cohen_kappa": _mean([p["cohen_kappa"] for p in pairs]),
        }
        for (a, b), pairs in sorted(by_pair.items())
    ]
