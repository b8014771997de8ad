import math

import pytest

from ecopt.errors import ConfigError
from ecopt.objectives import Objective, objective_values, parse_objectives


def test_defaults_are_performance_and_log_efficiency():
    performance, efficiency = parse_objectives(None)
    assert (performance.metric, performance.minimize, performance.log_scale) == ("performance", False, False)
    assert (efficiency.metric, efficiency.minimize, efficiency.log_scale) == ("samples_per_joule", False, True)
    assert efficiency.transform(1000.0) == pytest.approx(3.0) and efficiency.untransform(3.0) == pytest.approx(1000.0)
    assert efficiency.transform(0.0) == -math.inf
    assert efficiency.label == "log10 samples_per_joule"


def test_overrides_and_shorthand():
    objectives = parse_objectives({"performance": {"minimize": True, "threshold": 0.3}, "efficiency": {"log_scale": False}})
    assert objectives[0].minimize and objectives[0].threshold == 0.3 and not objectives[1].log_scale
    assert [o.name for o in parse_objectives(["f0", "f1"])] == ["f0", "f1"]


@pytest.mark.parametrize(
    "section, key",
    [
        ({"a": {}}, "objectives"),
        ({"a": {}, "b": {}, "c": {}}, "objectives"),
        ({"performance": {"minimise": True}, "efficiency": {}}, "objectives.performance.minimise"),
        ({"performance": {"minimize": "yes"}, "efficiency": {}}, "objectives.performance.minimize"),
        ({"performance": {"threshold": "high"}, "efficiency": {}}, "objectives.performance.threshold"),
        ({"performance": {}, "efficiency": {"threshold": 0}}, "objectives.efficiency.threshold"),
        ({"performance": {"metric": ""}, "efficiency": {}}, "objectives.performance.metric"),
        ({"performance": {}, "efficiency": {"metric": "performance"}}, "objectives"),
        ({"bad name": {}, "efficiency": {}}, "objectives.bad name"),
        ("performance", "objectives"),
    ],
)
def test_bad_objectives_name_the_key(section, key):
    with pytest.raises(ConfigError) as caught:
        parse_objectives(section)
    assert caught.value.key == key


def test_objective_values_in_optimiser_space():
    objectives = [Objective("performance", "performance"), Objective("efficiency", "samples_per_joule", log_scale=True)]
    assert objective_values({"performance": 0.9, "samples_per_joule": 100.0}, objectives) == pytest.approx([0.9, 2.0])
    assert objective_values({"performance": None, "samples_per_joule": 100.0}, objectives) is None
    assert objective_values({"performance": 0.9, "samples_per_joule": 0.0}, objectives) is None
    assert objective_values({"performance": float("nan"), "samples_per_joule": 1.0}, objectives) is None
