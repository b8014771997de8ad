"""Multi-objective early stopping at rungs: a trial continues only inside the best 1/eta of the points there.

The rule (``stop_at_rung``) follows MOASHA (Schmucker et al., 2021, "Multi-objective
asynchronous successive halving"; Syne Tune's ``MOASHA``) in spirit: at each rung
(a training resource: epochs for the CNN, steps for the causal-LM trainer) the
trial's point (validation performance at the rung, efficiency) is ranked among the
earlier trials' points at the same rung by non-dominated sorting, fronts peeled one
after another with ``ecopt.pareto.pareto_mask`` (BoTorch's ``is_non_dominated``).
The trial's *rank* is the number of points in fronts strictly better than its own;
it continues iff ``rank < ceil((compared + 1) / eta)``, i.e. iff it lies inside the
best 1/eta of the rung's points counted front by front, as successive halving keeps
the best 1/eta. Ties share a front, so a point equal to an earlier one is never
ranked below it. With fewer than ``min_points_at_rung`` earlier points there is not
enough evidence and the trial always continues.

Design choices:

* **Efficiency first.** Efficiency is measured on the untrained network before
  training (see ``ecopt.trial``), which is only valid for adapters that declare
  ``efficiency_independent_of_weights`` (inference cost set by the architecture,
  not the weights): then the rung's point is exact in efficiency and only the
  performance is partial. ``ecopt.trial``'s docstring gives the measurement (CPU
  seconds per pass of the untrained and trained CNN within 1.2 %).
* **Earlier rounds only.** ``rung_history(records, objectives, rounds_before)``
  collects the points of rounds before the trial's own, so the trials of one round
  (run in parallel, in any order) see the same history: the outcome does not depend
  on scheduling. MOASHA compares with every trial that has reached the rung so far,
  which does depend on it.
* **Raw values.** Non-dominated sorting is invariant under monotone transforms, so
  log-scale objectives are compared in raw units; no transform is needed.
* **Rungs** are geometric, ``min_resource * eta**k`` below the adapter's maximum
  resource, as in ASHA (``rung_levels``). A rung is taken at the first validation
  check whose resource reaches the level; with steps checked every ``eval_interval``
  a check may pass several levels at once and is judged at each of them.
* A non-finite point (a NaN validation value) is ranked behind every earlier point;
  earlier points with a non-finite value are left out of the comparison.

Pure: numpy and ``ecopt.pareto`` (BoTorch, lazily) only; no torch model, no Ax, no
file I/O, so the rule is unit-tested in milliseconds and benchmarks can use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecopt.errors import ConfigError
from ecopt.pareto import pareto_mask

# The learning-curve key of an adapter's resource: the CNN checks per epoch, the LM trainer per step.
RESOURCE_KEYS = ("epoch", "step")
# Objective metrics a rung can compare: the validation performance, and efficiencies measured by the
# evaluation window before training. lifecycle_samples_per_joule needs the final training joules.
COMPARABLE_METRICS = ("performance", "samples_per_joule", "dynamic_samples_per_joule")


def check_objectives(objectives: Sequence[Any]) -> None:
    """Refuse early stopping for objectives a rung cannot compare (``COMPARABLE_METRICS`` only).

    ``objectives``: ``ecopt.objectives.Objective``s. Raises ``ConfigError`` naming
    ``early_stopping.enabled`` and the objective at fault.
    """
    for objective in objectives:
        if objective.metric not in COMPARABLE_METRICS:
            raise ConfigError(
                "early_stopping.enabled",
                True,
                f"false with objective '{objective.name}' on metric '{objective.metric}': early stopping compares only "
                f"{list(COMPARABLE_METRICS)} at a rung (efficiency is measured before training, without the final training joules)",
            )


def check_adapter(model: Any, min_resource: float | None = None) -> None:
    """Refuse early stopping for an adapter whose efficiency depends on its weights, or that declares no training budget.

    Efficiency is measured before training, which only holds when the adapter
    declares ``efficiency_independent_of_weights = True``; the rungs lie below its
    ``max_resource``. Raises ``ConfigError`` naming ``early_stopping.enabled``, or
    ``early_stopping.min_resource`` when ``min_resource`` is at or above ``max_resource``
    (no rung below it: early stopping would be on and never judge a trial).
    """
    name = type(model).__name__
    if not getattr(model, "efficiency_independent_of_weights", False):
        raise ConfigError(
            "early_stopping.enabled",
            True,
            f"false for {name}: it does not declare efficiency_independent_of_weights = True, so its efficiency cannot be measured before training",
        )
    if getattr(model, "max_resource", None) is None:
        raise ConfigError("early_stopping.enabled", True, f"false for {name}: it declares no max_resource (its training budget in epochs or steps)")
    if min_resource is not None and min_resource >= model.max_resource:
        raise ConfigError(
            "early_stopping.min_resource",
            min_resource,
            f"below {name}'s max_resource ({model.max_resource}): rungs lie strictly below it, so no trial would ever be judged",
        )


def rung_levels(min_resource: float, reduction_factor: float, max_resource: float) -> list[int]:
    """The rungs, ascending ints: ``ceil(min_resource * reduction_factor**k)`` for k = 0, 1, ... strictly below ``max_resource``.

    ``min_resource`` > 0 and ``max_resource`` in the adapter's resource unit (epochs,
    steps); ``reduction_factor`` (eta) > 1. E.g. (1, 3, 30) -> [1, 3, 9, 27]. No rung
    at or above the maximum: a trial there has finished its training anyway.
    Raises ``ValueError`` for eta <= 1 or a non-positive ``min_resource``.
    """
    if not reduction_factor > 1:
        raise ValueError(f"reduction_factor must be > 1, got {reduction_factor!r}")
    if not min_resource > 0:
        raise ValueError(f"min_resource must be > 0, got {min_resource!r}")
    # Jump straight to the next k whose rung is a new integer (closed form, k = floor(log_eta(rung / min)) + 1)
    # instead of stepping k by one: with eta just above 1 (1.000000001) stepping took billions of steps (a trial
    # hung > 120 s); jumping costs one step per distinct rung, at most max_resource of them.
    levels: list[int] = []
    log_eta = math.log(reduction_factor)
    k = 0
    while (rung := math.ceil(min_resource * reduction_factor**k - 1e-9)) < max_resource:
        if not levels or rung > levels[-1]:
            levels.append(rung)
        next_k = max(k + 1, math.floor(math.log((rung + 1e-9) / min_resource) / log_eta) + 1)
        # The logarithm may round up across an integer: step back while the earlier k already passes the rung.
        while next_k - 1 > k and min_resource * reduction_factor ** (next_k - 1) - 1e-9 > rung:
            next_k -= 1
        k = next_k
    return levels


@dataclass(frozen=True)
class StopDecision:
    """One judgement at a rung.

    ``rank``: points of the rung in fronts strictly better than the trial's;
    ``compared``: earlier points at the rung; ``allowed``: ``ceil((compared + 1) / eta)``;
    the trial continues iff ``rank < allowed`` (or ``compared < min_points_at_rung``).
    ``reason``: one sentence for logs and records.
    """

    stop: bool
    rung: int
    rank: int
    compared: int
    allowed: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The decision as the trial record's ``early_stopping`` entry (``stop`` left out: the status says it)."""
        return {"rung": self.rung, "rank": self.rank, "allowed": self.allowed, "compared": self.compared, "reason": self.reason}


def front_rank(point: Sequence[float], earlier: np.ndarray, maximize: Sequence[bool]) -> int:
    """How many rows of ``earlier`` (n, m) lie in non-dominated fronts strictly better than ``point``'s (m,).

    Fronts of ``earlier ∪ {point}`` are peeled with ``ecopt.pareto.pareto_mask``.
    A point with a non-finite value ranks behind all n rows; rows with one are dropped.
    """
    point = np.asarray(point, dtype=float).reshape(-1)
    earlier = np.asarray(earlier, dtype=float).reshape(-1, len(point))
    earlier = earlier[np.all(np.isfinite(earlier), axis=1)]
    if not np.all(np.isfinite(point)):
        return len(earlier)
    minimize = [not flag for flag in maximize]
    remaining = np.vstack([earlier, point[None, :]])
    is_point = np.zeros(len(remaining), dtype=bool)
    is_point[-1] = True
    better = 0
    while True:
        front = pareto_mask(remaining, minimize)
        if front[is_point].any():
            return better
        better += int(front.sum())
        remaining, is_point = remaining[~front], is_point[~front]


def load_ranking() -> None:
    """Import what ``front_rank`` needs (BoTorch, via ``ecopt.pareto``) now, outside any metered window.

    The first ranking in a process otherwise pays BoTorch's import (about 1 s of CPU
    on this project's machine) inside the training window it judges.
    """
    front_rank([0.0], np.zeros((1, 1)), [True])


def stop_at_rung(
    point: Sequence[float], earlier: np.ndarray, maximize: Sequence[bool], rung: int, reduction_factor: float, min_points_at_rung: int
) -> StopDecision:
    """Whether a trial at ``rung`` with values ``point`` (m,) stops, given the earlier rounds' ``earlier`` (n, m) there.

    ``maximize``: m flags (True: larger is better). Values are raw metric values
    (the sorting is invariant under log scales). Continue when fewer than
    ``min_points_at_rung`` finite earlier points exist; otherwise stop iff the
    trial's front rank (``front_rank``) is at least ``ceil((n + 1) / reduction_factor)``.
    """
    earlier = np.asarray(earlier, dtype=float).reshape(-1, len(point))
    compared = int(np.all(np.isfinite(earlier), axis=1).sum())
    allowed = math.ceil((compared + 1) / reduction_factor)
    rank = front_rank(point, earlier, maximize)
    if compared < min_points_at_rung:
        reason = f"rung {rung}: {compared} earlier point(s), fewer than min_points_at_rung {min_points_at_rung}: continue"
        return StopDecision(False, rung, rank, compared, allowed, reason)
    stop = rank >= allowed
    verdict = "stop" if stop else "continue"
    reason = (
        f"rung {rung}: {rank} of {compared} earlier point(s) lie in better non-dominated fronts; "
        f"the best ceil({compared + 1}/{reduction_factor:g}) = {allowed} continue: {verdict}"
    )
    return StopDecision(stop, rung, rank, compared, allowed, reason)


@dataclass
class RungHistory:
    """The earlier rounds' points per rung, as the search round hands them to the trials (``proposals.json``'s ``rung_history``).

    ``metrics``: the study's objectives' metrics in order (``performance`` is the
    validation value at the rung, the others the records' efficiency measured before
    training); ``maximize``: one flag per metric; ``points``: rung -> list of
    [value per metric], raw units.
    """

    metrics: list[str]
    maximize: list[bool]
    points: dict[int, list[list[float]]] = field(default_factory=dict)

    def at(self, rung: int) -> np.ndarray:
        """The points at ``rung`` as an (n, m) array (n = 0 when none)."""
        return np.asarray(self.points.get(int(rung), []), dtype=float).reshape(-1, len(self.metrics))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rung keys as strings (JSON object keys), ascending."""
        return {
            "metrics": list(self.metrics),
            "maximize": list(self.maximize),
            "points": {str(rung): [list(map(float, p)) for p in self.points[rung]] for rung in sorted(self.points)},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RungHistory:
        """The inverse of ``to_dict``. Raises ``ValueError`` naming the entry that does not fit (a point of the wrong length)."""
        metrics, maximize = [str(m) for m in data["metrics"]], [bool(f) for f in data["maximize"]]
        if len(metrics) != len(maximize):
            raise ValueError(f"rung_history: {len(metrics)} metrics but {len(maximize)} maximize flags")
        points: dict[int, list[list[float]]] = {}
        for rung, rows in (data.get("points") or {}).items():
            for row in rows:
                if len(row) != len(metrics):
                    raise ValueError(f"rung_history.points[{rung}]: a point {row!r} of {len(row)} values for {len(metrics)} metrics")
            points[int(rung)] = [[float(value) for value in row] for row in rows]
        return cls(metrics, maximize, points)


def curve_resource(entry: Mapping[str, Any]) -> int | None:
    """The resource of one learning-curve entry (its ``epoch`` or ``step``), or None."""
    for key in RESOURCE_KEYS:
        if entry.get(key) is not None:
            return int(entry[key])
    return None


def value_at_level(curve: Sequence[Mapping[str, Any]], level: int) -> float | None:
    """The validation ``performance`` of the first curve entry whose resource is >= ``level`` (None: never reached, or no value)."""
    for entry in curve:
        resource = curve_resource(entry)
        if resource is not None and resource >= level:
            value = entry.get("performance")
            return None if value is None else float(value)
    return None


def rung_history(records: Sequence[Any], objectives: Sequence[Any], rounds_before: int | None, levels: Sequence[int] | None = None) -> RungHistory:
    """The points per rung of ``records`` (``TrialRecord``s or mappings) of rounds before ``rounds_before`` (None: all).

    Only ``completed`` and ``early_stopped`` records with a learning curve count. At
    each rung (``levels``; default: every resource a curve holds) a record gives the
    curve's validation ``performance`` there (``value_at_level``) and its own
    values of the other objectives' metrics (efficiency, measured before training);
    a record lacking one of them adds no point at that rung.
    ``objectives``: ``ecopt.objectives.Objective``s (``metric``, ``minimize``).
    """
    metrics = [o.metric for o in objectives]
    history = RungHistory(metrics, [not o.minimize for o in objectives])
    for record in records:
        get = record.get
        status = str(get("status"))
        if status not in ("completed", "early_stopped"):
            continue
        round_number = get("round")
        if rounds_before is not None and (round_number is None or int(round_number) >= rounds_before):
            continue
        curve = get("learning_curve") or []
        resources = sorted({r for r in (curve_resource(e) for e in curve) if r is not None})
        record_levels = list(levels) if levels is not None else resources
        for level in record_levels:
            row = []
            for metric in metrics:
                value = value_at_level(curve, level) if metric == "performance" else get(metric)
                if value is None or isinstance(value, bool) or not math.isfinite(float(value)):
                    break
                row.append(float(value))
            else:
                history.points.setdefault(int(level), []).append(row)
    return history


def round_rung_history(records: Sequence[Any], objectives: Sequence[Any], settings: Any, round_index: int) -> RungHistory:
    """What the search round writes into ``proposals.json``: the points of rounds before ``round_index`` at the study's rungs.

    ``settings``: the ``early_stopping`` section (object or mapping). The rungs are
    ``rung_levels`` strictly below the largest resource any earlier curve reached (the
    adapter's maximum, as ``RungMonitor`` has it), so a level
    between two validation checks (steps) gets the first check at or after it, as the
    trial's ``RungMonitor`` takes it.
    """
    read = settings.get if isinstance(settings, Mapping) else lambda key: getattr(settings, key)
    resources = [
        resource for record in records for resource in (curve_resource(entry) for entry in (record.get("learning_curve") or [])) if resource is not None
    ]
    # Strictly below the largest resource reached (the adapter's maximum): a rung there judges finished trials.
    levels = rung_levels(read("min_resource"), read("reduction_factor"), max(resources)) if resources else []
    return rung_history(records, objectives, rounds_before=round_index, levels=levels)


def training_energy_comparison(records: Sequence[Any]) -> dict[str, Any] | None:
    """What early stopping saved: each early-stopped trial's training joules against the median completed trial's.

    ``records``: ``TrialRecord``s or mappings (``status``, ``train_joules``, ``round``,
    ``index``, ``stopped_at_rung``). Returns None without early-stopped trials, else
    ``{"early_stopped": [{"round", "index", "stopped_at_rung", "train_joules"}, ...],
    "median_completed_train_joules", "early_stopped_train_joules" (their sum),
    "all_below_median" (bool, or None without a completed trial),
    "train_below_resolution": how many early-stopped trials trained for less than the
    meter's resolvable window (their record's ``train_below_resolution``: such training
    joules read at a lower resolution, see ``ecopt.trial``)}`` (joules).
    """
    stopped = [r for r in records if str(r.get("status")) == "early_stopped"]
    if not stopped:
        return None
    completed = [float(r.get("train_joules")) for r in records if str(r.get("status")) == "completed" and r.get("train_joules") is not None]
    median = float(np.median(completed)) if completed else None
    spent = [
        {
            "round": r.get("round"),
            "index": r.get("index"),
            "stopped_at_rung": r.get("stopped_at_rung"),
            "train_joules": r.get("train_joules"),
            "train_below_resolution": r.get("train_below_resolution"),
        }
        for r in stopped
    ]
    joules = [entry["train_joules"] for entry in spent if entry["train_joules"] is not None]
    return {
        "early_stopped": spent,
        "early_stopped_train_joules": float(sum(joules)),
        "median_completed_train_joules": median,
        "all_below_median": None if median is None else len(joules) == len(spent) and all(j < median for j in joules),
        "train_below_resolution": sum(1 for entry in spent if entry["train_below_resolution"] is True),
    }


class RungMonitor:
    """What the trial hands the adapter: judges each validation check against the rung history.

    ``history``: the earlier rounds' points (None: nothing to compare, never stops);
    ``settings``: the ``early_stopping`` section (``reduction_factor``,
    ``min_resource``, ``min_points_at_rung``; an object or a mapping);
    ``efficiency``: the trial's values of the non-performance metrics (measured
    before training); ``max_resource``: the adapter's budget (epochs, steps).
    ``decision`` is the judgement that stopped the trial (None while running);
    ``decisions`` every judgement made, in order.
    """

    def __init__(self, history: RungHistory | None, settings: Any, efficiency: Mapping[str, float] | None, max_resource: int) -> None:
        read = settings.get if isinstance(settings, Mapping) else lambda key: getattr(settings, key)
        self.history = history
        self.reduction_factor = float(read("reduction_factor"))
        self.min_points_at_rung = int(read("min_points_at_rung"))
        self.levels = rung_levels(read("min_resource"), self.reduction_factor, max_resource)
        self.efficiency = dict(efficiency or {})
        if history is not None:
            missing = [m for m in history.metrics if m != "performance" and m not in self.efficiency]
            if missing:
                raise ValueError(f"RungMonitor: no value of {missing} to compare at the rungs (efficiency measured before training)")
        self.decision: StopDecision | None = None
        self.decisions: list[StopDecision] = []
        self._next = 0  # index of the next rung level not yet taken

    def report(self, resource: int, performance: float) -> bool:
        """One validation check at ``resource`` with validation ``performance``; True = stop now.

        Judges the check at every rung level it reaches that no earlier check took.
        Appends nothing to the learning curve (``Model.report_rung`` does).
        """
        stop = False
        while self._next < len(self.levels) and resource >= self.levels[self._next]:
            rung = self.levels[self._next]
            self._next += 1
            if self.history is None or stop:
                continue
            point = [float(performance) if m == "performance" else float(self.efficiency[m]) for m in self.history.metrics]
            decision = stop_at_rung(point, self.history.at(rung), self.history.maximize, rung, self.reduction_factor, self.min_points_at_rung)
            self.decisions.append(decision)
            if decision.stop:
                self.decision, stop = decision, True
        return stop
