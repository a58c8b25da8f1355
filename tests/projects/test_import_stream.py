"""An upload is parsed and inserted as it is read (issue 17): blocks of text, chunks of rows.

The lines a block reader gives are the lines the whole text gives, wherever the blocks
end; a whole-file problem found after rows were inserted leaves nothing behind.
"""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projects.ingest import bulk, reading
from projects.models import ImportJob, Item, Project
from tests.projects.test_api import upload

pieces = st.lists(st.sampled_from(["a", "é", "\r", "\n", "\r\n", ",", '"', "\u2028", "x y"]))


@settings(max_examples=300, deadline=None)
@given(parts=pieces, cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=6))
def test_lines_across_blocks_equal_the_whole_texts_lines(parts, cuts) -> None:  # type: ignore[no-untyped-def]
    text = "".join(parts)
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    blocks = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert list(reading.lines(blocks, universal=True)) == list(io.StringIO(text, newline=""))
    assert list(reading.lines(blocks, universal=False)) == text.split("\n")


def test_blocks_decode_characters_split_between_reads_and_find_bad_bytes(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(reading, "BLOCK_BYTES", 3)
    text = "\ufeffcafé, naïve\n"
    assert "".join(reading.text_blocks(io.BytesIO(text.encode()))) == text[1:]
    bad = b"abcdefg\xfftail"
    with pytest.raises(reading.ImportRejected, match="offset 7"):
        list(reading.text_blocks(io.BytesIO(bad)))
    with pytest.raises(reading.ImportRejected, match="NUL"):
        list(reading.text_blocks(io.BytesIO(b"abcdef\x00")))
    with pytest.raises(reading.ImportRejected, match="10-byte limit"):
        list(reading.text_blocks(io.BytesIO(b"x" * 11), limit=10))


@pytest.fixture
def project(api):  # type: ignore[no-untyped-def]
    response = api["lead"].post(
        "/api/projects/",
        {"name": "Stream", "kind": "text", "labels": ["pets", "finance"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    return Project.objects.get(pk=response.json()["id"])


def _small_reads(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(reading, "BLOCK_BYTES", 64)
    monkeypatch.setattr(bulk, "INSERT_CHUNK", 4)


pytest_db = pytest.mark.django_db


@pytest_db
def test_a_streamed_import_equals_the_file_row_for_row(api, project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _small_reads(monkeypatch)
    lines = ["text,label"] + [
        f'"row {i}, ""quoted""\nsecond line",{"pets" if i % 5 == 0 else ""}' for i in range(30)
    ]
    lines.insert(8, "only one,field,too many")
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": upload("p.csv", "\r\n".join(lines))}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["created"], body["skipped"], body["seeded"]) == (30, 1, 6)
    assert [e["line"] for e in body["errors"]] == [16]  # the header, then 7 rows of two lines
    texts = Item.objects.filter(project=project).order_by("id").values_list("text", flat=True)
    assert list(texts) == [f'row {i}, "quoted"\nsecond line' for i in range(30)]


@pytest_db
@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (b'{"text": "nul \x00"}\n', "NUL"),
        (b'{"text": "bad \xff"}\n', "not UTF-8"),
        (b'{"text": "own", "features": [1.0, 2.0]}\n', "on every line, or on none"),
    ],
)
def test_a_whole_file_problem_after_inserted_chunks_leaves_nothing(  # type: ignore[no-untyped-def]
    api, project, monkeypatch, tail, message
) -> None:
    _small_reads(monkeypatch)
    head = "".join(json.dumps({"text": f"row {i}"}) + "\n" for i in range(40)).encode()
    response = api["lead"].post(
        f"/api/projects/{project.pk}/import/", {"file": upload("p.jsonl", head + tail)}
    )
    assert response.status_code == 400
    assert message in json.dumps(response.json())
    assert not Item.objects.filter(project=project).exists()
    assert not ImportJob.objects.filter(project=project).exists()


@pytest_db
def test_only_the_first_errors_are_kept_and_all_are_counted(api, project, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from projects.ingest import parsers

    monkeypatch.setattr(parsers, "KEPT_ERRORS", 3)
    content = "text,label\n" + "".join(f"t{i},nolabel\n" for i in range(10)) + "fine,\n"
    body = (
        api["lead"]
        .post(f"/api/projects/{project.pk}/import/", {"file": upload("p.csv", content)})
        .json()
    )
    assert (body["created"], body["skipped"], len(body["errors"])) == (1, 10, 3)


@pytest_db
def test_the_upload_is_read_a_block_at_a_time(project, users, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from projects.ingest import uploads

    _small_reads(monkeypatch)
    sizes: list[int] = []
    file = upload("p.csv", "text\n" + "".join(f"line {i}\n" for i in range(100)))
    real = file.file.read
    file.file.read = lambda n=-1: sizes.append(n) or real(n)  # type: ignore[method-assign]
    answer = uploads.import_upload(project=project, upload=file, user=users["lead"])
    assert answer["created"] == 100
    assert sizes and max(sizes) == reading.BLOCK_BYTES and -1 not in sizes
