"""Label Studio's JSON export format, both ways: the one home of the mapping.

A Label Studio export is a JSON array of tasks, each `{"id", "data": {...},
"annotations": [{"result": [...], "ground_truth", "was_cancelled", ...}], "meta"}`.
A classification answer is one result of type `choices`:
`{"type": "choices", "from_name", "to_name", "value": {"choices": [names]}}`; a
multi-label project's labelling config says `choice="multiple"`. Reading turns each
task into the row our importer takes (`{"text", "label" | "labels", "meta"}`); writing
turns an exported item into a task. A span project's answer is one result of type
`labels` per span: `{"type": "labels", "from_name", "to_name", "value": {"start", "end",
"text", "labels": [name]}}` (character offsets, end exclusive, as ours); an annotation
with no such result says "no entity".

A gold item (the lead's true answer, `annotator.quality.gold`) is written with that
answer as its ground-truth annotation and again, as our API shapes it (a label, a set,
or spans), in `meta.winnow.gold`; reading a task with `meta.winnow.gold` makes the
row a gold item again (`"gold"` in the importer row).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import quoteattr

from winnow import parsers as json_input

FROM_NAME = "label"  # the Choices control's name in the config we write
SEED_SOURCE = "labelstudio"


class NotAnExport(ValueError):
    """The file is not a Label Studio JSON export (a JSON array of task objects)."""


# What predictions name as their model: the latest model of the project exported (an
# item the latest ranking did not score keeps the prediction stored when it was).
MODEL_VERSION = "winnow"


def looks_like_export(text: str) -> bool:
    """A `.json` upload that is one JSON array is a Label Studio export; JSONL is not."""
    return text.lstrip().startswith("[")


def records(text: str, *, spans: bool = False) -> Iterator[tuple[int, Any]]:
    """Each task of an export as an importer row, numbered from 1; a task that cannot
    be read is yielded as a ValueError with the reason (the import reports it).
    `spans`: the project takes spans (read from `labels` results), not choices."""
    try:
        tasks = json_input.loads(text)
    except (json.JSONDecodeError, json_input.UnsafeJSON) as exc:
        raise NotAnExport(f"the Label Studio export is not valid JSON: {exc}") from None
    if not isinstance(tasks, list):
        raise NotAnExport("a Label Studio export is a JSON array of tasks")
    for number, task in enumerate(tasks, start=1):
        try:
            yield number, task_row(task, spans=spans)
        except ValueError as exc:
            yield number, exc


def task_row(task: Any, *, spans: bool = False) -> dict[str, Any]:
    """One task as an importer row: its text (or features), its answer, its meta."""
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise ValueError('each task must be an object with "data"')
    data = task["data"]
    row: dict[str, Any] = {"meta": _meta(task)}
    gold = _winnow(task).get("gold")
    if gold is not None:
        row["gold"] = gold
    if "text" in data:
        row["text"] = data["text"]
    if "features" in data:
        row["features"] = data["features"]
    if spans:
        found = task_spans(task)
        if found is not None:
            row["spans"] = found
        return row
    chosen = task_answer(task)
    if chosen is not None:
        row["choices"] = chosen
    return row


def _winnow(task: dict[str, Any]) -> dict[str, Any]:
    """What our export wrote in the task's `meta.winnow` (annotators, gold)."""
    meta = task.get("meta")
    found = meta.get("winnow") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def _meta(task: dict[str, Any]) -> dict[str, Any]:
    meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
    extra = {k: v for k, v in task["data"].items() if k not in ("text", "features")}
    out = {**extra, **(meta or {})}
    if _winnow(task).get("gold") is not None:  # the item's gold field holds it
        out["winnow"] = {k: v for k, v in _winnow(task).items() if k != "gold"}
    if task.get("id") is not None:
        out["labelstudio_id"] = task["id"]
    return out


def task_answer(task: dict[str, Any]) -> list[str] | None:
    """The task's label(s): a ground-truth annotation's, else what every annotation that
    answered agrees on; None when there is none or the annotators disagree."""
    answers = [
        (bool(a.get("ground_truth")), choices)
        for a in task.get("annotations") or []
        if isinstance(a, dict) and not a.get("was_cancelled")
        for choices in [_choices(a.get("result"))]
        if choices is not None
    ]
    truth = [choices for is_truth, choices in answers if is_truth]
    if truth:
        return truth[-1]
    distinct = {tuple(sorted(choices)) for _, choices in answers}
    return answers[0][1] if len(distinct) == 1 else None


def _choices(result: Any) -> list[str] | None:
    """The names chosen in an annotation's result list (None: no choices result)."""
    if not isinstance(result, list):
        return None
    for entry in result:
        if isinstance(entry, dict) and entry.get("type") == "choices":
            value = entry.get("value")
            chosen = value.get("choices") if isinstance(value, dict) else None
            if isinstance(chosen, list) and all(isinstance(x, str) for x in chosen):
                return chosen
            raise ValueError("a choices result must hold a list of names")
    return None


def task_spans(task: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The task's spans, as `task_answer` picks: a ground-truth annotation's, else what
    every annotation that answered agrees on; None when there is none or they differ."""
    answers = [
        (bool(a.get("ground_truth")), _spans(a.get("result")))
        for a in task.get("annotations") or []
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    truth = [found for is_truth, found in answers if is_truth]
    if truth:
        return truth[-1]
    distinct = {json.dumps(found, sort_keys=True) for _, found in answers}
    return answers[0][1] if len(distinct) == 1 else None


def _spans(result: Any) -> list[dict[str, Any]]:
    """The spans of an annotation's result list (`labels` entries; [] without any)."""
    if not isinstance(result, list):
        raise ValueError("an annotation's result must be a list")
    found = []
    for entry in result:
        if not isinstance(entry, dict) or entry.get("type") != "labels":
            continue
        value = entry.get("value")
        names = value.get("labels") if isinstance(value, dict) else None
        if not isinstance(value, dict) or not isinstance(names, list) or len(names) != 1:
            raise ValueError("a labels result must hold one label name and start, end")
        found.append({"start": value.get("start"), "end": value.get("end"), "label": names[0]})
    return found


def labeling_config(*, kind: str, labels: list[str], multilabel: bool, spans: bool = False) -> str:
    """The Label Studio labelling config that reads what `task` writes."""
    if spans:
        tags = "".join(f"<Label value={quoteattr(label)}/>" for label in labels)
        return (
            f'<View><Labels name="{FROM_NAME}" toName="text">{tags}</Labels>'
            '<Text name="text" value="$text"/></View>'
        )
    obj = (
        '<Image name="image" value="$image"/>'
        if kind == "image"
        else ('<Text name="text" value="$text"/>')
    )
    to_name = "image" if kind == "image" else "text"
    multiple = ' choice="multiple"' if multilabel else ' choice="single"'
    choices = "".join(f"<Choice value={quoteattr(label)}/>" for label in labels)
    return (
        f'<View>{obj}<Choices name="{FROM_NAME}" toName="{to_name}"{multiple}>'
        f"{choices}</Choices></View>"
    )


def choices_result(*, kind: str, chosen: list[str]) -> list[dict[str, Any]]:
    """An annotation's `result`: one choices entry."""
    to_name = "image" if kind == "image" else "text"
    return [
        {
            "type": "choices",
            "from_name": FROM_NAME,
            "to_name": to_name,
            "origin": "manual",
            "value": {"choices": chosen},
        }
    ]


def spans_result(*, text: str, spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An annotation's `result`: one labels entry per span."""
    return [
        {
            "id": f"s{number}",
            "type": "labels",
            "from_name": FROM_NAME,
            "to_name": "text",
            "origin": "manual",
            "value": {
                "start": s["start"],
                "end": s["end"],
                "text": text[s["start"] : s["end"]],
                "labels": [s["label"]],
            },
        }
        for number, s in enumerate(spans, start=1)
    ]


def _result(
    kind: str, data: dict[str, Any], answer: list[Any], spans: bool
) -> list[dict[str, Any]]:
    """Spans or chosen names as a result list."""
    if spans:
        return spans_result(text=str(data.get("text", "")), spans=answer)
    return choices_result(kind=kind, chosen=answer)


def task(
    *,
    kind: str,
    item_id: int,
    data: dict[str, Any],
    annotations: list[dict[str, Any]],
    final: list[Any] | None,
    meta: dict[str, Any],
    spans: bool = False,
    gold: Any = None,
    predicted: list[Any] | None = None,
) -> dict[str, Any]:
    """An exported item as a task: each annotator's answer, and the final label(s) as a
    ground-truth annotation (which the import reads back as the seed label). `spans`:
    answers are lists of spans (`labels` results). `gold`: a gold item's true answer as
    the API shapes it; its ground-truth annotation then holds it, and `meta.winnow.gold`.
    `predicted`: the latest model's answer, as Label Studio's one prediction (shown as a
    pre-annotation there; the import reads annotations only)."""
    if gold is not None:
        final = [gold] if isinstance(gold, str) else gold
    entries = [
        {
            "id": index,
            "result": _result(kind, data, a["chosen"], spans),
            "ground_truth": False,
            "was_cancelled": False,
            "created_at": a["created_at"],
            "lead_time": a.get("seconds"),
        }
        for index, a in enumerate(annotations, start=1)
    ]
    if final is not None:
        entries.append(
            {
                "id": len(entries) + 1,
                "result": _result(kind, data, final, spans),
                "ground_truth": True,
                "was_cancelled": False,
            }
        )
    annotators = [a["annotator"] for a in annotations]
    winnow: dict[str, Any] = {"annotators": annotators}
    if gold is not None:
        winnow["gold"] = gold
    return {
        "id": item_id,
        "data": data,
        "annotations": entries,
        "predictions": [] if predicted is None else [_prediction(kind, data, predicted, spans)],
        "meta": {**meta, "winnow": winnow},
    }


def _prediction(kind: str, data: dict[str, Any], answer: list[Any], spans: bool) -> dict[str, Any]:
    result = _result(kind, data, answer, spans) if answer else []  # nothing predicted
    for entry in result:
        entry["origin"] = "prediction"
    return {"model_version": MODEL_VERSION, "result": result}
