"""Chart builders: SVG geometry on known inputs, and the data tables beside each chart."""

from __future__ import annotations

from projects.charts import (
    BOTTOM,
    HEIGHT,
    LEFT,
    RIGHT,
    TOP,
    WIDTH,
    learning_curve_svg,
    line_chart,
    paired_bars,
)


def _point(version: int, labels: int, accuracy: float) -> dict[str, object]:
    metrics = {
        "accuracy": accuracy,
        "accuracy_low": accuracy - 0.1,
        "accuracy_high": accuracy + 0.05,
        "macro_f1": accuracy - 0.05,
    }
    return {"version": version, "labels": labels, "metrics": metrics}


def _coordinates(points: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in points.split()]  # type: ignore[misc]


def test_learning_curve_scales_labels_and_accuracy_to_the_frame() -> None:
    chart = learning_curve_svg([_point(1, 50, 0.5), _point(2, 100, 1.0), {"metrics": None}])
    assert chart is not None
    (first, last) = _coordinates(chart["series"][0]["points"])
    assert first == (LEFT + (WIDTH - LEFT - RIGHT) / 2, TOP + (HEIGHT - TOP - BOTTOM) / 2)
    assert last == (WIDTH - RIGHT, TOP)
    assert (chart["x_label"], chart["y_label"]) == ("Labels", "Holdout metric")
    assert chart["table"]["rows"] == [
        ["v1", 50, "0.500", "0.400 to 0.550", "0.450"],
        ["v2", 100, "1.000", "0.900 to 1.050", "0.950"],
    ]
    assert learning_curve_svg([{"metrics": None}]) is None


def test_learning_curve_draws_the_forecast_band_ahead() -> None:
    band = {"labels": [100, 200], "low": [0.8, 0.85], "high": [0.9, 0.95]}
    chart = learning_curve_svg([_point(1, 50, 0.5), _point(2, 100, 0.9)], band)
    assert chart is not None and len(chart["bands"]) == 2
    xs = [x for x, _ in _coordinates(chart["bands"][1]["points"])]
    assert max(xs) == WIDTH - RIGHT  # the x scale reaches the end of the band
    assert "forecast" in chart["legend"]


def test_line_chart_names_periods_and_tabulates_every_series() -> None:
    chart = line_chart(
        {"alice": [(0, 3), (1, 5)], "bob": [(1, 2)]},
        x_label="Period",
        y_label="Labels",
        caption="Labels per annotator",
        x_names=["day 1", "day 2"],
    )
    assert chart is not None
    assert chart["table"]["columns"] == ["Period", "alice", "bob"]
    assert chart["table"]["rows"] == [["day 1", "3", "–"], ["day 2", "5", "2"]]
    assert [t["label"] for t in chart["xticks"]] == ["day 1", "day 2"]
    assert [item["name"] for item in chart["legend_items"]] == ["alice", "bob"]
    top = _coordinates(chart["series"][0]["points"])[1]
    assert top[1] == TOP  # the highest value touches the top of the frame
    assert line_chart({}, x_label="x", y_label="y", caption="c") is None


def test_paired_bars_are_shares_of_the_width() -> None:
    chart = paired_bars(
        ["a", "b"], [0.25, 0.75], [0.5, 0.5], names=("given", "predicted"), caption="Mix"
    )
    assert chart is not None
    span = WIDTH - 200 - RIGHT
    widths = [[bar["w"] for bar in row["bars"]] for row in chart["rows"]]
    assert widths == [
        [round(span / 4, 1), round(span / 2, 1)],
        [round(3 * span / 4, 1), round(span / 2, 1)],
    ]
    assert chart["table"]["rows"] == [["a", "25.0", "50.0"], ["b", "75.0", "50.0"]]
    assert paired_bars(["a"], [0.0], [0.0], names=("x", "y"), caption="c") is None
