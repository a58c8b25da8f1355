"""Evaluate query strategies on labelled data with a simulated oracle (no database).

    python -m strategies.simulate --sklearn digits --strategy margin --strategy default

The loop is the platform's loop: coverage seed set, ``train_model``, ``score``,
``select_batch`` and ``evaluate_rules`` — the oracle simply reveals the true label.
Every strategy in a repeat sees the same split, the same seed set and the same seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from strategies.datasets import (
    SKLEARN_SETS,
    Dataset,
    Split,
    load_file,
    load_sklearn,
    make_split,
)
from strategies.defaults import DEFAULT_SELECTOR, DEFAULT_STRATEGY
from strategies.metrics import learning_curve_auc
from strategies.models import ModelSpec, train_model
from strategies.query import (
    LINEAR_ONLY,
    STRATEGIES,
)
from strategies.selection import SELECTORS
from strategies.simulate_loop import DEFAULT_RULES, Chooser, run_loop, strategy_chooser
from strategies.stopping import validate_rule


def resolve(name: str) -> tuple[str, str]:
    """``default`` -> defaults; ``query`` -> (query, top_k); ``query+selector`` -> both."""
    if name == "default":
        return DEFAULT_STRATEGY, DEFAULT_SELECTOR
    query, _, selector = name.partition("+")
    selector = selector or "top_k"
    if query not in STRATEGIES or STRATEGIES[query].multilabel:
        raise ValueError(f"unknown strategy {query!r}")
    if selector not in SELECTORS:
        raise ValueError(f"unknown selector {selector!r}; choose from {sorted(SELECTORS)}")
    return query, selector


def full_accuracy(split: Split, spec: ModelSpec | None = None) -> float:
    """Accuracy on the test split of the same model trained on the whole pool."""
    model = train_model(
        split.X_pool, split.y_pool, split.n_classes, random_state=split.seed, spec=spec
    )
    return float(np.mean(model.predict(split.X_test) == split.y_test))


def simulate(
    data: Dataset,
    strategies: Sequence[str],
    *,
    batch_size: int = 10,
    seed_size: int = 10,
    budget: int = 200,
    repeats: int = 3,
    test_fraction: float = 0.25,
    random_state: int = 0,
    rules: Sequence[dict[str, Any]] = DEFAULT_RULES,
    extra_choosers: dict[str, Chooser] | None = None,
    until_full_fraction: float | None = None,
    spec: ModelSpec | None = None,
) -> dict[str, Any]:
    """Run every strategy ``repeats`` times; returns the JSON document of §10."""
    splits = (
        make_split(data, test_fraction=test_fraction, seed=random_state + repeat)
        for repeat in range(repeats)
    )
    document = simulate_splits(
        splits,
        strategies,
        batch_size=batch_size,
        seed_size=seed_size,
        budget=budget,
        rules=rules,
        extra_choosers=extra_choosers,
        until_full_fraction=until_full_fraction,
        spec=spec,
    )
    document["config"].update(
        repeats=repeats, test_fraction=test_fraction, random_state=random_state
    )
    return {"dataset": data.name, **document}


def simulate_splits(
    splits: Iterable[Split],
    strategies: Sequence[str],
    *,
    batch_size: int = 10,
    seed_size: int = 10,
    budget: int = 200,
    rules: Sequence[dict[str, Any]] = DEFAULT_RULES,
    extra_choosers: dict[str, Chooser] | None = None,
    until_full_fraction: float | None = None,
    until_accuracy: float | None = None,
    spec: ModelSpec | None = None,
) -> dict[str, Any]:
    """Every strategy on every split (one repeat each); ``simulate`` without the data set.

    With ``until_accuracy`` (or ``until_full_fraction`` of the full-pool accuracy) a run
    goes on past ``budget`` until its test accuracy reaches it, for label counts.
    """
    checked = [validate_rule(r) for r in [*rules, {"rule": "budget", "labels": budget}]]
    if spec is not None and not spec.linear:
        refused = [n for n in strategies if n != "default" and resolve(n)[0] in LINEAR_ONLY]
        if refused:
            raise ValueError(f"{refused} need our logistic regression, not {spec.name}")
    choosers = {name: strategy_chooser(*resolve(name)) for name in strategies}
    choosers.update(extra_choosers or {})
    runs, fulls = [], []
    for repeat, split in enumerate(splits):
        fulls.append(full_accuracy(split, spec))
        until = until_accuracy
        if until_full_fraction is not None:
            until = until_full_fraction * fulls[-1]
        for name, choose in choosers.items():
            started = time.perf_counter()
            result = run_loop(
                split,
                choose,
                batch_size=batch_size,
                seed_size=seed_size,
                budget=budget,
                rules=checked,
                until_accuracy=until,
                spec=spec,
            )
            runs.append(
                {
                    "strategy": name,
                    "repeat": repeat,
                    **result,
                    "full_accuracy": fulls[-1],
                    "auc": learning_curve_auc(
                        [p for p in result["curve"] if p["labels"] <= budget]
                    ),
                    "seconds": round(time.perf_counter() - started, 3),
                    **_resolved(name),
                }
            )
    return {
        "full_accuracy": float(np.mean(fulls)) if fulls else None,
        "runs": runs,
        "config": {
            "batch_size": batch_size,
            "seed_size": seed_size,
            "budget": budget,
            "repeats": len(fulls),
            "rules": checked,
            "model": "logistic_regression" if spec is None else spec.name,
        },
    }


def _resolved(name: str) -> dict[str, str]:
    try:
        query, selector = resolve(name)
    except ValueError:
        return {}
    return {"query": query, "selector": selector}


# ---------------------------------------------------------------- command line


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m strategies.simulate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="CSV text,label or JSONL text|features,label")
    source.add_argument("--sklearn", choices=SKLEARN_SETS, help="a scikit-learn bundled data set")
    p.add_argument(
        "--strategy",
        action="append",
        default=None,
        help="strategy, strategy+selector or 'default' (repeatable)",
    )
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--seed-size", type=int, default=10)
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--test-fraction", type=float, default=0.25)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument(
        "--stopping",
        type=json.loads,
        default=None,
        help='JSON list of rules, e.g. \'[{"rule": "plateau", "window": 3}]\'',
    )
    p.add_argument(
        "--estimator",
        default=None,
        help="dotted path of a scikit-learn classifier with predict_proba (default: ours)",
    )
    p.add_argument(
        "--estimator-params", type=json.loads, default=None, help="its parameters as JSON"
    )
    p.add_argument(
        "--search",
        type=json.loads,
        default=None,
        help="grid searched by CV at each retrain, e.g. '{\"alpha\": [0.1, 1]}'",
    )
    p.add_argument("--out", type=Path, default=None, help="write JSON here (default stdout)")
    args = p.parse_args(argv)
    if min(args.batch_size, args.budget, args.repeats) < 1 or args.seed_size < 1:
        p.error("--batch-size, --seed-size, --budget and --repeats must be positive")
    if not 0.0 < args.test_fraction < 1.0:
        p.error("--test-fraction must be between 0 and 1")
    return args


def model_spec(
    path: str | None, params: dict[str, Any] | None, grid: dict[str, list[Any]] | None
) -> ModelSpec | None:
    """The ``ModelSpec`` of ``--estimator``/``--estimator-params``/``--search``.

    A local command's own choice (the platform builds only its allow-list,
    ``WINNOW_ESTIMATORS``); None means our ``LinearModel``.
    """
    if path is None:
        return ModelSpec(params=params, name="logistic_regression") if params else None
    import importlib

    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
        estimator = cls(**(params or {}))
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        raise ValueError(f"cannot build --estimator {path}: {exc}") from None
    if not hasattr(estimator, "predict_proba"):
        raise ValueError(f"{path} has no predict_proba")
    return ModelSpec(estimator=estimator, grid=grid, name=path)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = load_sklearn(args.sklearn) if args.sklearn else load_file(args.data)
    try:
        spec = model_spec(args.estimator, args.estimator_params, args.search)
        # Small fits: BLAS threads only add contention (seconds instead of milliseconds).
        with threadpool_limits(limits=1, user_api="blas"):
            document = simulate(
                data,
                args.strategy or ["default"],
                batch_size=args.batch_size,
                seed_size=args.seed_size,
                budget=args.budget,
                repeats=args.repeats,
                test_fraction=args.test_fraction,
                random_state=args.random_state,
                rules=DEFAULT_RULES if args.stopping is None else args.stopping,
                spec=spec,
            )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(document, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
