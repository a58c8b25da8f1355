"""The export streams in keyset chunks (issue 17): memory is one chunk, never every row.

The output is the same whatever the chunk size, and each chunk is one bounded page of
items (`LIMIT`), one string of the response, fetched only when the response reaches it.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from projects import exports
from projects.models import Item, Project
from tests.projects.test_export_filters import project  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def _export(client: APIClient, project: Project, query: str) -> list[bytes]:  # noqa: F811
    answer = client.get(f"/api/projects/{project.pk}/export/{query}")
    assert answer.status_code == 200, answer.content
    return list(answer.streaming_content)


@pytest.mark.parametrize("query", ["", "?format=csv", "?items=labelled", "?format=csv&state=pool"])
def test_output_is_the_same_whatever_the_chunk(api, project, monkeypatch, query) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    whole = b"".join(_export(api["lead"], project, query))
    monkeypatch.setattr(exports, "EXPORT_CHUNK", 2)
    assert b"".join(_export(api["lead"], project, query)) == whole


def test_each_chunk_is_one_bounded_page_read_when_reached(api, project, monkeypatch) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    monkeypatch.setattr(exports, "EXPORT_CHUNK", 4)
    answer = api["lead"].get(f"/api/projects/{project.pk}/export/")
    chunks = iter(answer.streaming_content)
    table = Item._meta.db_table
    with CaptureQueriesContext(connection) as first:
        assert len(next(chunks).splitlines()) == 4
    pages = [q["sql"] for q in first.captured_queries if f'FROM "{table}"' in q["sql"]]
    assert len(pages) == 1 and "LIMIT 4" in pages[0], pages
    with CaptureQueriesContext(connection) as rest:
        lines = [len(chunk.splitlines()) for chunk in chunks]
    assert lines == [4, 1]  # 9 items
    pages = [q["sql"] for q in rest.captured_queries if f'FROM "{table}"' in q["sql"]]
    assert len(pages) == 2 and all("LIMIT 4" in sql for sql in pages), pages
    assert Item.objects.filter(project=project).count() == 9


def test_an_empty_export_is_the_csv_header_alone(api, project) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    raw = b"".join(_export(api["lead"], project, "?format=csv&state=gold"))
    gold = ",".join(f"gold:{label}" for label in project.labels)
    header = f"id,text,label,label_source,annotations,holdout,meta,{gold}"
    assert raw.decode().splitlines() == [header]
    assert _export(api["lead"], project, "?state=gold") == []
