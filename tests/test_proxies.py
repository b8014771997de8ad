import pytest

from ecopt.errors import ConfigError
from ecopt.meter import Meter
from ecopt.proxies import correlation_stats, measure_architectures
from ecopt.settings import validate_section
from ecopt.space import parse_space, sample_space
from tests.fakes import ConstantPowerBackend

CONFIG = {
    "adapter": "ecopt.adapters.cnn:CNNClassifier",
    "data": {"dataset": "digits"},
    "space": {
        "width": {"type": "range", "bounds": [2, 32], "value_type": "int", "log_scale": True},
        "depth": {"type": "range", "bounds": [1, 4], "value_type": "int"},
        "pooling": {"type": "choice", "values": [False, True]},
    },
    "proxies": {"architectures": 6},
}


def test_sample_space_is_seeded_and_inside_the_space():
    space = parse_space(CONFIG["space"])
    draws = sample_space(space, 50, seed=1)
    assert draws == sample_space(space, 50, seed=1) and draws != sample_space(space, 50, seed=2)
    assert all(2 <= d["width"] <= 32 and isinstance(d["width"], int) and d["pooling"] in (False, True) for d in draws)
    assert {d["depth"] for d in draws} == {1, 2, 3, 4}


def test_measures_feasible_architectures_and_correlates():
    meter = Meter({"min_window_seconds": 0.1}, backend=ConstantPowerBackend(cpu_watts=10, ram_watts=5))
    rows = measure_architectures(CONFIG, meter=meter)
    assert len(rows) == 6
    for row in rows:
        assert row["parameters"] > 0 and row["flops_per_sample"] > 0
        assert row["joules_per_sample"] == pytest.approx(row["joules"] / row["samples"])
        assert not (row["param_depth"] == 4 and row["param_pooling"])  # 8x8 input: infeasible ones are skipped
    stats = correlation_stats(rows)
    entry = stats["flops_per_sample_vs_joules_per_sample"]
    assert entry["n"] == 6 and entry["pearson_ci_low"] <= entry["pearson_r"] <= entry["pearson_ci_high"]
    assert stats["estimated"] is True and "run time" in stats["note"]


def test_too_few_feasible_architectures_is_a_clear_error():
    config = dict(
        CONFIG,
        space={"depth": {"type": "range", "bounds": [3, 6], "value_type": "int"}, "pooling": {"type": "fixed", "value": True}},
        proxies={"architectures": 4, "max_draws": 10},
    )
    meter = Meter({"min_window_seconds": 0.1}, backend=ConstantPowerBackend())
    with pytest.raises(ConfigError, match="at least 4 distinct feasible architectures"):
        measure_architectures(config, meter=meter)


@pytest.mark.parametrize("section, key", [({"architectures": 3}, "proxies.architectures"), ({"seed": "x"}, "proxies.seed"), ({"k": 1}, "proxies.k")])
def test_bad_settings_name_the_key(section, key):
    with pytest.raises(ConfigError) as caught:
        validate_section("proxies", section)
    assert caught.value.key == key


def test_each_architecture_is_measured_once():
    config = {
        **CONFIG,
        "space": {
            "depth": {"type": "range", "bounds": [1, 2], "value_type": "int"},
            "pooling": {"type": "choice", "values": [False, True]},
            "width": {"type": "fixed", "value": 4},
        },
        "proxies": {"architectures": 4, "max_draws": 100},
    }
    meter = Meter({"min_window_seconds": 0.05}, backend=ConstantPowerBackend())
    rows = measure_architectures(config, meter=meter)
    assert sorted((r["param_depth"], r["param_pooling"]) for r in rows) == [(1, False), (1, True), (2, False), (2, True)]
    with pytest.raises(ConfigError, match="at least 4 distinct"):
        measure_architectures({**config, "space": {**config["space"], "depth": {"type": "fixed", "value": 1}}}, meter=meter)
