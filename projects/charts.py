"""Server-drawn SVG charts: geometry only (no chart library, no CDN, no inline style).

Each builder returns what `templates/projects/_line_chart.html` or `_bar_chart.html`
draws, and a `table` (caption, column names, rows) that the template puts under the
chart for screen readers and for anyone who wants the figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 12, 44  # room for tick labels and axis titles
COLOURS = ["#3b5bdb", "#e67700", "#2b8a3e", "#c92a2a", "#7048e8", "#0c8599", "#5c940d", "#868e96"]


@dataclass(frozen=True)
class Frame:
    """The plotting area and the scales from data to SVG coordinates."""

    x_max: float
    y_min: float = 0.0
    y_max: float = 1.0
    x_min: float = 0.0

    def x(self, v: float) -> float:
        span = (self.x_max - self.x_min) or 1.0
        return round(LEFT + (WIDTH - LEFT - RIGHT) * (v - self.x_min) / span, 1)

    def y(self, v: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        return round(HEIGHT - BOTTOM - (HEIGHT - TOP - BOTTOM) * (v - self.y_min) / span, 1)

    def axes(self, x_label: str, y_label: str) -> dict[str, Any]:
        return {
            "width": WIDTH,
            "height": HEIGHT,
            "left": LEFT,
            "right": WIDTH - RIGHT,
            "top": TOP,
            "bottom": HEIGHT - BOTTOM,
            "x_label": x_label,
            "y_label": y_label,
            "x_label_x": (LEFT + WIDTH - RIGHT) / 2,
            "x_label_y": HEIGHT - 6,
            "y_label_x": 14,
            "y_label_y": (TOP + HEIGHT - BOTTOM) / 2,
            "x_tick_y": HEIGHT - BOTTOM + 16,
        }

    def y_ticks(self, count: int = 4, fmt: str = "{:.2f}") -> list[dict[str, Any]]:
        step = (self.y_max - self.y_min) / count
        values = [self.y_min + step * i for i in range(count + 1)]
        return [{"y": self.y(v), "label": fmt.format(v)} for v in values]

    def x_ticks(self, count: int = 5) -> list[dict[str, Any]]:
        step = (self.x_max - self.x_min) / count
        values = [self.x_min + step * i for i in range(count + 1)]
        return [{"x": self.x(v), "label": f"{v:.0f}"} for v in values]


def _points(frame: Frame, pairs: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{frame.x(a)},{frame.y(b)}" for a, b in pairs)


# The learning curve's two lines per task: the headline with its band, and a second one
# (key in the version's metrics, name shown).
CURVE_METRICS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "single": (("accuracy", "accuracy"), ("macro_f1", "macro-F1")),
    "multilabel": (("micro_f1", "micro-F1"), ("macro_f1", "macro-F1")),
    "spans": (("f1", "entity F1"), ("recall", "entity recall")),
}


def _capital(name: str) -> str:
    return name[:1].upper() + name[1:]  # not str.capitalize: "micro-F1" keeps its F


def learning_curve_svg(
    curve: list[dict[str, Any]], forecast: dict[str, Any] | None = None, task: str = "single"
) -> dict[str, Any] | None:
    """Holdout accuracy (95% band) and macro-F1 against labels, full width, axes titled
    (span projects: entity F1 and recall; `CURVE_METRICS`).

    With a forecast band (`{"labels": [...], "low": [...], "high": [...]}`), the 80%
    band of the metric ahead is drawn past the last point.
    """
    (key, name), (other, other_name) = CURVE_METRICS.get(task, CURVE_METRICS["single"])
    points = [c for c in curve if c["metrics"] and c["metrics"].get(key) is not None]
    if not points:
        return None
    ahead = forecast["labels"] if forecast else []
    frame = Frame(x_max=max([c["labels"] for c in points] + list(ahead) + [1]))
    acc = [(c["labels"], c["metrics"][key]) for c in points]
    upper = [(c["labels"], c["metrics"][f"{key}_high"]) for c in points]
    lower = [(c["labels"], c["metrics"][f"{key}_low"]) for c in points]
    chart = {
        **frame.axes("Labels", "Holdout metric"),
        "series": [
            {"name": name, "colour": COLOURS[0], "points": _points(frame, acc)},
            {
                "name": other_name,
                "colour": COLOURS[1],
                "dashed": True,
                "points": _points(
                    frame, [(c["labels"], c["metrics"].get(other) or 0) for c in points]
                ),
            },
        ],
        "bands": [{"colour": COLOURS[0], "points": _points(frame, upper + lower[::-1])}],
        "dots": [
            {
                "x": frame.x(n),
                "y": frame.y(v),
                "title": f"v{c['version']}: {n} labels, {name} {v:.3f}",
            }
            for (n, v), c in zip(acc, points, strict=True)
        ],
        "yticks": frame.y_ticks(),
        "xticks": frame.x_ticks(),
        "legend": f"holdout {name} (blue, 95% band), {other_name} (orange, dashed)",
        "table": {
            "caption": "Learning curve: holdout metrics of each model version",
            "columns": [
                "Model",
                "Labels",
                _capital(name),
                "95% interval",
                _capital(other_name),
            ],
            "rows": [
                [
                    f"v{c['version']}",
                    c["labels"],
                    f"{c['metrics'][key]:.3f}",
                    f"{c['metrics'][f'{key}_low']:.3f} to {c['metrics'][f'{key}_high']:.3f}",
                    f"{c['metrics'].get(other) or 0:.3f}",
                ]
                for c in points
            ],
        },
    }
    if forecast:
        band = list(zip(ahead, forecast["high"], strict=True))
        band += list(zip(ahead, forecast["low"], strict=True))[::-1]
        chart["bands"].append({"colour": COLOURS[2], "points": _points(frame, band)})
        chart["legend"] += "; forecast, 80% band (green)"
    return chart


def line_chart(
    series: dict[str, list[tuple[float, float]]],
    *,
    x_label: str,
    y_label: str,
    caption: str,
    x_names: Sequence[str] | None = None,
    y_range: tuple[float, float] | None = None,
    y_format: str = "{:.0f}",
) -> dict[str, Any] | None:
    """Several named lines over a shared x; ``x_names`` label the integer x positions
    (periods), else x is numeric. The table has one row per x, one column per line."""
    if not any(series.values()):
        return None
    xs = sorted({x for pts in series.values() for x, _ in pts})
    ys = [y for pts in series.values() for _, y in pts]
    low, high = y_range or (min(0.0, min(ys)), max(ys) or 1.0)
    frame = Frame(x_max=max(xs[-1], 1), x_min=min(0, xs[0]), y_min=low, y_max=high)
    if x_names is not None:
        step = max(1, len(x_names) // 6)
        xticks = [
            {"x": frame.x(i), "label": name} for i, name in enumerate(x_names) if i % step == 0
        ]
    else:
        xticks = frame.x_ticks()
    names = list(series)
    lookup = {name: dict(points) for name, points in series.items()}
    return {
        **frame.axes(x_label, y_label),
        "series": [
            {"name": name, "colour": COLOURS[i % len(COLOURS)], "points": _points(frame, pts)}
            for i, (name, pts) in enumerate(series.items())
        ],
        "bands": [],
        "dots": [
            {"x": frame.x(x), "y": frame.y(y), "title": f"{name}: {y_format.format(y)}"}
            for name, pts in series.items()
            for x, y in pts
        ],
        "yticks": frame.y_ticks(fmt=y_format if y_range is None else "{:.2f}"),
        "xticks": xticks,
        "legend_items": [
            {"name": name, "colour": COLOURS[i % len(COLOURS)]} for i, name in enumerate(names)
        ],
        "table": {
            "caption": caption,
            "columns": [x_label, *names],
            "rows": [
                [
                    x_names[int(x)] if x_names is not None else x,
                    *(
                        "–" if lookup[n].get(x) is None else y_format.format(lookup[n][x])
                        for n in names
                    ),
                ]
                for x in xs
            ],
        },
    }


def paired_bars(
    labels: Sequence[str],
    first: Sequence[float],
    second: Sequence[float],
    *,
    names: tuple[str, str],
    caption: str,
) -> dict[str, Any] | None:
    """Two shares per label side by side (e.g. the labels given and the model's
    predictions), horizontal bars on a 0-100% scale."""
    if not labels or (not any(first) and not any(second)):
        return None
    row, bar = 30, 12
    height = TOP + row * len(labels) + BOTTOM
    span = WIDTH - 200 - RIGHT

    def width(share: float) -> float:
        return round(span * share, 1)

    return {
        "width": WIDTH,
        "height": height,
        "left": 200,
        "x_label": "Share of items (%)",
        "x_label_x": 200 + span / 2,
        "x_label_y": height - 6,
        "rows": [
            {
                "label": label,
                "y": TOP + row * i,
                "text_y": TOP + row * i + bar,
                "bars": [
                    {"y": TOP + row * i, "w": width(a), "colour": COLOURS[0], "share": a},
                    {"y": TOP + row * i + bar, "w": width(b), "colour": COLOURS[1], "share": b},
                ],
            }
            for i, (label, a, b) in enumerate(zip(labels, first, second, strict=True))
        ],
        "xticks": [
            {"x": round(200 + span * v / 4, 1), "label": f"{25 * v}%", "y": height - BOTTOM + 16}
            for v in range(5)
        ],
        "axis_y": height - BOTTOM,
        "legend_items": [
            {"name": names[0], "colour": COLOURS[0]},
            {"name": names[1], "colour": COLOURS[1]},
        ],
        "table": {
            "caption": caption,
            "columns": ["Label", f"{names[0]} (%)", f"{names[1]} (%)"],
            "rows": [
                [label, f"{100 * a:.1f}", f"{100 * b:.1f}"]
                for label, a, b in zip(labels, first, second, strict=True)
            ],
        },
    }
