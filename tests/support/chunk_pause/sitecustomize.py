"""Fault injection for a test's worker processes (on their PYTHONPATH; no product hook).

While the file named by `WINNOW_TEST_CHUNK_PAUSE` exists, a rescore chunk this worker
has claimed waits before it reads its rows: the test can then kill the worker while it
holds the chunk, however fast scoring has become, instead of racing it.
"""

import os
import time

from celery.signals import worker_ready

FLAG = os.environ.get("WINNOW_TEST_CHUNK_PAUSE")


@worker_ready.connect
def _pause_inside_chunks(**_: object) -> None:
    if not FLAG:
        return
    from projects.pool import features

    read = features.features_rows

    def paused(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        while os.path.exists(FLAG):
            time.sleep(0.02)
        return read(*args, **kwargs)

    features.features_rows = paused
