"""The stopping rule, the rungs, the rung history and the monitor (ecopt.early_stopping)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from ecopt.early_stopping import RungHistory, RungMonitor, front_rank, round_rung_history, rung_history, rung_levels, stop_at_rung
from ecopt.model import Model
from ecopt.objectives import Objective

OBJECTIVES = [Objective("performance", "performance"), Objective("efficiency", "samples_per_joule", log_scale=True)]
SETTINGS = {"enabled": True, "reduction_factor": 3, "min_resource": 1, "min_points_at_rung": 3}


def test_rung_levels_are_geometric_below_the_maximum():
    assert rung_levels(1, 3, 30) == [1, 3, 9, 27]
    assert rung_levels(1, 3, 27) == [1, 3, 9]
    assert rung_levels(100, 3, 2000) == [100, 300, 900]
    assert rung_levels(2, 1.5, 10) == [2, 3, 5, 7]  # ceil(2, 3, 4.5, 6.75)
    assert rung_levels(5, 2, 5) == []
    with pytest.raises(ValueError, match="reduction_factor"):
        rung_levels(1, 1, 10)
    with pytest.raises(ValueError, match="min_resource"):
        rung_levels(0, 3, 10)


def test_rung_levels_with_eta_just_above_one_are_every_integer_at_once():
    # Stepping k by one took 5.9 s for (1, 1.0000001, 9) and > 120 s for (1, 1.000000001, 30): a trial hung.
    started = time.perf_counter()
    assert rung_levels(1, 1.0000001, 9) == list(range(1, 9))
    assert rung_levels(1, 1.000000001, 30) == list(range(1, 30))
    assert rung_levels(7, 1.01, 10**6)[:3] == [7, 8, 9] and rung_levels(7, 1.01, 10**6)[-1] < 10**6
    assert time.perf_counter() - started < 1.0


def test_a_dominated_point_stops_and_a_non_dominated_one_continues():
    earlier = np.array([[0.9, 100.0], [0.8, 200.0], [0.7, 300.0], [0.6, 50.0], [0.5, 40.0]])
    dominated = stop_at_rung([0.55, 45.0], earlier, [True, True], 3, 3, 3)
    # Fronts: {0.9/100, 0.8/200, 0.7/300} (3 points), then {0.6/50}, then the point with 0.5/40.
    assert dominated.stop and dominated.rank == 4 and dominated.compared == 5 and dominated.allowed == 2
    assert "stop" in dominated.reason and dominated.rung == 3
    on_front = stop_at_rung([0.95, 10.0], earlier, [True, True], 3, 3, 3)
    assert not on_front.stop and on_front.rank == 0


def test_too_few_earlier_points_never_stop():
    earlier = np.array([[0.9, 100.0], [0.8, 200.0]])
    decision = stop_at_rung([0.1, 1.0], earlier, [True, True], 1, 3, 3)
    assert not decision.stop and decision.compared == 2 and decision.rank == 2  # both earlier points form front 0
    assert "fewer than min_points_at_rung" in decision.reason
    assert stop_at_rung([0.1, 1.0], earlier, [True, True], 1, 3, 2).stop


def test_eta_boundary_rank_equal_to_allowed_stops():
    # Five earlier points on one chain: fronts of one point each; allowed = ceil(6 / 3) = 2.
    earlier = np.array([[0.9, 90.0], [0.8, 80.0], [0.7, 70.0], [0.6, 60.0], [0.5, 50.0]])
    second = stop_at_rung([0.85, 85.0], earlier, [True, True], 1, 3, 3)
    third = stop_at_rung([0.75, 75.0], earlier, [True, True], 1, 3, 3)
    assert (second.rank, second.allowed, second.stop) == (1, 2, False)
    assert (third.rank, third.allowed, third.stop) == (2, 2, True)
    # eta 2: allowed = 3, so the third continues and the fourth stops.
    assert not stop_at_rung([0.75, 75.0], earlier, [True, True], 1, 2, 3).stop
    assert stop_at_rung([0.65, 65.0], earlier, [True, True], 1, 2, 3).stop


def test_directions_minimise_and_maximise():
    # Latency (minimised) and tokens/J (maximised): low latency is good.
    earlier = np.array([[0.1, 100.0], [0.2, 90.0], [0.3, 80.0]])
    assert stop_at_rung([0.5, 70.0], earlier, [False, True], 1, 3, 3).stop
    assert not stop_at_rung([0.05, 110.0], earlier, [False, True], 1, 3, 3).stop
    # The same values read as maximised: 0.5 is now the best latency-turned-score, on the front.
    assert not stop_at_rung([0.5, 70.0], earlier, [True, True], 1, 3, 3).stop


def test_ties_share_a_front_and_nan_ranks_last():
    earlier = np.array([[0.9, 100.0], [0.9, 100.0], [0.9, 100.0]])
    assert front_rank([0.9, 100.0], earlier, [True, True]) == 0
    assert front_rank([float("nan"), 100.0], earlier, [True, True]) == 3
    with_nan = np.array([[0.9, 100.0], [np.nan, 1.0]])
    assert stop_at_rung([0.1, 1.0], with_nan, [True, True], 1, 3, 1).compared == 1


def record(round_number, status, curve, samples_per_joule=100.0, **extra):
    return {"round": round_number, "status": status, "learning_curve": curve, "samples_per_joule": samples_per_joule, **extra}


def curve(*performances, key="epoch"):
    return [{key: k + 1, "train_loss": 1.0, "validation_loss": 1.0, "performance": p} for k, p in enumerate(performances)]


def test_rung_history_takes_earlier_rounds_only_and_round_trips_through_json():
    records = [
        record(0, "completed", curve(0.5, 0.6, 0.7), 100.0),
        record(0, "early_stopped", curve(0.2), 300.0),
        record(0, "failed", curve(0.9, 0.9, 0.9)),  # no point: not a completed or early-stopped trial
        record(1, "completed", curve(0.9, 0.9, 0.9), 50.0),
        record(1, "completed", None),
    ]
    history = rung_history(records, OBJECTIVES, rounds_before=1)
    assert history.metrics == ["performance", "samples_per_joule"] and history.maximize == [True, True]
    assert history.points == {1: [[0.5, 100.0], [0.2, 300.0]], 2: [[0.6, 100.0]], 3: [[0.7, 100.0]]}
    everything = rung_history(records, OBJECTIVES, rounds_before=None)
    assert [0.9, 50.0] in everything.points[1]
    restored = RungHistory.from_dict(json.loads(json.dumps(history.to_dict())))
    assert restored == history
    np.testing.assert_array_equal(restored.at(2), [[0.6, 100.0]])
    assert restored.at(9).shape == (0, 2)
    with pytest.raises(ValueError, match=r"points\[1\]"):
        RungHistory.from_dict({"metrics": ["a", "b"], "maximize": [True, True], "points": {"1": [[1.0]]}})


def test_rung_history_at_levels_takes_the_first_check_reaching_each():
    steps = [{"step": 100, "performance": 0.1}, {"step": 200, "performance": 0.2}, {"step": 400, "performance": 0.4}]
    history = rung_history([record(0, "completed", steps)], OBJECTIVES, rounds_before=None, levels=[100, 300, 900])
    assert history.points == {100: [[0.1, 100.0]], 300: [[0.4, 100.0]]}


def test_round_rung_history_has_no_rung_at_the_maximum_resource():
    # Curves of 3 epochs (max_epochs 3), eta 3: rungs strictly below 3 are [1]; a rung at 3 judged finished trials.
    records = [record(0, "completed", curve(0.5, 0.6, 0.7), 100.0), record(0, "completed", curve(0.4, 0.5, 0.6), 200.0)]
    history = round_rung_history(records, OBJECTIVES, SETTINGS, round_index=1)
    assert sorted(history.points) == [1]


def test_monitor_stops_at_the_first_dominated_rung_and_never_without_history():
    earlier = [[0.9, 100.0], [0.8, 200.0], [0.7, 300.0]]
    history = RungHistory(["performance", "samples_per_joule"], [True, True], {1: earlier, 3: earlier})
    monitor = RungMonitor(history, SETTINGS, {"samples_per_joule": 150.0}, max_resource=30)
    assert monitor.levels == [1, 3, 9, 27]
    assert not monitor.report(1, 0.85)  # between two front points: front 0
    assert not monitor.report(2, 0.1)  # not a rung
    assert monitor.report(3, 0.1) and monitor.decision is not None and monitor.decision.rung == 3
    assert [d.stop for d in monitor.decisions] == [False, True]
    blind = RungMonitor(None, SETTINGS, None, max_resource=30)
    assert not any(blind.report(epoch, 0.0) for epoch in range(1, 31)) and blind.decision is None
    with pytest.raises(ValueError, match="samples_per_joule"):
        RungMonitor(history, SETTINGS, {}, max_resource=30)


def test_monitor_judges_every_level_a_coarse_check_passes():
    earlier = [[0.9, 100.0], [0.8, 200.0], [0.7, 300.0]]
    history = RungHistory(["performance", "samples_per_joule"], [True, True], {100: earlier, 300: earlier})
    monitor = RungMonitor(history, {**SETTINGS, "min_resource": 100}, {"samples_per_joule": 50.0}, max_resource=2000)
    assert monitor.report(400, 0.1)  # passes 100 and 300 at once; stopped at 100
    assert monitor.decision.rung == 100 and len(monitor.decisions) == 1


class Curve(Model):
    def __init__(self):
        pass


def test_report_rung_appends_the_curve_and_asks_the_monitor():
    model = Curve()
    assert not model.report_rung(1, 0.5, epoch=1, train_loss=1.0)
    assert model.learning_curve == [{"epoch": 1, "train_loss": 1.0, "performance": 0.5}]
    history = RungHistory(["performance", "samples_per_joule"], [True, True], {2: [[0.9, 9.0]] * 3})
    model.rung_monitor = RungMonitor(history, SETTINGS, {"samples_per_joule": 1.0}, max_resource=10)
    model.rung_monitor.levels = [2]
    assert model.report_rung(2, 0.1, epoch=2)
    assert len(model.learning_curve) == 2


def test_training_energy_comparison_against_the_median_completed_trial():
    from ecopt.early_stopping import training_energy_comparison

    records = [
        {"status": "completed", "train_joules": 10.0},
        {"status": "completed", "train_joules": 30.0},
        {"status": "completed", "train_joules": 20.0},
        {"status": "early_stopped", "train_joules": 2.0, "round": 1, "index": 0, "stopped_at_rung": 1},
        {"status": "early_stopped", "train_joules": 6.0, "round": 2, "index": 1, "stopped_at_rung": 3, "train_below_resolution": True},
        {"status": "failed", "train_joules": 99.0},
    ]
    comparison = training_energy_comparison(records)
    assert comparison["median_completed_train_joules"] == 20.0 and comparison["early_stopped_train_joules"] == 8.0
    assert comparison["all_below_median"] is True
    assert comparison["early_stopped"][1] == {"round": 2, "index": 1, "stopped_at_rung": 3, "train_joules": 6.0, "train_below_resolution": True}
    assert comparison["train_below_resolution"] == 1  # the count the summary states next to all_below_median
    assert training_energy_comparison(records[:3]) is None
    assert training_energy_comparison([*records, {"status": "early_stopped", "train_joules": 25.0}])["all_below_median"] is False
