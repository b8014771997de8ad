import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from ecopt.metrics import accuracy, performance_function, weighted_f1


@pytest.mark.parametrize("seed", range(5))
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 6, size=200)
    predictions = np.where(rng.random(200) < 0.6, labels, rng.integers(0, 7, size=200))
    assert accuracy(labels, predictions) == pytest.approx(accuracy_score(labels, predictions))
    assert weighted_f1(labels, predictions) == pytest.approx(f1_score(labels, predictions, average="weighted", zero_division=0))


def test_unknown_metric_and_empty_input():
    with pytest.raises(ValueError, match="unknown performance metric"):
        performance_function("auc")
    with pytest.raises(ValueError):
        accuracy(np.array([]), np.array([]))
