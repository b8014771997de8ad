import math

import numpy as np
import pytest

from ecopt.history import (
    TrialOutcome,
    choose_reference_point,
    count_clipped,
    observations,
    searched_params,
    trial_outcome,
    winsorization_levels,
    with_fixed,
    worst_values,
)
from ecopt.hyperparameter import Fixed, Range, ValueType
from ecopt.objectives import Objective

ACCURACY = Objective("accuracy", "accuracy")  # maximised, linear
SECONDS = Objective("seconds", "seconds_per_batch", minimize=True)  # minimised, linear
EFFICIENCY = Objective("efficiency", "samples_per_joule", log_scale=True)  # maximised, log10
JOULES = Objective("energy", "joules", minimize=True, log_scale=True)  # minimised, log10
SPACE = {"width": Range(8, 2, 64, value_type=ValueType.INT), "padding": Fixed("same")}


def record(status="completed", width=8, **metrics):
    return {"params": {"width": width, "padding": "same"}, "status": status, **metrics}


def test_a_completed_result_is_observed_in_the_optimisers_space():
    outcome = trial_outcome("completed", {"accuracy": 0.8, "samples_per_joule": 1000.0}, [ACCURACY, EFFICIENCY])
    assert outcome == TrialOutcome("completed", (0.8, 3.0))


@pytest.mark.parametrize(
    "metrics, message",
    [
        ({"accuracy": 0.8}, "result lacks metric 'seconds_per_batch' of objective 'seconds'"),
        ({"accuracy": 0.8, "seconds_per_batch": None}, "result lacks metric 'seconds_per_batch'"),
        ({"accuracy": float("nan"), "seconds_per_batch": 1.0}, "metric 'accuracy' of objective 'accuracy' is nan"),
        ({"accuracy": True, "seconds_per_batch": 1.0}, "metric 'accuracy' of objective 'accuracy' is True"),
        ({"accuracy": "high", "seconds_per_batch": 1.0}, "metric 'accuracy' of objective 'accuracy' is 'high'"),
    ],
)
def test_a_result_lacking_a_metric_is_a_failed_trial_naming_the_metric(metrics, message):
    outcome = trial_outcome("completed", metrics, [ACCURACY, SECONDS])
    assert outcome.status == "failed" and outcome.values is None
    assert message in outcome.error


def test_zero_on_a_log_scale_objective_is_a_failed_trial_naming_the_metric():
    outcome = trial_outcome("completed", {"accuracy": 0.8, "samples_per_joule": 0.0}, [ACCURACY, EFFICIENCY])
    assert outcome.status == "failed"
    assert "metric 'samples_per_joule' of log-scale objective 'efficiency' is 0.0" in outcome.error


def test_other_statuses_pass_through_and_unknown_ones_are_failures():
    assert trial_outcome("out_of_memory", {}, [ACCURACY, SECONDS]) == TrialOutcome("out_of_memory")
    assert trial_outcome("measurement_failed", {"accuracy": 0.8}, [ACCURACY, SECONDS]) == TrialOutcome("measurement_failed")
    assert trial_outcome("early_stopped", {"accuracy": 0.8, "seconds_per_batch": 1.0}, [ACCURACY, SECONDS]) == TrialOutcome("early_stopped", (0.8, 1.0))
    assert trial_outcome("early_stopped", {"accuracy": None, "seconds_per_batch": 1.0}, [ACCURACY, SECONDS]).status == "failed"
    assert trial_outcome("failed", {}, [ACCURACY, SECONDS]) == TrialOutcome("failed")


def test_worst_values_by_hand_for_every_direction_and_scale():
    # accuracy (max, linear): worst 0.5, range 0.4 -> 0.5 - 0.04.
    # seconds (min, linear): worst 2.0, range 1.5 -> 2.0 + 0.15 (more seconds is worse).
    completed = np.array([[0.9, 2.0], [0.7, 1.0], [0.5, 0.5]])
    assert worst_values(completed, [ACCURACY, SECONDS]) == pytest.approx({"accuracy": 0.46, "seconds": 2.15})
    # efficiency (max, log10): 100 and 1000 samples/J -> ten times worse than 100: log10 10 = 1.
    # energy (min, log10): 10 and 1000 J -> ten times worse than 1000: log10 1e4 = 4.
    completed = np.array([[3.0, 1.0], [2.0, 3.0]])
    assert worst_values(completed, [EFFICIENCY, JOULES]) == pytest.approx({"efficiency": 1.0, "energy": 4.0})
    assert worst_values(np.zeros((0, 2)), [ACCURACY, SECONDS]) == {}


@pytest.mark.parametrize("objectives", [[ACCURACY, SECONDS], [SECONDS, ACCURACY], [EFFICIENCY, JOULES]])
def test_out_of_memory_is_the_worst_value_in_every_objective_whatever_its_direction(objectives):
    first, second = objectives
    completed = [
        record(**{first.metric: 0.9 if not first.log_scale else 1000.0, second.metric: 2.0 if not second.log_scale else 100.0}),
        record(**{first.metric: 0.5 if not first.log_scale else 10.0, second.metric: 0.5 if not second.log_scale else 10.0}),
    ]
    # An out-of-memory record as the trial CLI writes it: zero efficiency, no performance;
    # a zero on a minimised objective would be its best value.
    oom = record("out_of_memory", **{first.metric: 0.0, second.metric: 0.0})
    observed = observations([*completed, oom], SPACE, objectives)
    values = observed.attached[2][1]
    assert set(values) == {first.name, second.name}
    for column, objective in enumerate(objectives):
        column_values = observed.completed[:, column]
        worst_completed = column_values.max() if objective.minimize else column_values.min()
        assert (values[objective.name] > worst_completed) if objective.minimize else (values[objective.name] < worst_completed)
    assert observed.counts == {"completed": 2, "early_stopped": 0, "out_of_memory": 1, "failed": 0, "measurement_failed": 0, "total": 3}


def test_observations_by_hand():
    history = [
        record(accuracy=0.9, seconds_per_batch=2.0),
        record(accuracy=0.7, seconds_per_batch=1.0, width=16),
        record(accuracy=0.5, seconds_per_batch=0.5, width=32),
        record("failed", error="ValueError: pooling below 1x1", width=2),
        record("out_of_memory", width=64),
        record("measurement_failed", accuracy=0.8, width=4),
        record(accuracy=0.8, width=5),  # claims to complete, lacks seconds_per_batch
    ]
    observed = observations(history, SPACE, [ACCURACY, SECONDS])
    assert observed.counts == {"completed": 3, "early_stopped": 0, "out_of_memory": 1, "failed": 2, "measurement_failed": 1, "total": 7}
    assert observed.completed.tolist() == [[0.9, 2.0], [0.7, 1.0], [0.5, 0.5]]
    worst = {"accuracy": pytest.approx(0.46), "seconds": pytest.approx(2.15)}
    assert [params for params, _ in observed.attached] == [{"width": w} for w in (8, 16, 32, 2, 64, 4, 5)]
    assert [values for _, values in observed.attached] == [
        {"accuracy": 0.9, "seconds": 2.0},
        {"accuracy": 0.7, "seconds": 1.0},
        {"accuracy": 0.5, "seconds": 0.5},
        worst,
        worst,
        None,
        worst,
    ]
    assert observed.errors == [("trial None", "result lacks metric 'seconds_per_batch' of objective 'seconds'")]
    # failed_trials: ignore -> failures carry no data; out of memory is an outcome, still the worst value.
    ignoring = observations(history, SPACE, [ACCURACY, SECONDS], penalize_failed=False)
    assert [values for _, values in ignoring.attached][3:] == [None, worst, None, None]


def test_early_stopped_trials_are_observed_at_their_partial_performance_and_measured_efficiency():
    history = [
        record(accuracy=0.9, samples_per_joule=100.0),
        record(accuracy=0.8, samples_per_joule=1000.0, width=16),
        record("early_stopped", accuracy=0.3, samples_per_joule=10.0, width=32, stopped_at_rung=1),
        record("early_stopped", accuracy=None, samples_per_joule=10.0, width=4),  # no partial value: failed, penalised
    ]
    observed = observations(history, SPACE, [ACCURACY, EFFICIENCY])
    assert observed.counts == {"completed": 2, "early_stopped": 1, "out_of_memory": 0, "failed": 1, "measurement_failed": 0, "total": 4}
    # Observed as measured (log10 efficiency), not at the penalty; never part of `completed`.
    assert observed.attached[2] == ({"width": 32}, {"accuracy": 0.3, "efficiency": pytest.approx(1.0)})
    assert observed.completed.tolist() == [[0.9, 2.0], [0.8, 3.0]]
    assert observed.attached[3][1] == {"accuracy": pytest.approx(0.79), "efficiency": pytest.approx(1.0)}


def test_nothing_completed_means_no_worst_value_and_no_data():
    observed = observations([record("out_of_memory"), record("failed")], SPACE, [ACCURACY, SECONDS])
    assert [values for _, values in observed.attached] == [None, None] and observed.completed.shape == (0, 2)


def test_typed_records_are_read_with_their_path():
    from ecopt.records import TrialRecord

    typed = TrialRecord(params={"width": 8}, status="completed", metrics={"accuracy": 0.9}, path="rounds/000/trials/0.json")
    observed = observations([typed], SPACE, [ACCURACY, SECONDS])
    assert observed.counts["failed"] == 1
    assert observed.errors == [("rounds/000/trials/0.json", "result lacks metric 'seconds_per_batch' of objective 'seconds'")]
    typed.metrics["seconds_per_batch"] = 2.0
    assert observations([typed], SPACE, [ACCURACY, SECONDS]).completed.tolist() == [[0.9, 2.0]]


def test_params_outside_the_space_name_the_record():
    history = [{**record(accuracy=0.9, seconds_per_batch=2.0, width=1000), "path": "results/s/rounds/000/trials/0.json"}]
    with pytest.raises(ValueError, match=r"rounds/000/trials/0.json: params do not fit the configured space"):
        observations(history, SPACE, [ACCURACY, SECONDS])
    with pytest.raises(ValueError, match="parameter 'width' missing"):
        searched_params(SPACE, {"padding": "same"})
    assert with_fixed(SPACE, {"width": 8.0}) == {"width": 8, "padding": "same"}


def test_reference_point_rules():
    objectives = [Objective("a", "a", threshold=0.5), Objective("b", "b", minimize=True, threshold=10.0)]
    completed = np.array([[0.9, 5.0], [0.6, 2.0], [0.2, 1.0]])
    chosen = choose_reference_point(completed, objectives, 0.1)
    assert chosen == {"values": [0.5, 10.0], "source": "config thresholds"}
    # Nothing dominates (0.95, 0.5) yet: infer from the front (a: 0.2..0.9, b: 1..5), never feasibility search.
    strict = [Objective("a", "a", threshold=0.95), Objective("b", "b", minimize=True, threshold=0.5)]
    chosen = choose_reference_point(completed, strict, 0.1)
    assert chosen["source"].startswith("inferred: no observation dominates")
    assert chosen["values"] == pytest.approx([0.2 - 0.07, 5.0 + 0.4])
    # One threshold: it is used once beaten, the other coordinate inferred.
    partial = [Objective("a", "a", threshold=0.1), Objective("b", "b", minimize=True)]
    chosen = choose_reference_point(completed, partial, 0.1)
    assert chosen["values"] == pytest.approx([0.1, 5.4]) and chosen["source"] == "config thresholds (others inferred)"
    assert choose_reference_point(np.zeros((0, 2)), objectives, 0.1) is None


def test_inferred_reference_point_is_botorchs():
    both_max = [Objective("a", "a"), Objective("b", "b")]
    completed = np.array([[2.0, 4.0], [1.0, 1.0]])  # one Pareto point: BoTorch steps back 10 % of its magnitude
    chosen = choose_reference_point(completed, both_max, 0.1)
    assert chosen["values"] == pytest.approx([1.8, 3.6])
    assert chosen["source"] == "inferred: observed Pareto front's nadir minus 0.1 of its range"


def test_winsorization_levels_lie_beyond_the_reference_point():
    objectives = [Objective("a", "a"), Objective("b", "b", minimize=True)]
    completed = np.array([[0.9, 5.0], [0.6, 2.0], [0.2, 1.0], [-40.0, 900.0]])
    # a: best 0.9, reference 0.5 -> 0.5 - 5 * 0.4; b (minimised): best 1, reference 10 -> 10 + 5 * 9.
    levels = winsorization_levels(completed, objectives, [0.5, 10.0], 5.0)
    assert levels == pytest.approx({"a": -1.5, "b": 55.0})
    assert winsorization_levels(completed, objectives, [0.5, 10.0], 0.0) == {}
    # Only one observation reaches a's level: clipping would flatten every other one, so none.
    assert set(winsorization_levels(completed, objectives, [0.85, 10.0], 0.5)) == {"b"}
    attached = [({}, {"a": v, "b": w}) for v, w in completed] + [({}, None)]
    assert count_clipped(attached, objectives[0], -1.5) == 1 and count_clipped(attached, objectives[1], 55.0) == 1
    assert count_clipped(attached, objectives[1], 1.5) == 3


def test_log_scale_worst_value_is_ten_times_worse():
    completed = np.array([[math.log10(200.0), 0.0]])
    worst = worst_values(completed, [EFFICIENCY, ACCURACY])
    assert 10 ** worst["efficiency"] == pytest.approx(20.0)
