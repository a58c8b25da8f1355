"""Stream-mode steps shared by the tests of every task kind: a post as a member would
send it, and the policy's decisions replayed from a fresh stream."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from projects.models import Project
from projects.stream.buffer import stream_features_flush
from projects.stream.services import Decision
from projects.training import services as training_services
from strategies.stream import StreamState


@pytest.fixture(autouse=True)
def own_files(settings, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Features, models and media in the test's own directory; retrains run in-process
    (never by a stray worker); the stream buffer and model cache emptied after. Autouse
    in the modules that import it."""
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    settings.MEDIA_ROOT = tmp_path / "media"
    for task in ("retrain", "pool_prepare"):
        monkeypatch.setattr(f"projects.tasks.{task}.delay", lambda *args, **kwargs: None)
    yield
    stream_features_flush()
    training_services.load_model.cache_clear()


def stream_post(api: Any, project: Project, body: dict[str, object], who: str = "ann1") -> Any:
    """POST .../stream/ with ``body`` (one item, or ``{"items": [...]}``) as ``who``."""
    return api[who].post(f"/api/projects/{project.pk}/stream/", body, format="json")


def stream_decisions(api: Any, project: Project, entries: list[dict[str, object]]) -> list[Any]:
    """The decisions of one batch post of ``entries``, which must be accepted."""
    response = stream_post(api, project, {"items": entries})
    assert response.status_code == 200, response.content
    return list(response.json()["decisions"])


def replayed(project: Project, confidence: np.ndarray) -> list[bool]:
    """The stream policy's decisions from a fresh stream over ``confidence``."""
    decision, state, queries = (
        Decision(project.random_state, project.stream_budget, project.state),
        StreamState(),
        [],
    )
    for top in confidence.tolist():
        query, state = decision.decide(state, top)
        queries.append(query)
    return queries
