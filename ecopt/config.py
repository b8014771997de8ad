"""A study's model adapter: finding the class it names and building it with its options.

Validating a study config is ``ecopt.settings``'s job; this module only turns the
``adapter`` entry into a class and an instance. ``load_study_config`` reads a
study YAML for the stage CLIs and returns it validated by ``ecopt.settings``.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ecopt.errors import AdapterImportError, ConfigError

if TYPE_CHECKING:
    from ecopt.settings import StudySettings


def read_study_yaml(path: str | Path) -> Any:
    """The parsed content of a study YAML file; errors name ``--config``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("--config", str(path), "an existing YAML file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError("--config", str(path), f"valid YAML ({error})") from None


def load_study_config(path: str | Path, sections: list[str] | None = None) -> "StudySettings":
    """A study YAML validated by ``ecopt.settings.validate_study`` (only ``sections`` when given)."""
    from ecopt.settings import validate_study

    return validate_study(read_study_yaml(path), sections=sections)


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


def instantiate_adapter(settings: "StudySettings", splits_dir: str | Path | None = None) -> Any:
    """Build the study's adapter with its options.

    Adapters that declare a ``data``, ``splits_dir`` or ``seed`` constructor argument
    get the study's data section (a frozen ``DataSettings``), the prepared-splits
    folder and the study seed unless the options set them.
    """
    from ecopt.settings import thaw

    adapter = resolve_adapter(settings.adapter)
    options = thaw(settings.adapter_options or {})
    accepted = inspect.signature(adapter.__init__).parameters
    if "data" in accepted and "data" not in options and settings.data is not None:
        options["data"] = settings.data
    if "splits_dir" in accepted and "splits_dir" not in options and splits_dir is not None:
        options["splits_dir"] = str(splits_dir)
    if "seed" in accepted and "seed" not in options:
        options["seed"] = settings.seed if settings.seed is not None else 0
    try:
        return adapter(**options)
    except TypeError as error:
        raise ConfigError("adapter_options", thaw(settings.adapter_options or {}), f"keyword arguments accepted by {settings.adapter} ({error})") from None


def write_if_changed(path: str | Path, config: Any) -> Path:
    """Write the effective study config, touching the file only when its content changes."""
    from ecopt.io import write_text

    path = Path(path)
    text = yaml.safe_dump(dict(config), sort_keys=False)
    if path.is_file() and path.read_text() == text:
        return path
    return write_text(path, text)
