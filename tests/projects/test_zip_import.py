"""Reading uploaded image ZIPs safely; no database, every ZIP built in the test."""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from projects.ingest.zipdir import directory_check
from projects.ingest.zips import (
    MANIFEST_NAME,
    ImageEntry,
    ZipLimits,
    ZipReadResult,
    ZipRejected,
    read_image_zip,
    read_jsonl_manifest,
)
from tests.support.zips import raw_zip, stored

LIMITS = ZipLimits(
    max_files=1000, max_uncompressed_bytes=50_000_000, max_image_bytes=20_000_000, max_pixels=10**7
)
FOLDER = Path()


@pytest.fixture(autouse=True)
def folder(tmp_path: Path) -> Path:
    """Where read_image_zip streams the images of each test."""
    global FOLDER
    FOLDER = tmp_path
    return tmp_path


def png(colour: str = "red", size: tuple[int, int] = (8, 6)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> io.BytesIO:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    out.seek(0)
    return out


def patch_central_directory(buffer: io.BytesIO, offset: int, fmt: str, value: int) -> io.BytesIO:
    """Overwrite one field of the first central-directory header: a forged ZIP."""
    raw = bytearray(buffer.getvalue())
    header = raw.index(b"PK\x01\x02")
    struct.pack_into(fmt, raw, header + offset, value)
    return io.BytesIO(bytes(raw))


def read(buffer: io.BytesIO, **limits: int) -> ZipReadResult:
    return read_image_zip(buffer, folder=FOLDER, limits=replace(LIMITS, **limits))


def forbid_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a member was opened before the ZIP was rejected")

    monkeypatch.setattr(zipfile.ZipFile, "open", refuse)


# -- labels and what counts as an image ---------------------------------------


def test_class_folders_become_labels_and_top_level_images_have_none() -> None:
    result = read(make_zip({"cats/001.png": png(), "dogs/a/002.png": png(), "003.png": png()}))
    labels = {entry.name: entry.label for entry in result.entries}
    assert labels == {"cats/001.png": "cats", "dogs/a/002.png": "dogs", "003.png": None}
    assert result.errors == []


def test_a_wrapper_folder_from_zipping_a_directory_is_not_a_label() -> None:
    result = read(make_zip({"data/cats/1.png": png(), "data/dogs/2.png": png()}))
    assert [entry.label for entry in result.entries] == ["cats", "dogs"]


def test_a_zip_of_a_single_class_folder_keeps_its_label() -> None:
    result = read(make_zip({"cats/1.png": png(), "cats/2.png": png()}))
    assert [entry.label for entry in result.entries] == ["cats", "cats"]


def test_entries_keep_original_bytes_and_size(folder: Path) -> None:
    data = png("blue", (30, 20))
    (entry,) = read(make_zip({"x/pic.png": data})).entries
    assert entry == ImageEntry("x/pic.png", "x", entry.path, 30, 20, "PNG")
    assert entry.path.parent == folder and entry.path.read_bytes() == data


def test_only_accepted_images_are_left_in_the_folder(folder: Path) -> None:
    good = png()
    result = read(make_zip({"a.png": good, "b.png": good[:30], "c.txt": b"text"}))
    assert sorted(folder.iterdir()) == [entry.path for entry in result.entries]


def test_macos_junk_dotfiles_and_directories_are_ignored() -> None:
    buffer = make_zip(
        {
            "cats/": b"",
            "cats/1.png": png(),
            "__MACOSX/cats/._1.png": b"\x00\x05\x16\x07junk",
            "cats/.DS_Store": b"junk",
            ".hidden/2.png": png(),
        }
    )
    result = read(buffer)
    assert [entry.name for entry in result.entries] == ["cats/1.png"]
    assert result.errors == []


def test_broken_and_non_image_members_are_reported_by_name_and_good_ones_kept() -> None:
    good = png()
    buffer = make_zip(
        {"ok/1.png": good, "ok/broken.png": good[: len(good) // 2], "ok/notes.txt": b"hello"}
    )
    result = read(buffer)
    assert [entry.name for entry in result.entries] == ["ok/1.png"]
    assert [error["name"] for error in result.errors] == ["ok/broken.png", "ok/notes.txt"]
    assert all(error["error"] for error in result.errors)


def test_an_image_over_max_pixels_is_reported_not_fatal() -> None:
    result = read(make_zip({"big.png": png(size=(100, 100)), "small.png": png()}), max_pixels=1000)
    assert [entry.name for entry in result.entries] == ["small.png"]
    assert result.errors[0]["name"] == "big.png"


def test_a_repeated_name_is_imported_once() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive, pytest.warns(UserWarning, match="Duplicate"):
        archive.writestr("a.png", png("red"))
        archive.writestr("a.png", png("blue"))
    out.seek(0)
    result = read(out)
    assert len(result.entries) == 1
    assert result.errors == [{"name": "a.png", "error": "duplicate name in the ZIP"}]


# -- zip-wide rejections ------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not a zip at all", png()], ids=["empty", "text", "png"])
def test_non_zip_bytes_are_rejected(data: bytes) -> None:
    with pytest.raises(ZipRejected, match="not a ZIP"):
        read(io.BytesIO(data))


def test_a_zip_with_a_cut_off_directory_is_rejected() -> None:
    raw = make_zip({"a.png": png(), "b.png": png()}).getvalue()
    with pytest.raises(ZipRejected, match="not a ZIP"):
        read(io.BytesIO(raw[:-30]))


@pytest.mark.parametrize(
    "name",
    ["../evil.png", "cats/../../evil.png", "/etc/evil.png", "C:/evil.png", "cats\\..\\evil.png"],
)
def test_unsafe_paths_reject_the_whole_zip_naming_the_entry(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = make_zip({"good/1.png": png(), name: png()})
    forbid_extraction(monkeypatch)
    with pytest.raises(ZipRejected, match="unsafe path") as caught:
        read(buffer)
    assert repr(name) in str(caught.value)


def test_too_many_files_are_rejected_before_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = make_zip({f"{i}.png": png() for i in range(6)})
    forbid_extraction(monkeypatch)
    with pytest.raises(ZipRejected, match="6 entries, over the limit of 5"):
        read(buffer, max_files=5)


def test_a_too_large_declared_size_is_refused_before_extraction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = make_zip({"a.png": png(), "b.png": png()})
    declared = sum(info.file_size for info in zipfile.ZipFile(buffer).infolist())
    forbid_extraction(monkeypatch)
    with pytest.raises(ZipRejected, match=f"unpacks to {declared} bytes"):
        read(buffer, max_uncompressed_bytes=declared - 1)


def test_a_compression_ratio_bomb_is_refused_before_extraction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = make_zip({"zeros.png": b"\x00" * 20_000_000})
    forbid_extraction(monkeypatch)
    with pytest.raises(ZipRejected, match="ZIP bomb"):
        read(buffer)


def test_encrypted_members_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = patch_central_directory(make_zip({"secret.png": png()}), 8, "<H", 0x1)
    forbid_extraction(monkeypatch)
    with pytest.raises(ZipRejected, match="encrypted.*secret.png"):
        read(buffer)


def test_the_directory_is_counted_through_a_zip64_end_record_and_after_prepended_data() -> None:
    members = [stored(f"cats/{i}.png", png()) for i in range(3)]
    for data in (raw_zip(members, zip64=True), b"#!/bin/sh\n" * 50 + raw_zip(members)):
        assert directory_check(io.BytesIO(data), max_entries=3).entries == 3
        assert len(read(io.BytesIO(data)).entries) == 3


# -- lying headers ------------------------------------------------------------


def test_a_header_understating_the_size_yields_an_error_not_more_bytes() -> None:
    data = png()
    buffer = patch_central_directory(make_zip({"liar.png": data}, zipfile.ZIP_STORED), 24, "<I", 10)
    result = read(buffer)
    assert result.entries == []
    assert result.errors[0]["name"] == "liar.png"


def test_a_deflate_bomb_behind_a_small_header_is_never_inflated() -> None:
    # 50 MB of zeros claiming to be 1 kB: the header passes every check, so
    # only the capped read stands between the bomb and memory.
    bomb = np.zeros(50_000_000, dtype=np.uint8).tobytes()
    buffer = patch_central_directory(make_zip({"bomb.png": bomb}), 24, "<I", 1000)
    del bomb
    tracemalloc.start()
    try:
        result = read(buffer)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.entries == []
    assert result.errors[0]["name"] == "bomb.png"
    assert peak < 5_000_000


# -- the JSONL manifest -------------------------------------------------------


def manifest(*rows: object) -> list[str]:
    return [row if isinstance(row, str) else json.dumps(row) for row in rows]


def test_manifest_lines_match_entries_and_override_folder_labels() -> None:
    entries = read(make_zip({"cats/1.png": png(), "cats/2.png": png(), "3.png": png()})).entries
    lines = manifest(
        {"path": "cats/1.png", "label": "lion", "meta": {"source": "zoo"}},
        {"path": "cats/2.png"},
        "",
        {"path": "3.png", "label": None, "meta": None},
    )
    result = read_jsonl_manifest(lines, entries)
    assert result.errors == []
    summary = [(item.entry.name, item.label, item.meta) for item in result.items]
    assert summary == [
        ("cats/1.png", "lion", {"source": "zoo"}),
        ("cats/2.png", "cats", {}),
        ("3.png", None, {}),
    ]


def test_manifest_reports_missing_paths_and_bad_lines_by_line_number() -> None:
    entries = read(make_zip({"a.png": png(), "broken.png": b"nope"})).entries
    lines = manifest(
        {"path": "a.png"},
        {"path": "missing.png"},
        {"path": "/etc/passwd"},
        {"path": "https://example.com/x.png"},
        {"path": "broken.png"},
        "{not json",
        ["a list"],
        {"path": "a.png"},
        {"path": 7},
        {"path": "a.png", "label": 3},
    )
    result = read_jsonl_manifest(lines, entries)
    assert [item.entry.name for item in result.items] == ["a.png"]
    assert [error["line"] for error in result.errors] == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert "'missing.png' is not an image in the ZIP" in result.errors[0]["error"]
    assert "listed twice" in result.errors[6]["error"]


def test_manifest_meta_must_be_an_object() -> None:
    entries = read(make_zip({"a.png": png()})).entries
    result = read_jsonl_manifest([b'{"path": "a.png", "meta": [1]}'], entries)
    assert result.items == []
    assert result.errors == [{"line": 1, "error": '"meta" must be a JSON object'}]


def test_a_manifest_inside_the_zip_is_returned_and_not_treated_as_an_image() -> None:
    lines = manifest({"path": "x/1.png", "label": "dog"}, {"path": "x/gone.png"})
    buffer = make_zip({"x/1.png": png(), MANIFEST_NAME: "\n".join(lines).encode()})
    result = read(buffer)
    assert result.errors == []
    assert result.manifest_lines == lines
    applied = read_jsonl_manifest(result.manifest_lines, result.entries)
    assert [(item.entry.name, item.label) for item in applied.items] == [("x/1.png", "dog")]
    assert applied.errors == [{"line": 2, "error": "'x/gone.png' is not an image in the ZIP"}]
