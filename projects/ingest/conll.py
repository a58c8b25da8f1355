"""CoNLL/IOB uploads of span projects as importer rows, numbered by line.

The file format itself is `strategies.spans.formats.read_conll` (one home); this module
only cuts the file into documents so that each row and each error carries the line
number of the upload where it starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from strategies.spans.formats import read_conll

# File names read as CoNLL/IOB (a span project also reads `.txt` so).
CONLL_SUFFIXES = (".conll", ".iob", ".bio", ".iob2", ".bioes")


def conll_records(text: str) -> Iterator[tuple[int, dict[str, Any] | ValueError]]:
    """Each document as `{"text", "spans"}` at the line of its first token; a line the
    format refuses as a ValueError at its own line, and its document is left out whole
    (without that line its text would not be the file's)."""
    block: list[str] = []
    start = 0
    for number, line in enumerate([*text.split("\n"), ""], start=1):
        fields = line.split()
        if fields and fields[0] != "-DOCSTART-":
            if not block:
                start = number
            block.append(line)
            continue
        if block:
            yield from _block(block, start)
        block = []


def _block(lines: list[str], start: int) -> Iterator[tuple[int, dict[str, Any] | ValueError]]:
    parsed = read_conll("\n".join(lines))
    for error in parsed.errors:
        yield start + int(str(error["line"])) - 1, ValueError(str(error["error"]))
    if parsed.errors:
        return
    for document in parsed.documents:
        yield start, document.as_dict()
