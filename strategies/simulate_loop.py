"""The simulated loop one strategy runs in (no database): coverage seed set, then
``train_model``, ``score``, ``select_batch`` and ``evaluate_rules`` batch after batch, the
oracle revealing the true labels. Split from `strategies.simulate`, which runs it for
every strategy, repeat and split, and is the command line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from strategies import selection, semi
from strategies._space import embed, n_rows
from strategies.datasets import Split
from strategies.metrics import evaluate
from strategies.models import LinearModel, ModelSpec, train_model
from strategies.query import (
    QueryContext,
    least_confidence_scores,
    pool_density,
    score,
)
from strategies.seeding import coverage_seed
from strategies.selection import SelectorOptions, options_for, select_batch
from strategies.stopping import BatchRecord, evaluate_rules

# The stopping rules a simulation records when none are given.
DEFAULT_RULES: list[dict[str, Any]] = [
    {"rule": "stabilizing_predictions", "threshold": 0.99, "window": 3},
    {"rule": "plateau", "epsilon": 0.005, "window": 3},
    {"rule": "max_uncertainty", "threshold": 0.1},
]


@dataclass
class LoopState:
    """What a chooser sees each round: the split, labelled rows, the current model."""

    split: Split
    labeled: np.ndarray
    unlabeled: np.ndarray
    model: LinearModel
    proba: np.ndarray  # model probabilities on the unlabelled rows
    k: int
    random_state: int


Chooser = Callable[[LoopState], np.ndarray]  # returns positions into ``unlabeled``


# ---------------------------------------------------------------- data loading


# ---------------------------------------------------------------- splits


# ---------------------------------------------------------------- the loop


def strategy_chooser(query: str, selector: str | SelectorOptions) -> Chooser:
    """The platform's choice: ``score(query)`` then ``select_batch(selector)``."""
    options = options_for(selector)
    needs_density = query == "density_weighted" or options.representativeness > 0

    def choose(state: LoopState) -> np.ndarray:
        sp = state.split
        X_unl = sp.X_pool[state.unlabeled]  # type: ignore[index]
        if needs_density and sp.density is None:
            sp.density = pool_density(sp.X_pool, random_state=sp.seed)
        density = None if sp.density is None else sp.density[state.unlabeled]
        ctx = QueryContext(
            X_pool=X_unl,
            model=state.model,
            proba=state.proba,
            X_labeled=sp.X_pool[state.labeled],  # type: ignore[index]
            y_labeled=sp.y_pool[state.labeled],
            n_classes=sp.n_classes,
            random_state=state.random_state,
            density=density,
        )
        scores = score(query, ctx)
        counts = np.bincount(sp.y_pool[state.labeled], minlength=sp.n_classes)
        geometry = None
        if selection.uses_geometry(options):
            if sp.embedding is None:
                sp.embedding = embed(sp.X_pool, random_state=sp.seed)
            geometry = sp.embedding[state.unlabeled]
        picked = select_batch(
            scores,
            X_unl,
            state.k,
            options=options,
            proba=state.proba,
            label_counts=counts,
            density=density,
            random_state=state.random_state,
            geometry=geometry,
        )
        return picked.indices

    return choose


def run_loop(
    split: Split,
    choose: Chooser,
    *,
    batch_size: int,
    seed_size: int,
    budget: int,
    rules: Sequence[dict[str, Any]],
    until_accuracy: float | None = None,
    spec: ModelSpec | None = None,
) -> dict[str, Any]:
    """Active learning on one split: returns the learning curve and where rules fired.

    Labels ``budget`` items; with ``until_accuracy`` it goes on past the budget until the
    test accuracy first reaches that value (or the pool runs out), for label-count figures.
    """
    n_pool = n_rows(split.X_pool)
    reached = until_accuracy is None
    budget = min(budget, n_pool)
    labeled = coverage_seed(split.X_pool, min(seed_size, budget), random_state=split.seed)
    history: list[BatchRecord] = []
    curve: list[dict[str, Any]] = []
    stops: dict[str, dict[str, Any]] = {}
    chosen: dict[str, Any] | None = None  # the last fit's search, kept as the platform does
    for step in range(n_pool + 1):
        model = train_model(
            split.X_pool[labeled],  # type: ignore[index]
            split.y_pool[labeled],
            split.n_classes,
            random_state=split.seed,
            spec=spec,
            previous=chosen,
        )
        chosen = getattr(model, "chosen_", None)
        model = semi.pseudo_label_refit(model, split, labeled)  # off unless measured
        unlabeled = np.setdiff1d(np.arange(n_pool), labeled)
        proba = model.predict_proba(split.X_pool[unlabeled])  # type: ignore[index]
        point = _evaluate(model, split, len(labeled))
        curve.append(point)
        history.append(_record(model, split, point, proba))
        _note_stops(stops, evaluate_rules(history, rules), point)
        reached = reached or point["accuracy"] >= until_accuracy  # type: ignore[operator]
        k = min(batch_size, (budget if reached else n_pool) - len(labeled), len(unlabeled))
        if k <= 0:
            break
        state = LoopState(split, labeled, unlabeled, model, proba, k, split.seed * 1000 + step)
        picks = np.asarray(choose(state), dtype=np.int64)
        _check_picks(picks, len(unlabeled), k)
        labeled = np.concatenate([labeled, unlabeled[picks]])
    return {
        "curve": curve,
        "stops": list(stops.values()),
        "unfired": [r["rule"] for r in rules if r["rule"] not in stops],
    }


def _evaluate(model: LinearModel, split: Split, labels: int) -> dict[str, Any]:
    m = evaluate(split.y_test, model.predict(split.X_test), split.n_classes)
    return {
        "labels": labels,
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "accuracy_low": m["accuracy_low"],
    }


def _record(
    model: LinearModel, split: Split, point: dict[str, Any], proba: np.ndarray
) -> BatchRecord:
    stop_predictions = model.predict(split.X_pool[split.stop_rows])  # type: ignore[index]
    uncertainty = float(least_confidence_scores(proba).max()) if len(proba) else 0.0
    return BatchRecord(
        labels=point["labels"],
        metric=point["accuracy"],
        metric_low=point["accuracy_low"],
        stop_set_predictions=stop_predictions,
        max_uncertainty=uncertainty,
    )


def _note_stops(
    stops: dict[str, dict[str, Any]], results: list[Any], point: dict[str, Any]
) -> None:
    for result in results:
        if result.met and result.rule not in stops:
            stops[result.rule] = {
                "rule": result.rule,
                "labels": point["labels"],
                "accuracy": point["accuracy"],
                "value": result.value,
            }


def _check_picks(picks: np.ndarray, n: int, k: int) -> None:
    if len(picks) != k or len(np.unique(picks)) != k or picks.min() < 0 or picks.max() >= n:
        raise RuntimeError(f"chooser returned an invalid batch ({len(picks)} rows, wanted {k})")
