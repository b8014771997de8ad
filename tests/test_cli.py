"""Stage CLIs' study arguments: --settings JSON from the workflow, --config YAML by hand."""

from __future__ import annotations

import argparse

import pytest

from ecopt.cli import add_study_arguments, settings_json, study_mapping
from ecopt.errors import ConfigError


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_study_arguments(parser)
    return parser.parse_args(argv)


def test_settings_json_and_config_yaml_give_the_same_mapping(tmp_path):
    config = tmp_path / "study.yaml"
    config.write_text("# a comment\nfigures: {dpi: 90}\nseed: 3\n")
    assert study_mapping(parse("--config", str(config))) == study_mapping(parse("--settings", '{"seed": 3, "figures": {"dpi": 90}}'))


def test_exactly_one_source_is_required():
    with pytest.raises(SystemExit):
        parse()
    with pytest.raises(SystemExit):
        parse("--config", "a.yaml", "--settings", "{}")


@pytest.mark.parametrize(
    "argv, key",
    [
        (("--settings", "{not json"), "--settings"),
        (("--settings", "[1, 2]"), "--settings"),
        (("--config", "/nonexistent/study.yaml"), "--config"),
    ],
)
def test_bad_sources_name_the_argument(argv, key):
    with pytest.raises(ConfigError) as error:
        study_mapping(parse(*argv))
    assert f"'{key}'" in str(error.value)


def test_settings_json_is_canonical():
    first = settings_json({"search": {"batch_size": 2, "rounds": 3}, "seed": 0})
    second = settings_json({"seed": 0, "search": {"rounds": 3, "batch_size": 2}})
    assert first == second == '{"search":{"batch_size":2,"rounds":3},"seed":0}'
    assert settings_json({"seed": 1}) != settings_json({"seed": 0})
    with pytest.raises(ValueError):
        settings_json({"meter": {"pue": float("nan")}})


def test_integral_floats_are_the_same_setting_as_ints():
    """Restating 1.0 as 1 in the YAML must change neither the rules' params nor a trial's fingerprint."""
    from ecopt.trial import trial_fingerprint

    as_float = {"meter": {"min_window_seconds": 1.0, "pue": 1.5}, "flags": [True, 2.0]}
    as_int = {"meter": {"min_window_seconds": 1, "pue": 1.5}, "flags": [True, 2]}
    assert settings_json(as_float) == settings_json(as_int) == '{"flags":[true,2],"meter":{"min_window_seconds":1,"pue":1.5}}'
    assert trial_fingerprint(as_float, {"width": 8.0}, None) == trial_fingerprint(as_int, {"width": 8}, None)
    assert trial_fingerprint(as_float, {"width": 8.5}, None) != trial_fingerprint(as_int, {"width": 8}, None)
