import numpy as np
import pytest

from ecopt.statistics import relative_standard_deviation


def test_relative_standard_deviation():
    assert relative_standard_deviation([9.0, 10.0, 11.0]) == pytest.approx(0.1)
    assert relative_standard_deviation([5.0, 5.0]) == 0.0
    rng = np.random.default_rng(0)
    values = rng.normal(100, 7, size=20000)
    assert relative_standard_deviation(values) == pytest.approx(0.07, rel=0.03)
    with pytest.raises(ValueError):
        relative_standard_deviation([1.0])
    with pytest.raises(ValueError):
        relative_standard_deviation([-1.0, 1.0])
