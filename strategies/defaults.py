"""What new projects (and ``simulate --strategy default``) get.

Chosen from ``benchmarks/learning.py``: the combination with the best mean area under the
learning curve over the bundled data sets at batch sizes 10 and 20.
"""

from __future__ import annotations

DEFAULT_STRATEGY: str = "margin"
DEFAULT_SELECTOR: str = "kcenter"
DEFAULT_BATCH_SIZE: int = 20
DEFAULT_STOPPING: list[dict[str, float | int | str]] = [
    {"rule": "stabilizing_predictions", "threshold": 0.99, "window": 3},
]
