"""Learning-curve forecasts: the fit on known curves, the band, labels and gain per hour."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.datasets import SKLEARN_SETS, load_sklearn
from strategies.forecast import (
    CurveFit,
    bootstrap_curve,
    fit_learning_curve,
    gain_per_hour,
    labels_forecast,
    power_law,
)
from strategies.simulate import simulate
from strategies.stopping import BatchRecord, evaluate_rules, validate_rule

LABELS = np.array([10, 20, 40, 80, 160, 320], dtype=float)


def test_fit_recovers_a_noiseless_power_law() -> None:
    y = power_law(LABELS, 0.92, 0.8, 0.5)
    fit = fit_learning_curve(LABELS, y)
    assert fit is not None
    assert fit.a == pytest.approx(0.92, abs=0.01)
    assert fit(1000.0) == pytest.approx(power_law(1000.0, 0.92, 0.8, 0.5), abs=0.005)
    assert fit.noise < 1e-3


def test_too_few_points_give_no_fit() -> None:
    assert fit_learning_curve([10, 20, 40], [0.5, 0.6, 0.7]) is None
    assert fit_learning_curve([10, 10, 10, 10], [0.5, 0.6, 0.7, 0.7]) is None
    assert bootstrap_curve([10, 20], [0.5, 0.6]) is None


def test_plateau_never_exceeds_one() -> None:
    fit = fit_learning_curve(LABELS, [0.5, 0.7, 0.85, 0.95, 0.99, 1.0])
    assert fit is not None and fit.a <= 1.0


def test_labels_for_inverts_the_curve() -> None:
    fit = CurveFit(0.9, 0.8, 0.5, noise=0.0)
    n = fit.labels_for(0.85)
    assert fit(n) == pytest.approx(0.85)
    assert n == pytest.approx((0.8 / 0.05) ** 2)
    assert fit.labels_for(0.95) == float("inf")
    assert fit.labels_for(0.05) == 1.0


def test_forecast_counts_labels_beyond_the_current_ones() -> None:
    rng = np.random.default_rng(0)
    y = power_law(LABELS, 0.9, 0.8, 0.5) + rng.normal(0, 0.005, len(LABELS))
    boot = bootstrap_curve(LABELS, y, test_size=2000, random_state=1)
    assert boot is not None
    forecast = labels_forecast(boot, current=320, target=0.85)
    truth = (0.8 / 0.05) ** 2 - 320  # 256 - ... the true curve reaches 0.85 at 256 labels
    assert forecast.labels == 0 and truth < 0  # already there
    far = labels_forecast(boot, current=320, target=0.88)
    true_more = (0.8 / 0.02) ** 2 - 320
    assert far.low is not None and far.labels is not None
    assert far.low <= far.labels
    assert far.high is None or far.high >= far.labels
    assert far.low <= true_more <= (far.high if far.high is not None else np.inf)


def test_unreachable_target_has_no_figure() -> None:
    y = power_law(LABELS, 0.7, 0.5, 0.6)
    boot = bootstrap_curve(LABELS, y, test_size=5000)
    assert boot is not None
    forecast = labels_forecast(boot, current=320, target=0.95)
    assert forecast.labels is None and forecast.high is None


def test_band_widens_with_distance_and_holds_the_truth() -> None:
    rng = np.random.default_rng(3)
    y = power_law(LABELS, 0.9, 0.8, 0.5) + rng.normal(0, 0.01, len(LABELS))
    boot = bootstrap_curve(LABELS, y, test_size=1000)
    assert boot is not None
    grid = np.array([400.0, 4000.0])
    low, high = boot.band(grid)
    assert np.all(low <= high)
    truth = power_law(grid, 0.9, 0.8, 0.5)
    assert np.all((low <= truth) & (truth <= high))
    assert (high - low)[1] >= (high - low)[0] - 0.01


def test_gain_per_hour_is_the_slope_priced_in_time() -> None:
    fit = CurveFit(0.9, 0.8, 0.5, noise=0.0)
    # slope at 100 labels: 0.8 * 0.5 * 100^-1.5 = 0.0004 per label; 36 s a label
    assert gain_per_hour(fit, labels=100, seconds_per_label=36.0) == pytest.approx(0.04)
    with pytest.raises(ValueError):
        gain_per_hour(fit, labels=100, seconds_per_label=0)


def _history(seconds_per_label: float) -> list[BatchRecord]:
    return [
        BatchRecord(
            labels=int(n),
            seconds=(n - LABELS[0]) * seconds_per_label,
            metric=float(power_law(n, 0.9, 0.8, 0.5)),
        )
        for n in LABELS
    ]


def test_gain_per_hour_rule_fires_when_labels_stop_paying() -> None:
    rule = validate_rule({"rule": "gain_per_hour", "gain_per_hour": 0.01})
    # slope at 320: 0.4 * 320^-1.5 = 7e-5 per label; at 10 s a label 0.025 an hour
    (cheap,) = evaluate_rules(_history(10.0), [rule])
    assert cheap.met is False and cheap.value == pytest.approx(0.025, rel=0.05)
    (dear,) = evaluate_rules(_history(60.0), [rule])
    assert dear.met is True and dear.value == pytest.approx(0.0042, rel=0.05)


def test_gain_per_hour_rule_waits_for_points_and_times() -> None:
    rule = {"rule": "gain_per_hour"}
    (early,) = evaluate_rules(_history(10.0)[:3], [rule])
    assert (early.met, early.value) == (False, None)
    (untimed,) = evaluate_rules(_history(0.0), [rule])
    assert (untimed.met, untimed.value) == (False, None)
    with pytest.raises(ValueError):
        validate_rule({"rule": "gain_per_hour", "gain_per_hour": -1})


def test_band_covers_the_realised_curve_on_the_bundled_sets() -> None:
    """Fit on the first half of simulated curves (random and the default strategy), and
    count the later measured points inside the 80% band: at least 80% of them."""
    inside, total = 0, 0
    for name in SKLEARN_SETS:
        data = load_sklearn(name)
        test_size = round(0.25 * len(data.y))
        document = simulate(
            data,
            ["random", "default"],
            batch_size=10,
            seed_size=10,
            budget=160,
            repeats=1,
            rules=[],
        )
        for run in document["runs"]:
            labels = [p["labels"] for p in run["curve"]]
            accuracy = np.array([p["accuracy"] for p in run["curve"]])
            k = len(labels) // 2
            boot = bootstrap_curve(labels[:k], accuracy[:k], test_size=test_size)
            assert boot is not None
            low, high = boot.band(labels[k:])
            later = accuracy[k:]
            inside += int(np.sum((later >= low - 1e-9) & (later <= high + 1e-9)))
            total += len(later)
    assert total >= 50
    assert inside / total >= 0.8, f"band held {inside} of {total} later points"


def _run(name: str, repeat: int, reach_at: int | None) -> dict[str, object]:
    curve = [
        {"labels": n, "accuracy": 0.9 if reach_at is not None and n >= reach_at else 0.5}
        for n in (10, 20, 30, 40)
    ]
    return {"strategy": name, "repeat": repeat, "curve": curve, "auc": 0.1 * repeat}


def test_replay_summary_medians_and_intervals_over_repeats() -> None:
    from strategies.replay import replay_summary

    document = {
        "runs": [
            *(_run("margin+kcenter", r, at) for r, at in enumerate([10, 20, 30])),
            *(_run("random+top_k", r, at) for r, at in enumerate([20, 40, None])),
        ]
    }
    first, second = replay_summary(document, target=0.8)
    assert (first["strategy"], first["selector"]) == ("margin", "kcenter")
    assert (first["labels_to_target"], first["low"], first["high"]) == (20.0, 10.0, 30.0)
    assert first["aulc"] == pytest.approx(0.1) and first["reached"] == 3
    # One repeat never reached the target: the interval's top is unknown.
    assert (second["labels_to_target"], second["low"], second["high"]) == (40.0, 20.0, None)
    assert (second["reached"], second["repeats"]) == (2, 3)


def test_fixed_splits_keep_the_data_and_vary_the_seed() -> None:
    from strategies.replay import fixed_splits

    X = np.eye(4)
    splits = fixed_splits(
        X, np.arange(4) % 2, X[:2], np.array([0, 1]), 2, repeats=3, random_state=5
    )
    assert [s.seed for s in splits] == [5, 6, 7]
    assert all(s.X_pool is X and s.n_classes == 2 for s in splits)
