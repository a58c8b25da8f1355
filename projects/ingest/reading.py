"""An upload's bytes as UTF-8 text lines, read in blocks: no step holds the whole file.

A 10M-row pool is gigabytes of text; an import reads its upload a block at a time, decodes
it incrementally and hands the parser one line at a time (`lines`). Whole-file problems
found on the way (not UTF-8, NUL bytes, over the size cap) raise `ImportRejected`; the
import runs in one transaction, so rows already inserted are rolled back with it.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterable, Iterator
from typing import IO

from winnow.errors import Rejected

BLOCK_BYTES = 1 << 20


class ImportRejected(Rejected):
    """The file as a whole cannot be imported; nothing was written."""


def not_utf8(offset: int) -> ImportRejected:
    return ImportRejected(
        f"The file is not UTF-8 text (invalid byte at offset {offset}); "
        "save it as UTF-8 and upload it again."
    )


NUL_BYTES = "The file contains NUL bytes; it is not a text file."


def text_blocks(fh: IO[bytes], *, limit: int | None = None) -> Iterator[str]:
    """The file's text in blocks of about BLOCK_BYTES, decoded as UTF-8 (a BOM dropped).

    Over `limit` bytes read, the file is refused (an upload built in code has no size the
    upload handler checked)."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    read = 0
    while True:
        data = fh.read(BLOCK_BYTES)
        if limit is not None and read + len(data) > limit:
            raise ImportRejected(f"The file is larger than the {limit}-byte limit.")
        pending = len(decoder.getstate()[0])
        try:
            text = decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise not_utf8(max(0, read - pending + exc.start)) from None
        if "\x00" in text:
            raise ImportRejected(NUL_BYTES)
        read += len(data)
        if text:
            yield text
        if not data:
            return


def lines(blocks: Iterable[str], *, universal: bool) -> Iterator[str]:
    """The lines of the text `blocks` make, as one string would split them.

    `universal`: split at "\\r\\n", "\\r" or "\\n" and keep each line's end, as
    `io.StringIO(text, newline="")` does (what `csv.reader` reads). Otherwise split at
    "\\n" only, ends dropped, as `text.split("\\n")`: JSON strings may hold U+2028,
    U+2029 or U+0085, which other splitters would also split on.
    """
    carry = ""
    for block in blocks:
        text = carry + block
        if universal:
            parts = list(io.StringIO(text, newline=""))
            # The last line may go on in the next block (a "\r" may be half a "\r\n").
            carry = parts.pop() if parts and not parts[-1].endswith("\n") else ""
        else:
            parts = text.split("\n")
            carry = parts.pop()
        yield from parts
    if carry or not universal:
        yield carry
