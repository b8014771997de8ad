"""Study configs: reading them, checking them, and loading the adapter they name.

A study config is one YAML file (``config/config.yaml`` is the embedded default).
Each module checks and defaults its own section (``data_settings``,
``meter_settings``, ``trial_settings`` ...); this module checks the top level
and resolves the adapter, so a typo fails before any work starts.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ecopt.errors import AdapterImportError, ConfigError

TOP_LEVEL_KEYS = {
    "study": "name of the study; outputs go to results/<study>/",
    "seed": "integer seed for splits, initial design and torch",
    "adapter": "model adapter as 'package.module:Class'",
    "adapter_options": "keyword arguments for the adapter's constructor",
    "data": "dataset and split settings (ecopt.data)",
    "space": "search space: parameter name -> {type: range|choice|fixed, ...}",
    "meter": "energy meter settings (ecopt.meter)",
    "trial": "trial evaluation settings (ecopt.trial)",
    "objectives": "performance and efficiency objectives (ecopt.search)",
    "search": "initial design, rounds, batch size (ecopt.search)",
    "calibration": "meter calibration stage",
    "proxies": "proxy-correlation stage",
    "figures": "figure settings",
    "stages": "what 'snakemake all' runs: any of calibrate, proxies, search (default: all three)",
}


def section_with_defaults(section: Mapping[str, Any] | None, defaults: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A config section with its defaults filled in; an unknown field is an error naming it."""
    if section is not None and not isinstance(section, Mapping):
        raise ConfigError(key, section, f"a mapping with fields among {sorted(defaults)}")
    section = dict(section or {})
    unknown = sorted(set(section) - set(defaults))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", section[unknown[0]], f"one of the known fields {sorted(defaults)}")
    return {**defaults, **section}


def require_int(settings: Mapping[str, Any], name: str, low: int, key: str, allow_none: bool = False) -> None:
    value = settings[name]
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{key}.{name}", value, f"an integer >= {low}" + (" or null" if allow_none else ""))


def require_number(settings: Mapping[str, Any], name: str, low: float, high: float, key: str, expected: str) -> None:
    """``settings[name]`` must be a number (not a bool) with ``low <= value <= high``; NaN never is."""
    value = settings[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{key}.{name}", value, expected)


def require_one_of(settings: Mapping[str, Any], name: str, allowed: Sequence[Any], key: str, what: str = "") -> None:
    """``settings[name]`` must be one of ``allowed``; the error names the key, the value and the choices."""
    value = settings[name]
    if value not in allowed:
        choices = [repr(option) for option in allowed]
        listed = choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + " or " + choices[-1]
        raise ConfigError(f"{key}.{name}", value, f"{what}{listed}")


def load_study_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError("--config", str(path), "an existing YAML file")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError("--config", str(path), f"valid YAML ({error})") from None
    return check_top_level(config)


# What `snakemake all` produces: the meter's calibration, the proxy-correlation
# study, the search (trials, frontier). Data preparation runs when any needs it.
STAGES = ("calibrate", "proxies", "search")


def check_top_level(config: Any) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        raise ConfigError("<top level>", config, "a mapping of sections")
    unknown = sorted(set(config) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise ConfigError(unknown[0], config[unknown[0]], f"one of the known sections {sorted(TOP_LEVEL_KEYS)}")
    config = dict(config)
    config.setdefault("seed", 0)
    if isinstance(config["seed"], bool) or not isinstance(config["seed"], int):
        raise ConfigError("seed", config["seed"], "an integer")
    if "adapter" not in config:
        raise ConfigError("adapter", None, "an adapter import path such as 'ecopt.adapters.cnn:CNNClassifier'")
    options = config.setdefault("adapter_options", {}) or {}
    if not isinstance(options, Mapping):
        raise ConfigError("adapter_options", options, "a mapping of constructor keyword arguments")
    config["adapter_options"] = dict(options)
    stages = config.setdefault("stages", list(STAGES))
    if not isinstance(stages, list) or not stages or any(stage not in STAGES for stage in stages):
        raise ConfigError("stages", stages, f"a non-empty list of stages from {list(STAGES)}")
    return config


def resolve_adapter(path: Any) -> type:
    """Import ``package.module:Class``; failures say which part is wrong."""
    from ecopt.model import Model

    if not isinstance(path, str) or path.count(":") != 1:
        raise ConfigError("adapter", path, "an import path 'package.module:Class'")
    module_name, class_name = path.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise AdapterImportError(f"config key 'adapter': cannot import module {module_name!r} of {path!r}: {error}") from error
    adapter = getattr(module, class_name, None)
    if adapter is None:
        raise AdapterImportError(f"config key 'adapter': module {module_name!r} has no attribute {class_name!r}")
    if not (inspect.isclass(adapter) and issubclass(adapter, Model)):
        raise AdapterImportError(f"config key 'adapter': {path!r} is not a subclass of ecopt.model.Model")
    return adapter


def instantiate_adapter(config: Mapping[str, Any], splits_dir: str | Path | None = None) -> Any:
    """Build the adapter with its options.

    Adapters that declare a ``data`` or ``splits_dir`` constructor argument get the
    study's data section and the prepared-splits folder unless the options set them.
    """
    adapter = resolve_adapter(config["adapter"])
    options = dict(config.get("adapter_options") or {})
    accepted = inspect.signature(adapter.__init__).parameters
    if "data" in accepted and "data" not in options:
        options["data"] = dict(config.get("data") or {})
    if "splits_dir" in accepted and "splits_dir" not in options and splits_dir is not None:
        options["splits_dir"] = str(splits_dir)
    if "seed" in accepted and "seed" not in options:
        options["seed"] = config.get("seed", 0)
    try:
        return adapter(**options)
    except TypeError as error:
        raise ConfigError("adapter_options", options, f"keyword arguments accepted by {config['adapter']} ({error})") from None


def check_study(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Check every section of a study config up front; return each section with its defaults.

    The workflow calls this before it plans any job, so that a typo, a wrong type,
    a bad range or an unknown adapter fails at once with the key that is wrong,
    rather than an hour later in the stage that reads it.
    """
    from ecopt.calibration import calibration_settings
    from ecopt.data import data_settings
    from ecopt.figures import figure_settings
    from ecopt.meter import meter_settings
    from ecopt.objectives import parse_objectives
    from ecopt.proxies import proxies_settings
    from ecopt.search import baseline_points, search_settings
    from ecopt.space import parse_space
    from ecopt.trial import trial_settings

    config = check_top_level(config)
    study = config.get("study")
    if not isinstance(study, str) or not study or not all(c.isalnum() or c in "-_." for c in study):
        raise ConfigError("study", study, "a name of letters, digits, '-', '_' or '.' (it names results/<study>/)")
    resolve_adapter(config["adapter"])
    if not config.get("space"):
        raise ConfigError("space", config.get("space"), "the search space: parameter name -> {type: range|choice|fixed, ...}")
    space = parse_space(config["space"])
    parse_objectives(config.get("objectives"))
    search = search_settings(config.get("search"))
    baseline_points(search, space)
    return {
        "data": data_settings(config.get("data")),
        "meter": meter_settings(config.get("meter")),
        "trial": trial_settings(config.get("trial")),
        "search": search,
        "calibration": calibration_settings(config.get("calibration")),
        "proxies": proxies_settings(config.get("proxies")),
        "figures": figure_settings(config.get("figures")),
    }


def write_if_changed(path: str | Path, config: Mapping[str, Any]) -> Path:
    """Write the effective study config, touching the file only when its content changes."""
    from ecopt.io import write_text

    path = Path(path)
    text = yaml.safe_dump(dict(config), sort_keys=False)
    if path.is_file() and path.read_text() == text:
        return path
    return write_text(path, text)
