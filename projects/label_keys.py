"""Which key picks which label on the annotate and review pages, written once.

A lead may give a label its own key (`label_options`); the other labels take, in
order, the first free keys of `1`...`9`, `0`, then the letters that no action of
either page uses. The actions' keys are reserved on both pages, so a key never means
one thing in Annotate and another in Review. No Django here: the settings schema
validates the leads' keys with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The keys of the pages' actions (static/winnow/annotate.js reads them from the page).
CONFIDENCE_KEYS = ("z", "x", "c", "v", "b")  # confidence 1 to 5
SKIP_KEY = "s"
UNDO_KEY = "u"
SEND_BACK_KEY = "r"  # review: return the item for another label
HELP_KEY = "?"
FILTER_KEY = "/"
RESERVED: frozenset[str] = frozenset(
    (*CONFIDENCE_KEYS, SKIP_KEY, UNDO_KEY, SEND_BACK_KEY, HELP_KEY, FILTER_KEY, " ")
)
DEFAULT_KEYS: tuple[str, ...] = (
    *"1234567890",
    *(c for c in "abcdefghijklmnopqrstuvwxyz" if c not in RESERVED),
)

MAX_DESCRIPTION = 500


@dataclass(frozen=True)
class LabelKey:
    label: str
    key: str  # "" when every key is taken: the label is picked by click or the filter
    description: str = ""


def key_problem(key: Any) -> str:
    """Why `key` cannot pick a label, or "" when it can."""
    if not isinstance(key, str) or len(key) != 1 or not key.isprintable() or key.isspace():
        return "a key is one printable character"
    if key.lower() in RESERVED:
        reserved = " ".join(sorted(RESERVED - {" "}))
        return f"{key!r} is an action's key; these are reserved: {reserved}"
    return ""


def label_keys(labels: list[str], options: Mapping[str, Mapping[str, Any]]) -> list[LabelKey]:
    """Each label with its key: the lead's choice first, then the next free default."""
    chosen = {
        label: str(options[label]["key"]).lower()
        for label in labels
        if label in options and options[label].get("key")
    }
    free = iter(k for k in DEFAULT_KEYS if k not in set(chosen.values()))
    result = []
    for label in labels:
        key = chosen.get(label) or next(free, "")
        description = str((options.get(label) or {}).get("description", ""))
        result.append(LabelKey(label, key, description))
    return result
