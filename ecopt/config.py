"""Study config files: reading a study YAML.

Validating a study is ``ecopt.settings``'s job: ``load_study_config`` reads the
YAML a stage CLI is given and returns it validated by ``ecopt.settings``. This
module imports ``ecopt.settings`` and nothing imports it back, so there is no cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ecopt.errors import ConfigError
from ecopt.settings import StudySettings, validate_study


def read_study_yaml(path: str | Path) -> Any:
    """The parsed content of a study YAML file (PyYAML ``safe_load``).

    ConfigError naming ``--config`` when the file is missing or not valid YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError("--config", str(path), "an existing YAML file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError("--config", str(path), f"valid YAML ({error})") from None


def load_study_config(path: str | Path, sections: list[str] | None = None) -> StudySettings:
    """A study YAML validated by ``ecopt.settings.validate_study`` (only ``sections`` when given).

    ConfigError naming the key, the value and what was expected, for an unreadable file or a bad setting.
    """
    return validate_study(read_study_yaml(path), sections=sections)
