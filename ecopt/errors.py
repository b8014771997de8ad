"""Errors that ECOpt raises for people, not for programs.

Every message names the offending key, the value found and what was expected, so
that a user can fix a config without reading a traceback.
"""

from __future__ import annotations

from typing import Any


class ConfigError(ValueError):
    """A configuration entry is missing, malformed or out of range."""

    def __init__(self, key: str, value: Any, expected: str) -> None:
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"config key '{key}': got {value!r}, expected {expected}")


class AdapterImportError(ImportError):
    """The model adapter named in a study config cannot be imported."""


class InfeasibleArchitecture(ValueError):
    """A hyperparameter combination describes a model that cannot exist.

    Raised from ``Model.define()``; the trial is recorded as failed with this
    message rather than crashing the study.
    """


class RecordError(ValueError):
    """A file one stage hands to the next (trial record, proposals, summary) breaks its schema.

    The message names the file, the key path inside it (``eval_energy.joules``,
    ``proposals[2].params``), the value found and what the published schema
    (``ecopt/schemas/*.schema.json``) expects there.
    """

    def __init__(self, source: str, key: str, value: Any, expected: str) -> None:
        self.source = source
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"{source}: key '{key}': got {value!r}, expected {expected}")


class ParameterError(ValueError):
    """A hyperparameter value given to a trial is unknown or outside its domain.

    Raised before anything is metered: a trial with such a value never runs and
    writes no record (``python -m ecopt.trial`` exits with status 2).
    """

    def __init__(self, name: str, value: Any, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"parameter '{name}': got {value!r}, expected {expected}")


class MeasurementError(RuntimeError):
    """A metered window whose reading cannot be an energy: 0 J in total, or a negative component.

    Counters that reset or wrap between start and stop (RAPL's 32-bit energy
    register, a GPU driver reload) give such readings; a samples-per-joule figure
    computed from one would be infinite or plausible-looking and wrong. ``reading``
    is the last rejected ``ecopt.meter.EnergyRecord`` (for diagnosis, never for
    figures); ``refused`` the reason for each window refused, first to last.
    """

    def __init__(self, reason: str, reading: Any = None, refused: list[str] | None = None) -> None:
        self.reason = reason
        self.reading = reading
        self.refused = list(refused) if refused is not None else [reason]
        super().__init__(reason)
