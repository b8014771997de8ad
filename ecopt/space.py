"""Search spaces: build them from config sections, describe them for the optimiser.

A space is an ordered ``dict[str, Hyperparameter]``. In a study config it reads::

    space:
      width:       {type: range, bounds: [4, 64], value_type: int, log_scale: true}
      kernel_size: {type: choice, values: [1, 3, 5]}
      padding:     {type: fixed, value: same}
"""

from __future__ import annotations

from typing import Any, Mapping

from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, Fixed, Hyperparameter, Range, ValueType

SearchSpace = dict[str, Hyperparameter]

_ALLOWED_KEYS = {
    "range": {"type", "bounds", "value_type", "log_scale", "value"},
    "choice": {"type", "values", "value_type", "is_ordered", "sort_values", "value"},
    "fixed": {"type", "value", "value_type"},
}
_VALUE_TYPES = [t.value for t in ValueType]


def parse_space(section: Any, key: str = "space") -> SearchSpace:
    """Build a search space from a config mapping; errors name ``key.<param>.<field>``."""
    if not isinstance(section, Mapping) or not section:
        raise ConfigError(key, section, "a non-empty mapping of parameter name -> {type: range|choice|fixed, ...}")
    return {str(name): parse_parameter(entry, f"{key}.{name}") for name, entry in section.items()}


def parse_parameter(entry: Any, key: str) -> Hyperparameter:
    if not isinstance(entry, Mapping):
        raise ConfigError(key, entry, "a mapping with 'type' (range, choice or fixed) and its fields")
    kind = entry.get("type")
    if kind not in _ALLOWED_KEYS:
        raise ConfigError(f"{key}.type", kind, "one of 'range', 'choice', 'fixed'")
    unknown = sorted(set(entry) - _ALLOWED_KEYS[kind])
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", entry[unknown[0]], f"no such field for a {kind} parameter; allowed: {sorted(_ALLOWED_KEYS[kind])}")
    value_type = entry.get("value_type")
    if value_type is not None and value_type not in _VALUE_TYPES:
        raise ConfigError(f"{key}.value_type", value_type, f"one of {_VALUE_TYPES}")

    if kind == "range":
        bounds = entry.get("bounds")
        if (
            not isinstance(bounds, (list, tuple))
            or len(bounds) != 2
            or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in bounds)
        ):
            raise ConfigError(f"{key}.bounds", bounds, "a list [low, high] of two numbers")
        low, high = bounds
        if not low < high:
            raise ConfigError(f"{key}.bounds", bounds, "low < high")
        log_scale = entry.get("log_scale", False)
        if not isinstance(log_scale, bool):
            raise ConfigError(f"{key}.log_scale", log_scale, "true or false")
        if log_scale and low <= 0:
            raise ConfigError(f"{key}.bounds", bounds, "low > 0 for a log-scale range")
        if value_type not in (None, "int", "float"):
            raise ConfigError(f"{key}.value_type", value_type, "'int' or 'float' for a range")
        value = entry.get("value", low)
        try:
            return Range(value, low, high, log_scale=log_scale, value_type=value_type)
        except ValueError as error:
            raise ConfigError(key, dict(entry), str(error)) from None

    if kind == "choice":
        values = entry.get("values")
        if not isinstance(values, (list, tuple)) or len(values) < 2:
            raise ConfigError(f"{key}.values", values, "a list of at least two values")
        for flag in ("is_ordered", "sort_values"):
            if not isinstance(entry.get(flag, False), bool):
                raise ConfigError(f"{key}.{flag}", entry[flag], "true or false")
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

    if "value" not in entry:
        raise ConfigError(f"{key}.value", None, "the fixed value")
    return Fixed(entry["value"])


def describe_space(space: Mapping[str, Hyperparameter]) -> list[dict[str, Any]]:
    """The optimiser's view of a space: one Ax-style parameter description each."""
    return [hyperparameter.to_dict(name) for name, hyperparameter in space.items()]


def validate_params(space: Mapping[str, Hyperparameter], params: Mapping[str, Any]) -> dict[str, Any]:
    """Check a full parameter assignment against a space; fill fixed values; return it coerced."""
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
    """``count`` independent uniform draws (log-uniform on log scales), fixed values kept."""
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
