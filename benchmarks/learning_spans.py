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

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
# Pool cap and batch size (sentences) per corpus: what two shared cores finish in time.
SETTINGS = {"wnut": {"max_pool": 500, "batch": 25}, "hironsan": {"max_pool": None, "batch": 20}}
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


def complete(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the (corpus, repeat) cells every contender finished: fair means part way."""
    names = {r["contender"] for r in rows}
    done = {
        (c, k)
        for c, k in {(r["corpus"], r["repeat"]) for r in rows}
        if {r["contender"] for r in rows if (r["corpus"], r["repeat"]) == (c, k)} == names
    }
    return [r for r in rows if (r["corpus"], r["repeat"]) in done]


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    rows = complete(rows)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key in sorted({(r["corpus"], r["contender"]) for r in rows}):
        mine = [r for r in rows if (r["corpus"], r["contender"]) == key]
        tokens = [r["to99"] if r["to99"] is not None else r["pool_tokens"] for r in mine]
        aucs = [r["auc"] for r in mine]
        out[key] = {
            "to99": float(np.mean(tokens)),
            "never": sum(r["to99"] is None for r in mine),
            "auc": float(np.mean(aucs)),
            "auc_sd": float(np.std(aucs)),
            "repeats": len(mine),
            "seconds": float(np.mean([r["seconds"] for r in mine])),
        }
    return out


def print_table(summary: dict[tuple[str, str], dict[str, Any]]) -> None:
    for corpus in sorted({c for c, _ in summary}):
        cells = {name: s for (c, name), s in summary.items() if c == corpus}
        random_to99 = cells["random"]["to99"] if "random" in cells else float("nan")
        others = [n for n in cells if n not in ("default", "random")]
        best = min(others, key=lambda n: cells[n]["to99"]) if others else None
        repeats = max(s["repeats"] for s in cells.values())
        print(f"\n{corpus} ({repeats} repeats): tokens to 99% of full-pool entity F1, AUC")
        print(f"{'contender':30s} {'to99':>10s} {'xrandom':>8s} {'AUC':>15s} {'s/run':>7s}")
        for name, s in sorted(cells.items(), key=lambda kv: kv[1]["to99"]):
            mark = ">" if s["never"] else " "
            print(
                f"{name:30s} {mark}{s['to99']:9.0f} {s['to99'] / random_to99:8.2f} "
                f"{s['auc']:7.4f}±{s['auc_sd']:.4f} {s['seconds']:7.0f}"
            )
        if best and "default" in cells:
            print(
                f"default / best other ({best}): "
                f"{cells['default']['to99'] / cells[best]['to99']:.2f}x tokens"
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--corpora", default=",".join(SPAN_CORPORA))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--contenders", default=",".join(CONTENDERS))
    p.add_argument("--seed-offset", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--json", type=Path, default=None, help="raw runs, rewritten as they end")
    p.add_argument("--summarise", type=Path, default=None, help="only print the table of a --json")
    a = p.parse_args(argv)
    if a.summarise:
        print_table(summarise(json.loads(a.summarise.read_text())))
        return 0
    # repeat-major, so that a run cut short still has every corpus and contender
    jobs = [
        (c, r, name)
        for r in range(a.repeats)
        for c in a.corpora.split(",")
        for name in a.contenders.split(",")
    ]
    started = time.perf_counter()
    rows = []
    for row in Parallel(n_jobs=a.jobs, return_as="generator")(
        delayed(one_run)(c, r, n, a.seed_offset) for c, r, n in jobs
    ):
        rows.append(row)
        if a.json:  # written as runs finish: a long run can be summarised part way
            a.json.write_text(json.dumps(rows, indent=1))
    print_table(summarise(rows))
    print(f"\n{len(rows)} runs in {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
