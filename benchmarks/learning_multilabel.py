"""The multi-label section of the learning benchmark: multi-label strategies on real corpora.

    python benchmarks/learning.py --task multilabel              # 5 repeats, both corpora
    python benchmarks/learning_multilabel.py --repeats 3 --corpora yeast --json out.json

Every contender runs the platform's multi-label loop: the same split (25% test), the
same coverage seed set (``strategies.seeding.coverage_seed``), the same one-vs-rest model
(``strategies.train_multilabel_model``, as ``projects/training/multilabel.py`` trains it)
retrained after every batch, the strategy's scores over the unlabelled pool and the
batch chosen by its selector (``strategies.select_batch``, diversity measured on the
pool's projection as the platform does). ``default`` is what a new multi-label project
gets (``DEFAULT_MULTILABEL_STRATEGY`` with ``DEFAULT_SELECTOR``). Figures per corpus:

* ``to99``: labels until the test micro F1 first reaches 99% of the micro F1 of the
  model trained on the whole pool (``>`` where some repeat never got there; counted as
  the whole pool);
* ``AUC``: area under micro F1 against labels up to half the pool, normalised
  (mean ± sd);
* ratios of ``to99`` to random's and the best other strategy's.
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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.multilabel_corpora import (  # noqa: E402
    MULTILABEL_CORPORA,
    MULTILABEL_LOADERS,
    MultilabelCorpus,
)
from strategies._space import Matrix  # noqa: E402
from strategies.features import pool_text_features  # noqa: E402
from strategies.metrics import learning_curve_auc  # noqa: E402
from strategies.models import train_multilabel_model  # noqa: E402
from strategies.multilabel_simulate import (  # noqa: E402
    micro_f1,
    run_multilabel_loop,
)
from strategies.multilabel_simulate import resolve_multilabel as resolve  # noqa: E402

CONTENDERS = [
    "default",
    "random",
    "multilabel_least_confidence",
    "multilabel_margin",
    "multilabel_entropy",
    "multilabel_margin+kcenter",
    "multilabel_entropy+kcenter",
]
TARGET = 0.99
# Per corpus, what two shared cores finish in time: the batch, and a cap on the items
# drawn (per repeat) before the split.
BATCH = {"yeast": 40, "kaomoji": 40}
MAX_ITEMS = {"yeast": None, "kaomoji": 1600}
SEED_SIZE = 20


def make_split(
    corpus: MultilabelCorpus, seed: int, max_items: int | None = None
) -> tuple[Matrix, np.ndarray, Matrix, np.ndarray]:
    """Pool and test rows, features as the platform computes them (fitted on the pool)."""
    rows = np.arange(len(corpus.Y))
    if max_items is not None and max_items < len(rows):
        rows = np.sort(np.random.default_rng(seed).choice(rows, size=max_items, replace=False))
    pool, test = train_test_split(rows, test_size=0.25, random_state=seed)
    if corpus.texts is not None and corpus.char_ngrams:
        # the user's own features (a vector project): words do not split kaomoji
        chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2)
        X_pool = chars.fit_transform([corpus.texts[i] for i in pool])
        X_test = chars.transform([corpus.texts[i] for i in test])
    elif corpus.texts is not None:
        vectorizer, X_pool = pool_text_features([corpus.texts[i] for i in pool])
        X_test = vectorizer.transform([corpus.texts[i] for i in test])
    else:
        assert corpus.features is not None
        scaler = StandardScaler().fit(corpus.features[pool])
        X_pool = scaler.transform(corpus.features[pool])
        X_test = scaler.transform(corpus.features[test])
    return X_pool, corpus.Y[pool], X_test, corpus.Y[test]


def one_run(corpus: str, repeat: int, contender: str, seed_offset: int) -> dict[str, Any]:
    with threadpool_limits(1):
        seed = seed_offset + repeat
        X_pool, Y_pool, X_test, Y_test = make_split(
            MULTILABEL_LOADERS[corpus](), seed, MAX_ITEMS[corpus]
        )
        full = micro_f1(
            Y_test, train_multilabel_model(X_pool, Y_pool, random_state=seed).predict(X_test)
        )
        target = TARGET * full
        n = len(Y_pool)
        started = time.perf_counter()
        run = run_multilabel_loop(
            X_pool,
            Y_pool,
            X_test,
            Y_test,
            contender,
            seed=seed,
            seed_size=SEED_SIZE,
            batch_size=BATCH[corpus],
            budget=n // 2,
            until=target,
        )
        curve, reached = run["curve"], run["reached"]
    half = [p for p in curve if p["labels"] <= n // 2]
    return {
        "corpus": corpus,
        "repeat": repeat,
        "contender": contender,
        "full": full,
        "target": target,
        "to99": reached,
        "pool": n,
        "seconds": time.perf_counter() - started,
        "auc": learning_curve_auc(half, "micro_f1"),
        "curve": curve,
    }


def complete(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the (corpus, repeat) cells every contender finished: fair means part way."""
    names = {r["contender"] for r in rows}
    cells = {(r["corpus"], r["repeat"]) for r in rows}
    done = {
        cell
        for cell in cells
        if {r["contender"] for r in rows if (r["corpus"], r["repeat"]) == cell} == names
    }
    return [r for r in rows if (r["corpus"], r["repeat"]) in done]


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    rows = complete(rows)
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key in sorted({(r["corpus"], r["contender"]) for r in rows}):
        mine = [r for r in rows if (r["corpus"], r["contender"]) == key]
        aucs = [r["auc"] for r in mine]
        out[key] = {
            "to99": float(
                np.mean([r["to99"] if r["to99"] is not None else r["pool"] for r in mine])
            ),
            "never": sum(r["to99"] is None for r in mine),
            "auc": float(np.mean(aucs)),
            "auc_sd": float(np.std(aucs)),
            "full": float(np.mean([r["full"] for r in mine])),
            "repeats": len(mine),
            "seconds": float(np.mean([r["seconds"] for r in mine])),
        }
    return out


def print_table(summary: dict[tuple[str, str], dict[str, Any]]) -> None:
    ratios = []
    for corpus in sorted({c for c, _ in summary}):
        cells = {name: s for (c, name), s in summary.items() if c == corpus}
        random_to99 = cells["random"]["to99"] if "random" in cells else float("nan")
        others = [n for n in cells if n not in ("default", "random")]
        best = min(others, key=lambda n: cells[n]["to99"]) if others else None
        any_cell = next(iter(cells.values()))
        print(
            f"\n{corpus} ({any_cell['repeats']} repeats, full-pool micro F1 "
            f"{any_cell['full']:.3f}): labels to 99% of it, AUC of micro F1"
        )
        print(f"{'contender':30s} {'to99':>8s} {'xrandom':>8s} {'AUC':>15s} {'s/run':>7s}")
        for name, s in sorted(cells.items(), key=lambda kv: kv[1]["to99"]):
            mark = ">" if s["never"] else " "
            print(
                f"{name:30s} {mark}{s['to99']:7.0f} {s['to99'] / random_to99:8.2f} "
                f"{s['auc']:7.4f}±{s['auc_sd']:.4f} {s['seconds']:7.1f}"
            )
        if "default" in cells and "random" in cells:
            ratios.append(cells["default"]["to99"] / random_to99)
        if best and "default" in cells:
            print(
                f"default / best other ({best}): "
                f"{cells['default']['to99'] / cells[best]['to99']:.2f}x labels"
            )
    if ratios:
        print(f"\ndefault / random labels to 99%, mean over corpora: {np.mean(ratios):.2f}x")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--corpora", default=",".join(MULTILABEL_CORPORA))
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
    names = a.contenders.split(",")
    for name in names:
        resolve(name)
    # repeat-major, so that a run cut short still has every corpus and contender
    jobs = [(c, r, n) for r in range(a.repeats) for c in a.corpora.split(",") for n in names]
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
