"""Checks and helpers every built-in adapter shares: option validation, device, prepared splits.

The option checks raise ``ConfigError`` naming ``adapter_options.<key>``, so a bad
constructor argument reads like any other config error. They need nothing from
``ecopt.config`` (adapters must not import the settings layer back: that was part
of the import cycle issue 12 removes).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecopt.errors import ConfigError


def check_positive_int(key: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` if it is an integer >= ``minimum`` (booleans are not integers here).

    Raises ``ConfigError("adapter_options.<key>", value, "an integer >= <minimum>")`` otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"adapter_options.{key}", value, f"an integer >= {minimum}")
    return value


def check_positive_number(key: str, value: Any) -> float:
    """Return ``value`` as a float if it is a number > 0 (not a bool, not NaN); else ``ConfigError`` naming ``adapter_options.<key>``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"adapter_options.{key}", value, "a positive number")
    return float(value)


def check_device(device: Any) -> str:
    """Return ``device`` as a string if it is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; else ``ConfigError`` naming ``adapter_options.device``."""
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ConfigError("adapter_options.device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
    return str(device)


def resolve_device(name: str) -> Any:
    """The ``torch.device`` for a checked device name; ``auto`` is the first CUDA device when there is one, else the CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_or_build_splits(splits_dir: str | Path | None, data_config: Mapping[str, Any]) -> Any:
    """The workflow's prepared splits (``<splits_dir>/splits.npz``, see ``ecopt.data``) when there are any, else built from the data section.

    Returns an ``ecopt.data.DatasetSplits``; errors are those of ``ecopt.data.build_splits``.
    """
    from ecopt.data import build_splits, load_splits

    if splits_dir is not None and (Path(splits_dir) / "splits.npz").is_file():
        return load_splits(splits_dir)
    return build_splits(data_config)
