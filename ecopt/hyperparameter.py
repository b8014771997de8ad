"""Hyperparameter domains, API-compatible with the reference ECOpt package.

An adapter declares its tunable knobs as attributes holding ``Range``, ``Choice``
or ``Fixed`` objects; the optimiser reads their domains through ``to_dict`` (the
shape of an Ax parameter description) and writes chosen values back through
``value``. Values are checked against the domain on every assignment, so an
adapter never sees a value the search space does not allow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import Enum
from typing import Any


class ValueType(str, Enum):
    """The Python type of a hyperparameter's values, named as Ax's ``value_type`` strings."""

    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STR = "str"


_PYTHON_TYPES: dict[ValueType, type] = {
    ValueType.INT: int,
    ValueType.FLOAT: float,
    ValueType.BOOL: bool,
    ValueType.STR: str,
}


def _infer_value_type(value: Any) -> ValueType:
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        return ValueType.BOOL
    if isinstance(value, int):
        return ValueType.INT
    if isinstance(value, float):
        return ValueType.FLOAT
    if isinstance(value, str):
        return ValueType.STR
    raise ValueError(f"cannot infer a value type for {value!r} ({type(value).__name__}); expected int, float, bool or str")


def _coerce(value: Any, value_type: ValueType) -> Any:
    """Cast ``value`` to ``value_type`` without silently changing it.

    Ax hands integers back as floats in some paths (``3.0``), and YAML gives ints
    where a float range is meant; both are accepted. ``3.5`` for an int is not.
    """
    if value_type is ValueType.INT:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ValueError(f"{value!r} is not an integer")
        return int(value)
    if value_type is ValueType.FLOAT:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{value!r} is not a number")
        return float(value)
    if value_type is ValueType.BOOL:
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not a bool")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value


class Hyperparameter:
    """Abstract domain of one tunable value. Use ``Range``, ``Choice`` or ``Fixed``."""

    value_type: ValueType | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("Hyperparameter is abstract: use Range, Choice or Fixed")

    @property
    def value(self) -> Any:
        """The current value; assigning checks it against the domain and raises ValueError outside it."""
        return self._value

    @value.setter
    def value(self, new_value: Any) -> None:
        self._value = self._validate(new_value)

    def _validate(self, value: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_dict(self, name: str) -> dict[str, Any]:  # pragma: no cover - overridden
        """The domain as an Ax parameter description (``name``, ``type``, bounds or values, ``value_type``)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict("").items() if k != "name")
        return f"{type(self).__name__}(value={self._value!r}, {fields})"


class Range(Hyperparameter):
    """A numeric interval ``[min, max]``, optionally searched on a log scale."""

    def __init__(
        self,
        value: int | float,
        min: int | float,  # noqa: A002 - the reference API's argument names
        max: int | float,  # noqa: A002
        log_scale: bool = False,
        value_type: ValueType | str | None = None,
    ) -> None:
        if value_type is None:
            # A float anywhere makes it a float range: Range(0.1, 0, 1) is meant continuous.
            numbers = (value, min, max)
            value_type = ValueType.FLOAT if any(isinstance(n, float) for n in numbers) else _infer_value_type(value)
        value_type = ValueType(value_type)
        if value_type not in (ValueType.INT, ValueType.FLOAT):
            raise ValueError(f"Range accepts only int or float values, got value_type {value_type.value!r}")
        self.value_type = value_type
        self.min = _coerce(min, value_type)
        self.max = _coerce(max, value_type)
        if not self.min < self.max:
            raise ValueError(f"Range needs min < max, got min={min!r}, max={max!r}")
        if log_scale and self.min <= 0:
            raise ValueError(f"a log-scale Range needs min > 0, got min={min!r}")
        self.log_scale = bool(log_scale)
        self.value = value

    def _validate(self, value: Any) -> Any:
        value = _coerce(value, self.value_type)  # type: ignore[arg-type]
        if not (self.min <= value <= self.max) or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"{value!r} is outside the range [{self.min}, {self.max}]")
        return value

    def to_dict(self, name: str) -> dict[str, Any]:
        """Ax range parameter: ``bounds`` [min, max], ``value_type`` and ``log_scale``."""
        return {
            "name": name,
            "type": "range",
            "bounds": [self.min, self.max],
            "value_type": self.value_type.value if self.value_type else None,
            "log_scale": self.log_scale,
        }


class Choice(Hyperparameter):
    """One of a finite set of values; ordered choices let the surrogate model distance."""

    def __init__(
        self,
        value: Any,
        values: Sequence[Any],
        is_ordered: bool = True,
        sort_values: bool = False,
        value_type: ValueType | str | None = None,
    ) -> None:
        values = list(values)
        if len(values) < 2:
            raise ValueError(f"Choice needs at least two values, got {values!r}")
        if value_type is None:
            value_type = _infer_value_type(values[0])
        self.value_type = ValueType(value_type)
        values = [_coerce(v, self.value_type) for v in values]
        if len(set(values)) != len(values):
            raise ValueError(f"Choice values must be distinct, got {values!r}")
        self.values = sorted(values) if sort_values else values
        self.is_ordered = bool(is_ordered)
        self.sort_values = bool(sort_values)
        self.value = value

    def _validate(self, value: Any) -> Any:
        value = _coerce(value, self.value_type)  # type: ignore[arg-type]
        if value not in self.values:
            raise ValueError(f"{value!r} is not one of {self.values!r}")
        return value

    def to_dict(self, name: str) -> dict[str, Any]:
        """Ax choice parameter: ``values``, ``value_type``, ``is_ordered`` and ``sort_values``."""
        return {
            "name": name,
            "type": "choice",
            "values": list(self.values),
            "value_type": self.value_type.value if self.value_type else None,
            "is_ordered": self.is_ordered,
            "sort_values": self.sort_values,
        }


class Fixed(Hyperparameter):
    """A value that is part of the configuration but not searched."""

    def __init__(self, value: Any) -> None:
        self.value_type = _infer_value_type(value) if value is not None else None
        self._value = value

    def _validate(self, value: Any) -> Any:
        if value != self._value:
            raise ValueError(f"{value!r} differs from the fixed value {self._value!r}")
        return self._value

    def to_dict(self, name: str) -> dict[str, Any]:
        """Ax fixed parameter: ``value`` and its ``value_type`` (None for a None value)."""
        return {
            "name": name,
            "type": "fixed",
            "value": self._value,
            "value_type": self.value_type.value if self.value_type else None,
        }


def describe_domain(hyperparameter: Hyperparameter) -> str:
    """The values ``hyperparameter`` accepts, in words, for error messages.

    E.g. ``an int in [4, 64] (log scale)``, ``one of [1, 3, 5]``, ``the fixed value 'same'``.
    """
    if isinstance(hyperparameter, Range):
        scale = " (log scale)" if hyperparameter.log_scale else ""
        kind = hyperparameter.value_type.value if hyperparameter.value_type else "number"
        return f"{'an' if kind == 'int' else 'a'} {kind} in [{hyperparameter.min}, {hyperparameter.max}]{scale}"
    if isinstance(hyperparameter, Choice):
        kind = hyperparameter.value_type.value if hyperparameter.value_type else "value"
        return f"one of {list(hyperparameter.values)!r} ({kind})"
    if isinstance(hyperparameter, Fixed):
        return f"the fixed value {hyperparameter.value!r}"
    raise TypeError(f"not a hyperparameter domain: {hyperparameter!r}")
