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
    assert run["calibration"] == {"samples_per_joule_rsd": 0.04, "window_seconds": 4.0, "passed": False, "disturbed_repeats": None}
    assert run["summary"] is None and run["proxies"] is None
    assert bench.read_run(tmp_path / "absent") == {"summary": None, "calibration": None, "proxies": None, "trials": []}


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
