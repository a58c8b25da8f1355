"""Read an uploaded ZIP of images safely, without touching the filesystem.

Plain Python (no Django models) so a Celery task or a script can use it. Every
zip-wide check runs on the central directory before a single member is
decompressed; members are then read with a size cap so a lying header cannot
exhaust memory. Nothing is written to disk: the caller stores each entry's
bytes under a name it generates, never under the user's path.
"""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, TypedDict

from strategies.images import ImageRejected, normalise_image
from winnow import parsers as json_input

__all__ = [
    "MANIFEST_NAME",
    "MAX_COMPRESSION_RATIO",
    "ImageEntry",
    "ManifestItem",
    "ManifestLineError",
    "ManifestResult",
    "ZipEntryError",
    "ZipReadResult",
    "ZipRejected",
    "read_image_zip",
    "read_jsonl_manifest",
]

MANIFEST_NAME = "manifest.jsonl"  # a top-level manifest inside the ZIP
# What reading a broken member raises; zipfile raises NotImplementedError for a
# compression method it does not support (that member is reported, not a crash).
_CORRUPT_MEMBER = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)
# Images are already compressed, so a member that deflates far better than
# this is a bomb, not a photo. Small members are exempt: their ratio is noise.
MAX_COMPRESSION_RATIO = 100
_RATIO_EXEMPT_BYTES = 1 << 20

_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class ZipRejected(ValueError):
    """The whole upload is refused; the message is for the user."""


class ZipEntryError(TypedDict):
    name: str
    error: str


class ManifestLineError(TypedDict):
    line: int
    error: str


@dataclass(frozen=True)
class ImageEntry:
    """One decodable image: its path inside the ZIP, seed label and original bytes."""

    name: str
    label: str | None
    data: bytes = field(repr=False)
    width: int
    height: int
    format: str


@dataclass
class ZipReadResult:
    entries: list[ImageEntry]
    errors: list[ZipEntryError]
    manifest_lines: list[str] | None = None  # the text of MANIFEST_NAME, if present


@dataclass(frozen=True)
class ManifestItem:
    entry: ImageEntry
    label: str | None
    meta: dict[str, Any]


@dataclass
class ManifestResult:
    items: list[ManifestItem]
    errors: list[ManifestLineError]


# -- the ZIP ------------------------------------------------------------------


def read_image_zip(
    fileobj: IO[bytes], *, max_uncompressed_bytes: int, max_pixels: int, max_files: int
) -> ZipReadResult:
    """Validate and read every image of a ZIP held in a seekable binary file.

    Raises ``ZipRejected`` before extracting anything when the file is not a
    ZIP, has more than ``max_files`` files, declares more than
    ``max_uncompressed_bytes`` in total, contains an unsafe path (absolute,
    drive letter, backslash, ``..``, control characters), an encrypted member
    or a member compressed more than ``MAX_COMPRESSION_RATIO`` times.
    Members that are not valid images are reported in ``errors`` by name and
    skipped. Seed labels come from class folders (see ``_labels``); ``__MACOSX/``,
    dotfiles and directories are ignored.
    """
    with _open_zip(fileobj) as archive:
        members = _checked_members(archive, max_uncompressed_bytes, max_files)
        manifest = next((m for m in members if m.filename == MANIFEST_NAME), None)
        images = [m for m in members if m is not manifest]
        result = ZipReadResult(entries=[], errors=[])
        if manifest is not None:
            result.manifest_lines = _read_manifest_member(archive, manifest)
        labels = _labels([m.filename for m in images])
        seen: set[str] = set()
        for info, label in zip(images, labels, strict=True):
            if info.filename in seen:  # a ZIP may repeat a name; the first one wins
                result.errors.append({"name": info.filename, "error": "duplicate name in the ZIP"})
                continue
            seen.add(info.filename)
            _read_image_member(archive, info, label, max_pixels, result)
        return result


def _open_zip(fileobj: IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        raise ZipRejected("not a ZIP file, or its directory is corrupt") from None


def _checked_members(
    archive: zipfile.ZipFile, max_uncompressed_bytes: int, max_files: int
) -> list[zipfile.ZipInfo]:
    """The members worth reading, after every zip-wide check has passed."""
    files = [info for info in archive.infolist() if not info.is_dir()]
    if len(files) > max_files:
        raise ZipRejected(f"the ZIP holds {len(files)} files, over the limit of {max_files}")
    for info in archive.infolist():
        _check_name(info.orig_filename)
    for info in files:
        _check_member(info)
    declared = sum(info.file_size for info in files)
    if declared > max_uncompressed_bytes:
        raise ZipRejected(
            f"the ZIP unpacks to {declared} bytes, over the limit of {max_uncompressed_bytes}"
        )
    return [info for info in files if not _is_junk(info.filename)]


def _check_name(name: str) -> None:
    if (
        name.startswith("/")
        or "\\" in name
        or _DRIVE_LETTER.match(name)
        or _CONTROL_CHARS.search(name)
        or ".." in name.split("/")
    ):
        raise ZipRejected(f"unsafe path in the ZIP: {name!r}")


def _check_member(info: zipfile.ZipInfo) -> None:
    if info.flag_bits & 0x1:
        raise ZipRejected(f"encrypted files are not supported: {info.filename!r}")
    if info.file_size > _RATIO_EXEMPT_BYTES and (
        info.compress_size == 0 or info.file_size / info.compress_size > MAX_COMPRESSION_RATIO
    ):
        raise ZipRejected(f"{info.filename!r} is compressed suspiciously well (possible ZIP bomb)")


def _is_junk(name: str) -> bool:
    """macOS resource forks and hidden files are archiver noise, not items."""
    parts = name.split("/")
    return parts[0] == "__MACOSX" or any(part.startswith(".") for part in parts)


def _labels(names: Sequence[str]) -> list[str | None]:
    """Seed label of each member: its class folder, or None at the top level.

    One wrapper folder shared by every member (``dataset/cats/1.jpg``) is
    stripped first, as zipping a folder adds it; a single class folder
    (``cats/1.jpg`` only) is kept, since it is then the only label.
    """
    parts = [name.split("/") for name in names]
    while parts and all(len(p) >= 3 for p in parts) and len({p[0] for p in parts}) == 1:
        parts = [p[1:] for p in parts]
    return [p[0] if len(p) >= 2 else None for p in parts]


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, never more than its declared size."""
    with archive.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise ZipRejected(f"{info.filename!r} is larger than its header says")
    return data


def _read_image_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    label: str | None,
    max_pixels: int,
    result: ZipReadResult,
) -> None:
    name = info.filename
    try:
        data = _read_member(archive, info)
        img, fmt = normalise_image(data, max_pixels=max_pixels)
    except _CORRUPT_MEMBER as exc:
        result.errors.append({"name": name, "error": f"corrupt in the ZIP ({exc})"})
        return
    except ImageRejected as exc:
        result.errors.append({"name": name, "error": str(exc)})
        return
    result.entries.append(ImageEntry(name, label, data, img.width, img.height, fmt))


def _read_manifest_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[str]:
    try:
        text = _read_member(archive, info).decode("utf-8-sig")
    except (*_CORRUPT_MEMBER, UnicodeError):
        raise ZipRejected(f"{MANIFEST_NAME} is corrupt or not UTF-8") from None
    return text.splitlines()


# -- the JSONL manifest -------------------------------------------------------


def read_jsonl_manifest(
    lines: Iterable[str | bytes], zip_entries: Sequence[ImageEntry]
) -> ManifestResult:
    """Match JSONL lines ``{"path", "label"?, "meta"?}`` to images of the ZIP.

    ``path`` is only ever looked up among ``zip_entries`` by exact name: never
    on the filesystem or the network. A line's ``label`` overrides the class
    folder; absent, the folder label stands. Bad lines are reported by their
    1-based number (blank lines are skipped); each image is listed at most once.
    """
    by_name = {entry.name: entry for entry in zip_entries}
    result = ManifestResult(items=[], errors=[])
    seen: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            item = _manifest_item(text, by_name, seen)
        except ValueError as exc:
            result.errors.append({"line": number, "error": str(exc)})
            continue
        seen.add(item.entry.name)
        result.items.append(item)
    return result


def _manifest_item(text: str, by_name: dict[str, ImageEntry], seen: set[str]) -> ManifestItem:
    try:
        row = json_input.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg})") from None
    except json_input.UnsafeJSON as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(row, dict):
        raise ValueError("each line must be a JSON object")
    path, label, meta = row.get("path"), row.get("label"), row.get("meta", {})
    if not isinstance(path, str) or not path:
        raise ValueError('"path" must be a non-empty string')
    if path not in by_name:
        raise ValueError(f"{path!r} is not an image in the ZIP")
    if path in seen:
        raise ValueError(f"{path!r} is listed twice")
    if label is not None and not isinstance(label, str):
        raise ValueError('"label" must be a string or null')
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ValueError('"meta" must be a JSON object')
    entry = by_name[path]
    return ManifestItem(entry=entry, label=label if label is not None else entry.label, meta=meta)
