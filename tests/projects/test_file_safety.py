"""Files in and out stay what they are: JSONL lines end at newlines only, and a CSV
export cannot run as a spreadsheet formula (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects.models import Item

pytestmark = pytest.mark.django_db


@pytest.fixture
def pid(api, users):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/", {"name": "Files", "kind": "text", "labels": ["a", "b"]}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def _import(api, pid: int, name: str, text: str):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile(name, text.encode())
    return api["lead"].post(f"/api/projects/{pid}/import/", {"file": upload})


def test_jsonl_strings_may_hold_unicode_line_separators(api, pid):  # type: ignore[no-untyped-def]
    texts = ["one\u2028two", "three\u2029four", "five\u0085six"]
    body = "".join(json.dumps({"text": t, "meta": {"note": t}}) + "\n" for t in texts)
    response = _import(api, pid, "seps.jsonl", body)
    assert response.status_code == 201, response.content
    assert response.json()["created"] == 3 and response.json()["errors"] == []
    stored = sorted(Item.objects.filter(project_id=pid).values_list("text", flat=True))
    assert stored == sorted(texts)


def test_jsonl_with_windows_line_ends_imports(api, pid):  # type: ignore[no-untyped-def]
    body = '{"text": "first"}\r\n{"text": "second"}\r\n'
    response = _import(api, pid, "crlf.jsonl", body)
    assert response.status_code == 201 and response.json()["created"] == 2


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_export_quotes_cells_that_a_spreadsheet_would_run(api, pid, start):  # type: ignore[no-untyped-def]
    formula = f'{start}HYPERLINK("http://evil.example","x")'
    assert _import(api, pid, "f.jsonl", json.dumps({"text": formula}) + "\n").status_code == 201
    raw = b"".join(api["lead"].get(f"/api/projects/{pid}/export/?format=csv").streaming_content)
    rows = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    assert rows[1][1] == "'" + formula
    jsonl = b"".join(api["lead"].get(f"/api/projects/{pid}/export/?format=jsonl").streaming_content)
    assert json.loads(jsonl.decode().splitlines()[0])["text"] == formula  # JSON keeps it as is


def test_csv_export_leaves_ordinary_cells_alone(api, pid):  # type: ignore[no-untyped-def]
    assert _import(api, pid, "p.csv", "text\nplain text\n").status_code == 201
    raw = b"".join(api["lead"].get(f"/api/projects/{pid}/export/?format=csv").streaming_content)
    rows = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    assert rows[1][1] == "plain text" and rows[1][0].isdigit()
