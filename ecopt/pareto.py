"""The frontier core: Pareto dominance, hypervolume and the knee, as pure functions on arrays.

No file, no config, no logging: ``values`` is an (n, m) float array of n points in
m objectives, any mix of maximised and minimised (``minimize``, m flags), in the
optimiser's space (log10 for log-scale objectives, see ``ecopt.objectives``).
BoTorch does the work (``is_non_dominated``, ``Hypervolume``). The stage that reads
trial records and writes ``trials.csv``, ``frontier.csv`` and ``hypervolume.csv`` is
``ecopt.frontier``; keeping the core apart lets ``import-linter`` hold it to "no
I/O" (it may not import ``ecopt.io``, see pyproject's ``[tool.importlinter]``), and
lets the optimiser and figures use it without the stage.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_maximised(values: np.ndarray, minimize: Sequence[bool]) -> np.ndarray:
    """``values`` reshaped to (n, m) with minimised columns negated, so that larger is better everywhere."""
    signs = np.array([-1.0 if flag else 1.0 for flag in minimize])
    return np.asarray(values, dtype=float).reshape(-1, len(signs)) * signs


def pareto_mask(values: np.ndarray, minimize: Sequence[bool]) -> np.ndarray:
    """Boolean mask, shape (n,): True for rows of ``values`` (n, m) that no other row dominates (ties are all kept)."""
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    oriented = as_maximised(values, minimize)
    if len(oriented) == 0:
        return np.zeros(0, dtype=bool)
    return is_non_dominated(torch.from_numpy(oriented), deduplicate=False).numpy()


def hypervolume(values: np.ndarray, reference: Sequence[float], minimize: Sequence[bool]) -> float:
    """Volume dominated by ``values`` (n, m) and bounded by ``reference`` (m,), in the product of the objectives' units.

    Points not beating the reference point add nothing; no points give 0.0.
    """
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    oriented = as_maximised(values, minimize)
    reference_oriented = as_maximised(np.asarray(reference, dtype=float), minimize)[0]
    if len(oriented) == 0:
        return 0.0
    front = oriented[pareto_mask(oriented, [False] * oriented.shape[1])]
    return float(Hypervolume(torch.from_numpy(reference_oriented)).compute(torch.from_numpy(front)))


def hypervolume_trace(values: np.ndarray, reference: Sequence[float], minimize: Sequence[bool]) -> np.ndarray:
    """Hypervolume after each of the n trials in order, shape (n,); rows with a NaN (failed trials) add nothing."""
    values = np.asarray(values, dtype=float).reshape(-1, len(minimize))
    trace = np.zeros(len(values))
    current = 0.0
    for step in range(len(values)):
        row = values[step]
        if np.all(np.isfinite(row)):
            observed = values[: step + 1]
            current = hypervolume(observed[np.all(np.isfinite(observed), axis=1)], reference, minimize)
        trace[step] = current
    return trace


def knee_index(values: np.ndarray, minimize: Sequence[bool]) -> int:
    """Index (into ``values``, (n, m), n >= 1) of the frontier point closest to the ideal point.

    Each objective is normalised to [0, 1] over the frontier, so the knee does not
    depend on units; the ideal point is the best value of each objective.
    """
    oriented = as_maximised(values, minimize)
    mask = pareto_mask(oriented, [False] * oriented.shape[1])
    candidates = np.flatnonzero(mask)
    front = oriented[candidates]
    low, high = front.min(axis=0), front.max(axis=0)
    scale = np.where(high > low, high - low, 1.0)
    distance = np.linalg.norm((high - front) / scale, axis=1)
    return int(candidates[np.argmin(distance)])
