"""The two objectives of a study and the space the optimiser sees them in.

Both are maximised by default (performance, samples per joule); either can be
switched to minimise. ``log_scale`` objectives are modelled and compared as
log10 values: energy efficiency spans orders of magnitude across architectures,
and a Gaussian process fits its logarithm far better. Pareto dominance does not
change under that monotone transform; hypervolumes are computed in the
transformed space, the space the optimiser improves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ecopt.errors import ConfigError

DEFAULT_OBJECTIVES: dict[str, dict[str, Any]] = {
    "performance": {"metric": "performance", "minimize": False, "threshold": None, "log_scale": False},
    "efficiency": {"metric": "samples_per_joule", "minimize": False, "threshold": None, "log_scale": True},
}
_FIELDS = {"metric", "minimize", "threshold", "log_scale"}


@dataclass(frozen=True)
class Objective:
    """One optimisation objective: which record metric, its direction, threshold and scale.

    ``parse_objectives`` builds these from config; values move between raw units and
    the optimiser's space through ``transform``/``untransform``.
    """

    name: str  # the name the optimiser and the tables use
    metric: str  # the key of the value in a trial record (or in fn's result)
    minimize: bool = False
    threshold: float | None = None  # worst acceptable value, raw units: the reference point's coordinate
    log_scale: bool = False

    def transform(self, value: float) -> float:
        """Raw value -> the optimiser's space (log10 for log-scale objectives)."""
        if self.log_scale:
            return math.log10(value) if value > 0 else -math.inf
        return float(value)

    def untransform(self, value: float) -> float:
        """The optimiser's space -> raw units (10**value for log-scale objectives)."""
        return 10.0**value if self.log_scale else float(value)

    @property
    def label(self) -> str:
        """The axis name of the optimiser's space: ``log10 <metric>`` or ``<metric>``."""
        return f"log10 {self.metric}" if self.log_scale else self.metric


def parse_objectives(section: Any = None, key: str = "objectives") -> list[Objective]:
    """Two objectives from a config mapping (defaults: performance and samples/J).

    A list of metric names is shorthand for maximising each, on a linear scale.
    """
    if section is None:
        section = DEFAULT_OBJECTIVES
    if isinstance(section, (list, tuple)):
        section = {str(metric): {"metric": str(metric)} for metric in section}
    if not isinstance(section, Mapping):
        raise ConfigError(key, section, "a mapping of objective name -> {metric, minimize, threshold, log_scale}")
    if len(section) != 2:
        raise ConfigError(key, list(section), "exactly two objectives (performance and efficiency)")
    objectives = []
    for name, spec in section.items():
        where = f"{key}.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(where, spec, "a mapping with metric, minimize, threshold, log_scale")
        unknown = sorted(set(spec) - _FIELDS)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", spec[unknown[0]], f"one of {sorted(_FIELDS)}")
        defaults = DEFAULT_OBJECTIVES.get(str(name), {"metric": str(name), "minimize": False, "threshold": None, "log_scale": False})
        merged = {**defaults, **spec}
        if not isinstance(merged["metric"], str) or not merged["metric"]:
            raise ConfigError(f"{where}.metric", merged["metric"], "the name of a metric in the trial records")
        for flag in ("minimize", "log_scale"):
            if not isinstance(merged[flag], bool):
                raise ConfigError(f"{where}.{flag}", merged[flag], "true or false")
        threshold = merged["threshold"]
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold)):
            raise ConfigError(f"{where}.threshold", threshold, "a finite number or null")
        if merged["log_scale"] and threshold is not None and threshold <= 0:
            raise ConfigError(f"{where}.threshold", threshold, "a positive number for a log-scale objective")
        if not str(name).isidentifier():
            raise ConfigError(where, name, "an objective name made of letters, digits and underscores")
        objectives.append(Objective(str(name), merged["metric"], merged["minimize"], None if threshold is None else float(threshold), merged["log_scale"]))
    if objectives[0].metric == objectives[1].metric:
        raise ConfigError(key, [o.metric for o in objectives], "two different metrics")
    return objectives


def performance_objective(objectives: Sequence[Objective]) -> Objective:
    """The study's performance objective: the one whose metric (else name) is ``performance``, else the first."""
    return next((o for o in objectives if o.metric == "performance"), None) or next((o for o in objectives if o.name == "performance"), objectives[0])


def efficiency_objective(objectives: Sequence[Objective]) -> Objective:
    """The study's efficiency objective: the one of the two that is not ``performance_objective``."""
    performance = performance_objective(objectives)
    return next(o for o in objectives if o is not performance)


def objective_values(record: Mapping[str, Any], objectives: Sequence[Objective]) -> list[float] | None:
    """The record's values in the optimiser's space, one per objective in order (m floats).

    None when any is missing, not a number (bools are refused) or not finite after
    ``Objective.transform`` (e.g. log10 of 0).
    """
    values = []
    for objective in objectives:
        raw = record.get(objective.metric)
        if raw is None or isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
            return None
        value = objective.transform(raw)
        if not math.isfinite(value):
            return None
        values.append(value)
    return values
