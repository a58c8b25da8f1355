"""Labelled data sets for the simulator: scikit-learn's bundled sets, CSV/JSONL files, splits.

Features are computed as the platform computes them (a vocabulary TF-IDF fitted on the
pool, scaled vectors), so a strategy's figures here hold in the product.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from strategies._space import Matrix
from strategies.features import pool_text_features, text_features

# Text in a simulation is a pool: a vocabulary TF-IDF, as a pool-mode project gets.
TEXT_FEATURES = "vocabulary"  # or "hashing" (stream mode)
STOP_SET_SIZE = 1000  # items in the fixed stop set of stabilizing predictions
SKLEARN_SETS = ("digits", "breast_cancer", "wine", "iris")


@dataclass
class Dataset:
    """Raw data: either texts or a feature matrix, with integer labels and label names."""

    name: str
    y: np.ndarray
    label_names: list[str]
    texts: list[str] | None = None
    features: np.ndarray | None = None


@dataclass
class Split:
    """One repeat's pool and test features, ready for the loop."""

    X_pool: Matrix
    y_pool: np.ndarray
    X_test: Matrix
    y_test: np.ndarray
    n_classes: int
    seed: int
    stop_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    density: np.ndarray | None = None  # pool_density, computed once if a strategy needs it
    embedding: np.ndarray | None = None  # _space.embed of the pool, once if a selector needs it


def load_sklearn(name: str) -> Dataset:
    """One of scikit-learn's bundled data sets (no download)."""
    from sklearn import datasets

    if name not in SKLEARN_SETS:
        raise ValueError(f"unknown sklearn data set {name!r}; choose from {SKLEARN_SETS}")
    bunch = getattr(datasets, f"load_{name}")()
    names = [str(n) for n in getattr(bunch, "target_names", np.unique(bunch.target))]
    return Dataset(name, bunch.target.astype(np.int64), names, features=bunch.data)


def _encode(labels: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    names = sorted({str(label) for label in labels})
    index = {n: i for i, n in enumerate(names)}
    return np.asarray([index[str(label)] for label in labels], dtype=np.int64), names


def load_file(path: Path) -> Dataset:
    """CSV with columns ``text,label``, or JSONL lines with ``text`` or ``features`` + ``label``."""
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        records = [
            json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()
        ]
    else:
        with path.open(newline="", encoding="utf-8") as f:
            records = list(csv.DictReader(f))
    records = [r for r in records if r.get("label") not in (None, "")]
    if not records:
        raise ValueError(f"{path} has no labelled rows")
    y, names = _encode([r["label"] for r in records])
    if "features" in records[0]:
        X = np.asarray([r["features"] for r in records], dtype=np.float64)
        return Dataset(path.stem, y, names, features=X)
    return Dataset(path.stem, y, names, texts=[str(r["text"]) for r in records])


def split_rows(
    data: Dataset, seed: int, test_fraction: float = 0.25
) -> tuple[np.ndarray, np.ndarray]:
    """The stratified pool and test row indices of ``make_split`` (same seed, same rows)."""
    rows = np.arange(len(data.y))
    counts = np.bincount(data.y)
    stratify = data.y if counts[counts > 0].min() >= 2 else None
    pool, test = train_test_split(
        rows, test_size=test_fraction, random_state=seed, stratify=stratify
    )
    return np.asarray(pool), np.asarray(test)


def make_split(data: Dataset, *, test_fraction: float, seed: int) -> Split:
    """Stratified pool/test split; dense features are standardised on the pool only."""
    pool, test = split_rows(data, seed, test_fraction)
    if data.texts is not None and TEXT_FEATURES == "hashing":
        X = text_features(data.texts)
        X_pool, X_test = X[pool], X[test]
    elif data.texts is not None:
        # As the platform does at import: the vocabulary is the pool's (the test texts
        # stand for later items, transformed with it).
        vectorizer, X_pool = pool_text_features([data.texts[i] for i in pool])
        X_test = vectorizer.transform([data.texts[i] for i in test])
    else:
        assert data.features is not None
        scaler = StandardScaler().fit(data.features[pool])
        X_pool, X_test = (
            scaler.transform(data.features[pool]),
            scaler.transform(data.features[test]),
        )
    rng = np.random.default_rng(seed)
    stop_rows = np.sort(rng.choice(len(pool), size=min(len(pool), STOP_SET_SIZE), replace=False))
    return Split(X_pool, data.y[pool], X_test, data.y[test], len(data.label_names), seed, stop_rows)
