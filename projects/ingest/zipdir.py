"""A ZIP's central directory, sized and counted by hand before ``zipfile`` parses it.

``zipfile.ZipFile`` reads the whole central directory into memory and builds a
``ZipInfo`` for every header in it, whatever count the end record declares: a
small upload can make it parse millions of entries. So the end-of-central-directory
record (and its ZIP64 form) is read here first, the declared count and directory
size are held to the limits, and the directory is walked header by header (only
their fixed 46 bytes are read, in blocks) so the real count is known, and refused
past the limit, before ``zipfile`` sees it. Plain Python, no Django.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import IO

__all__ = ["DIRECTORY_BYTES_PER_ENTRY", "Directory", "DirectoryRejected", "directory_check"]

# A header is 46 bytes plus its name, extra field and comment; ordinary archivers
# stay far below this per entry, so a larger directory is padding or a trick.
DIRECTORY_BYTES_PER_ENTRY = 1024

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD_SIGNATURE = b"PK\x05\x06"
_LOCATOR = struct.Struct("<4sLQL")  # ZIP64 end of central directory locator
_LOCATOR_SIGNATURE = b"PK\x06\x07"
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # ZIP64 end of central directory record
_EOCD64_SIGNATURE = b"PK\x06\x06"
_HEADER_SIZE = 46
_HEADER_SIGNATURE = b"PK\x01\x02"
_MAX_COMMENT = 0xFFFF
_WALK_BLOCK = 1 << 20


class DirectoryRejected(ValueError):
    """The ZIP is refused from its directory alone; the message is for the user."""


@dataclass(frozen=True)
class Directory:
    entries: int  # headers actually found, never more than the limit
    size: int  # bytes of the central directory
    archive_size: int  # bytes of the whole file


def directory_check(fileobj: IO[bytes], *, max_entries: int) -> Directory:
    """Count the ZIP's entries from its directory, refusing more than ``max_entries``.

    Reads the end record (ZIP64 too), refuses a declared count over the limit or a
    directory larger than ``DIRECTORY_BYTES_PER_ENTRY`` per allowed entry, then
    walks the headers and refuses as soon as there are more than the limit. Memory
    and time stay proportional to the limit, not to what the file declares.
    """
    archive_size = fileobj.seek(0, 2)
    eocd_at, declared, size = _end_record(fileobj, archive_size)
    if declared > max_entries:
        raise DirectoryRejected(
            f"the ZIP lists {declared} entries, over the limit of {max_entries}"
        )
    budget = max(max_entries, 1) * DIRECTORY_BYTES_PER_ENTRY
    if size > budget:
        raise DirectoryRejected(
            f"the ZIP's directory is {size} bytes, over the limit of {budget} for "
            f"{max_entries} entries"
        )
    # Like zipfile, locate the directory just before its end record, so data
    # prepended to the archive (self-extractors) shifts nothing.
    start = eocd_at - size
    if start < 0:
        raise DirectoryRejected("not a ZIP file, or its directory is corrupt")
    entries = _walk(fileobj, start, size, max_entries)
    return Directory(entries=entries, size=size, archive_size=archive_size)


def _end_record(fileobj: IO[bytes], archive_size: int) -> tuple[int, int, int]:
    """Where the directory ends (its end records start) and its declared count and size."""
    tail_start = max(archive_size - _EOCD.size - _MAX_COMMENT, 0)
    fileobj.seek(tail_start)
    tail = fileobj.read()
    found = tail.rfind(_EOCD_SIGNATURE)
    if found < 0 or len(tail) - found < _EOCD.size:
        raise DirectoryRejected("not a ZIP file, or its directory is corrupt")
    fields = _EOCD.unpack_from(tail, found)
    eocd_at, count, size = tail_start + found, fields[4], fields[5]
    locator_at = eocd_at - _LOCATOR.size
    if locator_at >= 0:
        fileobj.seek(locator_at)
        locator = fileobj.read(_LOCATOR.size)
        if locator[:4] == _LOCATOR_SIGNATURE:
            return _zip64_record(fileobj, locator_at)
    return eocd_at, count, size


def _zip64_record(fileobj: IO[bytes], locator_at: int) -> tuple[int, int, int]:
    record_at = locator_at - _EOCD64.size
    if record_at < 0:
        raise DirectoryRejected("not a ZIP file, or its ZIP64 directory is corrupt")
    fileobj.seek(record_at)
    record = fileobj.read(_EOCD64.size)
    if len(record) != _EOCD64.size or record[:4] != _EOCD64_SIGNATURE:
        raise DirectoryRejected("not a ZIP file, or its ZIP64 directory is corrupt")
    fields = _EOCD64.unpack(record)
    return record_at, fields[7], fields[8]


def _walk(fileobj: IO[bytes], start: int, size: int, limit: int) -> int:
    """Number of headers in the directory; only their fixed parts are read."""
    position, count = 0, 0
    block, block_at = b"", 0
    while position < size:
        offset = position - block_at
        if offset < 0 or offset + _HEADER_SIZE > len(block):
            fileobj.seek(start + position)
            block, block_at, offset = fileobj.read(min(_WALK_BLOCK, size - position)), position, 0
        header = block[offset : offset + _HEADER_SIZE]
        if len(header) < _HEADER_SIZE or header[:4] != _HEADER_SIGNATURE:
            raise DirectoryRejected("not a ZIP file, or its directory is corrupt")
        count += 1
        if count > limit:
            raise DirectoryRejected(f"the ZIP holds more entries than the limit of {limit}")
        name, extra, comment = struct.unpack_from("<3H", header, 28)
        position += _HEADER_SIZE + name + extra + comment
    return count
