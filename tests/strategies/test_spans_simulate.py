"""The spans simulator runs the loop end to end on a small corpus, with no database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strategies.spans.formats import write_conll, write_jsonl
from strategies.spans.simulate import main, resolve_span_strategy, simulate_spans
from tests.strategies.spans_corpus import synthetic_corpus


def test_every_strategy_runs_the_loop_on_the_same_split() -> None:
    docs = synthetic_corpus(60, seed=2)
    names = ["default", "random", "token_entropy_mean+kcenter", "sequence_vote_entropy"]
    result = simulate_spans(docs, names, batch_size=8, seed_size=4, budget=20, committee_size=2)
    assert 0.0 <= result["full_f1"] <= 1.0
    assert [r["strategy"] for r in result["runs"]] == names
    for run in result["runs"]:
        labels = [p["labels"] for p in run["curve"]]
        tokens = [p["tokens"] for p in run["curve"]]
        assert labels == [4, 12, 20]
        assert tokens == sorted(tokens) and tokens[0] > 0
        assert all(0.0 <= p["f1"] <= 1.0 for p in run["curve"])
        assert 0.0 <= run["aulc_tokens"] <= 1.0
        assert {s["rule"] for s in run["stops"]} <= {"stabilizing_predictions", "plateau"}


def test_learning_shows_on_the_synthetic_corpus() -> None:
    result = simulate_spans(
        synthetic_corpus(80, seed=3), ["default"], batch_size=10, seed_size=4, budget=34
    )
    curve = result["runs"][0]["curve"]
    assert curve[-1]["f1"] > 0.8 and curve[-1]["f1"] >= curve[0]["f1"]


def test_names_resolve_to_a_strategy_and_a_selector() -> None:
    assert resolve_span_strategy("default") == ("mnlp", "top_k")
    assert resolve_span_strategy("mnlp+kcenter") == ("mnlp", "kcenter")
    for bad in ("margin", "mnlp+nope"):
        with pytest.raises(ValueError):
            resolve_span_strategy(bad)


@pytest.mark.parametrize("suffix", [".conll", ".jsonl"])
def test_the_command_reads_conll_or_jsonl_and_writes_json(tmp_path: Path, suffix: str) -> None:
    docs = synthetic_corpus(30, seed=4)
    data = tmp_path / f"corpus{suffix}"
    data.write_text(write_jsonl(docs) if suffix == ".jsonl" else write_conll(docs))
    out = tmp_path / "out.json"
    argv = [
        "--data",
        str(data),
        "--strategy",
        "mnlp",
        "--batch-size",
        "5",
        "--seed-size",
        "3",
        "--budget",
        "8",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    result = json.loads(out.read_text())
    assert [p["labels"] for p in result["runs"][0]["curve"]] == [3, 8]
