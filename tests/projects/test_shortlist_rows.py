"""A batch's shortlist rows are computed, not read from the whole store (issue 17).

They must be the rows the store holds: the same function made those.
"""

from __future__ import annotations

import numpy as np
import pytest

from projects.models import Item, Project
from projects.pool import features, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_features(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Each test's own feature store: on SQLite, project ids restart with every test."""
    settings.FEATURES_ROOT = tmp_path / "features"


def _project(n: int = 40) -> tuple[Project, np.ndarray]:
    project = Project.objects.create(name="shortlist", kind="text", labels=["a", "b"])
    words = ["cat", "mat", "stock", "market", "rain", "goal"]
    Item.objects.bulk_create(
        Item(project=project, text=f"{words[i % 6]} {words[(i * 5) % 6]} n{i % 7}")
        for i in range(n)
    )
    ids = snapshot.candidate_ids_all(project)
    snapshot.features_ready(project, ids)  # the store, as after an import's preparation
    return project, ids


def test_shortlist_rows_equal_the_stored_rows_without_reading_the_store(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    project, ids = _project()
    shortlist = np.random.default_rng(0).permutation(ids)[:12]
    stored = features.features_load(project.pk)
    assert stored is not None
    expected = stored.rows(shortlist)

    def unread(project_id: int) -> None:
        raise AssertionError("the shortlist read the whole feature store")

    monkeypatch.setattr(features, "features_load", unread)
    got = snapshot.shortlist_rows(project, shortlist)
    assert got.shape == expected.shape and (got != expected).nnz == 0


def test_without_a_representation_or_for_long_lists_the_store_is_read(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    project, ids = _project()
    monkeypatch.setattr(snapshot, "SHORTLIST_COMPUTED", 5)
    stored = features.features_load(project.pk)
    assert stored is not None
    assert (snapshot.shortlist_rows(project, ids[:6]) != stored.rows(ids[:6])).nnz == 0
    features.representation_delete(project.pk)
    rows = snapshot.shortlist_rows(project, ids[:3])  # recomputed and stored again
    assert rows.shape[0] == 3 and features.representation_load(project.pk) is not None


def test_the_full_selector_picks_the_same_batch_either_way(
    api, monkeypatch, settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from projects.batches import selection
    from projects.training import services as training_services
    from tests.projects.test_rescore import make_pool, retrain_owed

    settings.MODELS_ROOT = tmp_path / "models"
    training_services.load_model.cache_clear()
    project, _ = make_pool(api)
    Project.objects.filter(pk=project.pk).update(selector="kcenter")
    project.refresh_from_db()
    retrain_owed(project)
    latest = training_services.latest_model(project)
    assert latest is not None
    computed = selection.model_picks(project, latest, 8, quick=False)
    monkeypatch.setattr(snapshot, "SHORTLIST_COMPUTED", 0)  # read from the store, as before
    read = selection.model_picks(project, latest, 8, quick=False)
    assert computed.item_ids == read.item_ids and len(set(computed.item_ids)) == 8
    assert computed.components == read.components and computed.strategy == read.strategy
    training_services.load_model.cache_clear()
