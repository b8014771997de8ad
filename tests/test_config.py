"""ecopt.config: reading a study YAML, resolving and building the adapter it names."""

import pytest

from ecopt.adapters.cnn import CNNClassifier
from ecopt.config import instantiate_adapter, load_study_config, resolve_adapter
from ecopt.errors import AdapterImportError, ConfigError
from ecopt.settings import DataSettings, StudySettings, validate_study


def test_default_config_loads_validated_and_builds_the_cnn(tmp_path):
    settings = load_study_config("config/config.yaml")
    assert isinstance(settings, StudySettings) and settings.search.initial_trials == 8
    model = instantiate_adapter(settings, splits_dir=tmp_path)
    assert isinstance(model, CNNClassifier)
    assert isinstance(model.data_config, DataSettings) and model.data_config.dataset == "digits"  # the data section is injected
    assert model.splits_dir == str(tmp_path) and model.seed == settings.seed


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


@pytest.mark.parametrize(
    "path, fragment",
    [
        ("no_colon", None),
        ("ecopt.nonexistent:Model", "cannot import module"),
        ("ecopt.adapters.cnn:Missing", "has no attribute"),
        ("ecopt.errors:ConfigError", "not a subclass"),
    ],
)
def test_adapter_errors_are_clear(path, fragment):
    if fragment is None:
        with pytest.raises(ConfigError, match="package.module:Class"):
            resolve_adapter(path)
        return
    with pytest.raises(AdapterImportError, match=fragment) as caught:
        resolve_adapter(path)
    assert "config key 'adapter'" in str(caught.value)


def test_an_option_the_constructor_refuses_is_a_config_error():
    settings = validate_study({"adapter": "ecopt.adapters.cnn:CNNClassifier", "adapter_options": {"widht": 3}}, sections=["adapter", "adapter_options", "seed"])
    with pytest.raises(ConfigError) as caught:
        instantiate_adapter(settings)
    assert caught.value.key == "adapter_options"
