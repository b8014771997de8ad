"""The pure parts of benchmarks/studies.py on hand-made runs: reading a run's files, one run's figures, the range over runs, the table."""

from __future__ import annotations

import json
import math

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("studies.py")


def _trial(index, value, status="completed", performance=0.1, parameters=None, disturbed=False, **params):
    return {
        "round": 0,
        "index": index,
        "params": params,
        "status": status,
        "samples_per_joule": value,
        "performance": performance,
        "parameters": parameters,
        "disturbed": disturbed,
    }


def test_read_run_reads_the_files_a_study_writes_and_tolerates_missing_ones(tmp_path, bench):
    study = tmp_path / "results" / "s"
    (study / "rounds" / "0" / "trials").mkdir(parents=True)
    (study / "calibration").mkdir()
    record = {**_trial(0, 21.6, batch_size=1), "eval_joules": 3.0}
    (study / "rounds" / "0" / "trials" / "0.json").write_text(json.dumps(record))
    (study / "calibration" / "summary.json").write_text(json.dumps({"samples_per_joule_rsd": 0.04, "window_seconds": 4.0, "passed": False, "idle_watts": 1}))
    run = bench.read_run(study)
    assert run["trials"] == [_trial(0, 21.6, batch_size=1)]  # only the fields the figures use
    assert run["calibration"] == {
        "samples_per_joule_rsd": 0.04,
        "window_seconds": 4.0,
        "passed": False,
        "disturbed_repeats": None,
        "meter_overhead_seconds": None,
        "windows": None,
    }
    assert run["summary"] is None and run["proxies"] is None and run["frontier_size"] is None
    (study / "frontier.csv").write_text("round,index,performance\n0,0,0.9\n1,2,0.8\n")
    assert bench.read_run(study)["frontier_size"] == 2
    assert bench.read_run(tmp_path / "absent") == {"summary": None, "calibration": None, "proxies": None, "trials": [], "frontier_size": None}


def test_batch_study_figures_and_the_gain_interval(bench):
    # batch 1 twice (9 and 11: median 10, spread sqrt(2)/10), batch 44 at 80, an out-of-memory trial that never counts
    run = {
        "calibration": {"samples_per_joule_rsd": 0.05},
        "trials": [
            _trial(0, 9.0, batch_size=1),
            _trial(1, 11.0, batch_size=1, disturbed=True),
            _trial(2, 80.0, batch_size=44),
            _trial(3, None, "out_of_memory", batch_size=512),
        ],
    }
    figures = bench.run_figures("transformer-batch", run)
    assert figures["best_batch_size"] == 44 and figures["best_tokens_per_joule"] == 80.0
    assert figures["batch1_tokens_per_joule"] == 10.0 and figures["batch1_trials"] == 2
    assert figures["gain"] == pytest.approx(8.0) and figures["calibration_rsd"] == 0.05
    half = 1.959964 * math.sqrt(math.log(1 + 0.05**2) + math.log(1 + 0.02) / 2)
    assert (figures["gain_ci_low"], figures["gain_ci_high"]) == pytest.approx((8 * math.exp(-half), 8 * math.exp(half)), rel=1e-6)
    assert figures["completed"] == 3 and figures["disturbed_trials"] == 1
    bare = bench.run_figures("transformer-batch", {"trials": [_trial(0, 10.0, batch_size=1), _trial(1, 40.0, batch_size=8)]})
    assert bare["gain"] == pytest.approx(4.0) and bare["gain_ci_low"] is None  # one trial a side and no calibration: no interval


def test_size_study_figures_fit_the_trials_when_the_summary_is_missing(bench):
    # tokens/J = 10^4 x (parameters / 1000)^-0.5 exactly; accuracies 0.30-0.33
    trials = [_trial(i, 1e4 * (10**i) ** -0.5, performance=0.30 + i / 100, parameters=1000 * 10**i, hidden_size=32) for i in range(4)]
    figures = bench.run_figures("transformer-size-laptop", {"summary": None, "trials": trials})
    assert figures["exponent"] == pytest.approx(-0.5) and figures["r_squared"] == pytest.approx(1.0)
    assert figures["tokens_per_joule_max"] == pytest.approx(1e4) and figures["parameters_at_max"] == 1000
    assert figures["tokens_per_joule_min"] == pytest.approx(1e4 / 10**1.5) and figures["parameters_at_min"] == 1_000_000
    assert (figures["accuracy_min"], figures["accuracy_max"]) == pytest.approx((0.30, 0.33))
    summary = {"power_law_vs_parameters": {"exponent": -0.74, "exponent_ci_low": -0.91, "exponent_ci_high": -0.57, "r_squared": 0.9}}
    assert bench.run_figures("transformer-size-laptop", {"summary": summary, "trials": trials})["exponent"] == -0.74  # the run's own summary first


def test_proxy_study_figures_and_an_unknown_study(bench):
    stats = {
        "architectures": 20,
        "parameters_vs_joules_per_sample": {"pearson_r": 0.61, "pearson_ci_low": 0.23, "pearson_ci_high": 0.83},
        "flops_per_sample_vs_joules_per_sample": {"pearson_r": 0.94, "pearson_ci_low": 0.85, "pearson_ci_high": 0.98},
    }
    figures = bench.run_figures("model-zoo-proxies", {"proxies": stats, "trials": []})
    assert figures == {
        "r_parameters": 0.61,
        "r_parameters_ci_low": 0.23,
        "r_parameters_ci_high": 0.83,
        "r_flops": 0.94,
        "r_flops_ci_low": 0.85,
        "r_flops_ci_high": 0.98,
        "n": 20,
    }
    with pytest.raises(ValueError, match="unknown study 'cifar'"):
        bench.run_figures("cifar", {})


def test_across_runs_gives_each_value_the_median_and_the_range(bench):
    table = bench.across_runs([{"gain": 9.5, "n": 20}, {"gain": 4.7}, {"gain": 4.5, "n": 20}])
    assert table["gain"] == {"values": [9.5, 4.7, 4.5], "median": 4.7, "min": 4.5, "max": 9.5, "runs": 3}
    assert table["n"] == {"values": [20, None, 20], "median": 20, "min": 20, "max": 20, "runs": 2}
    assert bench.across_runs([{"gain": None}])["gain"] == {"values": [None], "median": None, "min": None, "max": None, "runs": 0}


def test_format_table_shows_each_run_its_interval_load_and_the_range(bench):
    runs = [
        {
            "figures": {"gain": 9.5, "gain_ci_low": 8.1, "gain_ci_high": 11.2},
            "wall_seconds": 360.4,
            "returncode": 0,
            "load_before": [3.2, 2.0, 1.0],
            "load_after": [4.0, 3.0, 2.0],
        },
        {
            "figures": {"gain": 4.7, "gain_ci_low": None, "gain_ci_high": None},
            "wall_seconds": 350.0,
            "returncode": 0,
            "load_before": [0.1, 0.2, 0.3],
            "load_after": [1.0, 1.0, 1.0],
        },
    ]
    text = bench.format_table("transformer-batch", runs)
    assert "2 run(s) (fewer than 3: not a README figure)" in text
    assert "run 1: exit 0, 360 s, load average (1/5/15 min) 3.20/2.00/1.00 -> 4.00/3.00/2.00" in text
    assert "  gain: 9.5 [8.1, 11.2]; 4.7 -> median 7.1 [4.7, 9.5]" in text
    assert "gain_ci_low" not in text  # the interval's ends print beside the gain, not as figures of their own


DEFAULT_SUMMARY = {
    "study_energy": {
        "total_joules": 11000.0,
        "jobs": 30,
        "by_component": {"cpu": 1100.0, "ram": 9900.0, "gpu": 0.0},
        "by_stage": {"trial": 7000.0, "search": 500.0, "calibration": 2400.0, "proxies": 600.0, "data": 40.0, "figures": 160.0, "summary": 300.0},
        "trial_windows_joules": 6400.0,
        "trial_overhead_joules": 600.0,
        "share_outside_trial_windows": 0.418,
        "share_outside_metered_windows": 0.16,
        "startup_estimated_joules": 700.0,
    },
    "net_impact": {
        "break_even_inferences": 2.4e7,
        "chosen": {"performance": 0.969, "joules_per_inference": 8e-5},
        "baseline": {"performance": 0.972, "joules_per_inference": 5.5e-4},
    },
    "gain_over_baseline": [{"gain": 13.1, "gain_ci_low": 11.1, "gain_ci_high": 15.4}],
}


def test_default_study_figures_are_the_readme_s_energy_table_net_impact_and_calibration(bench):
    windows = [{"window_seconds": 0.5, "samples_per_joule_rsd": 0.53}, {"window_seconds": 16.0, "samples_per_joule_rsd": 0.059}]
    calibration = {"samples_per_joule_rsd": 0.059, "window_seconds": 16.0, "passed": False, "meter_overhead_seconds": 0.0135, "windows": windows}
    figures = bench.run_figures("default", {"summary": DEFAULT_SUMMARY, "calibration": calibration, "trials": [_trial(0, 2000.0)], "frontier_size": 7})
    assert figures["total_joules"] == 11000.0 and figures["jobs"] == 30
    assert (figures["trial_joules"], figures["search_joules"], figures["calibration_joules"], figures["proxies_joules"]) == (7000.0, 500.0, 2400.0, 600.0)
    assert figures["other_stages_joules"] == pytest.approx(500.0)  # data + figures + summary
    assert figures["ram_share"] == pytest.approx(0.9)
    assert figures["trial_windows_joules"] == 6400.0 and figures["trial_overhead_joules"] == 600.0
    assert figures["break_even_inferences"] == 2.4e7 and figures["chosen_joules_per_inference"] == 8e-5 and figures["baseline_performance"] == 0.972
    assert (figures["gain"], figures["gain_ci_low"], figures["gain_ci_high"]) == (13.1, 11.1, 15.4)
    assert figures["calibration_window_seconds"] == 16.0 and figures["calibration_passed"] == 0 and figures["meter_overhead_seconds"] == 0.0135
    assert figures["frontier_size"] == 7 and figures["completed"] == 1
    assert figures["calibration_rsd_at_0.5s"] == 0.53 and figures["calibration_rsd_at_16s"] == 0.059
    # A run whose summary is missing gives None figures, not an error.
    empty = bench.run_figures("default", {"trials": [_trial(0, 2000.0)]})
    assert empty["break_even_inferences"] is None and "total_joules" not in empty and empty["calibration_passed"] is None


def test_early_stopping_figures(bench):
    summary = {
        "study_energy": {"total_joules": 12099.0, "by_stage": {}},
        "early_stopping": {
            "early_stopped": [
                {"round": 1, "index": 0, "stopped_at_rung": 9, "train_joules": 28.5},
                {"round": 2, "index": 1, "stopped_at_rung": 1, "train_joules": 2.6},
            ],
            "early_stopped_train_joules": 31.1,
            "median_completed_train_joules": 35.3,
            "all_below_median": True,
            "train_below_resolution": 1,
        },
    }
    trials = [_trial(0, 10.0), _trial(1, None, "early_stopped"), _trial(2, None, "early_stopped")]
    figures = bench.run_figures("early-stopping", {"summary": summary, "trials": trials, "frontier_size": 4})
    assert figures["early_stopped"] == 2 and figures["early_stopped_train_joules"] == 31.1 and figures["median_completed_train_joules"] == 35.3
    assert figures["all_below_median"] == 1 and figures["train_below_resolution"] == 1
    assert figures["total_joules"] == 12099.0 and figures["frontier_size"] == 4 and figures["completed"] == 1


def test_each_study_runs_its_config_files_and_writes_under_its_study_name(bench):
    root = bench.Path(bench.__file__).resolve().parents[1]
    assert bench.CONFIG_FILES["early-stopping"] == ["config/config.yaml", "config/early_stopping.yaml"]  # target first
    assert bench.results_name(root, "early-stopping") == "digits-cnn-early-stopping"  # the overlay's study: key wins
    assert bench.results_name(root, "default") == "digits-cnn"
    assert set(bench.CONFIG_FILES) == set(bench.STUDIES) and all((root / f).is_file() for files in bench.CONFIG_FILES.values() for f in files)


def test_finished_runs_are_summarised_from_their_folders(bench, tmp_path, capsys):
    folders = []
    for number, total in enumerate((11000.0, 5700.0, 9000.0)):
        folder = tmp_path / f"run{number}" / "results" / "digits-cnn"
        (folder / "ledger").mkdir(parents=True)
        summary = {**DEFAULT_SUMMARY, "study_energy": {**DEFAULT_SUMMARY["study_energy"], "total_joules": total}}
        (folder / "summary.json").write_text(json.dumps(summary))
        folders.append(str(folder))
    assert bench.main(["--study", "default", "--from-results", *folders]) == 0
    text = capsys.readouterr().out
    assert "== default: 3 run(s)\n" in text and "wall time not recorded" in text
    assert "  total_joules: 11000; 5700; 9000 -> median 9000 [5700, 11000]" in text
    assert "break_even_inferences: 2.4e+07" in text  # large and small numbers keep 3 significant digits
    with pytest.raises(SystemExit):
        bench.main(["--study", "default", "--from-results", str(tmp_path)])
    assert f"--from-results {tmp_path}: no summary.json and ledger/ there" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--from-results", *folders])
    assert "--from-results needs one --study" in capsys.readouterr().err
    # A folder that holds a summary.json but is not a run (a calibration folder), a run of another study, a run twice.
    calibration = tmp_path / "run0" / "results" / "digits-cnn" / "calibration"
    calibration.mkdir()
    (calibration / "summary.json").write_text("{}")
    refused = {
        (calibration,): "no summary.json and ledger/ there",
        (folders[0],): "a run of study 'digits-cnn', expected 'transformer-batch'",
        (folders[0], folders[0] + "/", folders[1]): "a folder is given twice",
    }
    for given, message in refused.items():
        study = "transformer-batch" if "transformer-batch" in message else "default"
        with pytest.raises(SystemExit):
            bench.main(["--study", study, "--from-results", *map(str, given)])
        assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"a": 1}', "no runs per study in it"),
        ("[1, 2]", "no runs per study in it"),
        ("not json", "cannot read it"),
        ('{"runs": {"cifar": [{"raw": {}}]}}', "study 'cifar' or its runs are not this script's"),
        ('{"runs": {"default": [{"figures": {}}]}}', "study 'default' or its runs are not this script's"),
    ],
)
def test_a_from_json_file_this_script_did_not_write_is_refused_naming_it(bench, tmp_path, capsys, content, message):
    saved = tmp_path / "saved.json"
    saved.write_text(content)
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--from-json", str(saved)])
    assert exit_.value.code == 2 and f"--from-json {saved}: {message}" in capsys.readouterr().err
