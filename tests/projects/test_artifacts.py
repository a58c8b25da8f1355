"""The artifact store and each worker's cache of the feature shards.

A worker reads each shard once: after that it comes from its own cache, memory-mapped;
a new shard is read alone.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy.sparse as sp
from django.core.files.base import ContentFile

from projects import artifact_stores, artifacts
from projects.pool import features
from tests.support.object_store import ObjectStore

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_dirs(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.FEATURES_ROOT = tmp_path / "features"
    settings.MODELS_ROOT = tmp_path / "models"
    settings.WINNOW_CACHE_DIR = tmp_path / "cache"
    features._LOADED.clear()
    yield
    features._LOADED.clear()


@pytest.fixture(scope="module")
def object_store():  # type: ignore[no-untyped-def]
    server = ObjectStore.start()
    yield server
    server.stop()


@pytest.fixture(params=["data_dir", "database", "s3"])
def store(request, settings):  # type: ignore[no-untyped-def]
    if request.param == "s3":
        entry = request.getfixturevalue("object_store").storage()
    else:
        backend = {
            "data_dir": "projects.artifact_stores.DataDirStorage",
            "database": "projects.artifact_stores.DatabaseStorage",
        }[request.param]
        entry = {"BACKEND": backend}
    settings.STORAGES = {**settings.STORAGES, "artifacts": entry}
    return request.param


def _rows(ids: list[int]) -> sp.csr_matrix:
    return sp.csr_matrix(np.array([[i, 1.0, 0.0] for i in ids]))


def _cached_shards(project_id: int) -> list[str]:
    root = artifacts.cache_dir("feature_shards", f"project_{project_id}")
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def test_shards_are_cached_memory_mapped_until_they_change(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    features.features_add(7, np.array([3, 1]), _rows([3, 1]))
    features.features_add(7, np.array([2]), _rows([2]))
    first = features.features_load(7)
    assert first is not None and first.ids.tolist() == [1, 2, 3]
    assert first.X[:, 0].toarray().ravel().tolist() == [1, 2, 3]
    assert len(_cached_shards(7)) == 2

    # A new process of this worker (nothing in memory) does not read the store again.
    features._LOADED.clear()
    monkeypatch.setattr(features, "_read", lambda name: pytest.fail(f"reread {name}"))
    again = features.features_load(7)
    assert again is not None and again.ids.tolist() == [1, 2, 3]
    for ids, X in again.shards:  # the mappings, never merged
        assert isinstance(ids, np.memmap)
        assert not X.data.flags.owndata and not X.data.flags.writeable
    assert (again.X != first.X).nnz == 0
    monkeypatch.undo()

    # New items: a new shard, read from the store; the others stay mapped.
    features.features_add(7, np.array([9]), _rows([9]))
    features._LOADED.clear()
    read: list[str] = []
    real = features._read
    monkeypatch.setattr(features, "_read", lambda name: read.append(name) or real(name))
    changed = features.features_load(7)
    assert changed is not None and changed.ids.tolist() == [1, 2, 3, 9]
    assert changed.X[:, 0].toarray().ravel().tolist() == [1, 2, 3, 9]
    assert len(read) == 1 and len(_cached_shards(7)) == 3

    features.representation_delete(7)
    assert features.features_load(7) is None
    assert not artifacts.cache_dir("feature_shards", "project_7").exists()


def test_the_representation_is_stored_once(store) -> None:  # type: ignore[no-untyped-def]
    assert features.representation_load(5) is None
    assert features.representation_save_once(5, {"kind": "hashing"}) == {"kind": "hashing"}
    assert features.representation_save_once(5, {"kind": "own"}) == {"kind": "hashing"}


def test_the_database_store_splits_large_artifacts_in_parts(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(artifact_stores, "PART_BYTES", 10)
    db = artifact_stores.DatabaseStorage()
    payload = bytes(range(35))
    assert db.create_once("a/b/c.bin", ContentFile(payload))
    assert not db.create_once("a/b/c.bin", ContentFile(b"other"))
    assert artifact_stores.Artifact.objects.filter(name="a/b/c.bin").count() == 4
    assert db.open("a/b/c.bin").read() == payload and db.size("a/b/c.bin") == 35
    db.save("a/b/c.bin", ContentFile(b"short"))
    assert db.open("a/b/c.bin").read() == b"short"
    db.save("a/d.bin", ContentFile(b""))
    assert db.open("a/d.bin").read() == b""
    assert db.listdir("a") == (["b"], ["d.bin"])
    db.delete("a/b/c.bin")
    assert not db.exists("a/b/c.bin")
    with pytest.raises(FileNotFoundError):
        db.open("a/b/c.bin")


def test_every_store_keeps_the_artifact_contract(store) -> None:  # type: ignore[no-untyped-def]
    """What the loop relies on, on one host, in PostgreSQL and in an S3-compatible store."""

    with (
        pytest.raises(FileNotFoundError),
        artifacts.artifact_open("models/project_3/missing.bin"),
    ):
        pass
    assert not artifacts.artifact_exists("models/project_3/model_v1.joblib")
    artifacts.artifact_save("models/project_3/model_v1.joblib", b"first")
    artifacts.artifact_save("models/project_3/model_v1.joblib", b"second, whole")
    with artifacts.artifact_open("models/project_3/model_v1.joblib") as fh:
        assert fh.read() == b"second, whole"
        fh.seek(8)
        assert fh.read() == b"whole"
    assert artifacts.artifact_create_once("models/project_3/vocabulary.pkl", b"a")
    assert not artifacts.artifact_create_once("models/project_3/vocabulary.pkl", b"b")
    with artifacts.artifact_open("models/project_3/vocabulary.pkl") as fh:
        assert fh.read() == b"a"
    artifacts.artifact_save("models/project_3/sub/scores_v1.npz", b"\x00" * 3)
    assert artifacts.artifact_names("models/project_3") == [
        "models/project_3/model_v1.joblib",
        "models/project_3/vocabulary.pkl",
    ]
    artifacts.artifacts_delete_dir("models/project_3")
    assert not artifacts.artifact_exists("models/project_3/model_v1.joblib")
    assert not artifacts.artifact_exists("models/project_3/sub/scores_v1.npz")


def test_pickles_are_read_by_the_c_unpickler_joblib_files_too(store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A representation is read once per worker task, not once per 20k-row chunk, and
    without joblib's pure-Python unpickler (which made a 1M first retrain slower)."""
    import io
    import pickle

    import joblib

    value = {"kind": "test", "idf": np.arange(5, dtype=np.float32), "terms": {"a": 1}}
    artifacts.artifact_save("x/plain.pkl", pickle.dumps(value, protocol=5))
    fh = io.BytesIO()
    joblib.dump(value, fh)  # arrays follow the pickle raw: not a plain pickle
    artifacts.artifact_save("x/old.joblib", fh.getvalue())
    calls: list[object] = []
    real = joblib.load
    monkeypatch.setattr(joblib, "load", lambda f: calls.append(f) or real(f))
    plain = artifacts.artifact_unpickle("x/plain.pkl")
    assert calls == []  # no fallback for a plain pickle
    old = artifacts.artifact_unpickle("x/old.joblib")
    assert len(calls) == 1
    for loaded in (plain, old):
        assert loaded["terms"] == {"a": 1}
        np.testing.assert_array_equal(loaded["idf"], value["idf"])
    with pytest.raises(FileNotFoundError):
        artifacts.artifact_unpickle("x/none.pkl")


def test_an_artifact_written_through_a_handle_is_whole_or_not_at_all(store) -> None:  # type: ignore[no-untyped-def]
    """`artifact_writer`: readers see the old artifact or the new one, never a part, and a
    write that fails leaves the old one (and no temp file behind)."""
    name = "models/project_4/rescore_v1_a1/chunk_0.npys"
    with artifacts.artifact_writer(name) as fh:
        np.save(fh, np.arange(3))
        np.save(fh, np.eye(2))
    with artifacts.artifact_open(name) as fh:
        np.testing.assert_array_equal(np.load(fh), np.arange(3))
        np.testing.assert_array_equal(np.load(fh), np.eye(2))

    with pytest.raises(RuntimeError), artifacts.artifact_writer(name) as fh:
        fh.write(b"half of a new one")
        raise RuntimeError("the encoder failed")
    with artifacts.artifact_open(name) as fh:
        np.testing.assert_array_equal(np.load(fh), np.arange(3))
    assert artifacts.artifact_names("models/project_4/rescore_v1_a1") == [name]  # no temp


def test_the_data_dir_store_hands_out_its_own_file(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """An encoder writes straight to the data-dir store's temp file: no bytes of the
    whole artifact are built first (`ContentFile` is never made)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {"BACKEND": "projects.artifact_stores.DataDirStorage"},
    }
    monkeypatch.setattr(artifacts, "ContentFile", None)  # would fail if called
    with artifacts.artifact_writer("models/project_5/x.npy") as fh:
        assert isinstance(fh, io.BufferedWriter)
        np.save(fh, np.arange(4))
    with artifacts.artifact_open("models/project_5/x.npy") as fh:
        np.testing.assert_array_equal(np.load(fh), np.arange(4))
