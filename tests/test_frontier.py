import itertools
import math

import numpy as np
import pandas as pd
import pytest

from ecopt.frontier import (
    frontier_tables,
    gain_interval,
    hypervolume,
    hypervolume_trace,
    knee_index,
    pareto_mask,
    reference_point,
    study_summary,
    write_frontier,
)
from ecopt.io import json_ready
from ecopt.objectives import Objective
from ecopt.records import validate_document


def brute_force_mask(values, minimize):
    signs = np.array([-1 if m else 1 for m in minimize])
    oriented = values * signs
    mask = []
    for i, a in enumerate(oriented):
        mask.append(not any(np.all(b >= a) and np.any(b > a) for j, b in enumerate(oriented) if j != i))
    return np.array(mask)


def brute_force_hypervolume(values, reference, minimize):
    """Area of the union of the boxes [reference, point], by coordinate compression."""
    signs = np.array([-1 if m else 1 for m in minimize])
    points = values * signs
    ref = np.asarray(reference) * signs
    points = points[np.all(points > ref, axis=1)]
    xs = np.unique(np.concatenate([[ref[0]], points[:, 0]]))
    ys = np.unique(np.concatenate([[ref[1]], points[:, 1]]))
    area = 0.0
    for (x0, x1), (y0, y1) in itertools.product(zip(xs[:-1], xs[1:], strict=True), zip(ys[:-1], ys[1:], strict=True)):
        if np.any((points[:, 0] >= x1) & (points[:, 1] >= y1)):
            area += (x1 - x0) * (y1 - y0)
    return area


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("minimize", [(False, False), (True, False), (False, True), (True, True)])
def test_pareto_mask_and_hypervolume_match_brute_force(seed, minimize):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(40, 2))
    values[5] = values[3]  # a tie: both copies are kept or dropped together
    np.testing.assert_array_equal(pareto_mask(values, minimize), brute_force_mask(values, minimize))
    signs = np.array([-1 if m else 1 for m in minimize])
    reference = (values * signs).min(axis=0) * signs - signs * 0.1
    assert hypervolume(values, reference, minimize) == pytest.approx(brute_force_hypervolume(values, reference, minimize))


def test_points_that_do_not_beat_the_reference_add_nothing():
    values = np.array([[1.0, 1.0], [3.0, -1.0]])
    assert hypervolume(values, [0.0, 0.0], [False, False]) == pytest.approx(1.0)
    assert hypervolume(np.zeros((0, 2)), [0.0, 0.0], [False, False]) == 0.0


def test_trace_is_monotone_and_skips_failed_trials():
    values = np.array([[1.0, 1.0], [np.nan, np.nan], [2.0, 0.5], [0.5, 0.5], [0.5, 3.0]])
    trace = hypervolume_trace(values, [0.0, 0.0], [False, False])
    assert trace.tolist() == pytest.approx([1.0, 1.0, 1.5, 1.5, 1.5 + 0.5 * 2.0])
    assert np.all(np.diff(trace) >= 0)


def test_knee_is_the_frontier_point_closest_to_the_ideal():
    # A convex front: the middle point bulges towards the ideal (1, 1).
    values = np.array([[0.0, 1.0], [0.8, 0.8], [1.0, 0.0], [0.1, 0.1]])
    assert knee_index(values, [False, False]) == 1
    # Units do not matter: scaling one objective keeps the knee.
    assert knee_index(values * np.array([1000.0, 1.0]), [False, False]) == 1
    # Minimised objectives are flipped.
    assert knee_index(-values, [True, True]) == 1


def test_reference_point_from_thresholds_or_worst_observed():
    objectives = [Objective("performance", "performance", threshold=0.5), Objective("efficiency", "samples_per_joule", log_scale=True)]
    completed = np.array([[0.9, 2.0], [0.7, 3.0]])
    reference, source = reference_point(completed, objectives)
    assert reference == pytest.approx([0.5, 2.0])
    assert "config threshold" in source and "worst observed" in source


def _record(round_number, index, status, performance=None, efficiency=None, **params):
    record = {
        "round": round_number,
        "index": index,
        "status": status,
        "params": params or {"w": index},
        "performance": performance,
        "samples_per_joule": efficiency,
        "error": None if status == "completed" else "boom",
        "ran_on": {"host": "node1", "slurm_job_id": "42"},
    }
    if status == "early_stopped":  # what an early-stopped record must carry
        record.update(stopped_at_rung=1, early_stopping={"rung": 1, "rank": 3, "allowed": 2, "compared": 3, "reason": "rung 1: stop"})
    return record


def test_frontier_tables_and_files(tmp_path):
    objectives = [Objective("performance", "performance"), Objective("efficiency", "samples_per_joule", log_scale=True)]
    records = [
        _record(0, 0, "completed", 0.9, 10.0),
        _record(0, 1, "completed", 0.5, 1000.0),
        _record(0, 2, "completed", 0.4, 100.0),  # dominated
        _record(1, 0, "out_of_memory", None, 0.0),
        _record(1, 1, "failed"),
        _record(1, 2, "completed", 0.8, 200.0),
    ]
    tables = frontier_tables(records, objectives)
    assert len(tables["trials"]) == 6 and tables["trials"][4]["status"] == "failed"
    assert [row["index"] for row in tables["frontier"]] == [0, 2, 1]  # rounds/indices of the non-dominated, best performance first
    assert [row["round"] for row in tables["frontier"]] == [0, 1, 0]
    assert sum(row["knee"] for row in tables["frontier"]) == 1
    assert tables["frontier"][0]["objective_efficiency"] == pytest.approx(1.0)
    trace = [row["hypervolume"] for row in tables["hypervolume"]]
    assert len(trace) == 6 and trace[3] == trace[2] and trace[4] == trace[3] and trace[5] > trace[4]
    assert tables["hypervolume"][0]["reference_source"].startswith("performance: worst observed")

    paths = write_frontier(records, objectives, tmp_path)
    rows = pd.read_csv(paths["trials"], dtype=str, keep_default_na=False).to_dict("records")
    assert rows[0]["param_w"] == "0" and rows[0]["slurm_job_id"] == "42"
    assert {p.name for p in tmp_path.iterdir()} == {"trials.csv", "frontier.csv", "hypervolume.csv", "summary.json"}


def test_a_lifecycle_objective_has_a_frontier(tmp_path):
    import json

    from ecopt.frontier import main

    trials = tmp_path / "trials"
    trials.mkdir()
    # (performance, training J, evaluation J per 1000 samples): at N = 1000 the third trains cheaply and wins on life-cycle
    for index, (performance, train, evaluate) in enumerate([(0.9, 500.0, 1.0), (0.6, 400.0, 0.5), (0.7, 10.0, 5.0)]):
        record = {"params": {"w": index}, "status": "completed", "round": 0, "index": index, "performance": performance}
        record.update(samples=1000, train_joules=train, eval_joules=evaluate, samples_per_joule=1000 / evaluate)
        (trials / f"{index}.json").write_text(json.dumps(record))
    study = {"objectives": {"performance": {}, "efficiency": {"metric": "lifecycle_samples_per_joule", "log_scale": True}}, "deployment": {"inferences": 1000}}
    assert main(["--settings", json.dumps(study), "--trials", str(trials), "--out-dir", str(tmp_path / "out")]) == 0
    frontier = pd.read_csv(tmp_path / "out" / "frontier.csv")
    # lifecycle: 1000/501 = 2.0, 1000/400.5 = 2.5, 1000/15 = 66.7 per joule: trial 1 is dominated by trial 2
    assert sorted(frontier["index"]) == [0, 2]


def test_the_summary_reads_the_studys_efficiency_metric(tmp_path):
    import json

    lifecycle = [Objective("performance", "performance"), Objective("efficiency", "lifecycle_samples_per_joule", log_scale=True)]
    # trial 0 is the most efficient per inference, trial 1 over the model's life (it trains for less)
    records = [
        {"params": {"w": 0}, "status": "completed", "round": 0, "index": 0, "performance": 0.9, "samples_per_joule": 500.0, "lifecycle_samples_per_joule": 2.0},
        {
            "params": {"w": 1},
            "status": "completed",
            "round": 0,
            "index": 1,
            "performance": 0.8,
            "samples_per_joule": 100.0,
            "lifecycle_samples_per_joule": 60.0,
        },
    ]
    paths = write_frontier(records, lifecycle, tmp_path)
    summary = json.loads(paths["summary"].read_text())
    assert summary["efficiency_metric"] == "lifecycle_samples_per_joule"
    assert summary["most_efficient"]["index"] == 1 and summary["most_efficient"]["lifecycle_samples_per_joule"] == 60.0
    default = json.loads(write_frontier(records, [lifecycle[0], Objective("efficiency", "samples_per_joule")], tmp_path / "d")["summary"].read_text())
    assert default["efficiency_metric"] == "samples_per_joule" and default["most_efficient"]["index"] == 0


def test_tables_with_no_completed_trial():
    objectives = [Objective("performance", "performance"), Objective("efficiency", "samples_per_joule", log_scale=True)]
    tables = frontier_tables([_record(0, 0, "failed")], objectives)
    assert tables["frontier"] == [] and tables["hypervolume"][0]["hypervolume"] == 0.0


def test_summary_gain_over_baseline_and_power_law():
    records = []
    for index, batch in enumerate([1, 4, 16, 64]):
        record = _record(0, index, "completed", 0.5, 10.0 * batch**0.5, batch_size=batch)
        record["parameters"] = 1000 * batch  # efficiency = 10 x (params/1000)^0.5 exactly
        records.append(record)
    records.append(_record(1, 0, "out_of_memory", None, 0.0, batch_size=256))
    summary = study_summary(records, baseline=[{"batch_size": 1}, {"batch_size": 2}])
    assert summary["completed"] == 4 and summary["trials"] == 5
    assert summary["most_efficient"]["params"] == {"batch_size": 64}
    assert summary["gain_over_baseline"][0]["gain"] == pytest.approx(8.0)  # sqrt(64) / sqrt(1)
    assert summary["gain_over_baseline"][1]["gain"] is None and "no completed trial" in summary["gain_over_baseline"][1]["reason"]
    fit = summary["power_law_vs_parameters"]
    assert fit["exponent"] == pytest.approx(0.5) and fit["r_squared"] == pytest.approx(1.0)
    assert fit["prefactor"] == pytest.approx(10 / 1000**0.5)


def test_summary_without_parameter_counts_says_why():
    summary = study_summary([_record(0, 0, "completed", 0.5, 10.0), _record(0, 1, "completed", 0.6, 5.0)])
    assert "at least 3" in summary["power_law_vs_parameters"]["reason"]
    assert summary["gain_over_baseline"] == []


@pytest.mark.parametrize("status", ["failed", "out_of_memory", "early_stopped", "measurement_failed"])
def test_every_non_completed_status_is_treated_alike(status):
    objectives = [Objective("performance", "performance"), Objective("efficiency", "samples_per_joule", log_scale=True)]
    other = _record(1, 0, status, 0.99, 5000.0 if status == "early_stopped" else None)  # values it may carry never count
    records = [_record(0, 0, "completed", 0.9, 10.0), _record(0, 1, "completed", 0.5, 1000.0), other]
    tables = frontier_tables(records, objectives)
    assert [row["index"] for row in tables["frontier"]] == [0, 1]
    assert tables["trials"][2]["status"] == status and tables["hypervolume"][2]["status"] == status
    assert tables["hypervolume"][2]["hypervolume"] == tables["hypervolume"][1]["hypervolume"]
    summary = study_summary(records)
    assert summary["completed"] == 2 and summary["statuses"][status] == 1 and sum(summary["statuses"].values()) == 3
    assert summary["most_efficient"]["index"] == 1


def test_a_summary_that_breaks_its_schema_is_not_written(tmp_path, monkeypatch):
    from ecopt import frontier
    from ecopt.errors import RecordError

    objectives = [Objective("performance", "performance"), Objective("efficiency", "samples_per_joule", log_scale=True)]
    monkeypatch.setattr(frontier, "study_summary", lambda records, baseline, efficiency, relative_noise: {"completed": -1})
    with pytest.raises(RecordError) as caught:
        write_frontier([_record(0, 0, "completed", 0.9, 10.0)], objectives, tmp_path)
    assert str(tmp_path / "summary.json") in str(caught.value)
    assert not (tmp_path / "summary.json").exists()


def test_gain_interval_from_baseline_spread_and_calibration_noise():
    # best 80 (one trial: the calibration's 5 % is its noise), baseline 9 and 11 (median 10, spread sqrt(2)/10)
    result = gain_interval(80.0, [9.0, 11.0], [80.0], relative_noise=0.05)
    log_sd = math.sqrt(math.log(1 + 0.05**2) + math.log(1 + (math.sqrt(2) / 10) ** 2) / 2)
    assert result["gain"] == pytest.approx(8.0)
    assert result["gain_ci_low"] == pytest.approx(8.0 * math.exp(-1.959964 * log_sd), rel=1e-6)  # 6.431
    assert result["gain_ci_high"] == pytest.approx(8.0 * math.exp(1.959964 * log_sd), rel=1e-6)  # 9.951
    assert result["gain_ci_low"] == pytest.approx(6.431, abs=1e-3) and result["gain_ci_high"] == pytest.approx(9.951, abs=1e-3)
    assert result["best_relative_sd"] == 0.05 and result["baseline_relative_sd"] == pytest.approx(math.sqrt(2) / 10)
    assert "best: calibration" in result["interval_method"] and "baseline: spread of its 2 trials" in result["interval_method"]


def test_gain_interval_uses_the_best_points_repeats_and_says_when_it_has_none():
    repeated = gain_interval(20.0, [10.0], [20.0, 18.0, 22.0], relative_noise=0.0)
    log_sd = math.sqrt(math.log(1 + 0.1**2))  # repeats' spread 10 %; the one baseline trial gets the calibration's 0
    assert (repeated["gain_ci_low"], repeated["gain_ci_high"]) == pytest.approx((2 * math.exp(-1.959964 * log_sd), 2 * math.exp(1.959964 * log_sd)), rel=1e-6)
    bare = gain_interval(20.0, [10.0])
    assert bare["gain"] == 2.0 and bare["gain_ci_low"] is None and bare["gain_ci_high"] is None
    assert bare["interval_method"] == "no interval: best: one trial and no calibration spread"
    with pytest.raises(ValueError, match="at least one baseline"):
        gain_interval(20.0, [])
    with pytest.raises(ValueError, match="> 0"):
        gain_interval(20.0, [0.0])


def test_summary_gain_carries_its_interval_and_the_schema_accepts_it():
    records = [_record(0, i, "completed", 0.5, value, batch_size=batch) for i, (batch, value) in enumerate([(1, 9.0), (1, 11.0), (64, 80.0)])]
    summary = study_summary(records, baseline=[{"batch_size": 1}], relative_noise=0.05)
    gain = summary["gain_over_baseline"][0]
    assert gain["gain"] == pytest.approx(8.0) and gain["trials"] == 2
    assert (gain["gain_ci_low"], gain["gain_ci_high"]) == pytest.approx((6.431, 9.951), abs=1e-3)
    validate_document(json_ready(summary), "summary", "summary.json")


def test_the_cli_reads_the_calibrations_spread_for_the_gains_interval(tmp_path):
    import json

    from ecopt.frontier import main

    trials = tmp_path / "trials"
    trials.mkdir()
    for index, (w, value) in enumerate([(0, 10.0), (1, 80.0)]):  # one trial a side: only the calibration gives a spread
        (trials / f"{index}.json").write_text(
            json.dumps({"params": {"w": w}, "status": "completed", "round": 0, "index": index, "performance": 0.5, "samples_per_joule": value})
        )
    calibration = tmp_path / "calibration.json"
    calibration.write_text(json.dumps({"samples_per_joule_rsd": 0.05, "window_seconds": 4.0}))
    study = json.dumps({"objectives": {"performance": {}, "efficiency": {"log_scale": True}}, "search": {"baseline": [{"w": 0}]}})
    args = ["--settings", study, "--trials", str(trials), "--out-dir", str(tmp_path / "out")]
    assert main([*args, "--calibration", str(calibration)]) == 0
    gain = json.loads((tmp_path / "out" / "summary.json").read_text())["gain_over_baseline"][0]
    half = 1.959964 * math.sqrt(2 * math.log(1 + 0.05**2))
    assert gain["gain"] == 8.0 and (gain["gain_ci_low"], gain["gain_ci_high"]) == pytest.approx((8 * math.exp(-half), 8 * math.exp(half)), rel=1e-6)
    assert main(args) == 0  # no calibration: the gain without an interval, and why
    gain = json.loads((tmp_path / "out" / "summary.json").read_text())["gain_over_baseline"][0]
    assert gain["gain_ci_low"] is None and gain["interval_method"].startswith("no interval")
