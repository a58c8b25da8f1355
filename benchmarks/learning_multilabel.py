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

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import learning_grid  # noqa: E402
from benchmarks.learning_grid import Section  # noqa: E402
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
    "multilabel_mmc",
    "multilabel_adaptive",
    "multilabel_cvirs",
    "multilabel_mmc+kcenter",
    "multilabel_adaptive+kcenter",
    "multilabel_cvirs+kcenter",
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


SECTION = Section(
    pool_key="pool",
    unit="labels",
    title=lambda corpus, cells: (
        f"{corpus} ({max(s['repeats'] for s in cells.values())} repeats, full-pool micro F1 "
        f"{next(iter(cells.values()))['full']:.3f}): labels to 99% of it, AUC of micro F1"
    ),
    means=("full",),
)


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return learning_grid.summarise(rows, SECTION)


def main(argv: list[str] | None = None) -> int:
    return learning_grid.main(
        argv,
        doc=__doc__,
        corpora=list(MULTILABEL_CORPORA),
        contenders=CONTENDERS,
        one_run=one_run,
        section=SECTION,
        check=resolve,
    )


if __name__ == "__main__":
    raise SystemExit(main())
