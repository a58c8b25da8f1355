"""The embedded broker: kombu's filesystem transport, with messages that appear whole.

kombu's `_put` opens the message file under its final name and then writes it, so a
reader listing the folder in between moves away an empty file and fails to decode it
(seen as a JSONDecodeError in a worker's control reply). Writing under a name no queue
matches and renaming it into place makes each message appear at once: `rename` is
atomic on one filesystem, and the queue folder is one folder.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # kombu types the two bases of this method differently; this is the filesystem one.
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: `_get` matches on the text after the first dot, so this name
        # never matches a queue while it is being written.
        partial = os.path.join(self.data_folder_out, f".{name}.partial")
        try:
            with open(partial, "wb", buffering=0) as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
