"""Exports of a project's items: JSONL, CSV, Label Studio's JSON and (span projects)
CoNLL (PRODUCT.md §10).

Each streams the items in id order, in chunks, with their annotations read in one
query per chunk. Multi-label items carry `"labels": [...]` (JSONL, Label Studio) or one
0/1 column per label (CSV); span items carry `"spans": [...]` (JSONL, a CSV column of
JSON, Label Studio `labels` results). The Label Studio mapping itself is
`ingest.labelstudio`, the CoNLL format `strategies.spans.formats`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db.models import QuerySet
from django.urls import reverse

from projects.ingest import labelstudio
from projects.models import HAS_FINAL_LABEL, Annotation, Item, Project
from projects.selectors import GOLD_FIELD, gold_answer, prediction_name
from projects.training import rankings
from projects.training.predicted import ANSWER_COLUMN
from strategies.spans.formats import SpanDocument, write_conll
from strategies.spans.tokens import Span

EXPORT_CHUNK = 2000


@dataclass(frozen=True)
class ExportFilter:
    """Which items an export holds; the defaults (every item) are the §10 contract."""

    labelled_only: bool = False
    state: str = ""
    label: str = ""

    def apply(self, items: QuerySet[Item], project: Project) -> QuerySet[Item]:
        if self.labelled_only:
            items = items.filter(HAS_FINAL_LABEL)
        if self.state:
            items = items.filter(state=self.state)
        if self.label and project.task == Project.Task.MULTILABEL:
            # JSON containment is not portable (SQLite has none): the sets are read.
            sets = items.filter(labels__isnull=False).values_list("id", "labels")
            items = items.filter(pk__in=[pk for pk, chosen in sets if self.label in (chosen or [])])
        elif self.label and project.task == Project.Task.SPANS:
            found = items.filter(spans__isnull=False).values_list("id", "spans")
            names = {pk: {s["label"] for s in spans or ()} for pk, spans in found}
            items = items.filter(pk__in=[pk for pk, held in names.items() if self.label in held])
        elif self.label:
            items = items.filter(label=self.label)
        return items


def _export_records(project: Project, which: ExportFilter) -> Iterator[list[dict[str, Any]]]:
    """The export's rows in chunks of `EXPORT_CHUNK`, each with its item's annotations.

    Keyset pages (`id > last ORDER BY id LIMIT n`): memory stays one chunk's rows however
    large the project (a list of every id was 36 MB at 1M items), and each page is an
    index range scan, where OFFSET would rescan every earlier row.
    """
    items = which.apply(Item.objects.filter(project=project), project).order_by("id")
    ranking = rankings.ranking_latest(project)
    last = 0
    while True:
        page = items.filter(pk__gt=last).values(*EXPORT_COLUMNS)[:EXPORT_CHUNK]
        records: list[dict[str, Any]] = [dict(values) for values in page]
        if not records:
            return
        last = records[-1]["id"]
        by_item = _annotations_by_item([row["id"] for row in records], task=project.task)
        _latest_predictions(ranking, records, list(project.labels))
        for row in records:
            row["annotations"] = by_item.get(row["id"], [])
        yield records
        if len(records) < EXPORT_CHUNK:
            return


EXPORT_COLUMNS = (
    "id",
    "text",
    "image",
    "label",
    "labels",
    "spans",
    "label_source",
    "meta",
    "is_holdout",
    "state",
    "prediction",
    "predicted_labels",
    "predicted_spans",
    "gold_label",
    "gold_labels",
    "gold_spans",
    "consensus_method",
    "consensus_support",
    "review__reviewer__username",
    "review__created_at",
)


def _annotations_by_item(chunk: list[int], *, task: str) -> dict[int, list[dict[str, Any]]]:
    by_item: dict[int, list[dict[str, Any]]] = {}
    annotations = (
        Annotation.objects.filter(item_id__in=chunk)
        .values_list(
            "item_id", "annotator__username", "label", "labels", "confidence", "created_at",
            "seconds", "spans",
        )
        .order_by("created_at")
    )  # fmt: skip
    for item_id, username, label, chosen, confidence, created, seconds, spans in annotations:
        entry = {
            "annotator": username,
            "label": label,
            "confidence": confidence,
            "created_at": created.isoformat(),
            "seconds": seconds,
        }
        if task == Project.Task.MULTILABEL:
            entry.update(label=None, labels=chosen)
        elif task == Project.Task.SPANS:
            entry.update(label=None, spans=spans)
        by_item.setdefault(item_id, []).append(entry)
    return by_item


def _public(annotations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The annotations as the §10 contract shows them (without the seconds)."""
    return [{k: v for k, v in a.items() if k != "seconds"} for a in annotations]


def _latest_predictions(
    ranking: rankings.Ranking | None, rows: list[dict[str, Any]], labels: list[str]
) -> None:
    """The newest model's prediction (and predicted set or spans) for the items it ranked
    (the whole unlabeled pool).

    A retrain stores predictions on the item rows only for the top of its ranking; other
    items keep what was stored (a stream item's prediction, or an earlier version's).
    """
    if ranking is None or not rows:
        return
    ids = np.array([row["id"] for row in rows], dtype=np.int64)
    for row, code in zip(rows, ranking.predictions_of(ids).tolist(), strict=True):
        if code >= 0:
            row["prediction"] = code
    found, answers = ranking.answers_of(ids)
    if answers is None:
        return
    scored = [row for row, hit in zip(rows, found.tolist(), strict=True) if hit]
    for row, answer in zip(scored, answers.lists(labels), strict=True):
        row[answers.column] = answer


def export_jsonl(project: Project, which: ExportFilter = ExportFilter()) -> Iterator[str]:
    """One JSON object per line; one string per chunk of rows (a write per row made the
    server's socket writes, not the database, the cost of a large export)."""
    for records in _export_records(project, which):
        yield "".join(_jsonl_line(project, row) for row in records)


def _jsonl_line(project: Project, row: dict[str, Any]) -> str:
    record: dict[str, Any] = {"id": row["id"]}
    if project.kind == Project.Kind.IMAGE:
        record["image"] = row["image"]
    else:
        record["text"] = row["text"]
    if project.task == Project.Task.MULTILABEL:
        record["labels"] = row["labels"]
    if project.task == Project.Task.SPANS:
        record["spans"] = row["spans"]
    column = ANSWER_COLUMN.get(Project.Task(project.task))
    if column is not None:  # the latest model's set or spans, null where it gave none
        record[column] = row[column]
        record[GOLD_FIELD[Project.Task(project.task)]] = gold_answer(project, row)
    record.update(
        {
            "label": row["label"],
            "label_source": row["label_source"] or None,
            "annotations": _public(row["annotations"]),
            "consensus": _consensus(row),
            "review": _review(row),
            "gold_label": row["gold_label"],
            "meta": row["meta"],
            "holdout": row["is_holdout"],
            "prediction": prediction_name(project, row["prediction"]),
        }
    )
    return json.dumps(record, ensure_ascii=False) + "\n"


def _consensus(row: dict[str, Any]) -> dict[str, Any] | None:
    """How the annotations were combined: the method and the winner's vote share/posterior."""
    if not row["consensus_method"]:
        return None
    return {"method": row["consensus_method"], "support": row["consensus_support"]}


def _review(row: dict[str, Any]) -> dict[str, Any] | None:
    if row["review__reviewer__username"] is None:
        return None
    return {
        "reviewer": row["review__reviewer__username"],
        "created_at": row["review__created_at"].isoformat(),
    }


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV
# injection"); such cells are written with a leading apostrophe, which it shows as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A CSV cell a spreadsheet will not run: text starting like a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def export_csv(project: Project, which: ExportFilter = ExportFilter()) -> Iterator[str]:
    """One row per item, `id,text,label` first; formula-like cells quoted (`csv_cell`).

    `annotations` is a JSON list of `{"annotator", "label", "confidence", "created_at"}`,
    as in the JSONL export, so a reader parses it rather than splitting strings.
    Multi-label projects add one 0/1 column per label after `label` (empty cells where
    the item has no final set yet); span projects a `spans` column (JSON, empty without
    final spans). Last come the gold answers: a `gold:<label>` 0/1 column per label
    (span projects: `gold:spans`, JSON), empty where the item is not gold."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    first = "image" if project.kind == Project.Kind.IMAGE else "text"
    multilabel = project.task == Project.Task.MULTILABEL
    per_label = list(project.labels) if multilabel else []
    spans = ["spans"] if project.task == Project.Task.SPANS else []
    gold_columns = ["gold:spans"] if spans else [f"gold:{label}" for label in project.labels]
    writer.writerow(
        ["id", first, "label", *per_label, *spans, "label_source", "annotations", "holdout",
         "meta", *gold_columns]
    )  # fmt: skip
    for records in _export_records(project, which):
        for row in records:
            cells = [
                row["id"],
                row["image"] if first == "image" else row["text"],
                row["label"] or "",
                *_indicator_cells(per_label, row["labels"]),
                *([_json_cell(row["spans"])] if spans else []),
                row["label_source"],
                json.dumps(_public(row["annotations"]), ensure_ascii=False),
                int(row["is_holdout"]),
                json.dumps(row["meta"], ensure_ascii=False),
                *_gold_cells(project, row),
            ]
            writer.writerow([csv_cell(cell) for cell in cells])
        yield buffer.getvalue()  # the header rides with the first chunk
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():  # no rows: the header alone
        yield buffer.getvalue()


def _gold_cells(project: Project, row: dict[str, Any]) -> list[object]:
    """The gold answer's cells: JSON spans, or one 0/1 cell per label (empty: not gold)."""
    gold = gold_answer(project, row)
    if project.task == Project.Task.SPANS:
        return [_json_cell(gold)]
    chosen = [gold] if isinstance(gold, str) else gold
    return _indicator_cells(list(project.labels), chosen)


def _indicator_cells(labels: list[str], chosen: list[str] | None) -> list[object]:
    """One cell per label: 1 if the final set holds it, 0 if not, empty without a set."""
    if chosen is None:
        return [""] * len(labels)
    return [int(label in chosen) for label in labels]


def _json_cell(value: object) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def export_labelstudio(project: Project, which: ExportFilter = ExportFilter()) -> Iterator[str]:
    """Label Studio's JSON export: one JSON array of tasks, streamed one task at a time.

    Import it into a Label Studio project whose labelling config is
    `labelstudio.labeling_config` (shown on the export page)."""
    yield "["
    rows = (row for records in _export_records(project, which) for row in records)
    for number, row in enumerate(rows):
        chosen = [
            {**a, "chosen": answer}
            for a in row["annotations"]
            for answer in [_answer(project, a)]
            if answer is not None
        ]
        task = labelstudio.task(
            kind=project.kind,
            item_id=row["id"],
            data=_task_data(project, row),
            annotations=chosen,
            final=_answer(project, row),
            meta=row["meta"],
            spans=project.task == Project.Task.SPANS,
            gold=gold_answer(project, row),
            predicted=_predicted(project, row),
        )
        yield ("," if number else "") + json.dumps(task, ensure_ascii=False)
    yield "]\n"


def _answer(project: Project, row: dict[str, Any]) -> list[Any] | None:
    """An annotation's (or the item's final) answer as a list: the set, the spans, or the
    one label; None without one."""
    if project.task == Project.Task.MULTILABEL:
        return row.get("labels")
    if project.task == Project.Task.SPANS:
        return row.get("spans")
    return [row["label"]] if row["label"] else None


def _predicted(project: Project, row: dict[str, Any]) -> list[Any] | None:
    """The latest model's answer for the item as a list (as `_answer`), None without one."""
    column = ANSWER_COLUMN.get(Project.Task(project.task))
    if column is not None:
        answer: list[Any] | None = row[column]
        return answer
    name = prediction_name(project, row["prediction"])
    return None if name is None else [name]


def export_conll(project: Project, which: ExportFilter = ExportFilter()) -> Iterator[str]:
    """A span project's items with final spans as CoNLL (`token<TAB>tag`, IOB2 over our
    tokens, a blank line between items); items without final spans are left out, since
    a CoNLL file cannot say "not labelled yet"."""
    first = True
    for records in _export_records(project, which):
        documents = [
            SpanDocument(
                row["text"], tuple(Span(s["start"], s["end"], s["label"]) for s in row["spans"])
            )
            for row in records
            if row["spans"] is not None
        ]
        if documents:
            yield ("" if first else "\n") + write_conll(documents)
            first = False


def _task_data(project: Project, row: dict[str, Any]) -> dict[str, Any]:
    if project.kind == Project.Kind.IMAGE:
        return {"image": reverse("api-item-image", args=[project.pk, row["id"]])}
    return {"text": row["text"]}


def _document(row: dict[str, Any]) -> SpanDocument:
    spans = tuple(Span(s["start"], s["end"], s["label"]) for s in row["spans"])
    return SpanDocument(row["text"], spans)
