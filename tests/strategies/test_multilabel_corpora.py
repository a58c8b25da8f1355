"""The multi-label benchmark's corpora read real data inside installed packages (the
`bench` extra), and its contenders are the multi-label strategies only. No database."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.learning_multilabel import resolve, summarise
from benchmarks.multilabel_corpora import load_kaomoji, load_yeast
from strategies.defaults import DEFAULT_MULTILABEL_STRATEGY, DEFAULT_SELECTOR


def test_yeast_is_the_mulan_set_inside_river() -> None:
    pytest.importorskip("river")
    yeast = load_yeast()
    assert yeast.features is not None and yeast.features.shape == (2417, 103)
    assert yeast.Y.shape == (2417, 14) and set(np.unique(yeast.Y)) == {0, 1}
    assert yeast.Y.sum(axis=1).mean() == pytest.approx(4.237, abs=0.001)  # MULAN's cardinality


def test_kaomoji_items_carry_one_or_more_tag_groups() -> None:
    pytest.importorskip("kaomoji_dataset")
    kaomoji = load_kaomoji()
    assert kaomoji.texts is not None and len(kaomoji.texts) == len(kaomoji.Y) > 3000
    assert (kaomoji.Y.sum(axis=1) >= 1).all() and (kaomoji.Y.sum(axis=1) >= 2).any()
    assert (kaomoji.Y.sum(axis=0) >= 20).all() and "greeting" in kaomoji.label_names


def test_contenders_are_multilabel_strategies_and_default_is_the_projects() -> None:
    assert resolve("default") == (DEFAULT_MULTILABEL_STRATEGY, DEFAULT_SELECTOR)
    assert resolve("multilabel_margin+kcenter") == ("multilabel_margin", "kcenter")
    assert resolve("random") == ("random", "top_k")
    for wrong in ("margin", "multilabel_margin+nope"):
        with pytest.raises(ValueError):
            resolve(wrong)


def test_summary_counts_a_run_that_never_got_there_as_the_whole_pool() -> None:
    def run(contender: str, to99: int | None) -> dict[str, object]:
        return {"corpus": "c", "repeat": 0, "contender": contender, "to99": to99,
                "pool": 100, "auc": 0.5, "full": 0.8, "seconds": 1.0}  # fmt: skip

    summary = summarise([run("default", None), run("random", 60), run("late", 10)])
    assert summary[("c", "default")]["to99"] == 100 and summary[("c", "default")]["never"] == 1
    assert summary[("c", "random")]["to99"] == 60
