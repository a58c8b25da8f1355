"""Read an uploaded ZIP of images safely, doing in the request only what is cheap.

Plain Python (no Django models) so a Celery task or a script can use it. The
directory is counted by hand before ``zipfile`` parses it (``zipdir``); every
zip-wide check then runs on the parsed directory before a single member is
inflated: safe paths, no encryption, declared sizes against a per-image cap and
the archive's total, compression ratios. Each image is then streamed to a file
under a generated name in the caller's folder, never more bytes than its header
declares, and only its header is read back (Pillow opens lazily) to check the
format and the pixel count. No pixel is decoded here: the worker decodes each
image, with the same pixel limit, and reports the broken ones.
"""

from __future__ import annotations

import json
import re
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypedDict

from projects.ingest.zipdir import Directory, DirectoryRejected, directory_check
from strategies.images import ImageRejected, image_open
from winnow import parsers as json_input

__all__ = [
    "MANIFEST_NAME",
    "MAX_COMPRESSION_RATIO",
    "ImageEntry",
    "ManifestItem",
    "ManifestLineError",
    "ManifestResult",
    "ZipEntryError",
    "ZipLimits",
    "ZipReadResult",
    "ZipRejected",
    "read_image_zip",
    "read_jsonl_manifest",
]

MANIFEST_NAME = "manifest.jsonl"  # a top-level manifest inside the ZIP
# What reading a broken member raises; zipfile raises NotImplementedError for a
# compression method it does not support (that member is reported, not a crash).
_CORRUPT_MEMBER = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)
# Images are already compressed, so a member (or a whole archive) that deflates
# far better than this is a bomb, not photos. Small sizes are exempt: their
# ratio is noise.
MAX_COMPRESSION_RATIO = 100
_RATIO_EXEMPT_BYTES = 1 << 20
_COPY_BLOCK = 1 << 16

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
class ZipLimits:
    max_files: int  # entries in the directory, folders included
    max_uncompressed_bytes: int  # declared by all the members together
    max_image_bytes: int  # declared by one member
    max_pixels: int  # width × height of one image, from its header


@dataclass(frozen=True)
class ImageEntry:
    """One image streamed out of the ZIP: its path inside it, seed label and stored file."""

    name: str
    label: str | None
    path: Path  # a generated name in the caller's folder, no extension
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


class _MemberSizeWrong(Exception):
    """A member inflated to more or fewer bytes than its header declares."""


# -- the ZIP ------------------------------------------------------------------


def read_image_zip(fileobj: IO[bytes], *, folder: Path, limits: ZipLimits) -> ZipReadResult:
    """Check a ZIP held in a seekable binary file and stream its images into ``folder``.

    Raises ``ZipRejected`` before inflating anything when the file is not a ZIP,
    lists more than ``limits.max_files`` entries (counted before parsing),
    declares more than ``limits.max_uncompressed_bytes`` in total or more than
    the file could hold, contains an unsafe path (absolute, drive letter,
    backslash, ``..``, control characters), an encrypted member, or a member
    or archive compressed more than ``MAX_COMPRESSION_RATIO`` times. Members
    over ``limits.max_image_bytes``, over ``limits.max_pixels``, longer than
    their header says, or whose header is not an accepted image are reported in
    ``errors`` by name and not kept. Seed labels come from class folders (see
    ``_labels``); ``__MACOSX/``, dotfiles and directories are ignored. The
    caller owns ``folder`` and deletes it, with whatever is in it, on failure.
    """
    directory = _checked_directory(fileobj, limits.max_files)
    with _open_zip(fileobj) as archive:
        result = ZipReadResult(entries=[], errors=[])
        members = _checked_members(archive, directory.archive_size, limits, result)
        manifest = next((m for m in members if m.filename == MANIFEST_NAME), None)
        images = [m for m in members if m is not manifest]
        if manifest is not None:
            result.manifest_lines = _read_manifest_member(archive, manifest)
        labels = _labels([m.filename for m in images])
        seen: set[str] = set()
        for info, label in zip(images, labels, strict=True):
            if info.filename in seen:  # a ZIP may repeat a name; the first one wins
                result.errors.append({"name": info.filename, "error": "duplicate name in the ZIP"})
                continue
            seen.add(info.filename)
            _extract_image_member(archive, info, label, folder, limits.max_pixels, result)
        return result


def _checked_directory(fileobj: IO[bytes], max_files: int) -> Directory:
    try:
        return directory_check(fileobj, max_entries=max_files)
    except DirectoryRejected as exc:
        raise ZipRejected(str(exc)) from None
    finally:
        fileobj.seek(0)


def _open_zip(fileobj: IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        raise ZipRejected("not a ZIP file, or its directory is corrupt") from None


def _checked_members(
    archive: zipfile.ZipFile, archive_size: int, limits: ZipLimits, result: ZipReadResult
) -> list[zipfile.ZipInfo]:
    """The members worth reading, after every zip-wide check has passed.

    A member declaring more than the per-image cap is reported and left out of
    the totals; the rest are held to the archive-wide limits.
    """
    for info in archive.infolist():
        _check_name(info.orig_filename)
    files = [info for info in archive.infolist() if not info.is_dir()]
    for info in files:
        _check_member(info)
    kept = []
    for info in files:
        if _is_junk(info.filename):
            continue
        if info.file_size > limits.max_image_bytes:
            result.errors.append(
                {
                    "name": info.filename,
                    "error": f"declares {info.file_size} bytes, over the per-file limit "
                    f"of {limits.max_image_bytes}",
                }
            )
            continue
        kept.append(info)
    _check_totals(files, kept, archive_size, limits.max_uncompressed_bytes)
    return kept


def _check_totals(
    files: list[zipfile.ZipInfo], kept: list[zipfile.ZipInfo], archive_size: int, limit: int
) -> None:
    compressed = sum(info.compress_size for info in files)
    if compressed > archive_size:
        raise ZipRejected(
            f"the ZIP's directory claims {compressed} bytes of data in a {archive_size}-byte file"
        )
    declared = sum(info.file_size for info in kept)
    if declared > limit:
        raise ZipRejected(f"the ZIP unpacks to {declared} bytes, over the limit of {limit}")
    # Members under the per-member exemption still add up: 2,000 of 1 MiB of
    # zeros deflate to 2 MB and would unpack to 2 GB.
    if declared > _RATIO_EXEMPT_BYTES and declared > MAX_COMPRESSION_RATIO * max(compressed, 1):
        raise ZipRejected("the ZIP is compressed suspiciously well (possible ZIP bomb)")


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


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: IO[bytes]) -> None:
    """Stream the member into ``out`` in blocks, never more than its declared size.

    zipfile stops at the declared size itself, but a stream that ends early
    with a matching CRC passes its checks; counting here holds the member to
    exactly what its header says, whatever the library does.
    """
    copied = 0
    with archive.open(info) as member:
        while block := member.read(_COPY_BLOCK):
            copied += len(block)
            if copied > info.file_size:
                raise _MemberSizeWrong("larger than its header in the ZIP says")
            out.write(block)
    if copied < info.file_size:
        raise _MemberSizeWrong("shorter than its header in the ZIP says")


def _extract_image_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    label: str | None,
    folder: Path,
    max_pixels: int,
    result: ZipReadResult,
) -> None:
    name = info.filename
    path = folder / uuid.uuid4().hex
    try:
        with open(path, "xb") as out:  # generated names never overwrite anything
            _copy_member(archive, info, out)
        with image_open(path, max_pixels=max_pixels) as img:  # the header only
            entry = ImageEntry(name, label, path, img.width, img.height, img.format or "")
    except _MemberSizeWrong as exc:
        _reported(path, result, name, str(exc))
    except _CORRUPT_MEMBER as exc:
        _reported(path, result, name, f"corrupt in the ZIP ({exc})")
    except ImageRejected as exc:
        _reported(path, result, name, str(exc))
    else:
        result.entries.append(entry)


def _reported(path: Path, result: ZipReadResult, name: str, error: str) -> None:
    path.unlink(missing_ok=True)
    result.errors.append({"name": name, "error": error})


def _read_manifest_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> list[str]:
    try:
        with archive.open(info) as member:
            data = member.read(info.file_size + 1)
        if len(data) > info.file_size:
            raise ZipRejected(f"{MANIFEST_NAME} is larger than its header in the ZIP says")
        text = data.decode("utf-8-sig")
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
