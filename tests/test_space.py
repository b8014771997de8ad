import pytest

from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, Fixed, Range, ValueType
from ecopt.settings import validate_study
from ecopt.space import describe_space, parse_space, validate_params

GOOD = {
    "width": {"type": "range", "bounds": [2, 64], "value_type": "int", "log_scale": True},
    "lr": {"type": "range", "bounds": [1e-4, 1e-1], "log_scale": True},
    "kernel": {"type": "choice", "values": [1, 3, 5]},
    "act": {"type": "choice", "values": ["relu", "gelu"], "is_ordered": False},
    "padding": {"type": "fixed", "value": "same"},
}


def test_parse_space_builds_each_kind():
    space = parse_space(GOOD)
    assert isinstance(space["width"], Range) and space["width"].value_type is ValueType.INT and space["width"].log_scale
    assert space["lr"].value_type is ValueType.FLOAT
    assert isinstance(space["kernel"], Choice) and space["kernel"].values == [1, 3, 5]
    assert space["act"].is_ordered is False
    assert isinstance(space["padding"], Fixed)
    described = describe_space(space)
    assert [d["name"] for d in described] == list(GOOD)
    assert described[0]["bounds"] == [2, 64]


@pytest.mark.parametrize(
    "section, key, fragment",
    [
        (None, "space", "a mapping"),
        ({}, "space", "at least 1 entries"),
        ({"w": 3}, "space.w", "a mapping"),
        ({"w": {"type": "interval"}}, "space.w.type", "'range'"),
        ({"w": {"type": "range", "bounds": [1]}}, "space.w.bounds", "a list of 2 items"),
        ({"w": {"type": "range", "bounds": [5, 1]}}, "space.w.bounds", "low < high"),
        ({"w": {"type": "range", "bounds": [0, "b"]}}, "space.w.bounds[1]", "a number"),
        ({"w": {"type": "range", "bounds": [0, 1], "log_scale": True}}, "space.w.bounds", "low > 0"),
        ({"w": {"type": "range", "bounds": [0, 1], "log_scale": "yes"}}, "space.w.log_scale", "true or false"),
        ({"w": {"type": "range", "bounds": [0, 1], "value_type": "str"}}, "space.w.value_type", "'int', 'float'"),
        ({"w": {"type": "range", "bounds": [0, 1], "step": 2}}, "space.w.step", "known fields"),
        ({"w": {"type": "choice", "values": [1]}}, "space.w.values", "at least 2 items"),
        ({"w": {"type": "choice", "values": [1, "a"]}}, "space.w.values", "one type"),
        ({"w": {"type": "choice", "values": [1, 1]}}, "space.w.values", "distinct"),
        ({"w": {"type": "fixed"}}, "space.w.value", "fixed: the value"),
    ],
)
def test_malformed_entries_name_the_key(section, key, fragment):
    """The schema (through ecopt.settings) checks each entry's shape; parse_space the relations between fields."""
    with pytest.raises(ConfigError) as caught:
        validate_study({"space": section}, sections=["space"])
    assert caught.value.key == key
    assert fragment in str(caught.value)
    assert f"config key '{key}'" in str(caught.value)


def test_mixed_int_float_choice_becomes_float():
    assert parse_space({"d": {"type": "choice", "values": [0, 0.5]}})["d"].value_type is ValueType.FLOAT


def test_validate_params_fills_fixed_and_coerces():
    space = parse_space(GOOD)
    checked = validate_params(space, {"width": 8.0, "lr": 0.01, "kernel": 3, "act": "gelu"})
    assert checked == {"width": 8, "lr": 0.01, "kernel": 3, "act": "gelu", "padding": "same"}
    with pytest.raises(ValueError, match="missing"):
        validate_params(space, {"width": 8})
    with pytest.raises(ValueError, match="unknown"):
        validate_params(space, {"width": 8, "lr": 0.01, "kernel": 3, "act": "gelu", "depth": 2})
    with pytest.raises(ValueError, match="parameter 'width'"):
        validate_params(space, {"width": 100, "lr": 0.01, "kernel": 3, "act": "gelu"})
