"""What the latest model says of arriving stream items, per task kind.

Every kind answers with one confidence per item in ``[0, 1]``, which the stream's
threshold rule reads (``strategies.stream``; its ``1 - confidence`` is the answer's
``score``), and one label code, stored as the item's ``prediction`` the way a retrain
stores it:

- single-label: the top posterior, and its label;
- multi-label: the one-vs-rest model's least sure label decision
  (``strategies.stream.multilabel_confidence``), and the most probable label
  (``training.multilabel.top_label``); besides, the predicted set
  (``strategies.models.multilabel_sets``);
- spans: the CRF's length-normalised Viterbi path probability
  (``strategies.stream.sequence_confidence``, ``exp(-MNLP)``) over the text's tokens,
  decoded in one vectorised pass (``strategies.spans.inference``), and the label with
  most predicted entity tokens, -1 where none (``training.spans.entity_label_codes``);
  besides, the spans on the Viterbi path (``strategies.spans.paths``).

The set or the spans are the task's whole answer (``answer``): the decision reports it
and a stored item keeps it (``Item.predicted_labels``, ``Item.predicted_spans``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError

from projects.models import Project
from projects.stream.arrivals import Arrivals, EntryInvalid
from projects.training import multilabel
from projects.training.services import load_model
from projects.training.spans import entity_label_codes
from strategies.models import multilabel_sets
from strategies.spans.inference import CompiledCRF, compile_crf, predict_padded
from strategies.spans.paths import path_spans
from strategies.spans.tokens import tokenize
from strategies.stream import multilabel_confidence, sequence_confidence

COMPILED_KEPT = 32  # span model versions whose compiled weights a process keeps
_COMPILED: dict[tuple[int, int], tuple[Any, CompiledCRF]] = {}


@dataclass(frozen=True)
class ModelAnswers:
    """The latest model's answer for each arrival of a post, in order."""

    confidence: np.ndarray  # (n,) in [0, 1]: what the threshold rule reads
    prediction: np.ndarray  # (n,) label codes; -1 where the model predicts none
    # The task's whole answer per arrival: a label set or spans; None on single-label.
    answers: list[Any] | None = None

    def answer(self, i: int) -> Any:
        return None if self.answers is None else self.answers[i]

    def score(self, i: int) -> float:
        """The arrival's uncertainty, ``1 - confidence``."""
        return float(1.0 - self.confidence[i])

    def label(self, i: int) -> int:
        return int(self.prediction[i])


def model_answers(project: Project, version: int, arrivals: Arrivals) -> ModelAnswers:
    """Model version ``version``'s answers for ``arrivals``, as the project's task reads them."""
    model = load_model(project.pk, version)
    if project.task == Project.Task.SPANS:
        texts = [str(fields.get("text") or "") for fields in arrivals.fields]
        compiled = compiled_crf(project.pk, version, model)
        return _span_answers(model, compiled, texts, project.labels)
    proba = _proba(model, arrivals.X)
    if project.task == Project.Task.MULTILABEL:
        sets = multilabel_sets(proba)
        names = [[project.labels[j] for j in np.flatnonzero(row)] for row in sets]
        return ModelAnswers(multilabel_confidence(proba), multilabel.top_label(proba), names)
    return ModelAnswers(proba.max(axis=1), proba.argmax(axis=1))


def model_features(project: Project, version: int | None) -> int | None:
    """How many features the model reads (checked against the arrivals), if it says."""
    if version is None or project.task == Project.Task.SPANS:  # a CRF reads the words
        return None
    return getattr(load_model(project.pk, version), "n_features_in_", None)


def compiled_crf(project_id: int, version: int, model: Any) -> CompiledCRF:
    """A span model version's weights as arrays, read once per process and kept while
    ``load_model`` keeps the same model object (a cleared cache compiles again)."""
    key = (project_id, version)
    held = _COMPILED.get(key)
    if held is None or held[0] is not model:
        if len(_COMPILED) >= COMPILED_KEPT:
            _COMPILED.pop(next(iter(_COMPILED)), None)
        held = _COMPILED[key] = (model, compile_crf(model))
    return held[1]


def _span_answers(
    model: Any, compiled: CompiledCRF, texts: list[str], labels: list[str]
) -> ModelAnswers:
    tokens = [tokenize(text) for text in texts]
    prediction = predict_padded(model, [[t.text for t in row] for row in tokens], compiled)
    return ModelAnswers(
        sequence_confidence(prediction.path_proba, prediction.lengths),
        entity_label_codes(prediction.columns, len(labels)),
        path_spans(prediction.columns, tokens).per_row(len(texts), labels),
    )


def _proba(model: Any, X: Any) -> np.ndarray:
    expected = getattr(model, "n_features_in_", None) or X.shape[1]
    if X.shape[1] != expected:  # the arrivals were checked against it: a changed project
        error = ValidationError({"features": f"expected {expected} features, found {X.shape[1]}"})
        raise EntryInvalid(0, error)
    return np.asarray(model.predict_proba(X), dtype=np.float64)
