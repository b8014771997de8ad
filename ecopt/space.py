"""Search spaces: build them from validated config sections, describe them for the optimiser.

A space is an ordered ``dict[str, Hyperparameter]``. In a study config it reads::

    space:
      width:       {type: range, bounds: [4, 64], value_type: int, log_scale: true}
      kernel_size: {type: choice, values: [1, 3, 5]}
      padding:     {type: fixed, value: same}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, Fixed, Hyperparameter, Range, ValueType

SearchSpace = dict[str, Hyperparameter]


def parse_space(section: Mapping[str, Any], key: str = "space") -> SearchSpace:
    """Build the domains of a space section that ``ecopt.settings`` has validated against the schema.

    The schema checks each entry's kind, fields and types; this adds the checks
    that relate fields: ``low < high``, a log scale above 0, choice values of one
    type (or a ``value_type``) and distinct, a default inside its domain. Errors name
    ``key.<param>.<field>``.
    """
    return {str(name): parse_parameter(entry, f"{key}.{name}") for name, entry in section.items()}


def parse_parameter(entry: Mapping[str, Any], key: str) -> Hyperparameter:
    """One schema-validated space entry (``{type: range|choice|fixed, ...}``) as its domain.

    Returns a ``Range``, ``Choice`` or ``Fixed``; ConfigError naming ``key`` and the
    offending field (bounds, values, value) when the domain cannot be built.
    """
    kind, value_type = entry["type"], entry.get("value_type")
    if kind == "range":
        low, high = entry["bounds"]
        if not low < high:
            raise ConfigError(f"{key}.bounds", list(entry["bounds"]), "low < high")
        log_scale = entry.get("log_scale", False)
        if log_scale and low <= 0:
            raise ConfigError(f"{key}.bounds", list(entry["bounds"]), "low > 0 for a log-scale range")
        try:
            return Range(entry.get("value", low), low, high, log_scale=log_scale, value_type=value_type)
        except ValueError as error:
            raise ConfigError(key, dict(entry), str(error)) from None
    if kind == "choice":
        values = list(entry["values"])
        types = {type(v) for v in values}
        if value_type is None and len(types) > 1 and types != {int, float}:
            raise ConfigError(f"{key}.values", values, "values of one type (or give value_type)")
        if value_type is None and types == {int, float}:
            value_type = "float"
        try:
            return Choice(
                entry.get("value", values[0]),
                values,
                is_ordered=entry.get("is_ordered", True),
                sort_values=entry.get("sort_values", False),
                value_type=value_type,
            )
        except ValueError as error:
            raise ConfigError(f"{key}.values", values, str(error)) from None
    return Fixed(entry["value"])


def describe_space(space: Mapping[str, Hyperparameter]) -> list[dict[str, Any]]:
    """The optimiser's view of a space: one Ax-style parameter description each."""
    return [hyperparameter.to_dict(name) for name, hyperparameter in space.items()]


def validate_params(space: Mapping[str, Hyperparameter], params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a full parameter assignment against a space; fill fixed values; return it coerced.

    Returns one value per space entry, in the space's order, cast to each domain's
    value type. ValueError names the missing, unknown or out-of-domain parameter.
    """
    missing = [name for name, hp in space.items() if name not in params and not isinstance(hp, Fixed)]
    if missing:
        raise ValueError(f"parameters {missing} missing; the space has {list(space)}")
    unknown = sorted(set(params) - set(space))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; the space has {list(space)}")
    checked: dict[str, Any] = {}
    for name, hyperparameter in space.items():
        if name not in params:
            checked[name] = hyperparameter.value
            continue
        try:
            checked[name] = hyperparameter._validate(params[name])
        except ValueError as error:
            raise ValueError(f"parameter '{name}': {error}") from None
    return checked


def sample_space(space: Mapping[str, Hyperparameter], count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` independent uniform draws (log-uniform on log scales), fixed values kept.

    Returns ``count`` dicts with every space entry; integer ranges are rounded and
    clipped to their bounds. Reproducible for a ``seed`` (numpy's ``default_rng``).
    """
    import math

    import numpy as np

    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(count):
        params: dict[str, Any] = {}
        for name, hyperparameter in space.items():
            if isinstance(hyperparameter, Range):
                low, high = float(hyperparameter.min), float(hyperparameter.max)
                if hyperparameter.log_scale:
                    value = math.exp(rng.uniform(math.log(low), math.log(high)))
                else:
                    value = rng.uniform(low, high)
                if hyperparameter.value_type is ValueType.INT:
                    value = int(min(max(round(value), hyperparameter.min), hyperparameter.max))
                params[name] = value
            elif isinstance(hyperparameter, Choice):
                params[name] = hyperparameter.values[int(rng.integers(len(hyperparameter.values)))]
            else:
                params[name] = hyperparameter.value
        draws.append(params)
    return draws
