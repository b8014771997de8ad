"""The packaged JSON Schema: a valid Draft 2020-12 schema, shipped as package data, complete."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from ecopt.objectives import DEFAULT_OBJECTIVES
from ecopt.settings import SECTION_CLASSES, STAGES, study_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = study_schema()


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_schema_ships_as_package_data():
    assert json.loads((ROOT / "ecopt" / "schemas" / "config.schema.json").read_text()) == SCHEMA
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ecopt"]
    assert "schemas/*.json" in package_data


@pytest.mark.parametrize("section", sorted(SECTION_CLASSES))
def test_every_section_field_has_a_default_and_a_description(section):
    for key, spec in SCHEMA["properties"][section]["properties"].items():
        assert spec.get("description"), f"{section}.{key} has no description"
        assert "default" in spec, f"{section}.{key} has no default"


def test_top_level_entries_are_described_and_defaults_agree_with_the_package():
    assert all(spec.get("description") for spec in SCHEMA["properties"].values())
    assert SCHEMA["properties"]["objectives"]["default"] == DEFAULT_OBJECTIVES
    assert SCHEMA["properties"]["stages"]["default"] == list(STAGES)
    assert SCHEMA["properties"]["stages"]["items"]["enum"] == list(STAGES)


def test_shipped_configs_pass_the_plain_schema():
    """Without ECOpt's default filling or integer rule, the schema alone accepts every shipped study."""
    for path in [ROOT / "config" / "config.yaml", *sorted((ROOT / "config" / "studies").glob("*.yaml"))]:
        jsonschema.validate(yaml.safe_load(path.read_text()), SCHEMA, cls=jsonschema.Draft202012Validator)
