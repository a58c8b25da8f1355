"""The embedded broker never hands a reader a message that is still being written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from winnow import filesystem_broker

ROOT = Path(__file__).resolve().parents[2]


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


def test_the_settings_use_it_for_the_embedded_broker(tmp_path: Path) -> None:
    """In a process of its own: this one's settings may name another broker."""
    code = (
        "from winnow.celery import app\n"
        "with app.connection_for_write() as conn:\n"
        "    print(type(conn.transport).__module__)"
    )
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "filesystem://",
        "WINNOW_DATA_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "winnow.settings",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "winnow.filesystem_broker"
