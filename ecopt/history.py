"""Trial records -> the optimiser's observations: the outcome rules, the reference point, outlier levels.

Pure and fast (numpy; BoTorch only for its reference-point rule and the Pareto
mask): nothing here imports Ax, so every rule is unit-tested without a GP fit.
The workflow round (``ecopt.search``) and the plain-function API
(``ecopt.optimize``) both turn a trial into an observation through
:func:`trial_outcome`, so the two cannot disagree on what a trial means.

Outcome rules (one set, whatever produced the trial):

* **completed** with a finite value for every objective's metric: observed as
  those values, in the optimiser's space (log10 for log-scale objectives). A
  result that lacks an objective's metric, or whose value is not finite (or not
  positive on a log-scale objective), is a **failed** trial whose error names the
  metric: before this rule, ``ecopt.optimize`` called such trials completed and
  returned an empty frontier without an error.
* **out_of_memory**: the worst value in every objective, whatever its direction
  (:func:`worst_values`). Zero efficiency has no logarithm, and "zero" is the
  *best* value of a minimised objective: observed as 0.0 seconds per batch, six of
  six model-based candidates of a study went into the out-of-memory region.
* **early_stopped** (multi-objective early stopping, ``ecopt.early_stopping``)
  with a finite value for every objective's metric: observed as those values, its
  partial performance (the test score of the weights kept when it stopped) and its
  efficiency, which was measured before training and is exact. The partial
  performance is a pessimistic value for a point already dominated at its rung by
  the earlier rounds' points; observing it tells the surrogate that the region is
  poor without inventing a penalty, and keeps the efficiency measurement, which
  penalising it as failed would throw away. Early-stopped values are not
  ``completed``: they never set the reference point, the penalties or the
  outlier levels. One lacking a metric is failed, as below.
* **failed** (an architecture that cannot exist, a crash): with
  ``failed_trials: penalize``, observed as the worst values too, so the surrogate
  steers away from their region (SMAC's treatment of crashes); Ax learns nothing
  from a FAILED trial and would propose its neighbours again. ``ignore`` attaches
  them without data.
* **measurement_failed**: the meter, not the configuration, failed; the trial is
  attached without data (never penalised), so the region stays open.

The worst value of an objective lies below the worst completed value: one decade
for a log-scale objective (ten times worse), 10 % of the completed values' range
for a linear one. Before any trial completes there is no worst value, and such
trials carry no data (the round then falls back to Sobol anyway).

Reference point: config thresholds once an observation dominates them; until
then (and when none are given) BoTorch's ``infer_reference_point`` on the
observed Pareto front, its nadir minus ``reference_margin`` of its range. While
no observed point dominates the thresholds, Ax's default strategy silently swaps
qLogNEHVI for a feasibility search and spends rounds there; a point the data can
beat keeps the acquisition meaningful. BoTorch's rule replaced a hand-written one
that differed only for a one-point front or a zero range (BoTorch steps back
``margin`` of the point's magnitude); on BraninCurrin (q = 1, seeds 0 and 1,
OMP_NUM_THREADS=1) the hypervolume ratios at 20, 40 and 50 evaluations were the
same to six decimals before and after.

Outliers: observations worse than the reference point by more than
``winsorize`` times the distance from it to the best observed value are clipped
to that level for the GP (:func:`winsorization_levels`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecopt.hyperparameter import Fixed, Hyperparameter
from ecopt.objectives import Objective
from ecopt.pareto import pareto_mask
from ecopt.records import TrialRecord, TrialStatus

COMPLETED, FAILED, OUT_OF_MEMORY = TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.OUT_OF_MEMORY
MEASUREMENT_FAILED, EARLY_STOPPED = TrialStatus.MEASUREMENT_FAILED, TrialStatus.EARLY_STOPPED
# Counted in every round's ``history`` (proposals.json).
COUNTED_STATUSES = (COMPLETED, EARLY_STOPPED, OUT_OF_MEMORY, FAILED, MEASUREMENT_FAILED)

# Below the worst completed value: one decade on a log10 objective, this share of the range on a linear one.
LOG_SCALE_PENALTY = 1.0
LINEAR_PENALTY_SHARE = 0.1


@dataclass(frozen=True)
class TrialOutcome:
    """What one trial tells the optimiser.

    ``status``: the status the optimiser models (a ``completed`` or
    ``early_stopped`` record lacking a metric becomes ``failed``). ``values``: one
    value per objective in the optimiser's space, only for completed and
    early-stopped trials. ``error``: why a trial that claimed values did not count
    as such (None otherwise).
    """

    status: TrialStatus
    values: tuple[float, ...] | None = None
    error: str | None = None


def trial_outcome(status: Any, metrics: Mapping[str, Any] | TrialRecord, objectives: Sequence[Objective]) -> TrialOutcome:
    """The outcome rules: ``metrics`` (a trial record or ``fn``'s result; read with ``.get``) under ``status``.

    Returns ``TrialOutcome(completed, values)`` (or ``early_stopped``, values) only
    when every objective's metric is present, a real number, finite, and (log-scale
    objectives) positive; otherwise the trial becomes ``failed`` with an error naming
    the first objective and metric at fault. Other statuses pass through unchanged
    (unknown statuses as ``failed``).
    """
    if status in (COMPLETED, EARLY_STOPPED):
        values = []
        for objective in objectives:
            raw = metrics.get(objective.metric)
            if raw is None:
                return TrialOutcome(FAILED, error=f"result lacks metric '{objective.metric}' of objective '{objective.name}'")
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                return TrialOutcome(FAILED, error=f"metric '{objective.metric}' of objective '{objective.name}' is {raw!r}, not a finite number")
            value = objective.transform(raw)
            if not math.isfinite(value):
                return TrialOutcome(FAILED, error=f"metric '{objective.metric}' of log-scale objective '{objective.name}' is {raw!r}, not a positive number")
            values.append(value)
        return TrialOutcome(TrialStatus(status), tuple(values))
    if status == OUT_OF_MEMORY:
        return TrialOutcome(OUT_OF_MEMORY)
    if status == MEASUREMENT_FAILED:
        return TrialOutcome(MEASUREMENT_FAILED)
    return TrialOutcome(FAILED)


def maximisation_signs(objectives: Sequence[Objective]) -> np.ndarray:
    """(m,) +1 for maximised, -1 for minimised objectives: ``values * signs`` is to be maximised."""
    return np.array([-1.0 if o.minimize else 1.0 for o in objectives])


def worst_values(completed: np.ndarray, objectives: Sequence[Objective]) -> dict[str, float]:
    """Per objective, a value worse than every completed one (optimiser space), whatever the direction.

    ``completed``: (n, m) values of completed trials, optimiser space. The worst
    completed value minus one decade (log-scale objectives) or 10 % of the
    completed range (linear; the range at least 1e-6), moved in the objective's bad
    direction. Empty when nothing completed. Out-of-memory trials and penalised
    failures are observed at these values.
    """
    if len(completed) == 0:
        return {}
    signs = maximisation_signs(objectives)
    worst = {}
    for column, objective in enumerate(objectives):
        oriented = completed[:, column] * signs[column]
        spread = max(float(np.ptp(oriented)), 1e-6)
        margin = LOG_SCALE_PENALTY if objective.log_scale else LINEAR_PENALTY_SHARE * spread
        worst[objective.name] = float((oriented.min() - margin) * signs[column])
    return worst


def searched_params(space: Mapping[str, Hyperparameter], params: Mapping[str, Any]) -> dict[str, Any]:
    """The searched (non-fixed) parameters of ``params``, coerced to the space's types.

    Raises ValueError naming a missing parameter or a value outside its domain.
    """
    values = {}
    for name, hyperparameter in space.items():
        if isinstance(hyperparameter, Fixed):
            continue
        if name not in params:
            raise ValueError(f"parameter '{name}' missing")
        values[name] = hyperparameter._validate(params[name])
    return values


def with_fixed(space: Mapping[str, Hyperparameter], params: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of the space: the fixed values plus ``params`` (the searched ones), validated."""
    return {name: hp.value if isinstance(hp, Fixed) else hp._validate(params[name]) for name, hp in space.items()}


@dataclass
class Observations:
    """A history as the optimiser sees it.

    ``attached``: per trial, in history order, (searched params, {objective: value}
    in optimiser space, or None: attached without data; early-stopped trials carry
    their partial values). ``completed``: (n, m) values of the completed trials only. ``counts``: trials per status plus ``total``.
    ``errors``: (where, error) for every trial whose claimed completion did not count.
    """

    attached: list[tuple[dict[str, Any], dict[str, float] | None]]
    completed: np.ndarray
    counts: dict[str, int]
    errors: list[tuple[str, str]] = field(default_factory=list)


def _where(record: Any) -> str:
    # A plain dict (ecopt.optimize, tests) or an ecopt.records.TrialRecord (path and index are attributes).
    path = record.get("path") if isinstance(record, Mapping) else getattr(record, "path", None)
    index = record.get("index") if isinstance(record, Mapping) else getattr(record, "index", None)
    return str(path or f"trial {index}")


def observations(history: Sequence[Any], space: Mapping[str, Hyperparameter], objectives: Sequence[Objective], penalize_failed: bool = True) -> Observations:
    """The observations of ``history`` (``TrialRecord``s or plain dicts with the same keys) under the outcome rules.

    Raises ValueError naming the record (its ``path``, else its index) whose params
    no longer fit ``space``: the space was edited after the trial ran.
    """
    counts = {status.value: 0 for status in COUNTED_STATUSES}
    counts["total"] = len(history)
    outcomes: list[tuple[dict[str, Any], TrialOutcome]] = []
    errors: list[tuple[str, str]] = []
    for record in history:
        where = _where(record)
        try:
            params = searched_params(space, record["params"])
        except ValueError as error:
            raise ValueError(f"{where}: params do not fit the configured space ({error}); was the space edited after this trial ran?") from None
        outcome = trial_outcome(record.get("status"), record, objectives)
        if outcome.error is not None:
            errors.append((where, outcome.error))
        counts[outcome.status.value] += 1
        outcomes.append((params, outcome))
    completed = np.asarray([o.values for _, o in outcomes if o.status == COMPLETED], dtype=float).reshape(-1, len(objectives))
    worst = worst_values(completed, objectives)
    attached: list[tuple[dict[str, Any], dict[str, float] | None]] = []
    for params, outcome in outcomes:
        if outcome.values is not None:
            attached.append((params, {o.name: v for o, v in zip(objectives, outcome.values, strict=True)}))
        elif outcome.status == OUT_OF_MEMORY or (outcome.status == FAILED and penalize_failed):
            attached.append((params, dict(worst) or None))
        else:  # measurement_failed, or failed with failed_trials: ignore
            attached.append((params, None))
    return Observations(attached=attached, completed=completed, counts=counts, errors=errors)


def choose_reference_point(completed: np.ndarray, objectives: Sequence[Objective], margin: float) -> dict[str, Any] | None:
    """The acquisition's reference point, in the optimiser's space, and where it came from.

    ``completed``: (n, m) values of completed trials, optimiser space; ``margin``:
    the share of the front's range the inferred point lies below its nadir.
    Returns ``{"values": [m floats], "source": text}``, or None with no completed
    trial. Config thresholds (with the others inferred) are used once a completed
    observation strictly dominates them; otherwise BoTorch's
    ``infer_reference_point(pareto_Y, scale=margin)`` on the observed front.
    """
    if len(completed) == 0:
        return None
    import torch
    from botorch.utils.multi_objective.hypervolume import infer_reference_point

    signs = maximisation_signs(objectives)
    front = completed[pareto_mask(completed, [o.minimize for o in objectives])] * signs
    inferred = infer_reference_point(torch.from_numpy(np.ascontiguousarray(front)), scale=margin).numpy() * signs
    configured = [o.transform(o.threshold) if o.threshold is not None else None for o in objectives]
    if all(value is None for value in configured):
        return {"values": inferred.tolist(), "source": f"inferred: observed Pareto front's nadir minus {margin:g} of its range"}
    candidate = np.array([c if c is not None else i for c, i in zip(configured, inferred, strict=True)])
    beaten = np.any(np.all(completed * signs > candidate * signs, axis=1))
    if beaten:
        return {"values": candidate.tolist(), "source": "config thresholds" + (" (others inferred)" if None in configured else "")}
    return {
        "values": inferred.tolist(),
        "source": f"inferred: no observation dominates the config thresholds {configured} yet; nadir minus {margin:g} of the front's range",
    }


def winsorization_levels(completed: np.ndarray, objectives: Sequence[Objective], reference: Sequence[float], factor: float) -> dict[str, float]:
    """Per objective, the level (optimiser space) that observations worse than it are clipped to.

    The level lies ``factor`` times the distance from the reference point to the
    best observed value beyond the reference point. The hypervolume counts nothing
    worse than the reference point, but a GP fitted to raw values spends its output
    scale on them: on BraninCurrin, Branin values down to -300 against a reference
    of -18 squeeze the region that matters into a sliver of the standardised range,
    and qLogNEHVI then explores where the model is merely uncertain about how bad a
    point is. Only objectives where at least two completed observations reach the
    level are clipped (below that, the clip would flatten everything but the best).
    ``factor <= 0`` or no completed trial: no clipping (empty mapping).
    """
    if factor <= 0 or len(completed) == 0:
        return {}
    signs = maximisation_signs(objectives)
    oriented = completed * signs
    levels = {}
    for column, objective in enumerate(objectives):
        ref = reference[column] * signs[column]
        width = oriented[:, column].max() - ref
        level = ref - factor * width
        if width > 0 and np.count_nonzero(oriented[:, column] >= level) >= 2:
            levels[objective.name] = float(level * signs[column])
    return levels


def count_clipped(attached: Sequence[tuple[dict[str, Any], dict[str, float] | None]], objective: Objective, level: float) -> int:
    """How many attached observations (failure penalties included) lie beyond ``level`` in ``objective``."""
    values = [v[objective.name] for _, v in attached if v is not None and objective.name in v]
    return sum(1 for v in values if (v > level if objective.minimize else v < level))
