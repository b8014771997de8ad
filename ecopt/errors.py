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
