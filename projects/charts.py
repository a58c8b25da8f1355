"""Learning-curve geometry for a server-rendered SVG (no chart library, no CDN)."""

from __future__ import annotations

from typing import Any

WIDTH, HEIGHT, PAD = 600, 220, 36


def learning_curve_svg(curve: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Points, 95% band and axis ticks for accuracy against labels."""
    points = [c for c in curve if c["metrics"] and c["metrics"].get("accuracy") is not None]
    if not points:
        return None
    max_x = max(max(c["labels"] for c in points), 1)

    def x(v: float) -> float:
        return round(PAD + (WIDTH - 2 * PAD) * v / max_x, 1)

    def y(v: float) -> float:
        return round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * v, 1)

    line = [(x(c["labels"]), y(c["metrics"]["accuracy"])) for c in points]
    f1 = [(x(c["labels"]), y(c["metrics"]["macro_f1"] or 0)) for c in points]
    upper = [(x(c["labels"]), y(c["metrics"]["accuracy_high"])) for c in points]
    lower = [(x(c["labels"]), y(c["metrics"]["accuracy_low"])) for c in points]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "pad": PAD,
        "right": WIDTH - PAD,
        "bottom": HEIGHT - PAD,
        "accuracy": " ".join(f"{a},{b}" for a, b in line),
        "macro_f1": " ".join(f"{a},{b}" for a, b in f1),
        "band": " ".join(f"{a},{b}" for a, b in upper + lower[::-1]),
        "dots": [{"x": a, "y": b, "c": c} for (a, b), c in zip(line, points, strict=True)],
        "yticks": [{"y": y(v / 4), "label": f"{v / 4:.2f}"} for v in range(5)],
        "xticks": [{"x": x(max_x * v / 4), "label": int(max_x * v / 4)} for v in range(5)],
    }
