import json
import subprocess
import sys

import pytest

from ecopt.errors import AdapterImportError, ConfigError, ParameterError
from ecopt.hyperparameter import Choice, Fixed, Range
from ecopt.meter import Meter
from ecopt.records import TrialRecord, TrialStatus
from ecopt.settings import validate_section
from ecopt.trial import is_out_of_memory, parse_params_argument, resolve_params, run_trial
from tests.fakes import ConstantPowerBackend, ScriptedProbe, ScriptedReadingsBackend

COMPLETED, FAILED, OUT_OF_MEMORY = TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.OUT_OF_MEMORY
MEASUREMENT_FAILED = TrialStatus.MEASUREMENT_FAILED

SCRIPTED = "tests.fakes:ScriptedModel"


def fake_meter(min_window_seconds=0.2):
    return Meter({"min_window_seconds": min_window_seconds}, backend=ConstantPowerBackend(cpu_watts=10.0, ram_watts=5.0))


def scripted(**options):
    return {"adapter": SCRIPTED, "adapter_options": options, "seed": 0}


def test_a_training_window_shorter_than_the_meters_is_flagged_below_resolution():
    # Early-stopped trials train for 0.05-0.2 s: one such window read 0.022 J, 30x low, and the record did not say so.
    short = run_trial(scripted(evaluate_seconds=0.01, train_seconds=0.0), {"x": 0.5, "n": 2}, meter=fake_meter(0.1))
    assert short["train_seconds"] < 0.1 and short["train_below_resolution"] is True
    long = run_trial(scripted(evaluate_seconds=0.01, train_seconds=0.12), {"x": 0.5, "n": 2}, meter=fake_meter(0.1))
    assert long["train_seconds"] >= 0.1 and long["train_below_resolution"] is False
    assert TrialRecord.from_dict(json.loads(json.dumps(short.to_dict()))) == short  # the field is in the schema
    skipped = run_trial({**scripted(evaluate_seconds=0.01), "trial": {"skip_train": True}}, {"x": 0.5, "n": 2}, meter=fake_meter(0.1))
    assert skipped["train_below_resolution"] is None  # no training window


def test_completed_record_counts_every_pass_in_the_window():
    record = run_trial(scripted(evaluate_seconds=0.02), {"x": 0.5, "n": 2}, meter=fake_meter(0.3))
    assert record["status"] == COMPLETED and record["error"] is None
    assert record["performance"] == pytest.approx(0.55)
    assert record["eval_passes"] >= 10
    assert record["samples"] == 20 * record["eval_passes"]
    assert record["eval_seconds"] >= 0.3
    assert record["samples_per_joule"] == pytest.approx(record["samples"] / record["eval_joules"])
    assert record["eval_joules"] == pytest.approx(15.0 * record["eval_seconds"])
    assert record["train_joules"] is not None and record["train_seconds"] >= 0
    assert record["energy_source"] == "cpu:fake_constant+ram:fake_constant" and record["estimated"] is True
    assert record["overhead_seconds"] == pytest.approx(record["process_wall_seconds"] - record["eval_seconds"] - record["train_seconds"])
    assert record["ran_on"]["host"]
    assert record.filled_defaults == [] and record.measurement_errors == []
    data = json.loads(json.dumps(record.to_dict()))  # serialisable as it stands
    assert TrialRecord.from_dict(data) == record  # and valid against the published schema


def test_skip_train_meters_only_evaluation():
    config = scripted()
    config["trial"] = {"skip_train": True}
    record = run_trial(config, {"x": 0.1, "n": 1}, meter=fake_meter())
    assert record["status"] == COMPLETED
    assert record["train_joules"] is None and record["train_energy"] is None


@pytest.mark.parametrize("error", ["oom", "memory"])
@pytest.mark.parametrize("phase", ["train", "evaluate"])
def test_out_of_memory_is_recorded_with_zero_efficiency(error, phase):
    record = run_trial(scripted(fail_in=phase, error=error), {"x": 0.5, "n": 4}, meter=fake_meter())
    assert record["status"] == OUT_OF_MEMORY
    assert record["samples_per_joule"] == 0.0
    assert record["performance"] is None
    assert "emory" in record["error"]


@pytest.mark.parametrize("phase", ["define", "train", "evaluate"])
def test_a_raising_adapter_is_recorded_as_failed(phase):
    record = run_trial(scripted(fail_in=phase), {"x": 0.5, "n": 1}, meter=fake_meter())
    assert record["status"] == FAILED
    assert f"scripted failure in {phase}" in record["error"]
    assert "Traceback" in record["traceback"]
    assert record["samples_per_joule"] is None


def test_out_of_range_params_are_refused_before_anything_runs():
    with pytest.raises(ParameterError) as caught:
        run_trial(scripted(), {"x": 5.0, "n": 1}, meter=fake_meter())
    assert (caught.value.name, caught.value.value) == ("x", 5.0)
    assert "a float in [0.0, 1.0]" in str(caught.value)


def test_params_are_checked_against_the_config_space():
    config = scripted()
    config["space"] = {"x": {"type": "range", "bounds": [0.0, 0.5]}, "n": {"type": "fixed", "value": 2}}
    record = run_trial(config, {"x": 0.4}, meter=fake_meter())
    assert record["status"] == COMPLETED and record["params"] == {"x": 0.4, "n": 2}
    assert record.filled_defaults == []  # a fixed value is the study's, not a default
    with pytest.raises(ParameterError, match=r"parameter 'x': got 0.9, expected a float in \[0.0, 0.5\]"):
        run_trial(config, {"x": 0.9}, meter=fake_meter())


def test_missing_params_take_the_adapters_defaults():
    record = run_trial(scripted(), {}, meter=fake_meter())
    assert record.status == COMPLETED
    assert record.params == {"x": 0.5, "n": 1} and record.filled_defaults == ["x", "n"]
    config = scripted()
    config["space"] = {"x": {"type": "range", "bounds": [0.0, 1.0]}, "n": {"type": "choice", "values": [1, 2, 4]}}
    record = run_trial(config, {"n": 4}, meter=fake_meter())
    assert record.params == {"x": 0.5, "n": 4} and record.filled_defaults == ["x"]


# The adapter's domains, as ScriptedModel declares them.
DECLARED = {"x": Range(0.5, 0.0, 1.0), "n": Choice(1, [1, 2, 4]), "mode": Fixed("fast")}


@pytest.mark.parametrize(
    "given, name, expected",
    [
        ({"y": 1}, "y", "a parameter of this study: one of ['x', 'n', 'mode']"),
        ({"x": 1.5}, "x", "a float in [0.0, 1.0]"),
        ({"x": "big"}, "x", "a float in [0.0, 1.0]"),
        ({"x": True}, "x", "a float in [0.0, 1.0]"),
        ({"n": 3}, "n", "one of [1, 2, 4] (int)"),
        ({"n": 2.5}, "n", "one of [1, 2, 4] (int)"),
        ({"mode": "slow"}, "mode", "the fixed value 'fast'"),
    ],
)
def test_out_of_domain_params_name_parameter_value_and_domain(given, name, expected):
    with pytest.raises(ParameterError) as caught:
        resolve_params(DECLARED, None, given)
    assert caught.value.name == name and caught.value.value == given[name] and caught.value.expected == expected
    assert f"parameter '{name}': got {given[name]!r}, expected {expected}" == str(caught.value)


def test_resolved_params_are_coerced_and_defaults_listed():
    params, filled = resolve_params(DECLARED, None, {"x": 1, "n": 2.0})
    assert params == {"x": 1.0, "n": 2, "mode": "fast"} and isinstance(params["x"], float) and isinstance(params["n"], int)
    assert filled == ["mode"]


def test_a_default_outside_the_study_space_is_refused():
    from ecopt.space import parse_space

    space = parse_space({"x": {"type": "range", "bounds": [0.6, 1.0]}})
    with pytest.raises(ParameterError, match="adapter's default"):
        resolve_params(DECLARED, space, {})
    with pytest.raises(ConfigError) as caught:
        resolve_params(DECLARED, parse_space({"z": {"type": "fixed", "value": 1}}), {})
    assert caught.value.key == "space.z"


@pytest.mark.parametrize(
    "text, words", [("{not json", "expected a JSON object"), ("[1]", "JSON object of parameter name"), ("@/no/such/file", "cannot read it")]
)
def test_unparseable_params_argument(text, words):
    with pytest.raises(ValueError, match=words):
        parse_params_argument(text)


def test_params_argument_from_a_file(tmp_path):
    (tmp_path / "p.json").write_text('{"x": 0.1}')
    assert parse_params_argument(f"@{tmp_path / 'p.json'}") == {"x": 0.1}


# --------------------------------------------------------------------------- refused meter readings
ZERO = {"cpu": 0.0, "ram": 0.0}
WRAPPED = {"cpu": -4000.0, "gpu": 4500.0}


def scripted_meter(*readings):
    return Meter({"min_window_seconds": 0.05}, backend=ScriptedReadingsBackend(list(readings)))


@pytest.mark.parametrize("bad", [ZERO, WRAPPED])
def test_a_refused_evaluation_window_measured_again_completes(bad):
    meter = scripted_meter(None, bad)  # training is honest, the first evaluation window is not
    record = run_trial(scripted(), {"x": 0.5, "n": 2}, meter=meter)
    assert record.status == COMPLETED and meter.backend.windows == 3
    assert record.samples_per_joule == pytest.approx(record.samples / record.eval_joules) and record.samples_per_joule > 0
    assert len(record.measurement_errors) == 1 and record.measurement_errors[0].startswith("evaluation window: ")
    assert record.eval_seconds >= 0.1  # twice the refused window
    TrialRecord.from_dict(record.to_dict())


def test_an_evaluation_window_refused_twice_is_a_measurement_failure():
    meter = scripted_meter(None, ZERO, WRAPPED)
    record = run_trial(scripted(), {"x": 0.5, "n": 2}, meter=meter)
    assert record.status == MEASUREMENT_FAILED
    assert record.samples_per_joule is None and record.dynamic_samples_per_joule is None and record.eval_joules is None
    assert record.error.startswith("MeasurementError: evaluation window: negative or non-finite energy in cpu") and "0 J" in record.error
    assert len(record.measurement_errors) == 2  # each refused window once, first to last
    assert record.measurement_errors[0].startswith("evaluation window: 0 J over a ")
    assert record.measurement_errors[1].startswith("evaluation window: negative or non-finite energy in cpu over a ")
    assert record.performance is None and record.eval_energy is None
    data = json.loads(json.dumps(record.to_dict()))
    assert TrialRecord.from_dict(data).status == MEASUREMENT_FAILED  # a valid record of its own status


def test_a_refused_training_window_trains_afresh_once():
    meter = scripted_meter(ZERO)
    record = run_trial(scripted(), {"x": 0.5, "n": 2}, meter=meter)
    assert record.status == COMPLETED and record.train_joules > 0
    assert record.measurement_errors[0].startswith("training window: ")
    record = run_trial(scripted(), {"x": 0.5, "n": 2}, meter=scripted_meter(ZERO, ZERO))
    assert record.status == MEASUREMENT_FAILED and record.samples_per_joule is None
    assert record.error.startswith("MeasurementError: training window: 0 J")
    assert len(record.measurement_errors) == 2 and all(reason.startswith("training window: 0 J") for reason in record.measurement_errors)


def test_disturbed_windows_are_measured_again_and_the_record_flagged():
    # Training: disturbed, then quiet (kept: the last try). Evaluation: disturbed at all three tries.
    probe = ScriptedProbe([0.5, 0.0, 0.7, 0.4, 0.6])
    settings = {"min_window_seconds": 0.05, "max_disturbance_share": 0.2, "disturbance_retries": 2}
    meter = Meter(settings, backend=ConstantPowerBackend(), disturbance_probe=probe)
    record = run_trial(scripted(), {"x": 0.5, "n": 2}, meter=meter)
    assert probe.windows == 5 and record.status == COMPLETED
    assert record.train_energy["disturbed"] is False and record.train_energy["disturbed_tries"] == [0.5]
    assert record.eval_energy["disturbed"] is True and record.eval_energy["disturbance_share"] == 0.4
    assert record.disturbed is True and record.disturbance_share == 0.4
    assert TrialRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record  # valid against the schema


def test_the_cli_reads_its_window_from_the_calibration(tmp_path, monkeypatch):
    import ecopt.meter
    import ecopt.trial

    monkeypatch.setattr(ecopt.meter, "_process_backend", lambda settings: ConstantPowerBackend())
    calibration = tmp_path / "summary.json"
    calibration.write_text(json.dumps({"window_seconds": 0.15, "samples_per_joule_rsd": 0.01}))
    study = json.dumps({"adapter": SCRIPTED, "meter": {"min_window_seconds": 3.0}})
    out = tmp_path / "t.json"
    arguments = ["--settings", study, "--params", '{"x": 0.2, "n": 1}', "--out", str(out)]
    assert ecopt.trial.main([*arguments, "--calibration", str(calibration)]) == 0
    record = json.loads(out.read_text())
    assert record["min_window_seconds"] == 0.15 and record["min_window_source"] == f"calibration {calibration}"
    assert 0.15 <= record["eval_seconds"] < 3.0
    calibration.write_text(json.dumps({"window_seconds": 0.25}))  # a new calibration: a new measurement, not the kept one
    assert ecopt.trial.main([*arguments, "--calibration", str(calibration)]) == 0
    assert json.loads(out.read_text())["fingerprint"] != record["fingerprint"]
    assert ecopt.trial.main([*arguments, "--calibration", str(tmp_path / "missing.json")]) == 2


def test_infeasible_cnn_is_failed_with_the_reason():
    config = {"adapter": "ecopt.adapters.cnn:CNNClassifier", "data": {"dataset": "digits"}}
    record = run_trial(config, {"depth": 4, "pooling": True}, meter=fake_meter())
    assert record["status"] == FAILED and "InfeasibleArchitecture" in record["error"] and "1x1" in record["error"]


def test_unimportable_adapter_is_an_error_for_the_caller():
    with pytest.raises(AdapterImportError):
        run_trial({"adapter": "nowhere.module:Model"}, {}, meter=fake_meter())


def test_out_of_memory_classification():
    import torch

    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp] DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_trial_settings_errors():
    with pytest.raises(ConfigError) as caught:
        validate_section("trial", {"skip_train": "no"})
    assert caught.value.key == "trial.skip_train"
    with pytest.raises(ConfigError):
        validate_section("trial", {"repeats": 3})


def _run_cli(args, env, timeout=120):
    return subprocess.run([sys.executable, "-m", "ecopt.trial", *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_cli_default_config_trial_on_digits(tmp_path, python_env):
    """One default-config trial, real meter: completes, within the time goal, and never imports Ax."""
    out = tmp_path / "rounds" / "000" / "trials" / "0.json"
    code = (
        "import runpy, sys; sys.argv = sys.argv[1:]\n"
        "try:\n    runpy.run_module('ecopt.trial', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert 'ax' not in sys.modules and 'botorch' not in sys.modules, 'trial imported Ax'\n"
        "    raise\n"
    )
    params = json.dumps({"width": 8, "depth": 2, "kernel_size": 3, "pooling": True})
    result = subprocess.run(
        [sys.executable, "-c", code, "ecopt.trial", "--config", "config/config.yaml", "--params", params, "--out", str(out)],
        env=python_env,
        capture_output=True,
        text=True,
        timeout=300,  # up to three tries of each window on a busy machine (meter.disturbance_retries)
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert record["status"] == COMPLETED
    assert record["performance"] > 0.8
    assert record["eval_seconds"] >= 3.0 and record["eval_passes"] > 1
    assert record["parameters"] > 0 and record["flops_per_sample"] > 0
    assert record["energy_source"].startswith("cpu:")
    # The time goal is a quiet machine's: windows measured again because other processes were busy (machine mode,
    # a shared test machine) are taken out, each about as long as the window kept.
    retried = sum(record[f"{phase}_seconds"] * len(record[f"{phase}_energy"]["disturbed_tries"]) for phase in ("train", "eval"))
    assert record["process_wall_seconds"] - retried <= 60
    assert "epoch 1/" in result.stderr  # progress is shown
    trainings = 1 + len(record["train_energy"]["disturbed_tries"])
    assert result.stderr.count("epoch ") <= 15 * trainings  # but does not flood the log


@pytest.mark.slow
def test_cli_records_a_failed_trial_and_rejects_a_bad_adapter(tmp_path, python_env):
    config = tmp_path / "study.yaml"
    config.write_text(f"adapter: {SCRIPTED}\nadapter_options: {{fail_in: evaluate}}\nmeter: {{min_window_seconds: 0.1}}\n")
    out = tmp_path / "t.json"
    result = _run_cli(["--config", str(config), "--params", '{"x": 0.2, "n": 1}', "--out", str(out)], python_env)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["status"] == FAILED

    config.write_text("adapter: nowhere.module:Model\n")
    result = _run_cli(["--config", str(config), "--params", "{}", "--out", str(tmp_path / "u.json")], python_env)
    assert result.returncode == 2
    assert "cannot import module 'nowhere.module'" in result.stderr
    assert not (tmp_path / "u.json").exists()

    result = _run_cli(["--config", str(config), "--params", "[1]", "--out", str(tmp_path / "u.json")], python_env)
    assert result.returncode == 2 and "JSON object" in result.stderr


@pytest.mark.slow
def test_cli_fills_defaults_and_refuses_bad_params(tmp_path, python_env):
    config = tmp_path / "study.yaml"
    config.write_text(f"adapter: {SCRIPTED}\nmeter: {{min_window_seconds: 0.1}}\n")
    out = tmp_path / "t.json"
    result = _run_cli(["--config", str(config), "--params", "{}", "--out", str(out)], python_env)
    assert result.returncode == 0, result.stderr
    record = json.loads(out.read_text())
    assert record["status"] == "completed" and record["filled_defaults"] == ["x", "n"] and record["params"] == {"x": 0.5, "n": 1}
    for params, words in [('{"x": 5}', "parameter 'x': got 5, expected a float in [0.0, 1.0]"), ("{x: 1}", "--params: got '{x: 1}'")]:
        bad = tmp_path / "bad.json"
        result = _run_cli(["--config", str(config), "--params", params, "--out", str(bad)], python_env)
        assert result.returncode == 2 and words in result.stderr
        assert not bad.exists()


@pytest.mark.slow
def test_cli_keeps_a_record_of_the_same_trial_and_measures_a_changed_one(tmp_path, python_env):
    """What a rerun of an interrupted trial job does: same fingerprint, record kept; other settings, metered afresh."""
    study = {"adapter": SCRIPTED, "meter": {"min_window_seconds": 0.1, "tracking_mode": "process"}}
    out = tmp_path / "t.json"
    args = ["--params", '{"x": 0.2, "n": 1}', "--out", str(out)]
    assert _run_cli(["--settings", json.dumps(study), *args], python_env).returncode == 0
    measured = out.read_bytes()
    assert len(json.loads(measured)["fingerprint"]) == 64

    config = tmp_path / "study.yaml"  # the same study by hand, keys in another order: the same trial
    config.write_text(f"meter: {{tracking_mode: process, min_window_seconds: 0.1}}\nadapter: {SCRIPTED}\n")
    again = _run_cli(["--config", str(config), *args], python_env)
    assert again.returncode == 0 and "kept" in again.stderr
    assert out.read_bytes() == measured

    study["meter"]["min_window_seconds"] = 0.2
    changed = _run_cli(["--settings", json.dumps(study), *args], python_env)
    assert changed.returncode == 0 and "kept" not in changed.stderr
    record = json.loads(out.read_text())
    assert record["fingerprint"] != json.loads(measured)["fingerprint"] and record["min_window_seconds"] == 0.2


def test_deployment_inferences_is_no_part_of_a_trial():
    # N weighs a measurement where records are read (ecopt.net_impact.with_lifecycle_efficiency): a new N re-measures nothing
    from ecopt.trial import TRIAL_SECTIONS, trial_fingerprint

    assert "deployment" not in TRIAL_SECTIONS
    proposal, params = {"round": 0, "index": 1}, {"x": 0.5, "n": 2}
    fingerprints = {trial_fingerprint({**scripted(), "deployment": {"inferences": n}}, params, proposal) for n in (1, 1000, 10**9)}
    assert fingerprints == {trial_fingerprint(scripted(), params, proposal)}
    assert trial_fingerprint({**scripted(), "seed": 1}, params, proposal) not in fingerprints  # a measured setting still counts
    record = run_trial({**scripted(), "deployment": {"inferences": 1000}}, {"x": 0.5, "n": 2}, meter=fake_meter())
    assert record["lifecycle_samples_per_joule"] is None and record["train_joules"] > 0  # derived on read, never stored


# --------------------------------------------------------------------------- early stopping
CURVE = "tests.fakes:CurveModel"
STRONG = [[0.9, 1e6], [0.8, 2e6], [0.7, 3e6]]  # earlier rounds' points: better in both objectives than any scripted trial


def curve_study(**early_stopping):
    return {
        "adapter": CURVE,
        "adapter_options": {"max_epochs": 9, "epoch_seconds": 0.02},
        "seed": 0,
        "early_stopping": {"enabled": True, **early_stopping},
    }


def test_a_dominated_trial_is_early_stopped_with_its_rung_partial_performance_and_energy():
    from ecopt.early_stopping import RungHistory

    history = RungHistory(["performance", "samples_per_joule"], [True, True], {1: STRONG, 3: STRONG, 9: STRONG})
    stopped = run_trial(curve_study(), {"x": 0.9, "n": 1}, meter=fake_meter(), rung_history=history)
    assert stopped.status == TrialStatus.EARLY_STOPPED and stopped.error is None
    assert stopped.stopped_at_rung == 1 and stopped.early_stopping["rung"] == 1
    assert stopped.early_stopping["judged"] == 1 and stopped.early_stopping["rungs_judged"] == [1]
    assert stopped.early_stopping["efficiency_measured"] == "before training"
    assert (stopped.early_stopping["rank"], stopped.early_stopping["allowed"], stopped.early_stopping["compared"]) == (3, 2, 3)
    assert stopped.performance == pytest.approx(0.1)  # the weights at epoch 1: 0.9 * 1 / 9
    # Efficiency measured before training, on the untrained network: a real window.
    assert stopped.samples_per_joule == pytest.approx(stopped.samples / stopped.eval_joules) and stopped.eval_passes >= 1
    assert [point["epoch"] for point in stopped.learning_curve] == [1]
    assert stopped.learning_curve_joules == "apportioned by time"
    assert 0 < stopped.learning_curve[0]["train_joules"] <= stopped.train_joules
    assert TrialRecord.from_dict(json.loads(json.dumps(stopped.to_dict()))) == stopped  # schema-valid
    # The same configuration with nothing earlier to compare with trains to the end.
    completed = run_trial(curve_study(), {"x": 0.9, "n": 1}, meter=fake_meter(), rung_history=None)
    assert completed.status == COMPLETED and completed.stopped_at_rung is None
    # Never judged (a hand-run trial without rung history) reads differently from judged and continued.
    assert completed.early_stopping == {"judged": 0, "rungs_judged": [], "efficiency_measured": "before training"}
    assert TrialRecord.from_dict(json.loads(json.dumps(completed.to_dict()))) == completed
    assert completed.performance == pytest.approx(0.9) and len(completed.learning_curve) == 9
    assert stopped.train_joules < completed.train_joules / 3
    curve_joules = [point["train_joules"] for point in completed.learning_curve]
    assert curve_joules == sorted(curve_joules) and curve_joules[-1] == pytest.approx(completed.train_joules, rel=0.2)


def test_a_trial_on_the_front_continues_and_completes():
    from ecopt.early_stopping import RungHistory

    weak = [[0.01, 1.0], [0.02, 1.0], [0.03, 1.0]]
    history = RungHistory(["performance", "samples_per_joule"], [True, True], {1: weak, 3: weak})
    record = run_trial(curve_study(), {"x": 0.9, "n": 1}, meter=fake_meter(), rung_history=history)
    assert record.status == COMPLETED and len(record.learning_curve) == 9
    assert record.early_stopping["judged"] == 2 and record.early_stopping["rungs_judged"] == [1, 3] and "rank" not in record.early_stopping


def test_early_stopping_refuses_an_adapter_whose_efficiency_depends_on_its_weights():
    with pytest.raises(ConfigError) as caught:
        run_trial({**scripted(), "early_stopping": {"enabled": True}}, {"x": 0.5, "n": 1}, meter=fake_meter())
    assert caught.value.key == "early_stopping.enabled" and "efficiency_independent_of_weights" in str(caught.value)


def test_cli_trial_applies_the_searchs_objective_checks(tmp_path, monkeypatch, capsys):
    # A life-cycle objective with early stopping ran as a hand-run trial; search refuses it.
    import ecopt.meter
    import ecopt.trial

    monkeypatch.setattr(ecopt.meter, "_process_backend", lambda settings: ConstantPowerBackend())
    study = {
        **curve_study(),
        "deployment": {"inferences": 1000},
        "objectives": {"performance": {}, "efficiency": {"metric": "lifecycle_samples_per_joule"}},
    }
    out = tmp_path / "t.json"
    assert ecopt.trial.main(["--settings", json.dumps(study), "--params", '{"x": 0.9, "n": 1}', "--out", str(out)]) == 2
    assert "early_stopping.enabled" in capsys.readouterr().err and not out.exists()


def test_a_rung_history_of_other_objectives_is_refused():
    from ecopt.early_stopping import RungHistory
    from ecopt.objectives import Objective
    from ecopt.trial import check_rung_history

    objectives = [Objective("performance", "performance"), Objective("efficiency", "samples_per_joule")]
    check_rung_history(RungHistory(["performance", "samples_per_joule"], [True, True], {}), objectives)  # agrees
    check_rung_history(None, objectives)  # nothing to compare
    for metrics, maximize in ((["performance", "dynamic_samples_per_joule"], [True, True]), (["performance", "samples_per_joule"], [True, False])):
        with pytest.raises(ConfigError) as caught:
            check_rung_history(RungHistory(metrics, maximize, {}), objectives)
        assert caught.value.key == "rung_history" and "objective 'efficiency'" in str(caught.value)
