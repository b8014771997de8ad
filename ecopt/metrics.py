"""Performance measures of classifiers, in numpy (no scikit-learn import in trials)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PERFORMANCE_METRICS = ("accuracy", "weighted_f1")


def accuracy(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Fraction in [0, 1] of ``predictions`` equal to ``labels`` (both shape (n,), any label type).

    ValueError on an empty set; shapes that differ broadcast or fail as numpy decides.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if len(labels) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(labels == predictions))


def weighted_f1(labels: np.ndarray, predictions: np.ndarray) -> float:
    """Per-class F1 averaged with class support as weights (scikit-learn's ``average='weighted'``)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if len(labels) == 0:
        raise ValueError("F1 of an empty set is undefined")
    classes, support = np.unique(labels, return_counts=True)
    scores = np.empty(len(classes))
    for index, cls in enumerate(classes):
        true_positive = np.sum((predictions == cls) & (labels == cls))
        predicted = np.sum(predictions == cls)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / support[index]
        scores[index] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return float(np.sum(scores * support) / np.sum(support))


def performance_function(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """The metric function for a name in ``PERFORMANCE_METRICS``; ValueError naming the choices otherwise."""
    if name == "accuracy":
        return accuracy
    if name == "weighted_f1":
        return weighted_f1
    raise ValueError(f"unknown performance metric {name!r}; expected one of {list(PERFORMANCE_METRICS)}")
