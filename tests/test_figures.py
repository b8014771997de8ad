import json

import numpy as np
import pandas as pd
import pytest

from ecopt.errors import ConfigError
from ecopt.figures import (
    calibration_data,
    draw_all,
    draw_calibration,
    draw_pareto,
    energy_note,
    hypervolume_data,
    not_completed_note,
    pareto_data,
    proxy_data,
    scaling_data,
)
from ecopt.frontier import write_frontier
from ecopt.objectives import parse_objectives
from ecopt.records import read_table
from ecopt.settings import validate_section


def records():
    rows = []
    for index, (performance, efficiency) in enumerate([(0.9, 10.0), (0.5, 1000.0), (0.4, 100.0), (0.8, 200.0)]):
        rows.append(
            {
                "round": 0,
                "index": index,
                "status": "completed",
                "params": {"w": index},
                "performance_metric": "accuracy",
                "performance": performance,
                "samples_per_joule": efficiency,
                "energy_source": "cpu:cpu_load_estimate+ram:ram_power_model",
                "estimated": True,
            }
        )
    rows.append({"round": 1, "index": 0, "status": "out_of_memory", "params": {"w": 9}, "performance": None, "samples_per_joule": 0.0, "error": "oom"})
    rows.append({"round": 1, "index": 1, "status": "failed", "params": {"w": 8}, "error": "boom"})
    rows.append(
        {"round": 1, "index": 2, "status": "measurement_failed", "params": {"w": 7}, "error": "MeasurementError: 0 J", "energy_source": "cpu:rapl_counter"}
    )
    return rows


@pytest.fixture
def study(tmp_path):
    write_frontier(records(), parse_objectives(None), tmp_path)
    return tmp_path


def test_energy_note_says_estimated():
    assert energy_note(["cpu:rapl_counter+ram:ram_power_model"], [False]) == "Energy: cpu:rapl_counter+ram:ram_power_model"
    assert "ESTIMATED" in energy_note(["cpu:cpu_load_estimate"], [True, np.nan])
    assert energy_note([np.nan], []) == "Energy: unknown source"


def test_pareto_numbers(study):
    data = pareto_data(read_table(study / "trials.csv"), read_table(study / "frontier.csv"))
    assert data["points"].shape == (4, 2)
    np.testing.assert_allclose(data["frontier"], [[0.5, 1000.0], [0.8, 200.0], [0.9, 10.0]])
    assert data["knee"].shape == (1, 2)
    assert data["counts"] == {"completed": 4, "failed": 1, "out_of_memory": 1, "early_stopped": 0, "measurement_failed": 1}
    assert not_completed_note(data["counts"]) == "not shown: 1 failed, 1 out of memory (efficiency 0), 1 measurement failed"
    assert not_completed_note({"completed": 3}) == ""
    assert data["performance_label"] == "accuracy" and "ESTIMATED" in data["note"]


def test_early_stopped_trials_are_drawn_in_their_own_colour_never_on_the_frontier(tmp_path):
    stop = {"rung": 1, "rank": 3, "allowed": 2, "compared": 4, "reason": "rung 1: stop"}
    # Better than every completed trial in both objectives, yet not trained to the end: off the frontier.
    stopped = {"round": 1, "index": 3, "status": "early_stopped", "params": {"w": 6}, "performance": 0.95, "samples_per_joule": 5000.0}
    write_frontier([*records(), stopped | {"stopped_at_rung": 1, "early_stopping": stop}], parse_objectives(None), tmp_path)
    data = pareto_data(read_table(tmp_path / "trials.csv"), read_table(tmp_path / "frontier.csv"))
    np.testing.assert_allclose(data["early_stopped"], [[0.95, 5000.0]])
    np.testing.assert_allclose(data["frontier"], [[0.5, 1000.0], [0.8, 200.0], [0.9, 10.0]])
    assert data["knee"].tolist() != [[0.95, 5000.0]] and data["counts"]["early_stopped"] == 1
    assert "early stopped" not in not_completed_note(data["counts"])  # drawn, not merely counted
    paths = draw_all(tmp_path, tmp_path / "figures", validate_section("figures", {"dpi": 50}), only=["pareto"])
    assert paths[0].stat().st_size > 5000


def test_hypervolume_proxy_and_calibration_numbers(study):
    hv = hypervolume_data(read_table(study / "hypervolume.csv"))
    assert len(hv["trial_number"]) == 7 and np.all(np.diff(hv["hypervolume"]) >= 0)
    assert "log10 samples_per_joule" in hv["space"]
    runs = pd.DataFrame({"parameters": [1, 2, 3, 4], "flops_per_sample": [4, 3, 2, 1], "joules_per_sample": [1.0, 2.0, 2.5, 4.0]})
    stats = {
        "target": "joules_per_sample",
        "parameters_vs_joules_per_sample": {"pearson_r": 0.98, "pearson_ci_low": 0.5, "pearson_ci_high": 1.0, "pearson_p": 0.02, "spearman_rho": 1.0},
        "flops_per_sample_vs_joules_per_sample": {"pearson_r": -0.98, "pearson_ci_low": -1.0, "pearson_ci_high": -0.5, "pearson_p": 0.02, "spearman_rho": -1.0},
    }
    panels = proxy_data(runs, stats)
    assert (
        [p["xlabel"] for p in panels] == ["parameters", "FLOPs per sample"]
        and "r = 0.98, 95% CI [0.50, 1.00]" in panels[0]["title"]
        and "n = 4" in panels[0]["title"]
    )
    summary = {"samples_per_joule_mean": 100.0, "samples_per_joule_rsd": 0.05, "max_rsd": 0.02, "passed": False, "energy_source": "cpu:x", "estimated": False}
    calibration = calibration_data(pd.DataFrame({"repeat": [0, 1], "samples_per_joule": [95.0, 105.0]}), summary)
    assert calibration["rsd"] == 0.05 and calibration["passed"] is False and calibration["note"] == "Energy: cpu:x"


def test_disturbed_trials_are_marked_in_the_tables_and_the_pareto_figure(tmp_path):
    rows = records()
    rows[1] |= {"disturbed": True, "disturbance_share": 0.45}
    for row in rows[:4]:
        row.setdefault("disturbed", False)
    write_frontier(rows, parse_objectives(None), tmp_path)
    trials = read_table(tmp_path / "trials.csv")
    assert str(trials["disturbed"].dtype) == "boolean" and trials["disturbed"].sum() == 1 and trials["disturbance_share"].max() == 0.45
    data = pareto_data(trials, read_table(tmp_path / "frontier.csv"))
    assert data["disturbed"].tolist() == [False, True, False, False]
    assert "disturbed" in read_table(tmp_path / "frontier.csv")
    path = draw_pareto(data, tmp_path / "pareto.png", validate_section("figures", {"dpi": 60}))
    assert path.stat().st_size > 5000


def test_calibration_figure_shows_every_window_tried(tmp_path):
    runs = pd.DataFrame(
        {
            "window_seconds": [0.5, 0.5, 0.5, 1.0, 1.0, 1.0],
            "repeat": [0, 1, 2, 0, 1, 2],
            "samples_per_joule": [80.0, 120.0, 100.0, 99.0, 101.0, 100.0],
            "disturbed": [False, True, False, False, False, False],
        }
    )
    windows = [{"window_seconds": 0.5, "samples_per_joule_rsd": 0.2, "met": False}, {"window_seconds": 1.0, "samples_per_joule_rsd": 0.01, "met": True}]
    summary = {"window_seconds": 1.0, "windows": windows, "samples_per_joule_mean": 100.0, "samples_per_joule_rsd": 0.01, "max_rsd": 0.02}
    summary |= {"passed": True, "energy_source": "cpu:x", "estimated": True}
    data = calibration_data(runs, summary)
    np.testing.assert_allclose(data["deviation"], [-0.2, 0.2, 0.0, -0.01, 0.01, 0.0])
    assert data["chosen"] == 1.0 and data["windows"] == [(0.5, 0.2, False), (1.0, 0.01, True)] and data["disturbed"].sum() == 1
    assert draw_calibration(data, tmp_path / "calibration.png", validate_section("figures", {"dpi": 60})).stat().st_size > 5000


def test_draw_all_writes_every_figure(study):
    (study / "proxies").mkdir()
    pd.DataFrame({"parameters": [1, 2, 3, 4], "flops_per_sample": [4, 3, 2, 1], "joules_per_sample": [1.0, 2.0, 2.5, 4.0]}).to_csv(study / "proxies/runs.csv")
    stats = {"target": "joules_per_sample", "energy_source": "cpu:x", "estimated": True}
    for proxy in ("parameters", "flops_per_sample"):
        stats[f"{proxy}_vs_joules_per_sample"] = {"pearson_r": 0.1, "pearson_ci_low": -0.5, "pearson_ci_high": 0.6, "pearson_p": 0.5, "spearman_rho": 0.1}
    (study / "proxies/stats.json").write_text(json.dumps(stats))
    paths = draw_all(study, study / "figures", validate_section("figures", {"dpi": 60}))
    assert sorted(p.name for p in paths) == ["hypervolume.png", "pareto.png", "proxies.png", "scaling.png"]
    assert all(p.stat().st_size > 5000 for p in paths)
    only = draw_all(study, study / "only", validate_section("figures", {"dpi": 60}), only=["proxies"])
    assert [p.name for p in only] == ["proxies.png"]


def test_scaling_numbers_follow_the_fit():
    trials = pd.DataFrame(
        {"status": ["completed", "completed", "completed", "failed"], "parameters": [1e3, 1e4, 1e5, 1e6], "samples_per_joule": [100.0, 50.0, 25.0, None]}
    )
    fit = {"n": 3, "exponent": -0.301, "exponent_ci_low": -0.4, "exponent_ci_high": -0.2, "prefactor": 800.0, "r_squared": 1.0}
    data = scaling_data(trials, {"power_law_vs_parameters": fit})
    assert data["points"].shape == (3, 2) and data["line"][0, 0] == 1e3 and data["line"][-1, 0] == pytest.approx(1e5)
    assert data["line"][0, 1] == pytest.approx(800.0 * 1e3**-0.301)
    assert "parameters^-0.301" in data["title"] and "[-0.400, -0.200]" in data["title"]
    assert "no power-law fit: too few" in scaling_data(trials, {"power_law_vs_parameters": {"reason": "too few"}})["title"]


def test_bad_figure_settings():
    with pytest.raises(ConfigError) as caught:
        validate_section("figures", {"format": "jpg"})
    assert caught.value.key == "figures.format"


def test_records_without_rounds_still_draw(tmp_path):
    # Records read from a flat folder carry no round: a missing integer (pd.NA) must not reach a comparison.
    flat = [
        {"params": {"w": i}, "status": "completed", "performance": 0.5 + i / 10, "samples_per_joule": 10.0 / (i + 1), "parameters": 1000 * (i + 1)}
        for i in range(4)
    ]
    write_frontier(flat, parse_objectives(None), tmp_path)
    assert read_table(tmp_path / "hypervolume.csv")["round"].isna().all()
    paths = draw_all(tmp_path, tmp_path / "figures", validate_section("figures", {"dpi": 50}), only=["pareto", "hypervolume", "scaling"])
    assert sorted(p.name for p in paths) == ["hypervolume.png", "pareto.png", "scaling.png"]


def test_study_energy_data_is_per_round_at_the_energy_spent_so_far():
    import pandas as pd

    from ecopt.figures import study_energy_data

    hypervolume = pd.DataFrame({"round": [0, 0, 1], "index": [0, 1, 0], "hypervolume": [0.1, 0.5, 0.7]})

    def entry(stage, job, joules, finished):
        return {"stage": stage, "job": job, "total_joules": joules, "finished_at": finished, "estimated": True}

    # trial 000-1 finishes before 000-0: round 0's point is at the later one, with everything before it
    entries = [
        entry("data", None, 5.0, "t0"),
        entry("trial", "000-1", 10.0, "t1"),
        entry("trial", "000-0", 20.0, "t2"),
        entry("search", "001", 7.0, "t3"),
        entry("trial", "001-0", 30.0, "t4"),
    ]
    data = study_energy_data(hypervolume, entries)
    assert data["joules"] == [35.0, 72.0] and data["hypervolume"] == [0.5, 0.7] and data["round"] == [0, 1]
    assert "ESTIMATED" in data["note"]


def test_study_energy_counts_the_calibration_and_proxies_figure_jobs(tmp_path):
    # they run beside the search: a calibration figure done before the last trial is energy the study had spent by then
    import pandas as pd

    from ecopt.figures import study_energy_data, study_energy_entries
    from ecopt.io import write_json
    from tests.test_summary import entry

    def at(data, finished):
        return {**data, "finished_at": f"2026-11-30T00:00:0{finished}+00:00"}

    ledger = tmp_path / "ledger"
    jobs = {
        "data.json": at(entry("data", 0.0, 5.0), 1),  # 10 J each: 1 s of process start at the outside power
        "calibration.json": at(entry("calibration", 4.0, 1.0), 2),
        "figures/calibration.json": at(entry("figures", 0.0, 2.0, "calibration"), 3),
        "figures/proxies.json": at(entry("figures", 0.0, 3.0, "proxies"), 8),  # after the last trial: not on the axis yet
        "search/000.json": at(entry("search", 0.0, 1.0, "000"), 4),
        "trial/000-0.json": at(entry("trial", 6.0, 1.0, "000-0"), 5),
        "figures/frontier.json": at(entry("figures", 0.0, 50.0, "frontier"), 6),  # this figures job's own (an older run's): never read
    }
    for name, data in jobs.items():
        write_json(ledger / name, data)
    entries = study_energy_entries(ledger)
    assert sorted((e["stage"], e["job"]) for e in entries) == [
        ("calibration", None),
        ("data", None),
        ("figures", "calibration"),
        ("figures", "proxies"),
        ("search", "000"),
        ("trial", "000-0"),
    ]
    data = study_energy_data(pd.DataFrame({"round": [0], "index": [0], "hypervolume": [0.4]}), entries)
    # data 10 + calibration 6 (4 + 1 + 1 s at 1 W) + calibration figure 4 + search 2 + trial 8 (6 + 1 + 1 s at 1 W)
    assert data["joules"] == [pytest.approx(10.0 + 6.0 + 4.0 + 2.0 + 8.0)]
