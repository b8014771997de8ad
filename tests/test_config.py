from pathlib import Path

import pytest

from ecopt.adapters.cnn import CNNClassifier
from ecopt.config import check_study, check_top_level, instantiate_adapter, load_study_config, resolve_adapter
from ecopt.errors import AdapterImportError, ConfigError


def test_default_config_loads_and_builds_the_cnn(tmp_path):
    config = load_study_config("config/config.yaml")
    model = instantiate_adapter(config, splits_dir=tmp_path)
    assert isinstance(model, CNNClassifier)
    assert model.data_config["dataset"] == "digits"  # the data section is injected
    assert model.splits_dir == str(tmp_path) and model.seed == config["seed"]


def test_unknown_section_and_bad_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("adapter: ecopt.adapters.cnn:CNNClassifier\nsearh: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_study_config(path)
    assert caught.value.key == "searh"
    path.write_text("adapter: [unclosed\n")
    with pytest.raises(ConfigError, match="valid YAML"):
        load_study_config(path)
    with pytest.raises(ConfigError, match="existing YAML file"):
        load_study_config(tmp_path / "missing.yaml")


def test_top_level_types():
    with pytest.raises(ConfigError, match="'adapter'"):
        check_top_level({"seed": 1})
    with pytest.raises(ConfigError, match="'seed'"):
        check_top_level({"adapter": "a:B", "seed": "one"})
    with pytest.raises(ConfigError, match="'adapter_options'"):
        check_top_level({"adapter": "a:B", "adapter_options": [1]})


@pytest.mark.parametrize("stages", [[], ["search", "train"], "proxies"])
def test_stages_must_be_a_list_of_known_stages(stages):
    with pytest.raises(ConfigError) as caught:
        check_top_level({"adapter": "a:B", "stages": stages})
    assert caught.value.key == "stages"


def test_stages_default_to_every_stage():
    assert check_top_level({"adapter": "a:B"})["stages"] == ["calibrate", "proxies", "search"]
    assert check_top_level({"adapter": "a:B", "stages": ["proxies"]})["stages"] == ["proxies"]


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


def test_unknown_adapter_option_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        instantiate_adapter({"adapter": "ecopt.adapters.cnn:CNNClassifier", "adapter_options": {"widht": 3}})
    assert caught.value.key == "adapter_options"


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parent.parent / "config" / "studies").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_study_passes_the_config_checks(path):
    sections = check_study(load_study_config(path))
    assert sections["search"]["initial_trials"] >= len(sections["search"]["baseline"])
