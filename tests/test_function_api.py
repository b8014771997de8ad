import pytest

import ecopt
from ecopt.function_api import evaluate_trial, optimize
from ecopt.objectives import parse_objectives

OBJECTIVES = parse_objectives(["f0", "f1"])


def test_optimize_is_the_packages_export():
    assert ecopt.optimize is optimize


def test_a_result_lacking_an_objectives_metric_is_a_failed_trial_naming_it():
    record = evaluate_trial(lambda params: {"f0": 1.0, "loss": 2.0}, {"x": 0.5}, OBJECTIVES)
    assert record == {"f0": 1.0, "loss": 2.0, "status": "failed", "error": "result lacks metric 'f1' of objective 'f1'"}


def test_exceptions_memory_errors_and_non_mappings_are_outcomes_not_crashes():
    def diverge(params):
        raise RuntimeError("diverged")

    def exhaust(params):
        raise MemoryError("CUDA out of memory")

    assert evaluate_trial(diverge, {}, OBJECTIVES) == {"status": "failed", "error": "RuntimeError: diverged"}
    # No values: the round observes an out-of-memory trial at the worst value of every objective.
    assert evaluate_trial(exhaust, {}, OBJECTIVES) == {"status": "out_of_memory", "error": "MemoryError: CUDA out of memory"}

    # The workflow's rule (ecopt.records.is_out_of_memory): torch's OutOfMemoryError and allocator messages too.
    class OutOfMemoryError(RuntimeError):
        pass

    def cuda_message(params):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def torch_class(params):
        raise OutOfMemoryError("no more")

    assert evaluate_trial(cuda_message, {}, OBJECTIVES)["status"] == "out_of_memory"
    assert evaluate_trial(torch_class, {}, OBJECTIVES)["status"] == "out_of_memory"
    assert evaluate_trial(lambda params: 0.5, {}, OBJECTIVES)["error"] == "fn returned float, expected a mapping of metric name -> value"
    completed = evaluate_trial(lambda params: {"f0": 1, "f1": 0.5, "note": "fine"}, {}, OBJECTIVES)
    assert completed == {"f0": 1.0, "f1": 0.5, "note": "fine", "status": "completed"}


@pytest.mark.slow
def test_optimize_a_plain_function():
    def fn(params):
        if params["x"] > 0.95:
            raise RuntimeError("diverged")
        return {"f0": params["x"], "f1": 1 - params["x"] ** 2}

    result = optimize(
        fn,
        {"x": {"type": "range", "bounds": [0.0, 1.0]}},
        ["f0", "f1"],
        n_init=5,
        rounds=2,
        batch_size=2,
        seed=1,
        settings={"num_restarts": 4, "raw_samples": 64},
    )
    assert len(result.trials) == 9 and len(result.rounds) == 3
    assert all(t["status"] in ("completed", "failed") for t in result.trials)
    assert all(t["f1"] == pytest.approx(1 - t["f0"] ** 2) for t in result.trials if t["status"] == "completed")
    # f0 up, f1 down along x: every completed point is on the frontier.
    assert len(result.frontier) == sum(t["status"] == "completed" for t in result.trials)


@pytest.mark.slow
def test_result_keys_that_do_not_match_the_objectives_fail_every_trial_naming_the_metric():
    result = optimize(
        lambda params: {"accuracy": params["x"], "f1": 1.0},
        {"x": {"type": "range", "bounds": [0.0, 1.0]}},
        ["f0", "f1"],
        n_init=3,
        rounds=1,
        batch_size=1,
        seed=0,
    )
    assert [t["status"] for t in result.trials] == ["failed"] * 4
    assert all(t["error"] == "result lacks metric 'f0' of objective 'f0'" for t in result.trials)
    assert result.frontier == []
    assert result.rounds[1].generator.startswith("sobol (fewer than two completed")


@pytest.mark.slow
def test_out_of_memory_in_a_minimised_objective_steers_away():
    """Seconds per batch (minimised) and accuracy: x > 0.6 runs out of memory; 0.0 s there would be the best value."""

    def fn(params):
        if params["x"] > 0.6:
            raise MemoryError("out of memory")
        return {"accuracy": params["x"], "seconds": 1.0 + params["x"]}

    objectives = {"accuracy": {"metric": "accuracy"}, "seconds": {"metric": "seconds", "minimize": True}}
    result = optimize(
        fn,
        {"x": {"type": "range", "bounds": [0.0, 1.0]}},
        objectives,
        n_init=6,
        rounds=4,
        batch_size=1,
        seed=0,
        settings={"num_restarts": 4, "raw_samples": 64},
    )
    model_based = [t for t in result.trials if t["round"] > 0]
    assert sum(t["status"] == "out_of_memory" for t in model_based) <= 1
