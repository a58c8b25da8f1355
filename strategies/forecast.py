"""Learning-curve forecasts: how many more labels, and how much gain per label, lie ahead.

The holdout metric of successive model versions is fitted with an inverse power law,
``m(n) = a - b * n^(-c)`` (Figueroa et al. 2012, "Predicting sample size required for
classification performance"; Mukherjee et al. 2003), where ``n`` is the number of labels,
``a`` the plateau, ``b`` the distance to it and ``c`` the rate. The band is a parametric
bootstrap: each resample adds the observed noise to the fitted curve and refits, and
the band on a future metric also adds that noise again, so it says where the measured
holdout metric will lie, not only where the mean curve does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_POINTS = 4  # a three-parameter curve through fewer points has no residuals to bootstrap
LEVEL = 0.8
RESAMPLES = 400
# The rates c tried: the curve is linear in (a, b) for a fixed c, so the fit is a grid
# over c with closed-form least squares for (a, b) at each, for all resamples at once.
RATES = np.geomspace(0.02, 3.0, 120)
BLOCK_CELLS = 2_000_000  # floats per (rates, rows, points) array: ~16 MB


def power_law(n: np.ndarray | float, a: float, b: float, c: float) -> np.ndarray:
    """``a - b * n^(-c)``: the inverse power law of learning curves."""
    return a - b * np.power(np.asarray(n, dtype=np.float64), -c)


def fit_many(n: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fits of ``a - b n^(-c)`` to each row of ``y`` (shape ``(R, P)``).

    ``n`` has the shape of ``y`` (or ``(P,)``). For each rate ``c`` of ``RATES``, ``(a, b)``
    is weighted least squares on ``x = n^(-c)``, weights proportional to ``n`` (the later
    points say most about what follows; Figueroa et al. 2012), under ``b >= 0`` (a curve
    that only rises) and ``a <= 1`` (a metric's plateau; at the bound,
    ``b = sum(w (1-y) x) / sum(w x^2)``); the rate with the least weighted error wins.
    Returns the ``(R, 3)`` parameters and each row's (unweighted) squared error.

    Computed in blocks of rows, so the (rates, rows, points) arrays stay small.
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    n = np.broadcast_to(np.asarray(n, dtype=np.float64), y.shape)
    step = max(1, BLOCK_CELLS // (len(RATES) * y.shape[1]))
    blocks = [_fit_block(n[i : i + step], y[i : i + step]) for i in range(0, len(y), step)]
    return np.vstack([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


def _fit_block(n: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One block of rows of `fit_many`."""
    w = n / n.sum(axis=-1, keepdims=True)  # later points weigh more (Figueroa et al. 2012)
    X = n[None, :, :] ** (-RATES[:, None, None])  # (rates, R, P)
    Y = y[None]
    x_mean, y_mean = (X * w).sum(-1), (Y * w).sum(-1)
    dx, dy = X - x_mean[..., None], Y - y_mean[..., None]
    sxx, sxy = (w * dx**2).sum(-1), (w * dx * dy).sum(-1)
    b = np.maximum(-np.divide(sxy, sxx, out=np.zeros_like(sxx), where=sxx > 0), 0.0)
    a = y_mean + b * x_mean
    capped = a > 1.0
    b_capped = np.maximum((w * (1.0 - Y) * X).sum(-1) / (w * X**2).sum(-1), 0.0)
    a, b = np.where(capped, 1.0, np.maximum(a, 0.0)), np.where(capped, b_capped, b)
    residual = Y - (a[..., None] - b[..., None] * X)
    best = (w * residual**2).sum(-1).argmin(axis=0)
    rows = np.arange(y.shape[0])
    params = np.stack([a[best, rows], b[best, rows], RATES[best]], axis=1)
    sse = (residual**2).sum(-1)
    return params, sse[best, rows]


@dataclass(frozen=True)
class CurveFit:
    """A fitted curve's parameters and the noise of the points around it."""

    a: float
    b: float
    c: float
    noise: float  # standard deviation of a measured point around the curve

    def __call__(self, n: np.ndarray | float) -> np.ndarray:
        return power_law(n, self.a, self.b, self.c)

    def slope(self, n: float) -> float:
        """``dm/dn = b c n^(-c-1)``: the expected gain of one more label at ``n`` labels."""
        return float(self.b * self.c * n ** (-self.c - 1.0))

    def labels_for(self, target: float) -> float:
        """Labels at which the curve reaches ``target``: ``(b / (a - target))^(1/c)``;
        infinite when the plateau lies at or below it."""
        if target <= self.a - self.b:  # reached from the first label on
            return 1.0
        if self.a <= target:
            return float("inf")
        return float((self.b / (self.a - target)) ** (1.0 / self.c))


def _points(labels: Sequence[float], metric: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(labels, dtype=np.float64)
    y = np.asarray(metric, dtype=np.float64)
    if n.shape != y.shape or n.ndim != 1:
        raise ValueError("labels and metric must be 1-d and of equal length")
    keep = (n > 0) & np.isfinite(y)
    return n[keep], y[keep]


def fit_learning_curve(
    labels: Sequence[float], metric: Sequence[float], *, test_size: int | None = None
) -> CurveFit | None:
    """Least-squares fit of the inverse power law; None with fewer than ``MIN_POINTS``.

    ``noise`` is the larger of the residual standard deviation (n - 3 degrees of
    freedom) and, given the holdout's ``test_size``, the binomial standard deviation of
    an accuracy measured on it, ``sqrt(m (1 - m) / test_size)`` at the last point.
    """
    n, y = _points(labels, metric)
    if len(np.unique(n)) < MIN_POINTS:
        return None
    params, sse = fit_many(n, y)
    a, b, c = (float(p) for p in params[0])
    noise = float(np.sqrt(sse[0] / (len(n) - 3)))
    if test_size:
        level = float(np.clip(y[-1], 0.0, 1.0))
        noise = max(noise, float(np.sqrt(level * (1 - level) / test_size)))
    return CurveFit(a, b, c, noise)


@dataclass(frozen=True)
class Bootstrap:
    """Refits of the curve on resampled points: one row of parameters per resample."""

    fit: CurveFit
    params: np.ndarray  # (resamples, 3)
    level: float
    random_state: int

    def curves(self, n: Sequence[float] | np.ndarray) -> np.ndarray:
        """Each resample's curve at ``n``: shape ``(resamples, len(n))``."""
        a, b, c = (self.params[:, i : i + 1] for i in range(3))
        return a - b * np.power(np.asarray(n, dtype=np.float64)[None, :], -c)

    def band(self, n: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``level`` prediction band of the metric measured at ``n`` labels: each
        resample's curve plus the measurement noise, central quantiles."""
        rng = np.random.default_rng(self.random_state + 1)
        curves = self.curves(n)
        measured = curves + rng.normal(0.0, self.fit.noise, curves.shape)
        tail = (1.0 - self.level) / 2.0
        low, high = np.quantile(measured, [tail, 1.0 - tail], axis=0)
        return np.clip(low, 0.0, 1.0), np.clip(high, 0.0, 1.0)

    def labels_for(self, target: float) -> np.ndarray:
        """Each resample's labels to reach ``target`` (inf where its plateau is below)."""
        a, b, c = self.params.T
        gap = a - target
        with np.errstate(divide="ignore", invalid="ignore"):
            n = np.where(gap > 0, (b / np.where(gap > 0, gap, 1.0)) ** (1.0 / c), np.inf)
        return np.where(target <= a - b, 1.0, n)


def bootstrap_curve(
    labels: Sequence[float],
    metric: Sequence[float],
    *,
    test_size: int | None = None,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    random_state: int = 0,
) -> Bootstrap | None:
    """Parametric bootstrap (Efron & Tibshirani 1993, ch. 6) of the power-law fit.

    Each resample is the fitted curve plus Gaussian noise of the fit's ``noise`` at the
    observed label counts (clipped to [0, 1]), refitted with ``fit_many``.
    """
    fit = fit_learning_curve(labels, metric, test_size=test_size)
    if fit is None:
        return None
    n, _ = _points(labels, metric)
    rng = np.random.default_rng(random_state)
    noisy = fit(n)[None, :] + rng.normal(0.0, fit.noise, (resamples, len(n)))
    params, _ = fit_many(n, np.clip(noisy, 0.0, 1.0))
    return Bootstrap(fit, params, level, random_state)


@dataclass(frozen=True)
class Forecast:
    """More labels to reach ``target``: the fit's figure and the bootstrap's band.

    ``labels``/``low``/``high`` count labels beyond ``current``; ``high`` is None when
    more than ``(1 - level) / 2`` of the resamples never reach the target.
    """

    target: float
    current: int
    labels: int | None
    low: int | None
    high: int | None
    level: float


def labels_forecast(boot: Bootstrap, *, current: int, target: float) -> Forecast:
    """How many more labels until the metric's curve reaches ``target``."""
    tail = (1.0 - boot.level) / 2.0
    needed = boot.labels_for(target)
    point = boot.fit.labels_for(target)
    # No interpolation: between a finite count and an infinite one there is no figure.
    low, high = np.quantile(needed, [tail, 1.0 - tail], method="inverted_cdf")

    def more(value: float) -> int | None:
        return None if not np.isfinite(value) else max(0, int(np.ceil(value)) - current)

    return Forecast(target, current, more(point), more(low), more(high), boot.level)


def gain_per_hour(fit: CurveFit, *, labels: int, seconds_per_label: float) -> float:
    """Expected metric gain per annotator-hour at ``labels``: ``slope * 3600 / seconds``."""
    if seconds_per_label <= 0:
        raise ValueError("seconds_per_label must be positive")
    return fit.slope(max(1.0, float(labels))) * 3600.0 / seconds_per_label
