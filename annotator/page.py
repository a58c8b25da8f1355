"""What the annotate and review pages show around an item: the labels' keys, the keys
the project uses (for the hint line and the `?` overlay), the guidelines, the model's
suggestion and the item's meta fields. Plain reads of the project and the item row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from projects import label_keys as keys
from projects.guidelines import markdown_html
from projects.label_keys import LabelKey
from projects.models import Item, Project

HELP = "show the keys and the guidelines (Esc closes them)"

# More labels than this get a type-to-filter box above the buttons.
FILTER_ABOVE = 10

CONFIDENCE_SCALE = (
    (1, "a guess"),
    (2, "unsure"),
    (3, "fairly sure"),
    (4, "sure"),
    (5, "certain: the guidelines settle it"),
)


@dataclass(frozen=True)
class KeyRow:
    """One line of the key overview: the keys and what they do."""

    keys: list[str]
    does: str
    hint: str  # the same, in a word or two, for the hint line under the item
    details: list[tuple[str, str]] = field(default_factory=list)


def project_label_keys(project: Project) -> list[LabelKey]:
    return keys.label_keys(list(project.labels), project.label_options or {})


def keymap(project: Project, labels: list[LabelKey], *, page: str) -> list[KeyRow]:
    """The keys `page` ("annotate" or "review") uses for this project, and only those."""
    label_keys = [lk.key for lk in labels if lk.key]
    help_row = KeyRow([keys.HELP_KEY], HELP, "help")
    if project.task == Project.Task.SPANS:
        return [*span_keymap(project, label_keys, page=page), help_row]
    if page == "review":
        return [
            KeyRow(label_keys, "give the final label", "final label"),
            KeyRow([keys.SEND_BACK_KEY], "send the item back for another label", "send back"),
            help_row,
        ]
    rows = [KeyRow(label_keys, "pick a label", "label")]
    if project.show_suggestion:
        rows.append(KeyRow(["Enter"], "accept the model's suggestion", "accept suggestion"))
    if len(labels) > FILTER_ABOVE:
        filtering = "filter the labels by name (Enter picks the first)"
        rows.append(KeyRow([keys.FILTER_KEY], filtering, "filter labels"))
    scale = [(f"{value}: {key}", text) for (value, text), key in _scale()]
    rows += [
        KeyRow(list(keys.CONFIDENCE_KEYS), "confidence 1-5", "confidence 1-5", details=scale),
        KeyRow([keys.SKIP_KEY], "skip the item (it goes to someone else)", "skip"),
        KeyRow([keys.UNDO_KEY], "go back to your last item to change its label", "undo last"),
        help_row,
    ]
    return rows


def span_keymap(project: Project, label_keys: list[str], *, page: str) -> list[KeyRow]:
    """The span editor's keys (static/winnow/spans.js); the item's actions as usual."""
    rows = [
        KeyRow(["←", "→", "Home", "End"], "move the cursor (a token, or to either end)", "move"),
        KeyRow(["Shift+←", "Shift+→"], "extend the selection", "select"),
        KeyRow(label_keys, "label the selected tokens (replaces spans they touch)", "label"),
        KeyRow(["Backspace"], "remove the span under the cursor", "remove span"),
        KeyRow(["Esc"], "clear the selection", "clear"),
    ]
    if page == "review":
        return [
            *rows,
            KeyRow(["Enter"], "give these spans as the final ones", "final spans"),
            KeyRow([keys.SEND_BACK_KEY], "send the item back for another label", "send back"),
        ]
    if project.show_suggestion:
        rows.append(KeyRow(["Shift+Enter"], "accept the suggested span under the cursor", "accept"))
    scale = [(f"{value}: {key}", text) for (value, text), key in _scale()]
    return [
        *rows,
        KeyRow(["Enter"], "submit the spans (none is an answer too)", "submit"),
        KeyRow(list(keys.CONFIDENCE_KEYS), "confidence 1-5", "confidence 1-5", details=scale),
        KeyRow([keys.SKIP_KEY], "skip the item (it goes to someone else)", "skip"),
        KeyRow([keys.UNDO_KEY], "go back to your last item to change its spans", "undo last"),
    ]


def _scale() -> list[tuple[tuple[int, str], str]]:
    return list(zip(CONFIDENCE_SCALE, keys.CONFIDENCE_KEYS, strict=True))


def guide(project: Project, labels: list[LabelKey]) -> dict[str, Any]:
    """The guidelines (sanitised HTML) and the labels that have a description."""
    return {
        "html": markdown_html(project.guidelines or ""),
        "described": [lk for lk in labels if lk.description],
    }


def suggestion(project: Project, item: Item) -> str | None:
    """The model's predicted label for `item`, if the project shows suggestions.

    The prediction is the one every rescore writes on the rows of the open batches
    (`training.run._ranking_top_write`): no model is loaded here. Holdout and gold
    items get none, so the model cannot anchor the labels it is evaluated against.
    """
    if not project.show_suggestion or item.prediction is None:
        return None
    if project.task != Project.Task.SINGLE:
        return None  # a set or spans: the stored prediction is no answer to accept

    if item.is_holdout or item.gold_label is not None or item.gold_labels is not None:
        return None
    if not 0 <= item.prediction < len(project.labels):
        return None
    return str(project.labels[item.prediction])


def meta_shown(project: Project, item: Item) -> list[tuple[str, str]]:
    """The item's meta fields the project chose to show, in the project's order."""
    meta = item.meta if isinstance(item.meta, dict) else {}
    return [(name, _text(meta[name])) for name in project.meta_fields or [] if name in meta]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def labels_all_chose(entry: dict[str, Any]) -> list[str]:
    """The labels in every annotator's set of a review entry (multi-label projects)."""
    sets = [set(a["labels"] or ()) for a in entry["annotations"] if a.get("labels") is not None]
    return sorted(set.intersection(*sets)) if sets else []
