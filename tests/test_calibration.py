import json
import subprocess
import sys

import pytest

from ecopt.calibration import calibrate, centre_of, verdict
from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, Fixed, Range, ValueType
from ecopt.meter import Meter
from ecopt.settings import validate_section
from tests.fakes import ConstantPowerBackend


def test_centre_of_a_space():
    space = {
        "width": Range(8, 2, 32, log_scale=True, value_type=ValueType.INT),
        "rate": Range(0.5, 0.0, 1.0),
        "kernel": Choice(3, [1, 3, 5, 7]),
        "padding": Fixed("same"),
    }
    assert centre_of(space) == {"width": 8, "rate": 0.5, "kernel": 3, "padding": "same"}


def test_calibrate_with_a_known_meter():
    config = {
        "adapter": "tests.fakes:ScriptedModel",
        "adapter_options": {"evaluate_seconds": 0.01},
        "calibration": {"repeats": 4, "idle_seconds": 0.2, "overhead_pairs": 1, "params": {"x": 0.2, "n": 2}},
    }
    meter = Meter({"min_window_seconds": 0.2}, backend=ConstantPowerBackend(cpu_watts=10, ram_watts=5))
    rows, summary = calibrate(config, meter=meter)
    assert len(rows) == 4 and all(row["samples"] == 20 * row["passes"] for row in rows)
    assert summary["idle_watts"] == pytest.approx(15.0)
    assert summary["params"] == {"x": 0.2, "n": 2} and summary["params_source"] == "config"
    # constant power: the spread of samples/J is the spread of time per pass only
    assert 0 <= summary["samples_per_joule_rsd"] < 0.2
    assert summary["energy_source"] == "cpu:fake_constant+ram:fake_constant" and summary["estimated"] is True
    assert len(summary["meter_overhead_pairs"]) == 1
    assert summary["passed"] == (summary["samples_per_joule_rsd"] <= 0.02)
    assert ("PASSED" if summary["passed"] else "FAILED") in verdict(summary) and "ESTIMATE" in verdict(summary)


@pytest.mark.parametrize(
    "section, key",
    [
        ({"repeats": 1}, "calibration.repeats"),
        ({"on_fail": "ignore"}, "calibration.on_fail"),
        ({"max_rsd": -1}, "calibration.max_rsd"),
        ({"params": [1]}, "calibration.params"),
        ({"reps": 3}, "calibration.reps"),
    ],
)
def test_bad_settings_name_the_key(section, key):
    with pytest.raises(ConfigError) as caught:
        validate_section("calibration", section)
    assert caught.value.key == key


@pytest.mark.slow
def test_cli_stops_the_study_when_the_spread_is_above_the_bound(tmp_path, python_env):
    config = tmp_path / "study.yaml"
    config.write_text(
        "adapter: tests.fakes:ScriptedModel\nmeter: {min_window_seconds: 0.2, tracking_mode: process}\n"
        "calibration: {repeats: 3, idle_seconds: 0, overhead_pairs: 0, max_rsd: 0.0, on_fail: stop, params: {x: 0.1, n: 1}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ecopt.calibration", "--config", str(config), "--out-dir", str(tmp_path / "out")],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3
    assert "FAILED" in result.stderr and "calibration.on_fail: warn" in result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["passed"] is False and summary["repeats"] == 3


def test_an_infeasible_centre_falls_back_to_a_feasible_draw():
    config = {
        "adapter": "ecopt.adapters.cnn:CNNClassifier",
        "data": {"dataset": "digits"},
        "space": {"depth": {"type": "range", "bounds": [2, 6], "value_type": "int"}, "pooling": {"type": "fixed", "value": True}},
        "calibration": {"repeats": 2, "idle_seconds": 0, "overhead_pairs": 0},
    }
    meter = Meter({"min_window_seconds": 0.1}, backend=ConstantPowerBackend())
    _, summary = calibrate(config, meter=meter)
    assert summary["params"]["depth"] <= 3  # 8x8 input: depth 4 (the centre) cannot pool
    assert summary["params_source"].startswith("first feasible random draw (the centre is infeasible")
    config["calibration"]["params"] = {"depth": 5}
    with pytest.raises(ConfigError) as caught:
        calibrate(config, meter=meter)
    assert caught.value.key == "calibration.params"
