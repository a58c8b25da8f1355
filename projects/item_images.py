"""Item images and their thumbnails, kept in the artifact store under `media/`.

The web stores an imported or arriving image, a worker decodes it for its thumbnail
and features, and the web serves both: on several hosts they share nothing but the
store (`projects.artifacts`), as they do for features and models. On one host the
default store keeps the old layout, files under MEDIA_ROOT. `Item.image` is the name
relative to `media/`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import IO

from projects import artifacts
from strategies.images import THUMBNAIL_EXTENSION

PREFIX = "media"


def _name(relative: str) -> str:
    return f"{PREFIX}/{relative}"


def thumbnail_of(relative: str) -> str:
    """``<stem>.thumb.webp`` next to the image (what `projects.media` serves for thumbs)."""
    path = PurePosixPath(relative)
    return str(path.with_name(f"{path.stem}.thumb{THUMBNAIL_EXTENSION}"))


def image_save(relative: str, data: bytes) -> None:
    artifacts.artifact_save(_name(relative), data)


def image_read(relative: str) -> bytes:
    """The stored bytes (FileNotFoundError if there are none)."""
    with artifacts.artifact_open(_name(relative)) as fh:
        return fh.read()


def image_handle(relative: str) -> IO[bytes]:
    """An open handle for a response to stream and close (FileNotFoundError if missing)."""
    return artifacts.artifact_handle(_name(relative))


def images_delete(relatives: Iterable[str]) -> None:
    """Each image and its thumbnail, if there."""
    for relative in relatives:
        for name in (relative, thumbnail_of(relative)):
            artifacts.artifact_delete(_name(name))


def project_images_delete(project_id: int) -> None:
    artifacts.artifacts_delete_dir(_name(f"project_{project_id}"))
