"""Net impact: the chosen model against the baseline, break-even inferences, life-cycle efficiency."""

from __future__ import annotations

import pytest

from ecopt.net_impact import (
    choose_model,
    default_configuration,
    lifecycle_samples_per_joule,
    net_impact,
    study_baseline,
    uses_lifecycle_efficiency,
    with_lifecycle_efficiency,
)
from ecopt.objectives import parse_objectives
from ecopt.records import TrialRecord, TrialStatus
from ecopt.settings import validate_study
from tests.fakes import ScriptedModel

OBJECTIVES = parse_objectives({"performance": {"metric": "performance"}, "efficiency": {"metric": "samples_per_joule", "log_scale": True}})


def trial(index: int, performance: float, samples_per_joule: float, x: float, status: TrialStatus = TrialStatus.COMPLETED) -> TrialRecord:
    return TrialRecord(params={"x": x, "n": 1}, status=status, round=0, index=index, performance=performance, samples_per_joule=samples_per_joule)


def impact(records, **overrides):
    arguments = {
        "choice": "most_efficient_above_floor",
        "performance_floor": 0.9,
        "performance_tolerance": 0.01,
        "baseline": [{"x": 0.5, "n": 1}],
        "study_joules": 3000.0,
        "kg_co2eq_per_joule": 1e-7,
        "deployment_inferences": None,
    }
    arguments.update(overrides)
    return net_impact(records, OBJECTIVES, **arguments)


def test_break_even_worked_by_hand():
    # baseline: 100 samples/J = 0.01 J per inference; chosen: 400 samples/J = 0.0025 J
    records = [trial(0, 0.95, 100.0, 0.5), trial(1, 0.945, 400.0, 0.1), trial(2, 0.80, 1000.0, 0.9)]
    result = impact(records, deployment_inferences=1_000_000)
    assert result["chosen"]["index"] == 1  # trial 2 is more efficient but below the floor
    assert result["baseline"]["joules_per_inference"] == pytest.approx(0.01)
    assert result["joules_saved_per_inference"] == pytest.approx(0.0075)
    assert result["break_even_inferences"] == pytest.approx(3000.0 / 0.0075)  # 400 000 inferences
    # 10^6 inferences save 7500 J; minus the study's 3000 J: 4500 J net, at 1e-7 kg/J
    assert result["deployment"]["net_joules_saved"] == pytest.approx(4500.0)
    assert result["deployment"]["net_kg_co2eq_saved"] == pytest.approx(4.5e-4)
    assert "reason" not in result


def test_nothing_beats_the_baseline_says_why():
    # the baseline itself is the most efficient trial above the floor: nothing is saved
    records = [trial(0, 0.95, 500.0, 0.5), trial(1, 0.96, 400.0, 0.1)]
    result = impact(records, deployment_inferences=1000)
    assert result["chosen"]["index"] == 0
    assert result["break_even_inferences"] is None and result["joules_saved_per_inference"] == 0.0
    assert "not less than the baseline" in result["reason"] and "never paid back" in result["reason"]
    assert result["deployment"]["net_joules_saved"] == pytest.approx(-3000.0)  # the study is a pure loss
    # only a trial that costs more per inference than the baseline reaches the floor: a negative saving
    records = [trial(0, 0.80, 500.0, 0.5), trial(1, 0.96, 400.0, 0.1)]
    result = impact(records, deployment_inferences=1000)
    assert result["chosen"]["index"] == 1 and result["joules_saved_per_inference"] == pytest.approx(1 / 500 - 1 / 400)
    assert result["break_even_inferences"] is None and "never paid back" in result["reason"]
    assert result["deployment"]["net_joules_saved"] == pytest.approx(1000 * (1 / 500 - 1 / 400) - 3000.0)


def test_no_baseline_and_no_completed_trial_give_reasons():
    records = [trial(0, 0.95, 500.0, 0.3)]
    assert "no baseline" in impact(records, baseline=[])["reason"]
    assert "no completed trial" in impact(records)["reason"]  # the baseline (x=0.5) never ran
    failed = [trial(0, 0.95, 500.0, 0.5, status=TrialStatus.FAILED)]
    assert impact(failed)["reason"] == "no completed trial with a positive samples_per_joule"
    assert "performance floor 0.99" in impact([trial(0, 0.95, 500.0, 0.5)], performance_floor=0.99)["reason"]


def test_a_cheaper_but_much_less_accurate_model_is_no_saving():
    # the case a fresh-eyes check found: accuracy 0.123 at a tenth of the baseline's joules was reported as a saving
    records = [trial(0, 0.97, 100.0, 0.5), trial(1, 0.123, 1000.0, 0.1)]
    result = impact(records, performance_floor=None, deployment_inferences=10**6)
    assert result["chosen"]["index"] == 1 and result["joules_saved_per_inference"] == pytest.approx(0.009)
    # the deployment block holds the baseline's cost only: no saving to net
    assert result["break_even_inferences"] is None and "net_joules_saved" not in result["deployment"]
    assert result["performance_worse_than_baseline_by"] == pytest.approx(0.847)
    assert "worse than the baseline by 0.847 in performance (higher is better" in result["reason"]
    assert "performance_tolerance 0.01" in result["reason"]
    # within the tolerance, the saving counts: 0.005 worse at a tolerance of 0.01
    records = [trial(0, 0.97, 100.0, 0.5), trial(1, 0.965, 1000.0, 0.1)]
    result = impact(records, performance_floor=None)
    assert result["break_even_inferences"] == pytest.approx(3000.0 / 0.009) and "reason" not in result
    assert "worse than the baseline by 0.005" in impact(records, performance_floor=None, performance_tolerance=0.001)["reason"]


def test_the_chosen_model_meets_the_objectives_thresholds():
    thresholds = parse_objectives(
        {"performance": {"metric": "performance", "threshold": 0.9}, "efficiency": {"metric": "samples_per_joule", "log_scale": True, "threshold": 50.0}}
    )
    # trial 2 is the most efficient and the knee of all three, but below the performance threshold;
    # trial 0 is the most accurate but below the efficiency threshold
    records = [trial(0, 0.99, 10.0, 0.5), trial(1, 0.93, 400.0, 0.1), trial(2, 0.6, 5000.0, 0.9)]
    for choice in ("knee", "most_efficient_above_floor"):
        chosen, how = choose_model(records, thresholds, choice, None)
        assert chosen.index == 1 and "performance >= 0.9 and samples_per_joule >= 50" in how
    chosen, how = choose_model(records, OBJECTIVES, "most_efficient_above_floor", None)
    assert chosen.index == 2 and how == "the most efficient trial (no performance floor or threshold set)" and "None" not in how
    nothing, reason = choose_model([trial(0, 0.5, 5000.0, 0.9)], thresholds, "knee", None)
    assert nothing is None and reason == "no completed trial meets the objectives' thresholds (performance >= 0.9, samples_per_joule >= 50)"


def test_the_performance_floor_applies_to_the_knee_too():
    # (0.9, 10), (0.5, 1000), (0.85, 300): the knee of all three is trial 2; above the floor 0.88 only trial 0 remains
    records = [trial(0, 0.9, 10.0, 0.5), trial(1, 0.5, 1000.0, 0.1), trial(2, 0.85, 300.0, 0.2)]
    chosen, how = choose_model(records, OBJECTIVES, "knee", 0.88)
    assert chosen.index == 0 and how == "the frontier's knee among the trials with performance >= 0.88"
    nothing, reason = choose_model(records, OBJECTIVES, "knee", 0.95)
    assert nothing is None and reason == "no trial reaches the performance floor 0.95 (net_impact.performance_floor)"


def test_knee_choice_is_the_frontier_knee():
    # (0.9, 10), (0.5, 1000), (0.85, 300): the third is the balanced one
    records = [trial(0, 0.9, 10.0, 0.5), trial(1, 0.5, 1000.0, 0.1), trial(2, 0.85, 300.0, 0.2)]
    chosen, how = choose_model(records, OBJECTIVES, "knee", None)
    assert chosen.index == 2 and how == "the frontier's knee"


def test_lifecycle_samples_per_joule_by_hand():
    # 1000 J of training, 0.01 J per inference, 10^5 inferences: 10^5 / (1000 + 1000) = 50 per joule
    assert lifecycle_samples_per_joule(1000.0, 0.01, 1e5) == pytest.approx(50.0)
    # many inferences: tends to the inference efficiency (100 per joule)
    assert lifecycle_samples_per_joule(1000.0, 0.01, 1e12) == pytest.approx(100.0, rel=1e-6)
    with pytest.raises(ValueError):
        lifecycle_samples_per_joule(1000.0, 0.0, 1e5)


def test_lifecycle_efficiency_is_derived_from_the_stored_joules():
    stored = TrialRecord(params={"x": 0.5}, status=TrialStatus.COMPLETED, train_joules=1000.0, eval_joules=20.0, samples=2000, samples_per_joule=100.0)
    untrained = TrialRecord(params={"x": 0.6}, status=TrialStatus.COMPLETED, eval_joules=20.0, samples=2000, samples_per_joule=100.0)
    failed = TrialRecord(params={"x": 0.7}, status=TrialStatus.FAILED, train_joules=5.0)
    derived = with_lifecycle_efficiency([stored, untrained.to_dict(), failed], 10**5)
    # 10^5 / (1000 J + 10^5 x 0.01 J) = 50 per joule; no training joules: 0 J of training, 100 per joule
    assert [r.lifecycle_samples_per_joule for r in derived] == [pytest.approx(50.0), pytest.approx(100.0), None]
    assert stored.lifecycle_samples_per_joule is None  # copies: the inputs are unchanged
    assert [r.lifecycle_samples_per_joule for r in with_lifecycle_efficiency(derived, None)] == [None, None, None]
    assert uses_lifecycle_efficiency(parse_objectives({"performance": {}, "efficiency": {"metric": "lifecycle_samples_per_joule"}}))
    assert not uses_lifecycle_efficiency(OBJECTIVES)


def test_default_configuration_is_the_baseline_without_search_baseline(caplog):
    space = {"x": {"type": "range", "bounds": [0.0, 1.0]}, "n": {"type": "choice", "values": [1, 2, 4], "value_type": "int"}}
    mapping = {"study": "t", "adapter": "tests.fakes:ScriptedModel", "space": space}
    settings = validate_study(mapping)
    assert study_baseline(settings, ScriptedModel()) == [{"x": 0.5, "n": 1}]
    assert study_baseline(validate_study({**mapping, "search": {"baseline": [{"x": 0.2, "n": 2}]}}), ScriptedModel()) == [{"x": 0.2, "n": 2}]
    assert study_baseline(validate_study({**mapping, "net_impact": {"baseline": "none"}}), ScriptedModel()) == []
    narrow = validate_study({**mapping, "space": {**space, "x": {"type": "range", "bounds": [0.6, 1.0]}}})
    assert default_configuration(ScriptedModel(), narrow.space) is None  # the default lies outside the space
    assert "outside the space" not in caplog.text
    assert study_baseline(narrow, ScriptedModel()) == []
    # said at config time, naming the parameter: not discovered hours later as "no baseline"
    assert "default configuration lies outside the space (x = 0.5" in caplog.text and "search.baseline" in caplog.text


def test_a_stage_run_by_hand_fills_the_adapter_default_baseline_as_the_workflow_does(tmp_path):
    import json

    import yaml

    from ecopt.search import main as search_main
    from ecopt.summary import main as summary_main
    from tests.test_summary import entry

    space = {"x": {"type": "range", "bounds": [0.0, 1.0]}, "n": {"type": "choice", "values": [1, 2, 4], "value_type": "int"}}
    study = {"study": "t", "adapter": "tests.fakes:ScriptedModel", "space": space, "search": {"initial_trials": 3}}
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(study))
    assert search_main(["--config", str(config), "--round", "0", "--out", str(tmp_path / "proposals.json")]) == 0
    proposals = json.loads((tmp_path / "proposals.json").read_text())["proposals"]
    assert proposals[0]["params"] == {"x": 0.5, "n": 1} and len(proposals) == 3  # the adapter's defaults lead round 0

    trials = tmp_path / "trials"
    trials.mkdir()
    for proposal, efficiency in zip(proposals, (100.0, 400.0, 50.0), strict=True):
        record = {
            "params": proposal["params"],
            "status": "completed",
            "round": 0,
            "index": proposal["index"],
            "performance": 0.9,
            "samples_per_joule": efficiency,
        }
        (trials / f"{proposal['index']}.json").write_text(json.dumps(record))
    ledger = tmp_path / "data.json"
    ledger.write_text(json.dumps(entry("data", 0.0, 5.0)))
    frontier = tmp_path / "frontier.json"
    frontier.write_text(json.dumps({"efficiency_metric": "samples_per_joule", "completed": 3, "trials": 3, "statuses": {s.value: 0 for s in TrialStatus}}))
    out = tmp_path / "summary.json"
    args = ["--frontier-summary", str(frontier), "--trials", str(trials), "--ledger", str(ledger), "--out", str(out)]
    assert summary_main(["--config", str(config), *args]) == 0
    impact = json.loads(out.read_text())["net_impact"]
    assert impact["baseline"]["params"] == {"x": 0.5, "n": 1} and impact["baseline"]["joules_per_inference"] == pytest.approx(0.01)
    # net_impact.baseline: none keeps it out of both
    config.write_text(yaml.safe_dump({**study, "net_impact": {"baseline": "none"}}))
    assert summary_main(["--config", str(config), *args]) == 0
    assert json.loads(out.read_text())["net_impact"]["reason"].startswith("no baseline")


LIFECYCLE_OBJECTIVES = parse_objectives({"performance": {"metric": "performance"}, "efficiency": {"metric": "lifecycle_samples_per_joule", "log_scale": True}})


def test_a_lifecycle_study_compares_lifecycle_joules_per_inference():
    # baseline: 0.01 J per sample at inference, 100 J of training; the other: 0.005 J per sample but 2000 J of training
    def measured(index, x, train_joules, eval_joules):
        return TrialRecord(
            params={"x": x, "n": 1}, status=TrialStatus.COMPLETED, round=0, index=index, performance=0.95,
            samples_per_joule=1000 / eval_joules, train_joules=train_joules, eval_joules=eval_joules, samples=1000,
        )  # fmt: skip

    records = with_lifecycle_efficiency([measured(0, 0.5, 100.0, 10.0), measured(1, 0.1, 2000.0, 5.0)], 100_000)
    arguments = {"choice": "most_efficient_above_floor", "performance_floor": None, "performance_tolerance": 0.01, "baseline": [{"x": 0.5, "n": 1}]}
    result = net_impact(records, LIFECYCLE_OBJECTIVES, study_joules=50.0, kg_co2eq_per_joule=None, deployment_inferences=100_000, **arguments)
    # life cycle at N = 100 000: baseline 100/1e5 + 0.01 = 0.011 J; the other 2000/1e5 + 0.005 = 0.025 J: the baseline wins
    assert result["baseline"]["joules_per_inference"] == pytest.approx(0.011)
    assert result["chosen"]["index"] == 0 and result["break_even_inferences"] is None
    assert result["joules_per_inference_basis"].startswith("lifecycle")
    # at N = 10^7 training is amortised: 0.01001 J against 0.0052 J, the other model saves 0.00481 J per inference
    records = with_lifecycle_efficiency(records, 10_000_000)
    result = net_impact(records, LIFECYCLE_OBJECTIVES, study_joules=50.0, kg_co2eq_per_joule=None, deployment_inferences=10_000_000, **arguments)
    assert result["chosen"]["index"] == 1
    assert result["joules_saved_per_inference"] == pytest.approx(0.01001 - 0.0052)
    # evaluation joules alone (a samples_per_joule objective) would have claimed 0.005 J saved at any N
    plain = net_impact(records, OBJECTIVES, study_joules=50.0, kg_co2eq_per_joule=None, deployment_inferences=100_000, **arguments)
    assert plain["joules_saved_per_inference"] == pytest.approx(0.005) and plain["joules_per_inference_basis"] == "evaluation J per sample"


def test_when_no_model_qualifies_the_baseline_and_its_deployment_cost_are_still_reported():
    records = [trial(0, 0.95, 100.0, 0.5), trial(1, 0.945, 400.0, 0.1)]
    result = impact(records, performance_floor=0.99, deployment_inferences=1_000_000)
    assert "performance floor 0.99" in result["reason"] and "chosen" not in result and result["break_even_inferences"] is None
    assert result["baseline"]["joules_per_inference"] == pytest.approx(0.01) and result["baseline"]["performance"] == pytest.approx(0.95)
    # 10^6 inferences of the baseline at 0.01 J: 10 kJ, at 1e-7 kg CO2eq per J
    assert result["deployment"] == pytest.approx({"inferences": 1_000_000, "baseline_joules": 10_000.0, "baseline_kg_co2eq": 1e-3})
    # a chosen model adds the net saving to the same block
    saved = impact(records, deployment_inferences=1_000_000)["deployment"]
    assert saved["baseline_joules"] == pytest.approx(10_000.0) and saved["net_joules_saved"] == pytest.approx(4500.0)


def test_a_minimised_performance_is_worse_when_higher_and_the_reason_says_so():
    objectives = parse_objectives({"performance": {"metric": "performance", "minimize": True}, "efficiency": {"metric": "samples_per_joule"}})
    records = [trial(0, 0.20, 100.0, 0.5), trial(1, 0.50, 1000.0, 0.1)]  # a loss: the cheap model's is 0.3 higher
    arguments = {"choice": "most_efficient_above_floor", "performance_floor": None, "performance_tolerance": 0.01, "baseline": [{"x": 0.5, "n": 1}]}
    result = net_impact(records, objectives, study_joules=1.0, kg_co2eq_per_joule=None, deployment_inferences=None, **arguments)
    assert "worse than the baseline by 0.3 in performance (lower is better: 0.5 against 0.2)" in result["reason"]
    assert "accurate" not in result["reason"]


def test_a_space_parameter_the_adapter_does_not_declare_is_a_config_error_naming_it():
    from ecopt.errors import ConfigError

    settings = validate_study({"study": "t", "adapter": "tests.fakes:ScriptedModel", "space": {"w": {"type": "range", "bounds": [1, 64]}}})
    with pytest.raises(ConfigError, match=r"space\.w"):
        default_configuration(ScriptedModel(), settings.space)
