"""The pure parts of benchmarks/early_stopping.py: hypervolume against joules, joules to a target, the learning-curve problem."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("early_stopping.py")


# An optimiser step (10 J), a trial at (0.9, 1000 samples/J) for 20 J, an early-stopped trial (5 J),
# a trial at (0.7, 10 000 samples/J) for 30 J. Reference (0.5, log10 100 = 2):
# box 1: 0.4 x (3 - 2) = 0.4; box 2: 0.2 x (4 - 2) = 0.4, overlap 0.2 x 1 -> union 0.6.
JOULES = [10.0, 20.0, 5.0, 30.0]
POINTS = [None, (0.9, 1000.0), None, (0.7, 10_000.0)]


def test_hypervolume_by_joules_known_trace(bench):
    cumulative, hv = bench.hypervolume_by_joules(JOULES, POINTS, (0.5, 2.0), [False, True])
    np.testing.assert_allclose(cumulative, [10, 30, 35, 65])
    np.testing.assert_allclose(hv, [0.0, 0.4, 0.4, 0.6])


def test_hypervolume_by_joules_ignores_points_behind_the_reference_and_unusable_values(bench):
    points = [(0.4, 1e6), (0.9, 50.0), (0.9, 0.0), (float("nan"), 1e4), (0.6, 1000.0)]
    _, hv = bench.hypervolume_by_joules([1.0] * 5, points, (0.5, 2.0), [False, True])
    np.testing.assert_allclose(hv, [0.0, 0.0, 0.0, 0.0, 0.1])


def test_hypervolume_at_is_the_step_function_of_the_trace(bench):
    cumulative, hv = bench.hypervolume_by_joules(JOULES, POINTS, (0.5, 2.0), [False, True])
    np.testing.assert_allclose(bench.hypervolume_at(cumulative, hv, [0, 9.9, 10, 30, 64.9, 65, 1000]), [0, 0, 0, 0.4, 0.4, 0.6, 0.6])
    assert bench.hypervolume_at(np.zeros(0), np.zeros(0), 5.0).tolist() == [0.0]


def test_joules_to_reach(bench):
    cumulative, hv = bench.hypervolume_by_joules(JOULES, POINTS, (0.5, 2.0), [False, True])
    assert bench.joules_to_reach(cumulative, hv, 0.4) == 30.0
    assert bench.joules_to_reach(cumulative, hv, 0.5) == 65.0
    assert bench.joules_to_reach(cumulative, hv, 0.61) is None


def test_median_range_and_its_format(bench):
    assert bench.median_range([3.0, 1.0, None, 2.0, float("nan")]) == (2.0, 1.0, 3.0)
    assert bench.median_range([None]) is None
    assert bench.format_median_range([0.25, 0.5, 0.75], 2, 100, " %") == "50 % [25, 75]"
    assert bench.format_median_range([0.5, None]) == "0.5 [0.5, 0.5] (1 of 2)"
    assert bench.format_median_range([]) == "n/a"


def test_learning_curve_problem_numbers(bench):
    problem = bench.LearningCurveProblem()
    large = {"width": 64, "depth": 1, "learning_rate": 3e-3}  # capacity 1
    assert problem.asymptote(large) == pytest.approx(0.75 + 0.23 * (1 - math.exp(-3)))
    assert problem.time_constant(large) == pytest.approx(3.0)
    assert problem.accuracy(large, 3) == pytest.approx(0.1 + (problem.asymptote(large) - 0.1) * (1 - math.exp(-1)))
    small = {"width": 2, "depth": 1, "learning_rate": 3e-3}
    assert problem.efficiency(small) == pytest.approx(1 / 1.01e-4)
    assert problem.epoch_joules(small) == pytest.approx(10_000 * 3 * 1.01e-4 + 0.5)
    # Curves cross: the small model leads after one epoch, the large one at the end.
    assert problem.accuracy(small, 1) > problem.accuracy(large, 1)
    assert problem.accuracy(large, 27) > problem.accuracy(small, 27)
    # A learning rate off the optimum by one decade costs 0.12 of the asymptote.
    assert problem.asymptote({**large, "learning_rate": 3e-2}) == pytest.approx(problem.asymptote(large) - 0.12)


def test_learning_curve_problem_run(bench):
    problem = bench.LearningCurveProblem(max_epochs=9)
    params = {"width": 8, "depth": 2, "learning_rate": 1e-3}
    assert problem.curve(params, 1) == problem.curve(params, 1)
    assert problem.curve(params, 1) != problem.curve(params, 2)
    stopped = problem.run(params, 1, lambda epoch, value: epoch == 3)
    assert stopped["status"] == "early_stopped" and stopped["stopped_at_rung"] == 3
    assert [entry["epoch"] for entry in stopped["learning_curve"]] == [1, 2, 3]
    assert stopped["train_joules"] == pytest.approx(3 * problem.epoch_joules(params))
    assert stopped["performance"] == pytest.approx(problem.accuracy(params, 3))
    assert stopped["eval_joules"] == problem.eval_window_joules
    # A stop at the last epoch is the end of training, not an early stop.
    completed = problem.run(params, 1, lambda epoch, value: epoch >= 9)
    assert completed["status"] == "completed" and completed["stopped_at_rung"] is None
    assert len(completed["learning_curve"]) == 9 and completed["train_joules"] == pytest.approx(9 * problem.epoch_joules(params))


def test_arm_run_counts_only_completed_trials_as_points(bench):
    run = bench.ArmRun("ecopt_es", 0, [])
    run.add("optimiser", 7.0)
    run.add("trial", 20.0, {"status": "completed", "performance": 0.9, "samples_per_joule": 1000.0})
    run.add("trial", 5.0, {"status": "early_stopped", "performance": 0.3, "samples_per_joule": 1000.0, "stopped_at_rung": 1})
    assert [event["point"] for event in run.events] == [None, [0.9, 1000.0], None]
    assert run.total_joules == 32.0 and run.trials() == 2 and run.trials("early_stopped") == 1
    assert bench.trial_joules({"eval_joules": 3.0, "train_joules": None}) == 3.0


def test_scheduler_monitor_stops_before_the_last_epoch_only(bench):
    pytest.importorskip("syne_tune", reason="Syne Tune is the benchmark extra (pip install 'ecopt[benchmark]')")
    from syne_tune.optimizer.scheduler import SchedulerDecision

    class AlwaysStop:
        def __init__(self):
            self.results = []

        def on_trial_result(self, trial, result):
            self.results.append(result)
            return SchedulerDecision.STOP

    scheduler = AlwaysStop()
    monitor = bench.SchedulerMonitor(scheduler, "trial", 1234.0, max_resource=27)
    assert monitor.report(27, 0.9) is False and monitor.decision is None
    assert monitor.report(3, 0.5) is True and monitor.decision["rung"] == 3
    assert scheduler.results[-1] == {"epoch": 3, "performance": 0.5, "samples_per_joule": 1234.0}


def test_syne_tune_space_from_an_ecopt_space(bench):
    pytest.importorskip("syne_tune", reason="Syne Tune is the benchmark extra (pip install 'ecopt[benchmark]')")
    space = bench.syne_tune_space(bench.DIGITS_SPACE)
    assert space["stride"] == 1 and space["padding"] == "same"
    assert (space["width"].lower, space["width"].upper) == (2, 32)
    assert list(space["kernel_size"].categories) == [1, 3, 5]
    rng = np.random.RandomState(0)
    assert all(2 <= space["width"].sample(random_state=rng) <= 32 for _ in range(50))


def test_load_panels_merges_seeds_of_one_problem_and_drops_unfinished_ones(bench, tmp_path):
    def document(seeds, arms):
        event = {"kind": "trial", "joules": 10.0, "point": [0.9, 1000.0], "status": "completed"}
        runs = {arm: [{"seed": seed, "seconds": 1.0, "events": [event]} for seed in seeds] if arm in arms else [] for arm in bench.ARMS}
        entry = {"reference": [0.5, 2.0], "simulated": True, "max_resource": 9, "runs": runs}
        return {"arguments": {"max_epochs": 27}, "problems": {"learning curves": entry}}

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(bench.json.dumps(document([1, 0], bench.ARMS)))
    second.write_text(bench.json.dumps(document([2], bench.ARMS[:2])))  # killed before MOASHA and random ran
    [(problem, result)] = bench.load_panels([str(first), str(second)])
    assert problem.max_resource == 9 and problem.simulated
    assert {arm: [run.seed for run in runs] for arm, runs in result["runs"].items()} == {arm: [0, 1] for arm in bench.ARMS}
    lines, figures = bench.report(problem, result)
    assert figures["ecopt"]["final_hv"] == [pytest.approx(0.4)] * 2
    assert figures["es_joules_to_95pct_share"] == [1.0, 1.0]


def test_from_json_without_the_traces_says_where_they_come_from(bench, tmp_path, capsys):
    # A fresh clone has no results/: the README's --from-json command failed with a traceback.
    missing = tmp_path / "quiet" / "digits.json"
    assert bench.main(["--from-json", str(missing), "--figure", str(tmp_path / "figure.png")]) == 2
    error = capsys.readouterr().err
    assert str(missing) in error and "--out files of earlier runs" in error and not (tmp_path / "figure.png").exists()


def test_the_default_figure_is_not_the_readme_figure(bench, monkeypatch, tmp_path):
    # A smoke run (--quick) wrote the default figure over the committed benchmarks/early_stopping.png.
    written = []
    monkeypatch.setattr(bench, "load_panels", lambda paths: [])
    monkeypatch.setattr(bench, "plot", lambda panels, path: written.append(path))
    trace = tmp_path / "trace.json"
    trace.write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert bench.main(["--from-json", str(trace)]) == 0
    assert written == ["results/benchmarks/early_stopping.png"]
