import numpy as np
import pytest

from ecopt.statistics import power_law_fit, relative_standard_deviation


def test_relative_standard_deviation():
    assert relative_standard_deviation([9.0, 10.0, 11.0]) == pytest.approx(0.1)
    assert relative_standard_deviation([5.0, 5.0]) == 0.0
    assert relative_standard_deviation([-9.0, -10.0, -11.0]) == pytest.approx(0.1)  # a spread is never negative
    rng = np.random.default_rng(0)
    values = rng.normal(100, 7, size=20000)
    assert relative_standard_deviation(values) == pytest.approx(0.07, rel=0.03)
    with pytest.raises(ValueError):
        relative_standard_deviation([1.0])
    with pytest.raises(ValueError):
        relative_standard_deviation([-1.0, 1.0])


def test_pearson_with_fisher_interval_matches_scipy():
    from scipy import stats

    from ecopt.statistics import pearson_with_confidence

    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    y = 0.5 * x + rng.normal(size=50)
    result = pearson_with_confidence(x, y)
    reference = stats.pearsonr(x, y)
    interval = reference.confidence_interval(0.95)  # scipy's own Fisher-z interval
    assert result["pearson_r"] == pytest.approx(reference.statistic)
    assert result["pearson_p"] == pytest.approx(reference.pvalue)
    assert result["pearson_ci_low"] == pytest.approx(interval.low, abs=1e-9)
    assert result["pearson_ci_high"] == pytest.approx(interval.high, abs=1e-9)
    assert result["spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert result["pearson_ci_low"] < result["pearson_r"] < result["pearson_ci_high"]
    perfect = pearson_with_confidence([1, 2, 3, 4, 5], [2, 4, 6, 8, 10])
    assert perfect["pearson_ci_low"] == perfect["pearson_ci_high"] == pytest.approx(1.0)  # scipy: [r, r] at |r| = 1
    with pytest.raises(ValueError):
        pearson_with_confidence([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="constant"):
        pearson_with_confidence([1, 1, 1, 1], [1, 2, 3, 4])


def test_power_law_fit_recovers_the_exponent_with_an_interval():
    rng = np.random.default_rng(0)
    x = np.geomspace(1e3, 1e7, 40)
    y = 5.0 * x**-0.7 * np.exp(rng.normal(0, 0.1, size=x.size))
    fit = power_law_fit(x, y)
    assert fit["n"] == 40 and fit["exponent_ci_low"] < -0.7 < fit["exponent_ci_high"]
    assert fit["exponent"] == pytest.approx(-0.7, abs=0.03) and fit["r_squared"] > 0.95
    exact = power_law_fit([1, 10, 100], [2, 20, 200])
    assert exact["exponent"] == pytest.approx(1.0) and exact["prefactor"] == pytest.approx(2.0)


def test_power_law_fit_skips_non_positive_points_and_refuses_too_few():
    fit = power_law_fit([1, 10, 100, 0, 5], [1, 10, 100, 3, -1])
    assert fit["n"] == 3
    with pytest.raises(ValueError, match="at least 3"):
        power_law_fit([1, 2], [1, 2])
    with pytest.raises(ValueError, match="vary"):
        power_law_fit([3, 3, 3], [1, 2, 3])


def test_relative_spread_interval_brackets_the_spread_and_narrows_with_more_values():
    from ecopt.statistics import relative_spread_interval

    low, high = relative_spread_interval([100.0, 104.0, 96.0], 0.90)
    assert (round(low, 4), round(high, 4)) == (0.0231, 0.1766)  # an observed 4 %: chi-square interval with 2 degrees of freedom
    many = [100.0, 104.0, 96.0] * 10
    wide, narrow = high - low, relative_spread_interval(many, 0.90)
    assert narrow[0] < relative_standard_deviation(many) < narrow[1] and narrow[1] - narrow[0] < wide / 5
    with pytest.raises(ValueError):
        relative_spread_interval([1.0, 2.0], 1.0)
