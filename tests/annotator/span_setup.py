"""A span project for the page tests, and a trained span model saved as its latest
version the way a retrain saves one (`projects.training.run._save_model`)."""

from __future__ import annotations

import pickle
from typing import Any

from django.utils import timezone

from projects import artifacts, services
from projects.ingest import services as ingest
from projects.ingest.parsers import ParsedRow
from projects.models import ModelVersion, Project
from projects.training import services as training_services
from strategies.spans.crf import train_span_model
from strategies.spans.tokens import Span, spans_to_tags, tokenize

LABELS = ["PER", "LOC", "ORG"]
# Ada 0-3, Lovelace 4-12, visited 13-20, New 21-24, York 25-29, on 30-32, day 33-36, i 37-38
TEXT = "Ada Lovelace visited New York on day {i}."
PER = {"start": 0, "end": 12, "label": "PER"}
LOC = {"start": 21, "end": 29, "label": "LOC"}
VISITED = {"start": 13, "end": 20, "label": "ORG"}


def span_project(lead: Any, members: dict[str, str], *, n: int = 3, **options: Any) -> Project:
    project = services.project_create(
        user=lead, name="People and places", kind="text", task="spans", labels=LABELS,
        batch_size=n, holdout_fraction=0.0, seed_per_class=0, **options,
    )  # fmt: skip
    for username, role in members.items():
        services.membership_add(project=project, username=username, role=role)
    rows = [ParsedRow(line=i, text=TEXT.format(i=i)) for i in range(n)]
    ingest.items_import(project=project, rows=rows)
    return project


def _sentence(name: str, place: str, i: int) -> tuple[list[str], list[str]]:
    text = f"{name} visited {place} on day {i}."
    tokens = tokenize(text)
    spans = [Span(0, len(name), "PER")]
    at = text.index(place)
    spans.append(Span(at, at + len(place), "LOC"))
    return [t.text for t in tokens], spans_to_tags(tokens, spans, len(text))


def span_model_save(project: Project) -> ModelVersion:
    """A CRF trained on sentences like the project's, saved as version 1 (done)."""
    names = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]
    places = ["New York", "Paris", "London", "San Francisco"]
    data = [_sentence(n, p, i) for i, (n, p) in enumerate((n, p) for n in names for p in places)]
    model = train_span_model([w for w, _ in data], [t for _, t in data], LABELS)
    version = ModelVersion.objects.create(
        project=project, version=1, status=ModelVersion.Status.DONE, finished_at=timezone.now()
    )
    content = {"model": model, "labels": LABELS, "kind": project.kind, "representation": None}
    name = training_services.model_name(project.pk, version.version)
    artifacts.artifact_save(name, pickle.dumps(content, protocol=pickle.HIGHEST_PROTOCOL))
    ModelVersion.objects.filter(pk=version.pk).update(model_file=name.removeprefix("models/"))
    training_services.load_model.cache_clear()  # project ids repeat between tests
    return version
