"""Every input that carries an answer refuses the same oversized answers: the limits
are declared once (`annotator.answer_fields`)."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from annotator.answer_fields import LABEL_LENGTH, SET_SIZE, SPANS
from annotator.api import AnnotationInput, HistoryChangeInput
from annotator.items_api import BulkInput, LabelInput
from annotator.quality.api import GoldEntry, ReviewInput

INPUTS = [AnnotationInput, HistoryChangeInput, LabelInput, GoldEntry, ReviewInput, BulkInput]
BASE = {"item": 1, "items": [1], "action": "decide"}


def _errors(cls: type[serializers.Serializer], **answer: object) -> dict[str, object]:
    data = {**BASE, **answer}
    if cls is BulkInput:
        data["action"] = "gold"
    form = cls(data=data)
    form.is_valid()
    return dict(form.errors)


@pytest.mark.parametrize("cls", INPUTS, ids=lambda c: c.__name__)
def test_oversized_answers_are_refused_alike(cls: type[serializers.Serializer]) -> None:
    fields = cls().fields
    assert "label" in _errors(cls, label="x" * (LABEL_LENGTH + 1))
    assert "label" not in _errors(cls, label="x" * LABEL_LENGTH)
    if "labels" in fields:
        assert "labels" in _errors(cls, labels=["a"] * (SET_SIZE + 1))
        assert "labels" in _errors(cls, labels=["x" * (LABEL_LENGTH + 1)])
        assert "labels" not in _errors(cls, labels=["a"] * SET_SIZE)
    if "spans" in fields:
        span = {"start": 0, "end": 1, "label": "a"}
        assert "spans" in _errors(cls, spans=[span] * (SPANS + 1))
        assert "spans" not in _errors(cls, spans=[span])
