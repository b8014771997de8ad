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
