"""JSON from clients, refused with a clear 400 where the standard parsers would answer 500.

Python's json module recurses once per nesting level (a deep enough body raises
RecursionError), reads numbers too large for a float as infinity, and decodes
``\\u0000`` into a NUL character, which PostgreSQL refuses to store in text. One rule,
`check_json_value`, used by the API's body parser and by every JSON-lines reader.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class UnsafeJSON(ValueError):
    """A JSON document that parses but cannot be taken as it is."""


def check_json_value(value: Any) -> Any:
    """`value` unchanged, or UnsafeJSON if it holds a NUL character or a non-finite number.

    Iterative, so a value nested as deeply as the decoder allows is still walked.
    """
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if "\x00" in node:
                raise UnsafeJSON("strings may not contain NUL characters (\\u0000)")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise UnsafeJSON("numbers must be finite (no NaN, Infinity or 1e999)")
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return value


def loads(text: str | bytes) -> Any:
    """`json.loads`, with nesting, NUL characters and overflowing numbers refused."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise UnsafeJSON("nested too deeply") from None
    return check_json_value(value)


class SafeJSONParser(JSONParser):
    """DRF's JSON parser with the same refusals as `loads` (400, never 500)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            value = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        try:
            return check_json_value(value)
        except UnsafeJSON as exc:
            raise ParseError(f"JSON parse error - {exc}.") from None
