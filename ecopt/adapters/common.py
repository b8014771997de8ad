"""Checks and helpers every built-in adapter shares: option validation, device, prepared splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ecopt.errors import ConfigError


def check_positive_int(key: str, value: Any, minimum: int = 1) -> int:
    """``adapter_options.<key>`` must be an integer >= ``minimum`` (booleans are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"adapter_options.{key}", value, f"an integer >= {minimum}")
    return value


def check_device(device: Any) -> str:
    if device not in ("auto", "cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ConfigError("adapter_options.device", device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
    return str(device)


def resolve_device(name: str) -> Any:
    """``auto``: the first CUDA device when there is one, else the CPU."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_or_build_splits(splits_dir: str | Path | None, data_config: Mapping[str, Any]) -> Any:
    """The workflow's prepared splits when there are any, else built from the data section."""
    from ecopt.data import build_splits, load_splits

    if splits_dir is not None and (Path(splits_dir) / "splits.npz").is_file():
        return load_splits(splits_dir)
    return build_splits(data_config)


def check_positive_number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"adapter_options.{key}", value, "a positive number")
    return float(value)
