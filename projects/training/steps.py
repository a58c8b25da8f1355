"""What a task kind's retrain steps hand back to `run._train_and_score`.

Each kind trains, saves, evaluates and scores the pool its own way (`classify.py` for
single- and multi-label, `spans.py` for spans); the ranking, the item rows, the stop set
and the version's record are written the same way for every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from projects.training.predicted import PredictedAnswers


@dataclass
class Scored:
    """A trained model and the pool's ranking by it.

    ``scores`` and ``predictions`` (a label code per item, -1 for none) are over the
    snapshot's unlabeled rows, in id order; ``stop_set_predictions`` maps the stop set's
    item ids to the flat list of codes stabilizing predictions compares.
    """

    model: Any
    model_file: str
    evaluation: dict[str, Any] | None
    scores: np.ndarray
    predictions: np.ndarray
    uncertainty: float | None
    stop_set_predictions: Callable[[np.ndarray], list[int]]
    estimator: str
    hyperparameters: dict[str, Any]
    # Multi-label and span models' whole answer per unlabeled row (`predicted.py`).
    answers: PredictedAnswers | None = None
