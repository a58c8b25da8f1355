"""Small pools shared by the strategy tests (no database, no Django)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler


@pytest.fixture
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y.astype(np.int64)


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three tight, well separated clusters of 20 points each in 2-d."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.vstack([c + rng.normal(scale=0.3, size=(20, 2)) for c in centres])
    return X, np.repeat(np.arange(3), 20)
