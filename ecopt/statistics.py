"""Summary statistics shared by calibration, the proxy study and benchmarks."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def relative_standard_deviation(values: Sequence[float]) -> float:
    """Sample standard deviation over the mean (ddof=1), as a fraction (0.02 = 2 %)."""
    array = np.asarray(values, dtype=float)
    if array.size < 2:
        raise ValueError(f"a spread needs at least two values, got {array.size}")
    mean = array.mean()
    if mean == 0:
        raise ValueError("relative spread of values with zero mean is undefined")
    return float(array.std(ddof=1) / abs(mean))


def pearson_with_confidence(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Pearson r with its two-sided p-value and a Fisher-z confidence interval; Spearman rho beside it."""
    from scipy import stats

    x_array, y_array = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x_array)
    if n < 4:
        raise ValueError(f"a correlation with a confidence interval needs at least 4 pairs, got {n}")
    if np.ptp(x_array) == 0 or np.ptp(y_array) == 0:
        raise ValueError("a correlation needs values that vary; one of the series is constant")
    pearson = stats.pearsonr(x_array, y_array)
    r = float(pearson.statistic)
    # Fisher z: atanh(r) is ~normal with standard error 1/sqrt(n-3).
    z, half_width = np.arctanh(np.clip(r, -0.999999, 0.999999)), stats.norm.ppf(0.5 + confidence / 2) / np.sqrt(n - 3)
    spearman = stats.spearmanr(x_array, y_array)
    return {
        "n": n,
        "pearson_r": r,
        "pearson_p": float(pearson.pvalue),
        "pearson_ci_low": float(np.tanh(z - half_width)),
        "pearson_ci_high": float(np.tanh(z + half_width)),
        "confidence": confidence,
        "spearman_rho": float(spearman.statistic),
        "spearman_p": float(spearman.pvalue),
    }


def power_law_fit(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Least-squares fit of y = a * x**b on log-log axes: exponent b with a t-interval, prefactor a, R^2.

    Used for efficiency against parameter count (the paper: transformer efficiency
    scales predictably with size). Needs at least 3 points with positive x and y.
    """
    from scipy import stats

    x_array, y_array = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x_array) & np.isfinite(y_array) & (x_array > 0) & (y_array > 0)
    log_x, log_y = np.log10(x_array[keep]), np.log10(y_array[keep])
    n = int(keep.sum())
    if n < 3:
        raise ValueError(f"a power-law fit with an interval needs at least 3 positive pairs, got {n}")
    if np.ptp(log_x) == 0:
        raise ValueError("a power-law fit needs x values that vary")
    fit = stats.linregress(log_x, log_y)
    half_width = float(stats.t.ppf(0.5 + confidence / 2, n - 2) * fit.stderr)
    return {
        "n": n,
        "exponent": float(fit.slope),
        "exponent_ci_low": float(fit.slope - half_width),
        "exponent_ci_high": float(fit.slope + half_width),
        "prefactor": float(10**fit.intercept),
        "r_squared": float(fit.rvalue**2),
        "p_value": float(fit.pvalue),
        "confidence": confidence,
    }
