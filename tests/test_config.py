"""ecopt.config: reading a study YAML validated."""

import pytest

from ecopt.config import load_study_config
from ecopt.errors import ConfigError
from ecopt.settings import StudySettings


def test_default_config_loads_validated():
    settings = load_study_config("config/config.yaml")
    assert isinstance(settings, StudySettings) and settings.search.initial_trials == 8 and settings.data.dataset == "digits"


def test_a_slice_loads_only_its_sections(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("search: {batch_size: 3}\nmeter: {pue: bad}\n")
    settings = load_study_config(path, sections=["search"])
    assert settings.search.batch_size == 3 and settings.meter is None


def test_unknown_section_and_bad_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("study: s\nadapter: ecopt.adapters.cnn:CNNClassifier\nspace: {width: {type: range, bounds: [2, 8]}}\nsearh: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_study_config(path)
    assert caught.value.key == "searh"
    path.write_text("adapter: [unclosed\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_study_config(path)
    with pytest.raises(ConfigError, match="existing YAML file"):
        load_study_config(tmp_path / "missing.yaml")
