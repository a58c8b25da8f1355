"""Hostile ZIPs and images built by hand, small and fast, for the import tests.

zipfile writes only honest archives, and deflating gigabytes of zeros to build a
bomb would take the test longer than the request it tests. So the archives are
assembled field by field, and runs of zeros are deflated once per block: after a
full flush the compressor's output for the same block repeats byte for byte.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5HLL")
_EOCD = struct.Struct("<4s4H2LH")
_EOCD64 = struct.Struct("<4sQ2H2L4Q")
_LOCATOR = struct.Struct("<4sLQL")
STORED, DEFLATED = 0, 8
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Member:
    name: str
    payload: bytes  # as written in the archive (deflated or stored)
    method: int
    crc: int
    size: int  # the uncompressed size the headers declare
    compressed: int | None = None  # the compressed size they declare, if not the payload's


def stored(name: str, data: bytes) -> Member:
    return Member(name, data, STORED, zlib.crc32(data), len(data))


def zeros_deflated(total: int, *, wbits: int = -15) -> tuple[bytes, int]:
    """``total`` zero bytes deflated (raw by default) and their CRC-32 (Adler-32 for zlib)."""
    blocks, rest = divmod(total, _BLOCK)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(_BLOCK)
    first = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeat = compressor.compress(zero) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = first + repeat * (blocks - 1) if blocks else b""
    body += compressor.compress(bytes(rest)) + compressor.flush()
    check = zlib.adler32 if wbits > 0 else zlib.crc32
    value = check(b"")
    for _ in range(blocks):
        value = check(zero, value)
    value = check(bytes(rest), value)
    if wbits > 0:  # zlib framing: header, raw deflate, big-endian Adler-32
        return b"\x78\xda" + body + struct.pack(">I", value), value
    return body, value


def zeros_member(name: str, total: int, *, declared: int | None = None) -> Member:
    """A deflated run of zeros; ``declared`` makes the headers lie about its size."""
    payload, crc = zeros_deflated(total)
    return Member(name, payload, DEFLATED, crc, total if declared is None else declared)


def raw_zip(
    members: list[Member], *, declared_entries: int | None = None, zip64: bool = False
) -> bytes:
    """An archive with exactly these headers; ``declared_entries`` forges the end record.

    Over 65,534 declared entries the end record says 0xFFFF and a ZIP64 record
    carries the count, as real archivers do.
    """
    out, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode()
        offset = len(out)
        compressed = len(m.payload) if m.compressed is None else m.compressed
        out += _LOCAL.pack(
            b"PK\x03\x04", 20, 0, 0, m.method, 0, 33, m.crc, compressed, m.size, len(name), 0
        )
        out += name + m.payload
        central += _CENTRAL.pack(
            b"PK\x01\x02",
            20,
            3,
            20,
            0,
            0,
            m.method,
            0,
            33,
            m.crc,
            compressed,
            m.size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        central += name
    count = len(members) if declared_entries is None else declared_entries
    start = len(out)
    out += central
    if count >= 0xFFFF or zip64:
        record_at = len(out)
        out += _EOCD64.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(central), start)
        out += _LOCATOR.pack(b"PK\x06\x07", 0, record_at, 1)
        count = 0xFFFF
    out += _EOCD.pack(b"PK\x05\x06", 0, 0, count, count, len(central), start, 0)
    return bytes(out)


def png_of_zeros(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG: a few hundred kB however many pixels it declares."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = 1 + (width + 7) // 8  # the filter byte, then eight pixels a byte
    idat, _ = zeros_deflated(row * height, wbits=15)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
