from __future__ import annotations

import numpy as np
import pytest

from strategies.stopping import (
    RULES,
    BatchRecord,
    evaluate_rules,
    stabilizing_kappas,
    validate_rule,
)


def _one(history, rule):
    (result,) = evaluate_rules(history, [rule])
    return result


def test_budget_in_labels_and_seconds() -> None:
    history = [BatchRecord(labels=100, seconds=1800.0), BatchRecord(labels=500, seconds=4000.0)]
    assert _one(history[:1], {"rule": "budget", "labels": 500}).met is False
    assert _one(history, {"rule": "budget", "labels": 500}).met is True
    result = _one(history[:1], {"rule": "budget", "seconds": 3600})
    assert (result.met, result.value) == (False, 1800.0)
    assert _one(history, {"rule": "budget", "seconds": 3600}).met is True
    assert _one([], {"rule": "budget", "labels": 1}).met is False


def test_target_uses_the_lower_bound() -> None:
    history = [BatchRecord(labels=10, metric=0.95, metric_low=0.88)]
    result = _one(history, {"rule": "target", "metric_low": 0.9})
    assert (result.met, result.value) == (False, 0.88)
    history.append(BatchRecord(labels=20, metric=0.97, metric_low=0.91))
    assert _one(history, {"rule": "target", "metric_low": 0.9}).met is True
    assert _one([BatchRecord(labels=5)], {"rule": "target", "metric_low": 0.9}).value is None


def test_stabilizing_predictions_kappa_by_hand() -> None:
    a = np.array([0, 0, 1, 1])
    b = np.array([0, 1, 1, 1])
    # observed agreement 3/4; expected (2/4*1/4 + 2/4*3/4) = 1/2 -> kappa = (0.75-0.5)/0.5
    assert stabilizing_kappas(
        [BatchRecord(1, stop_set_predictions=a), BatchRecord(2, stop_set_predictions=b)]
    ) == [0.5]


def test_identical_constant_predictions_count_as_agreement() -> None:
    same = np.zeros(5, dtype=int)
    history = [BatchRecord(i, stop_set_predictions=same) for i in range(4)]
    result = _one(history, {"rule": "stabilizing_predictions", "threshold": 0.99, "window": 3})
    assert (result.met, result.value) == (True, 1.0)


def test_stabilizing_needs_a_full_window() -> None:
    a, b = np.array([0, 1, 0, 1]), np.array([1, 1, 0, 1])
    preds = [a, b, b, b]
    history = [BatchRecord(i, stop_set_predictions=p) for i, p in enumerate(preds)]
    rule = {"rule": "stabilizing_predictions", "threshold": 0.99, "window": 3}
    assert _one(history, rule).met is False  # kappas: 0.5, 1, 1
    assert _one([*history, BatchRecord(5, stop_set_predictions=b)], rule).met is True
    assert _one(history[:1], rule).met is False


def test_plateau_by_hand() -> None:
    metrics = [0.5, 0.7, 0.8, 0.802, 0.804, 0.801]
    history = [BatchRecord(i * 10, metric=m) for i, m in enumerate(metrics)]
    result = _one(history, {"rule": "plateau", "epsilon": 0.005, "window": 3})
    assert result.met is True and result.value == pytest.approx(0.004)
    assert _one(history[:5], {"rule": "plateau", "epsilon": 0.005, "window": 3}).met is False
    assert _one(history[:3], {"rule": "plateau", "epsilon": 0.005, "window": 3}).met is False


def test_max_uncertainty() -> None:
    history = [BatchRecord(10, max_uncertainty=0.3), BatchRecord(20, max_uncertainty=0.05)]
    assert _one(history[:1], {"rule": "max_uncertainty", "threshold": 0.1}).met is False
    assert _one(history, {"rule": "max_uncertainty", "threshold": 0.1}).met is True


def test_validate_rule_fills_defaults_and_rejects_nonsense() -> None:
    assert validate_rule({"rule": "plateau"}) == {"rule": "plateau", "epsilon": 0.005, "window": 3}
    assert validate_rule({"rule": "budget", "seconds": 60}) == {"rule": "budget", "seconds": 60.0}
    for bad in (
        {"rule": "nope"},
        {"labels": 5},
        {"rule": "plateau", "window": 0},
        {"rule": "plateau", "window": 2.5},
        {"rule": "target", "metric_low": 2},
        {"rule": "budget", "labels": 5, "seconds": 5},
        {"rule": "budget", "labels": "x"},
        {"rule": "plateau", "speed": 1},
        {"rule": "budget", "labels": True},
    ):
        with pytest.raises(ValueError):
            validate_rule(bad)


def test_every_rule_has_a_description_and_valid_defaults() -> None:
    for name, info in RULES.items():
        assert info.description
        assert validate_rule({"rule": name, **info.defaults})["rule"] == name
