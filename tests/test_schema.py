"""The workflow's JSON schema and the package's own checks must agree on defaults and keys."""

from pathlib import Path

import pytest
import yaml

from ecopt.calibration import CALIBRATION_DEFAULTS
from ecopt.config import TOP_LEVEL_KEYS, check_study, load_study_config
from ecopt.data import DATA_DEFAULTS
from ecopt.figures import FIGURE_DEFAULTS
from ecopt.meter import METER_DEFAULTS
from ecopt.objectives import DEFAULT_OBJECTIVES
from ecopt.proxies import PROXIES_DEFAULTS
from ecopt.search import SEARCH_DEFAULTS
from ecopt.trial import TRIAL_DEFAULTS

SCHEMA = yaml.safe_load((Path(__file__).parent.parent / "workflow/schemas/config.schema.yaml").read_text())
SECTIONS = {
    "data": DATA_DEFAULTS, "meter": METER_DEFAULTS, "trial": TRIAL_DEFAULTS, "search": SEARCH_DEFAULTS,
    "calibration": CALIBRATION_DEFAULTS, "proxies": PROXIES_DEFAULTS, "figures": FIGURE_DEFAULTS,
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_key_has_the_package_default_and_a_description(section):
    properties = SCHEMA["properties"][section]["properties"]
    assert set(properties) == set(SECTIONS[section])
    for key, spec in properties.items():
        assert spec.get("description"), f"{section}.{key} has no description"
        assert "default" in spec, f"{section}.{key} has no default"
        assert spec["default"] == SECTIONS[section][key], f"{section}.{key}"


def test_top_level_keys_and_objective_defaults_agree():
    assert set(SCHEMA["properties"]) == set(TOP_LEVEL_KEYS)
    assert all(spec.get("description") for spec in SCHEMA["properties"].values())
    assert SCHEMA["properties"]["objectives"]["default"] == DEFAULT_OBJECTIVES


def test_shipped_configs_pass_both_checks():
    import jsonschema

    for path in [Path("config/config.yaml"), *sorted(Path("config/studies").glob("*.yaml"))]:
        config = load_study_config(path)
        check_study(config)
        jsonschema.validate(config, SCHEMA)
