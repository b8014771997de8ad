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
