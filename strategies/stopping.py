"""Stopping rules: pure functions over a project's batch history (§5).

The history holds one ``BatchRecord`` per completed batch, oldest first; every record's
counters are cumulative (labels and seconds so far).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score

from strategies.forecast import MIN_POINTS, fit_learning_curve, gain_per_hour


@dataclass
class BatchRecord:
    """State after one batch: cumulative labels and annotator-seconds, and the new model's
    holdout ``metric`` with its lower 95% bound, predictions on the fixed stop set, and
    the highest uncertainty left in the pool."""

    labels: int
    seconds: float = 0.0
    metric: float | None = None
    metric_low: float | None = None
    stop_set_predictions: np.ndarray | None = None
    max_uncertainty: float | None = None


@dataclass(frozen=True)
class RuleResult:
    rule: str
    met: bool
    value: float | None
    detail: str


@dataclass(frozen=True)
class RuleInfo:
    name: str
    description: str
    defaults: dict[str, Any]
    evaluate: Callable[[Sequence[BatchRecord], dict[str, Any]], RuleResult] = field(repr=False)


def stabilizing_kappas(history: Sequence[BatchRecord]) -> list[float | None]:
    """Cohen's kappa between each model's stop-set predictions and the previous model's.

    Bloodgood & Vijay-Shanker (2009). Identical predictions count as kappa 1 (sklearn
    returns NaN when both are one constant class). ``None`` where either side is missing.
    """
    kappas: list[float | None] = []
    for before, after in zip(history, history[1:], strict=False):  # one entry per batch
        a, b = before.stop_set_predictions, after.stop_set_predictions
        if a is None or b is None or len(a) != len(b) or len(a) == 0:
            kappas.append(None)
        elif np.array_equal(a, b):
            kappas.append(1.0)
        else:
            k = float(cohen_kappa_score(np.asarray(a), np.asarray(b)))
            kappas.append(0.0 if np.isnan(k) else k)
    return kappas


def _budget(history: Sequence[BatchRecord], p: dict[str, Any]) -> RuleResult:
    last = history[-1] if history else BatchRecord(labels=0)
    if "labels" in p:
        return RuleResult(
            "budget",
            last.labels >= p["labels"],
            float(last.labels),
            f"{last.labels} of {p['labels']} labels",
        )
    return RuleResult(
        "budget",
        last.seconds >= p["seconds"],
        float(last.seconds),
        f"{last.seconds:.0f} of {p['seconds']} annotator-seconds",
    )


def _target(history: Sequence[BatchRecord], p: dict[str, Any]) -> RuleResult:
    low = history[-1].metric_low if history else None
    if low is None:
        return RuleResult("target", False, None, "no holdout metric yet")
    return RuleResult(
        "target",
        low >= p["metric_low"],
        low,
        f"lower 95% bound {low:.3f}, target {p['metric_low']}",
    )


def _stabilizing(history: Sequence[BatchRecord], p: dict[str, Any]) -> RuleResult:
    kappas = stabilizing_kappas(history)
    window = kappas[-p["window"] :]
    if not kappas or kappas[-1] is None:
        return RuleResult(
            "stabilizing_predictions", False, None, "no successive stop-set predictions"
        )
    met = len(window) == p["window"] and all(k is not None and k >= p["threshold"] for k in window)
    return RuleResult(
        "stabilizing_predictions",
        met,
        kappas[-1],
        f"kappa {kappas[-1]:.3f}; needs >= {p['threshold']} for {p['window']} batches",
    )


def _plateau(history: Sequence[BatchRecord], p: dict[str, Any]) -> RuleResult:
    metrics = [r.metric for r in history if r.metric is not None]
    if len(metrics) <= p["window"]:
        return RuleResult("plateau", False, None, f"needs {p['window'] + 1} evaluated batches")
    gain = float(max(metrics[-p["window"] :]) - max(metrics[: -p["window"]]))
    return RuleResult(
        "plateau",
        gain < p["epsilon"],
        gain,
        f"best metric gained {gain:+.4f} over the last {p['window']} batches",
    )


def _max_uncertainty(history: Sequence[BatchRecord], p: dict[str, Any]) -> RuleResult:
    value = history[-1].max_uncertainty if history else None
    if value is None:
        return RuleResult("max_uncertainty", False, None, "no pool uncertainty yet")
    return RuleResult(
        "max_uncertainty",
        value < p["threshold"],
        value,
        f"highest uncertainty left {value:.3f}, threshold {p['threshold']}",
    )


def _gain_per_hour(history: Sequence[BatchRecord], p: dict[str, Any]) -> RuleResult:
    """The learning curve's slope at the current labels, priced in annotator time.

    Seconds per label are those spent since the first record (imported seed labels
    cost no annotator time), so ``(seconds_last - seconds_first) / (labels_last -
    labels_first)``.
    """
    evaluated = [r for r in history if r.metric is not None and r.labels > 0]
    fit = fit_learning_curve([r.labels for r in evaluated], [r.metric for r in evaluated])  # type: ignore[misc]
    if fit is None:
        return RuleResult("gain_per_hour", False, None, f"needs {MIN_POINTS} evaluated batches")
    first, last = history[0], history[-1]
    spent, added = last.seconds - first.seconds, last.labels - first.labels
    if spent <= 0 or added <= 0:
        return RuleResult("gain_per_hour", False, None, "no annotation time recorded yet")
    gain = gain_per_hour(fit, labels=last.labels, seconds_per_label=spent / added)
    return RuleResult(
        "gain_per_hour",
        bool(gain < p["gain_per_hour"]),
        float(gain),
        f"expected gain {gain:.4f} per annotator-hour, stop below {p['gain_per_hour']}",
    )


RULES: dict[str, RuleInfo] = {
    r.name: r
    for r in (
        RuleInfo(
            "budget", "Stop after N labels (or N annotator-seconds).", {"labels": 500}, _budget
        ),
        RuleInfo(
            "target",
            "Stop when the holdout metric's lower 95% bound reaches a target.",
            {"metric_low": 0.9},
            _target,
        ),
        RuleInfo(
            "stabilizing_predictions",
            "Stop when successive models agree on a fixed stop set (Cohen's kappa).",
            {"threshold": 0.99, "window": 3},
            _stabilizing,
        ),
        RuleInfo(
            "plateau",
            "Stop when the holdout metric gained less than epsilon over w batches.",
            {"epsilon": 0.005, "window": 3},
            _plateau,
        ),
        RuleInfo(
            "max_uncertainty",
            "Stop when the highest uncertainty left in the pool is low.",
            {"threshold": 0.1},
            _max_uncertainty,
        ),
        RuleInfo(
            "gain_per_hour",
            "Stop when the learning curve's expected gain per annotator-hour falls below X.",
            {"gain_per_hour": 0.01},
            _gain_per_hour,
        ),
    )
}

_BOUNDS: dict[str, tuple[float, float, bool]] = {  # (low, high, integer)
    "labels": (1, float("inf"), True),
    "seconds": (1, float("inf"), False),
    "metric_low": (0.0, 1.0, False),
    "threshold": (-1.0, float("inf"), False),
    "window": (1, 1000, True),
    "epsilon": (0.0, 1.0, False),
    "gain_per_hour": (0.0, 1.0, False),
}


def validate_rule(d: dict[str, Any]) -> dict[str, Any]:
    """Check a rule dict and return it complete with defaults; ``ValueError`` says what is wrong."""
    if not isinstance(d, dict) or "rule" not in d:
        raise ValueError('a stopping rule must be an object with a "rule" field')
    name = d["rule"]
    if name not in RULES:
        raise ValueError(f"unknown stopping rule {name!r}; choose from {sorted(RULES)}")
    given = {k: v for k, v in d.items() if k != "rule"}
    allowed = set(RULES[name].defaults) | ({"labels", "seconds"} if name == "budget" else set())
    unknown = set(given) - allowed
    if unknown:
        raise ValueError(f"rule {name!r} takes {sorted(allowed)}, not {sorted(unknown)}")
    if name == "budget" and len(given) > 1:
        raise ValueError('rule "budget" takes either "labels" or "seconds", not both')
    params = {**({} if name == "budget" and given else RULES[name].defaults), **given}
    return {"rule": name, **{k: _check_value(name, k, v) for k, v in params.items()}}


def _check_value(rule: str, key: str, value: Any) -> float | int:
    low, high, integer = _BOUNDS[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
        raise ValueError(f"{rule}.{key} must be a number")
    if integer and value != int(value):
        raise ValueError(f"{rule}.{key} must be a whole number")
    if not low <= value <= high:
        raise ValueError(f"{rule}.{key} must be between {low} and {high}")
    return int(value) if integer else float(value)


def evaluate_rules(
    history: Sequence[BatchRecord], rules: Sequence[dict[str, Any]]
) -> list[RuleResult]:
    """Evaluate each rule on the history; one ``RuleResult`` per rule, in order."""
    checked = [validate_rule(r) for r in rules]
    return [RULES[r["rule"]].evaluate(history, r) for r in checked]
