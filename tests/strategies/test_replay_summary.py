"""The replay's summary (strategies.replay) on the curve of any task's headline metric."""

from __future__ import annotations

import pytest

from strategies.metrics import labels_to_reach
from strategies.replay import replay_summary


def _run(name: str, f1s: list[float]) -> dict[str, object]:
    curve = [{"labels": 10 * (i + 1), "f1": f} for i, f in enumerate(f1s)]
    return {"strategy": name, "curve": curve, "auc": sum(f1s) / len(f1s)}


def test_labels_to_reach_reads_the_named_metric() -> None:
    curve = [{"labels": 10, "f1": 0.4, "accuracy": 0.9}, {"labels": 20, "f1": 0.8}]
    assert labels_to_reach(curve, 0.7, "f1") == 20
    assert labels_to_reach(curve[:1], 0.7) == 10  # accuracy, the default


def test_the_summary_reads_entity_f1_and_splits_query_and_selector() -> None:
    document = {
        "runs": [
            _run("mnlp+kcenter", [0.5, 0.8, 0.9]),
            _run("mnlp+kcenter", [0.5, 0.6, 0.8]),
            _run("random", [0.3, 0.4, 0.5]),
        ]
    }
    rows = replay_summary(document, target=0.75, key="f1", level=0.5)
    first, last = rows
    assert (first["strategy"], first["selector"]) == ("mnlp", "kcenter")
    assert first["labels_to_target"] == 20 and first["reached"] == 2 and first["repeats"] == 2
    assert first["aulc"] == pytest.approx((2.2 / 3 + 1.9 / 3) / 2)  # the runs' mean
    assert (last["strategy"], last["selector"]) == ("random", "top_k")
    assert last["labels_to_target"] is None and last["reached"] == 0
