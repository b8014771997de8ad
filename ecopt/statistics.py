"""Summary statistics shared by calibration, the proxy study, the frontier summary and benchmarks.

scipy does the statistics: ``scipy.stats.variation`` the relative spread,
``scipy.stats.pearsonr`` the correlation, its p-value and its Fisher-z confidence
interval (``PearsonRResult.confidence_interval``), ``scipy.stats.spearmanr`` the rank
correlation, ``scipy.stats.linregress`` the log-log fit. What is left here is the
input checking (clear errors instead of NaN and warnings) and the t-interval of the
fitted exponent, which scipy does not offer for ``linregress``.

The interval came from a hand-written Fisher z before scipy's; the two agree to
1e-9 (``tests/test_statistics.py``) except at |r| = 1 exactly, where the old code
clipped r to 0.999999 and reported an interval of width ~1e-6 and scipy reports
[r, r].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def relative_standard_deviation(values: Sequence[float]) -> float:
    """Sample standard deviation over the absolute mean (ddof=1), as a fraction (0.02 = 2 %); unitless.

    ``values``: 1-D, any units (joules, samples/J). Computed by ``scipy.stats.variation``
    (``ddof=1``). Raises ``ValueError`` for fewer than two values or a zero mean.
    """
    from scipy import stats

    array = np.asarray(values, dtype=float)
    if array.size < 2:
        raise ValueError(f"a spread needs at least two values, got {array.size}")
    if array.mean() == 0:
        raise ValueError("relative spread of values with zero mean is undefined")
    # variation is std / mean, negative for a negative mean; the spread is its size.
    return float(abs(stats.variation(array, ddof=1)))


def pearson_with_confidence(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Pearson r with its two-sided p-value and a Fisher-z confidence interval; Spearman rho beside it.

    ``x``, ``y``: paired 1-D series of equal length n >= 4 (any units). Returns a dict
    of ``n``, ``pearson_r``, ``pearson_p``, ``pearson_ci_low``/``high`` (the interval
    at ``confidence``, a fraction), ``confidence``, ``spearman_rho``, ``spearman_p``.
    By ``scipy.stats.pearsonr`` (with its ``confidence_interval``) and ``spearmanr``.
    Raises ``ValueError`` for fewer than 4 pairs or a constant series.
    """
    from scipy import stats

    x_array, y_array = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x_array)
    if n < 4:
        raise ValueError(f"a correlation with a confidence interval needs at least 4 pairs, got {n}")
    if np.ptp(x_array) == 0 or np.ptp(y_array) == 0:
        raise ValueError("a correlation needs values that vary; one of the series is constant")
    pearson = stats.pearsonr(x_array, y_array)
    r = float(pearson.statistic)
    interval = pearson.confidence_interval(confidence_level=confidence)  # Fisher z: atanh(r) ~ normal, s.e. 1/sqrt(n-3)
    spearman = stats.spearmanr(x_array, y_array)
    return {
        "n": n,
        "pearson_r": r,
        "pearson_p": float(pearson.pvalue),
        "pearson_ci_low": float(interval.low),
        "pearson_ci_high": float(interval.high),
        "confidence": confidence,
        "spearman_rho": float(spearman.statistic),
        "spearman_p": float(spearman.pvalue),
    }


def power_law_fit(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> dict[str, float]:
    """Least-squares fit of y = a * x**b on log-log axes: exponent b with a t-interval, prefactor a, R^2.

    Used for efficiency against parameter count (the paper: transformer efficiency
    scales predictably with size). ``x``, ``y``: paired 1-D series (e.g. parameters,
    samples/J); pairs with a non-finite or non-positive value are left out. Returns
    ``n``, ``exponent`` with ``exponent_ci_low``/``high`` (Student t with n-2 degrees of
    freedom at ``confidence``), ``prefactor`` (y units at x = 1), ``r_squared``,
    ``p_value`` (of a zero exponent), ``confidence``. The fit is ``scipy.stats.linregress``
    on log10 values, the quantile ``scipy.stats.t.ppf``. Raises ``ValueError`` for fewer
    than 3 kept pairs or x values that do not vary.
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


def relative_spread_interval(values: Sequence[float], confidence: float = 0.90) -> tuple[float, float]:
    """Two-sided ``confidence`` interval (fractions) of the relative standard deviation of ``values``' population.

    Chi-square interval of a normal sample's standard deviation,
    s * sqrt((n - 1) / chi2.ppf(1 - a/2, n - 1)) to s * sqrt((n - 1) / chi2.ppf(a/2, n - 1)),
    over the sample mean (its own uncertainty is ignored: for spreads of a few percent
    it is n-fold smaller). With 3 values and 90 %, the interval of an observed 4 % is
    2.3 % to 17.7 %. ``values``: 1-D, any units. ValueError as ``relative_standard_deviation``;
    ``confidence`` outside (0, 1) is a ValueError too.
    """
    from scipy import stats

    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    rsd = relative_standard_deviation(values)
    degrees = len(values) - 1
    tail = (1 - confidence) / 2
    low = rsd * float(np.sqrt(degrees / stats.chi2.ppf(1 - tail, degrees)))
    high = rsd * float(np.sqrt(degrees / stats.chi2.ppf(tail, degrees)))
    return low, high
