"""The embedded broker never hands a reader a message that is still being written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from winnow import filesystem_broker


def _connection(folder: Path) -> Connection:
    return Connection(
        "filesystem://",
        transport="winnow.filesystem_broker:Transport",
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(folder),
            "store_processed": False,
            "control_folder": str(folder),
        },
    )


def test_a_message_under_way_is_not_visible_to_a_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    visible: list[bool] = []
    write = filesystem_broker.str_to_bytes

    def write_while_looking(text: Any) -> bytes:
        # kombu's own transport shows the reader an empty file at this moment.
        visible.append(any(name.endswith(".jobs.msg") for name in os.listdir(tmp_path)))
        return write(text)

    channel = _connection(tmp_path).default_channel
    monkeypatch.setattr(filesystem_broker, "str_to_bytes", write_while_looking)
    channel._put("jobs", {"n": 1})
    assert visible == [False]
    assert channel._get("jobs") == {"n": 1}
    assert os.listdir(tmp_path) == []  # read and removed, no partial file left behind


def test_the_settings_use_it_for_the_embedded_broker() -> None:
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        pytest.skip("the suite runs on another broker here")
    from winnow.celery import app

    with app.connection_for_write() as conn:
        assert conn.transport_cls == "winnow.filesystem_broker:Transport"
        assert isinstance(conn.transport, filesystem_broker.Transport)
