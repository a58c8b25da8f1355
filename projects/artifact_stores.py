"""Where the worker's artifacts live: a local directory, or PostgreSQL itself.

Feature shards, rankings, model files and representations are written by one worker and
read by others, possibly on other hosts. `STORAGES["artifacts"]` names the store
(`projects.artifacts` is the one way to reach it):

- `DataDirStorage` (the default): files under WINNOW_DATA_DIR, in the layout the single
  host always had (`features/` under FEATURES_ROOT, `models/` under MODELS_ROOT, item
  images, `media/`, under MEDIA_ROOT). Every
  write is a temp file renamed into place, so a reader never sees half an artifact.
- `DatabaseStorage`: rows of `Artifact` in the project's database, for hosts that share
  PostgreSQL and Redis but no volume and no object store. Large artifacts are split in
  parts (a bytea value is one allocation on the server).
- An S3-compatible store through django-storages (README: "Several hosts").
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, Storage
from django.db import IntegrityError, models, transaction

PART_BYTES = 64 * 1024 * 1024


class DataDirStorage(FileSystemStorage):
    """Files under the data directory; names keep the layout the single host always had.

    The roots are read from settings at each call (tests point them at temp dirs).
    Overwrites replace atomically; `create_once` fails if the name exists (a hard link).
    """

    def path(self, name: str) -> str:
        head, _, rest = name.partition("/")
        roots = {
            "features": settings.FEATURES_ROOT,
            "models": settings.MODELS_ROOT,
            "media": settings.MEDIA_ROOT,
        }
        root = roots.get(head)
        base = Path(root) / rest if root is not None else Path(settings.DATA_DIR) / name
        return str(base)

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name  # overwrite, as an object store does

    def _save(self, name: str, content: File[Any]) -> str:
        self._write(name, content, replace=True)
        return name

    def create_once(self, name: str, content: File[Any]) -> bool:
        return self._write(name, content, replace=False)

    @contextmanager
    def writer(self, name: str) -> Iterator[IO[bytes]]:
        """`name` written through its temp file, renamed into place when the block ends
        (`artifacts.artifact_writer`); left as it was if the block raises."""
        with self._temp(name) as (tmp, full):
            with open(tmp, "wb") as out:
                yield out
            os.replace(tmp, full)

    def _write(self, name: str, content: File[Any], *, replace: bool) -> bool:
        with self._temp(name) as (tmp, full):
            with open(tmp, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk)
            if replace:
                os.replace(tmp, full)
                return True
            try:
                os.link(tmp, full)
            except FileExistsError:
                return False
            return True

    @contextmanager
    def _temp(self, name: str) -> Iterator[tuple[Path, Path]]:
        """A temp file beside `name`'s (same filesystem: renamed or linked into place),
        removed at the end whatever happened."""
        full = Path(self.path(name))
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = full.with_name(f".{full.name}.{uuid.uuid4().hex}.tmp")
        try:
            yield tmp, full
        finally:
            tmp.unlink(missing_ok=True)

    def remove_empty_dir(self, path: str) -> None:
        """Directories exist only on this store: an emptied one is removed."""
        with contextlib.suppress(OSError):
            os.rmdir(self.path(path))

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        try:
            return super().listdir(path)
        except FileNotFoundError:
            return [], []


class Artifact(models.Model):
    """One part of an artifact kept in the database (`DatabaseStorage`)."""

    name = models.CharField(max_length=255)
    part = models.PositiveIntegerField(default=0)
    data = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "projects"
        constraints = [models.UniqueConstraint(fields=["name", "part"], name="artifact_part")]

    def __str__(self) -> str:
        return f"{self.name} (part {self.part})"


class DatabaseStorage(Storage):
    """Artifacts as rows of `Artifact`: every host that reaches the database reads them."""

    def _open(self, name: str, mode: str = "rb") -> File[Any]:
        parts = Artifact.objects.filter(name=name).order_by("part").values_list("data", flat=True)
        chunks = [bytes(p) for p in parts]
        if not chunks:
            raise FileNotFoundError(name)
        return ContentFile(b"".join(chunks), name=name)

    def _save(self, name: str, content: File[Any]) -> str:
        with transaction.atomic():
            Artifact.objects.filter(name=name).delete()
            self._insert(name, content)
        return name

    def create_once(self, name: str, content: File[Any]) -> bool:
        try:
            with transaction.atomic():
                self._insert(name, content)
        except IntegrityError:
            return False
        return True

    def _insert(self, name: str, content: File[Any]) -> None:
        content.seek(0)
        part = 0
        while True:
            data = content.read(PART_BYTES)
            if not data and part:
                return
            Artifact.objects.create(name=name, part=part, data=data)
            part += 1
            if len(data) < PART_BYTES:
                return

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return name

    def delete(self, name: str) -> None:
        Artifact.objects.filter(name=name).delete()

    def exists(self, name: str) -> bool:
        return Artifact.objects.filter(name=name).exists()

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        prefix = path.rstrip("/") + "/"
        names = Artifact.objects.filter(name__startswith=prefix, part=0)
        files: set[str] = set()
        dirs: set[str] = set()
        for name in names.values_list("name", flat=True):
            head, sep, _ = name[len(prefix) :].partition("/")
            (dirs if sep else files).add(head)
        return sorted(dirs), sorted(files)

    def size(self, name: str) -> int:
        parts = Artifact.objects.filter(name=name).values_list("data", flat=True)
        return sum(len(p) for p in parts)

    def url(self, name: str | None) -> str:
        raise NotImplementedError("artifacts are not served by URL")
