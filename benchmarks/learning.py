"""Learning benchmark: our strategies and selectors against random and peer libraries.

    python benchmarks/learning.py                 # full run (5 repeats, batch 10 and 20)
    python benchmarks/learning.py --quick         # 3 repeats, fewer contenders, batch 10
    python benchmarks/learning.py --datasets iris,wine --repeats 5 --json out.json
    python benchmarks/learning.py --task spans    # sequence strategies on NER corpora
                                                  # (benchmarks/learning_spans.py)
    python benchmarks/learning.py --task multilabel   # multi-label strategies on yeast
                                                  # and kaomoji (learning_multilabel.py)

Every contender runs inside the platform's loop (``strategies.simulate_loop.run_loop``): the
same split, the same coverage seed set, the same model (``train_model``, our logistic
regression) retrained after every batch and evaluated on the same test split. Only the
choice of the next batch differs. Figures per data set and batch size:

* ``to99``: labels needed until test accuracy first reaches 99% of ``full_accuracy``
  (the model trained on the whole pool); runs go on past the AUC budget until then.
  ``>N`` marks repeats that never got there (counted as the whole pool, N).
* ``AUC``: area under the accuracy curve up to the budget, normalised (mean ± sd).
* ratios of ``to99`` to random's and to the best peer's.

Peers (optional ``bench`` extra: ``pip install modAL-python==0.4.2.1 scikit-activeml``):

* modAL's ``uncertainty_sampling``, ``margin_sampling`` and ``entropy_sampling`` through
  its ``ActiveLearner`` with our model as the estimator. modAL 0.4.2.1 passes
  ``force_all_finite=`` to ``sklearn.utils.check_X_y``, which scikit-learn 1.6 renamed
  to ``ensure_all_finite`` (and 1.8 removed): ``_patch_modal`` wraps it.
* scikit-activeml's ``UncertaintySampling`` (least confident) and ``QueryByCommittee``
  (vote entropy over ``BaggingClassifier`` of our model, 5 members). scikit-activeml
  rejects sparse input, so for the text set it chooses on a 64-dimensional TruncatedSVD
  (LSA) of the hashed features, while the curve is still our model on the full features.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import learning_multilabel, learning_spans  # noqa: E402
from benchmarks.corpora import CORPORA, LOADERS  # noqa: E402
from strategies._space import embed  # noqa: E402
from strategies.data import DEMO_TEXT_CSV  # noqa: E402
from strategies.datasets import (  # noqa: E402
    Dataset,
    Split,
    load_file,
    load_sklearn,
    make_split,
    split_rows,
)
from strategies.defaults import DEFAULT_SELECTOR, DEFAULT_STRATEGY  # noqa: E402
from strategies.metrics import labels_to_reach  # noqa: E402
from strategies.models import LinearModel  # noqa: E402
from strategies.selection import SelectorOptions  # noqa: E402
from strategies.simulate import full_accuracy, simulate  # noqa: E402
from strategies.simulate_loop import Chooser, LoopState, strategy_chooser  # noqa: E402

DATASETS = ("iris", "wine", "breast_cancer", "digits", "demo", "chatterbot", "jokes")
# AUC budget per data set (the runs themselves continue until 99% is reached).
BUDGETS = {
    "iris": 60,
    "wine": 60,
    "breast_cancer": 150,
    "digits": 400,
    "demo": 600,
    "chatterbot": 600,
    "jokes": 400,
}
OURS = [
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "vote_entropy",
    "kl_consensus",
    "expected_gradient_length",
    "density_weighted",
    "margin+cluster",
    "margin+kcenter",
    "margin+representative",
    "margin+balanced",
    "entropy+cluster",
    "default",
]
QUICK = ["random", "margin", "entropy", "margin+cluster", "margin+kcenter", "default"]
PEERS = [
    "modAL:uncertainty",
    "modAL:margin",
    "modAL:entropy",
    "skactiveml:uncertainty",
    "skactiveml:qbc",
]
TARGET = 0.99

# Ideas measured against each other (docs/learning-benchmark.md): module settings of
# ``strategies`` set in each worker before a repeat. "shipped" is what the code does.
# Ideas measured before k-center moved to the pool's SVD keep the raw-row geometry of
# their time (``RAW``), so each command reproduces its figure.
RAW = {"selection.GEOMETRY": "features"}
VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "hashing": {"datasets.TEXT_FEATURES": "hashing", "models.DEFAULT_C": None, **RAW},
    "hashing+cv": {"datasets.TEXT_FEATURES": "hashing", "models.DEFAULT_C": "cv", **RAW},
    "vocabulary": {"datasets.TEXT_FEATURES": "vocabulary", "models.DEFAULT_C": None, **RAW},
    "vocabulary+cv": {"datasets.TEXT_FEATURES": "vocabulary", "models.DEFAULT_C": "cv", **RAW},
    "svd-diversity": {"selection.GEOMETRY": "embedding"},  # shipped since issue 15
    "features-diversity": RAW,  # k-center on the raw rows: the default before
    "mixed-committee": {"query.COMMITTEE": "mixed", **RAW},
    "self-training": {"semi.MODE": "self-training", **RAW},
    "label-spreading": {"semi.MODE": "label-spreading", **RAW},
    "balanced": {"models.DEFAULT_CLASS_WEIGHT": "balanced", **RAW},
    "vocabulary+cv+balanced": {
        "datasets.TEXT_FEATURES": "vocabulary",
        "models.DEFAULT_C": "cv",
        "models.DEFAULT_CLASS_WEIGHT": "balanced",
        **RAW,
    },
}


def apply_variant(name: str) -> None:
    import importlib

    for key, value in VARIANTS[name].items():
        module, attr = key.rsplit(".", 1)
        setattr(importlib.import_module(f"strategies.{module}"), attr, value)


# ---------------------------------------------------------------- peers


def _patch_modal() -> None:
    """modAL 0.4.2.1 calls ``check_X_y(force_all_finite=...)``; newer sklearn names it
    ``ensure_all_finite``. Rebind modAL's imported name to a translating wrapper."""
    import modAL.models.learners as learners
    from sklearn.utils import check_X_y

    def check_X_y_compat(*args: Any, force_all_finite: bool = True, **kwargs: Any) -> Any:
        return check_X_y(*args, ensure_all_finite=force_all_finite, **kwargs)

    learners.check_X_y = check_X_y_compat


def modal_chooser(kind: str) -> Chooser:
    from modAL.models import ActiveLearner
    from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling

    strategy = {
        "uncertainty": uncertainty_sampling,
        "margin": margin_sampling,
        "entropy": entropy_sampling,
    }[kind]

    def choose(state: LoopState) -> np.ndarray:
        sp = state.split
        learner = ActiveLearner(
            estimator=LinearModel(n_classes=sp.n_classes, random_state=sp.seed),
            query_strategy=strategy,
            X_training=sp.X_pool[state.labeled],
            y_training=sp.y_pool[state.labeled],
        )
        picked, _ = learner.query(sp.X_pool[state.unlabeled], n_instances=state.k)
        return np.asarray(picked, dtype=np.int64)

    return choose


def _dense_view(split: Split) -> np.ndarray:
    cached = getattr(split, "_dense", None)
    if cached is None:
        cached = embed(split.X_pool, random_state=split.seed)
        split._dense = cached  # type: ignore[attr-defined]
    return cached


def skactiveml_chooser(kind: str) -> Chooser:
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import QueryByCommittee, UncertaintySampling
    from sklearn.ensemble import BaggingClassifier

    def choose(state: LoopState) -> np.ndarray:
        sp = state.split
        X = _dense_view(sp)
        y = np.full(len(sp.y_pool), np.nan)
        y[state.labeled] = sp.y_pool[state.labeled]
        classes = np.arange(sp.n_classes)
        base = LinearModel(n_classes=sp.n_classes, random_state=sp.seed)
        if kind == "uncertainty":
            clf = SklearnClassifier(base, classes=classes, random_state=sp.seed)
            qs = UncertaintySampling(method="least_confident", random_state=state.random_state)
            picked = qs.query(X, y, clf, batch_size=state.k)
        else:
            bagging = BaggingClassifier(base, n_estimators=5, random_state=sp.seed)
            clf = SklearnClassifier(bagging, classes=classes, random_state=sp.seed)
            qs = QueryByCommittee(method="vote_entropy", random_state=state.random_state)
            picked = qs.query(X, y, clf, batch_size=state.k)
        return np.searchsorted(state.unlabeled, np.asarray(picked, dtype=np.int64))

    return choose


# Ideas measured as contenders that are not presets of the platform.
IDEAS: dict[str, tuple[str, SelectorOptions]] = {
    # BADGE (Ash et al. 2020): k-means++ over gradient embeddings on the pool's 64-d SVD.
    "idea:badge": ("margin", SelectorOptions(diversity="badge", shortlist_factor=10)),
}


def peer_choosers(names: list[str]) -> dict[str, Chooser]:
    choosers: dict[str, Chooser] = {}
    for name in names:
        if name in IDEAS:
            choosers[name] = strategy_chooser(*IDEAS[name])
            continue
        library, kind = name.split(":")
        try:
            if library == "modAL":
                _patch_modal()
                choosers[name] = modal_chooser(kind)
            else:
                choosers[name] = skactiveml_chooser(kind)
        except ImportError:
            print(f"# {name}: not installed (pip install '.[bench]'), skipped", file=sys.stderr)
    return choosers


# ---------------------------------------------------------------- running


def load(name: str) -> Dataset:
    if name == "demo":
        return load_file(DEMO_TEXT_CSV)
    if name in CORPORA:
        return LOADERS[name]()
    return load_sklearn(name)


def one_repeat(
    dataset: str,
    batch_size: int,
    repeat: int,
    contenders: list[str],
    peers: list[str],
    seed_size: int,
    budget: int,
    variant: str = "shipped",
) -> dict[str, Any]:
    """One repeat of every contender on one data set (a unit of parallel work)."""
    warnings.filterwarnings("ignore")
    apply_variant(variant)
    with threadpool_limits(limits=1):
        return simulate(
            load(dataset),
            contenders,
            batch_size=batch_size,
            seed_size=seed_size,
            budget=budget,
            repeats=1,
            random_state=repeat,
            rules=[],
            extra_choosers=peer_choosers(peers),
            until_full_fraction=TARGET,
        )


def summarise(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per contender: to99 per repeat (None = never), AUC per repeat, pool size, time."""
    table: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for run in doc["runs"]:
            row = table.setdefault(run["strategy"], {"to99": [], "auc": [], "seconds": []})
            target = TARGET * run["full_accuracy"]
            row["to99"].append(labels_to_reach(run["curve"], target))
            row["auc"].append(run["auc"])
            row["seconds"].append(run["seconds"])
            row["pool"] = (
                run["curve"][-1]["labels"] if row["to99"][-1] is None else row.get("pool", 0)
            )
    return table


def _mean_labels(row: dict[str, Any], pool: int) -> tuple[float, bool]:
    values = [pool if v is None else v for v in row["to99"]]
    return float(np.mean(values)), any(v is None for v in row["to99"])


def print_table(
    dataset: str, batch_size: int, full: float, pool: int, table: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    labels = {name: _mean_labels(row, pool) for name, row in table.items()}
    random_labels = labels["random"][0]
    peer_names = [n for n in table if ":" in n and not n.startswith("idea:")]
    best_peer = min(peer_names, key=lambda n: labels[n][0]) if peer_names else None
    best_peer_auc = max(peer_names, key=lambda n: np.mean(table[n]["auc"])) if peer_names else None
    print(
        f"\n## {dataset}  batch {batch_size}  pool {pool}  full_accuracy {full:.3f}  "
        f"target {TARGET * full:.3f}"
    )
    print(
        f"{'contender':28s} {'to99':>8s} {'/random':>8s} {'/peer':>7s} "
        f"{'AUC mean±sd':>15s} {'s/run':>6s}"
    )
    for name, row in sorted(table.items(), key=lambda kv: -np.mean(kv[1]["auc"])):
        mean, censored = labels[name]
        shown = (">" if censored else "") + f"{mean:.0f}"
        vs_peer = f"{mean / labels[best_peer][0]:.2f}" if best_peer else "-"
        print(
            f"{name:28s} {shown:>8s} {mean / random_labels:8.2f} {vs_peer:>7s} "
            f"{np.mean(row['auc']):8.4f}±{np.std(row['auc']):.4f} "
            f"{np.mean(row['seconds']):6.1f}"
        )
    result = {
        "dataset": dataset,
        "batch_size": batch_size,
        "full_accuracy": full,
        "best_peer": best_peer,
        "best_peer_auc": best_peer_auc,
        "labels": {n: v[0] for n, v in labels.items()},
        "auc": {n: [float(np.mean(r["auc"])), float(np.std(r["auc"]))] for n, r in table.items()},
    }
    return result


def verdict(results: list[dict[str, Any]], name: str = "default") -> None:
    """The targets: labels ratio to random, AUC against plain margin and the best peer."""
    ratios = [r["labels"][name] / r["labels"]["random"] for r in results]
    print(f"\n# {name} = {DEFAULT_STRATEGY}+{DEFAULT_SELECTOR}")
    for r, ratio in zip(results, ratios, strict=True):
        print(f"# {r['dataset']:14s} batch {r['batch_size']:3d}: to99 / random {ratio:.2f}")
    print(
        f"# mean labels-to-99% ratio to random over {len(ratios)} (data set, batch) cells: "
        f"{np.mean(ratios):.2f}  (target <= 0.40)"
    )
    margins = []
    for r in results:
        if "margin" not in r["auc"] or name == "margin":
            continue
        ours, theirs = r["auc"][name], r["auc"]["margin"]
        margins.append((ours[0] - ours[1] - theirs[0], ours[0] - theirs[0]))
        print(
            f"# {r['dataset']:14s} batch {r['batch_size']:3d}: AUC {ours[0]:.4f}±{ours[1]:.4f}"
            f" vs margin {theirs[0]:.4f}±{theirs[1]:.4f}  "
            f"{'above' if ours[0] > theirs[0] else 'BELOW'}"
        )
    if margins:
        low, diff = np.mean(margins, axis=0)
        print(
            f"# AUC minus margin's, mean over cells {diff:+.4f}; (mean - sd) minus margin's "
            f"mean {low:+.4f} (target > 0); above in {sum(d > 0 for _, d in margins)}"
            f"/{len(margins)} cells"
        )
    for r in results:
        peer = r["best_peer_auc"]
        if peer is None:
            continue
        ours, (theirs, theirs_sd) = r["auc"][name], r["auc"][peer]
        ok = ours[0] >= theirs - max(ours[1], theirs_sd)
        print(
            f"# {r['dataset']:14s} batch {r['batch_size']:3d}: AUC {ours[0]:.4f}±{ours[1]:.4f}"
            f" vs best peer {peer} {theirs:.4f}±{theirs_sd:.4f}  {'ok' if ok else 'MISSED'}"
        )


def reference_accuracy(
    dataset: str, repeats: int, seed_offset: int, variant: str = "shipped"
) -> tuple[float, float]:
    """Full-pool test accuracy: our default model vs TF-IDF + LR with C tuned by 3-fold CV.

    Same stratified splits as the loop (``make_split``); the reference fits its own
    vocabulary TF-IDF (word 1-2 grams, sublinear tf) on the pool only.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    apply_variant(variant)
    data = load(dataset)
    ours, ref = [], []
    for r in range(repeats):
        split = make_split(data, test_fraction=0.25, seed=seed_offset + r)
        ours.append(full_accuracy(split))
        if data.texts is None:
            continue
        pool, test = split_rows(data, seed_offset + r)
        texts = np.asarray(data.texts, dtype=object)
        pipe = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            LogisticRegression(max_iter=1000),
        )
        grid = {"logisticregression__C": [1.0, 10.0, 100.0]}
        search = GridSearchCV(pipe, grid, cv=3, n_jobs=1).fit(texts[pool], data.y[pool])
        ref.append(float(np.mean(search.predict(texts[test]) == data.y[test])))
    return float(np.mean(ours)), float(np.mean(ref)) if ref else float("nan")


def print_reference(datasets: list[str], repeats: int, seed_offset: int, variant: str) -> None:
    print("\n# full-pool accuracy: default model vs TF-IDF + LR (C by 3-fold CV), same splits")
    for dataset in datasets:
        with threadpool_limits(limits=1):
            mine, theirs = reference_accuracy(dataset, repeats, seed_offset, variant)
        print(f"# {dataset:14s} ours {mine:.4f}  reference {theirs:.4f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:2] == ["--task", "spans"]:  # the spans section has its own options
        return learning_spans.main(argv[2:])
    if argv[:2] == ["--task", "multilabel"]:  # so has the multi-label section
        return learning_multilabel.main(argv[2:])
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="3 repeats, batch 10, fewer contenders")
    p.add_argument("--datasets", default=",".join(DATASETS))
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--batch-sizes", default=None, help="comma-separated, default 10,20")
    p.add_argument("--contenders", default=None, help="comma-separated names (ours and peers)")
    p.add_argument("--seed-size", type=int, default=10)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="repeat r uses random_state offset+r (fresh splits to confirm a tuning)",
    )
    p.add_argument("--variant", choices=sorted(VARIANTS), default="shipped")
    p.add_argument("--no-reference", action="store_true", help="skip the TF-IDF+LR reference")
    p.add_argument(
        "--reference-only", action="store_true", help="only the full-pool accuracy comparison"
    )
    p.add_argument("--json", type=Path, default=None, help="also write raw results here")
    p.add_argument(
        "--summarise",
        default=None,
        help="comma-separated --json files (e.g. one per data set): print the targets over all",
    )
    args = p.parse_args(argv)
    if args.summarise:
        files = [Path(f) for f in args.summarise.split(",")]
        verdict([r for f in files for r in json.loads(f.read_text())["results"]])
        return 0
    repeats = args.repeats or (3 if args.quick else 5)
    batch_sizes = [
        int(b) for b in (args.batch_sizes or ("10" if args.quick else "10,20")).split(",")
    ]
    names = (
        args.contenders.split(",") if args.contenders else (QUICK if args.quick else OURS) + PEERS
    )
    ours = [n for n in names if ":" not in n]
    ours = ours if "random" in ours else ["random", *ours]
    peers = [n for n in names if ":" in n]
    if args.reference_only:
        print_reference(args.datasets.split(","), repeats, args.seed_offset, args.variant)
        return 0
    cells = [(d, b) for d in args.datasets.split(",") for b in batch_sizes]
    started = time.perf_counter()
    docs: list[dict[str, Any]] = Parallel(n_jobs=args.jobs)(
        delayed(one_repeat)(
            d,
            b,
            args.seed_offset + r,
            ours,
            peers,
            args.seed_size,
            BUDGETS.get(d, 200),
            args.variant,
        )
        for d, b in cells
        for r in range(repeats)
    )
    results = []
    for i, (dataset, batch_size) in enumerate(cells):
        cell = docs[i * repeats : (i + 1) * repeats]
        pool = max(p["labels"] for doc in cell for run in doc["runs"] for p in run["curve"])
        pool = max(pool, _pool_size(dataset))
        full = float(np.mean([doc["full_accuracy"] for doc in cell]))
        results.append(print_table(dataset, batch_size, full, pool, summarise(cell)))
    if "default" in ours:
        verdict(results)
    if not args.no_reference:
        print_reference(args.datasets.split(","), repeats, args.seed_offset, args.variant)
    print(
        f"\n# {time.perf_counter() - started:.0f} s, {repeats} repeats, batch sizes {batch_sizes}"
        f", variant {args.variant}"
    )
    if args.json:
        args.json.write_text(json.dumps({"results": results, "raw": docs}))
    return 0


def _pool_size(dataset: str) -> int:
    data = load(dataset)
    return int(round(len(data.y) * 0.75))


CHOOSER_FACTORIES: dict[str, Callable[[str], Chooser]] = {
    "modAL": modal_chooser,
    "skactiveml": skactiveml_chooser,
}

if __name__ == "__main__":
    sys.exit(main())
