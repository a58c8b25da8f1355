"""The spans section of the learning benchmark: sequence strategies on real NER corpora.

    python benchmarks/learning.py --task spans                  # 5 repeats, both corpora
    python benchmarks/learning_spans.py --repeats 3 --corpora hironsan --json out.json

Every contender runs inside the platform's loop for spans
(``strategies.spans.simulate.run_span_loop``): the same split, the same coverage seed
set, the same CRF retrained after every batch and evaluated on the same test split. The
cost of a label is the number of tokens annotated. Figures per corpus:

* ``to99``: annotated tokens until the test entity F1 first reaches 99% of the F1 of
  the CRF trained on the whole pool (``>`` where some repeat never got there; counted
  as the whole pool's tokens);
* ``AUC``: area under F1 against annotated tokens up to half the pool's tokens,
  normalised (mean ± sd);
* ratios of ``to99`` to random's and to the best other strategy's.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import learning_grid  # noqa: E402
from benchmarks.learning_grid import Section  # noqa: E402
from benchmarks.span_corpora import SPAN_CORPORA, SPAN_LOADERS  # noqa: E402
from strategies.metrics import learning_curve_auc  # noqa: E402
from strategies.spans.simulate import (  # noqa: E402
    full_f1,
    make_span_split,
    resolve_span_strategy,
    run_span_loop,
    span_chooser,
)

CONTENDERS = [
    "default",
    "random",
    "sequence_least_confidence",
    "token_entropy_sum",
    "token_entropy_mean",
    "sequence_vote_entropy",
]
TARGET = 0.99
# Pool cap and batch size (sentences) per corpus. Each pool is its corpus's whole 75%
# (wnut: 1,795 of 2,394 tweets, about 43,000 tokens): capped at 500 tweets, the pool ran
# out while the CRF's F1 was still rising, before a strategy could show what it saves.
SETTINGS = {"wnut": {"max_pool": None, "batch": 100}, "hironsan": {"max_pool": None, "batch": 20}}
ITERATIONS = 50  # L-BFGS iterations per CRF fit in the benchmark (library default 100)


def one_run(corpus: str, repeat: int, contender: str, seed_offset: int) -> dict[str, Any]:
    with threadpool_limits(1):
        docs = SPAN_LOADERS[corpus]()
        cfg = SETTINGS[corpus]
        split = make_span_split(
            docs, test_fraction=0.25, seed=seed_offset + repeat, max_pool=cfg["max_pool"]
        )
        target = TARGET * full_f1(split, ITERATIONS)
        query, selector = resolve_span_strategy(contender)
        chooser = span_chooser(query, selector, committee_size=3, max_iterations=ITERATIONS)
        started = time.perf_counter()
        run = run_span_loop(
            split,
            chooser,
            batch_size=cfg["batch"],
            seed_size=10,
            budget=len(split.pool_words) // 2,
            until_f1=target,
            max_iterations=ITERATIONS,
        )
    pool_tokens = sum(len(w) for w in split.pool_words)
    reached = next((p["tokens"] for p in run["curve"] if p["f1"] >= target), None)
    half = [p for p in run["curve"] if p["labels"] <= len(split.pool_words) // 2]
    return {
        "corpus": corpus,
        "repeat": repeat,
        "contender": contender,
        "target": target,
        "to99": reached,
        "pool_tokens": pool_tokens,
        "seconds": time.perf_counter() - started,
        "auc": learning_curve_auc([{"labels": p["tokens"], "f1": p["f1"]} for p in half], "f1"),
        "curve": run["curve"],
        "stops": run["stops"],
    }


SECTION = Section(
    pool_key="pool_tokens",
    unit="tokens",
    title=lambda corpus, cells: (
        f"{corpus} ({max(s['repeats'] for s in cells.values())} repeats): "
        "tokens to 99% of full-pool entity F1, AUC"
    ),
)


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return learning_grid.summarise(rows, SECTION)


def main(argv: list[str] | None = None) -> int:
    return learning_grid.main(
        argv,
        doc=__doc__,
        corpora=list(SPAN_CORPORA),
        contenders=CONTENDERS,
        one_run=one_run,
        section=SECTION,
        check=resolve_span_strategy,
    )


if __name__ == "__main__":
    raise SystemExit(main())
