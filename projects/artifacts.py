"""The one way to the shared artifact store (`STORAGES["artifacts"]`), and each worker's cache.

Every process reads and writes feature shards, rankings, models and representations
here, never by path, so web and workers need no shared volume
(`projects.artifact_stores` lists the stores). What a worker read it keeps under its
own WINNOW_CACHE_DIR (`cache_dir`), keyed by the artifact's version, so it reads a
remote artifact once.
"""

from __future__ import annotations

import io
import pickle
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import joblib
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages


def store() -> Storage:
    return storages["artifacts"]


def artifact_save(name: str, data: bytes) -> None:
    """Write (or replace) `name` whole: a reader sees the old artifact or the new one."""
    store().save(name, ContentFile(data, name=name))


@contextmanager
def artifact_writer(name: str) -> Iterator[IO[bytes]]:
    """Write (or replace) `name` whole through a file handle, as `artifact_save` does.

    The data-dir store hands out its temp file itself: an encoder (`np.save`,
    `np.savez`, `joblib.dump`) writes there directly, with no bytes of the whole artifact
    built first and copied again (a 7 MB chunk result took 10-15 ms that way, its write
    2-5). Other stores get the bytes when the block ends; nothing is written if it raises.
    """
    target = store()
    direct = getattr(target, "writer", None)
    if direct is not None:
        with direct(name) as fh:
            yield fh
        return
    buffer = io.BytesIO()
    yield buffer
    target.save(name, ContentFile(buffer.getvalue(), name=name))


def artifact_create_once(name: str, data: bytes) -> bool:
    """Write `name` unless it exists; True if this call wrote it.

    The local and database stores decide atomically (a hard link, a unique row); an
    object store has no such test, so two writers within one request's time may both win.
    """
    target = store()
    create_once = getattr(target, "create_once", None)
    if create_once is not None:
        return bool(create_once(name, ContentFile(data, name=name)))
    if target.exists(name):
        return False
    target.save(name, ContentFile(data, name=name))
    return True


def artifact_handle(name: str) -> IO[bytes]:
    """`name` opened for reading; the caller closes it (FileNotFoundError if missing)."""
    target = store()
    try:
        return target.open(name, "rb")  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise
    except OSError as exc:  # an object store's missing key
        if not target.exists(name):
            raise FileNotFoundError(name) from exc
        raise


@contextmanager
def artifact_open(name: str) -> Iterator[IO[bytes]]:
    """`name` opened for reading, seekable (FileNotFoundError if it does not exist)."""
    fh = artifact_handle(name)
    try:
        if not fh.seekable():
            yield io.BytesIO(fh.read())
        else:
            yield fh  # type: ignore[misc]
    finally:
        fh.close()


def artifact_unpickle(name: str) -> Any:
    """The object pickled as `name` (FileNotFoundError if it does not exist).

    Representations and model files are plain pickles, read here by the C unpickler:
    `joblib.load` reads them too, but with the pure-Python one, seconds per read of a
    vocabulary (it was most of the time a 1M pool spent computing features). A file
    written by `joblib.dump` (its arrays follow the pickle raw) is not a plain pickle:
    it is read by joblib.
    """
    with artifact_open(name) as fh:
        try:
            return pickle.load(fh)
        except pickle.UnpicklingError:
            fh.seek(0)
            return joblib.load(fh)


def artifact_exists(name: str) -> bool:
    return store().exists(name)


def artifact_names(directory: str) -> list[str]:
    """Full names of the artifacts directly in `directory`, sorted."""
    _, files = store().listdir(directory)
    return sorted(f"{directory}/{f}" for f in files)


def artifact_delete(name: str) -> None:
    store().delete(name)


def artifacts_delete_dir(directory: str) -> None:
    """Remove every artifact under `directory` (a deleted project's)."""
    target = store()
    dirs, files = target.listdir(directory)
    for f in files:
        target.delete(f"{directory}/{f}")
    for d in dirs:
        artifacts_delete_dir(f"{directory}/{d}")
    remove_empty_dir = getattr(target, "remove_empty_dir", None)
    if remove_empty_dir is not None:
        remove_empty_dir(directory)


def cache_dir(*parts: str) -> Path:
    """This worker's own cache directory for `parts` (never shared between hosts)."""
    return Path(settings.WINNOW_CACHE_DIR).joinpath(*parts)


def cache_drop(*parts: str) -> None:
    shutil.rmtree(cache_dir(*parts), ignore_errors=True)
