"""The workflow end to end on a tiny study: DAG, caching, partial reruns, a SIGKILL, bad configs.

One study is run once per session (module fixture); each test that changes
something works on its own copy.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.workflow]

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
TINY = {
    "study": "tiny",
    "seed": 0,
    "adapter": "ecopt.adapters.cnn:CNNClassifier",
    "adapter_options": {"max_epochs": 3, "patience": 2},
    "data": {"dataset": "digits", "max_train_samples": 300},
    "space": {
        "width": {"type": "range", "bounds": [2, 16], "value_type": "int", "log_scale": True},
        "depth": {"type": "range", "bounds": [1, 2], "value_type": "int"},
        "pooling": {"type": "choice", "values": [False, True], "value_type": "bool"},
        "kernel_size": {"type": "fixed", "value": 3},
    },
    "meter": {"min_window_seconds": 0.3, "tracking_mode": "process"},
    "search": {"initial_trials": 3, "rounds": 2, "batch_size": 2, "num_restarts": 4, "raw_samples": 64},
    "calibration": {"repeats": 3, "idle_seconds": 0.5, "overhead_pairs": 1},
    "proxies": {"architectures": 4},
}
TRIALS = 3 + 2 + 2


def make_study(folder: Path, config: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "profiles"):
        target = folder / name
        if not target.exists():
            target.symlink_to(ROOT / name)
    (folder / "config").mkdir(exist_ok=True)
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def snakemake(folder: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([SNAKEMAKE, "--cores", "2", *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def planned_jobs(folder: Path) -> dict[str, int]:
    """Jobs a dry run would run, by rule."""
    result = snakemake(folder, "--dry-run")
    assert result.returncode == 0, result.stderr + result.stdout
    output = result.stdout + result.stderr
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory) -> Path:
    folder = make_study(tmp_path_factory.mktemp("study") / "run", TINY)
    result = snakemake(folder, "all")
    assert result.returncode == 0, result.stderr[-5000:]
    return folder


def copy_of(study: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(study, target, symlinks=True)
    return target


def test_full_dag_completes(finished_study):
    out = finished_study / "results" / "tiny"
    trials = sorted(out.glob("rounds/*/trials/*.json"))
    assert len(trials) == TRIALS
    records = [json.loads(path.read_text()) for path in trials]
    assert all(r["status"] in ("completed", "failed", "out_of_memory") for r in records)
    assert sum(r["status"] == "completed" for r in records) >= 5
    assert json.loads((out / "rounds/001/proposals.json").read_text())["generator"].startswith("qLogNEHVI (candidate 1), posterior-mean")
    assert json.loads((out / "rounds/002/proposals.json").read_text())["noise"]["efficiency"]["source"] == "meter calibration"
    summary = json.loads((out / "calibration/summary.json").read_text())
    assert summary["repeats"] == 3 and summary["samples_per_joule_rsd"] >= 0 and summary["idle_watts"] > 0
    stats = json.loads((out / "proxies/stats.json").read_text())
    assert stats["architectures"] == 4 and -1 <= stats["parameters_vs_joules_per_sample"]["pearson_r"] <= 1
    assert (out / "frontier.csv").read_text().count("\n") >= 2
    for name in ("pareto", "hypervolume", "scaling", "proxies", "calibration"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    fit = json.loads((out / "summary.json").read_text())["power_law_vs_parameters"]
    assert fit["n"] >= 3 and fit["exponent_ci_low"] <= fit["exponent"] <= fit["exponent_ci_high"]
    for log in ("prepare_data", "calibrate", "proxies", "frontier", "figures"):
        assert (out / "logs" / f"{log}.log").is_file()


def test_second_run_does_nothing(finished_study):
    assert planned_jobs(finished_study) == {}


def test_editing_figures_reruns_only_figures(finished_study, tmp_path):
    study = copy_of(finished_study, tmp_path)
    config = dict(TINY, figures={"dpi": 90})
    make_study(study, config)
    assert planned_jobs(study) == {"figures": 1, "proxies_figure": 1, "calibration_figure": 1, "all": 1}
    before = (study / "results/tiny/frontier.csv").stat().st_mtime
    assert snakemake(study, "all").returncode == 0
    assert (study / "results/tiny/frontier.csv").stat().st_mtime == before


def test_deleting_a_trial_reruns_it_and_later_rounds_only(finished_study, tmp_path):
    study = copy_of(finished_study, tmp_path)
    (study / "results/tiny/rounds/001/trials/0.json").unlink()
    assert planned_jobs(study) == {"trial": 1 + 2, "propose": 1, "frontier": 1, "figures": 1, "all": 1}


def test_sigkill_mid_round_then_restart_completes_without_redoing_finished_trials(finished_study, tmp_path):
    study = copy_of(finished_study, tmp_path)
    out = study / "results/tiny"
    shutil.rmtree(out / "rounds/002")
    for name in ("trials.csv", "frontier.csv", "hypervolume.csv", "summary.json"):
        (out / name).unlink()
    finished = {path: path.stat().st_mtime for path in out.glob("rounds/*/trials/*.json")}
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([SNAKEMAKE, "--cores", "2", "all"], cwd=study, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    try:
        # Kill while round 2's first trial job is running: its log exists, its record does not.
        while time.time() < deadline:
            if (out / "logs/trials/002-0.log").exists() and not (out / "rounds/002/trials/0.json").exists():
                time.sleep(1.0)
                break
            time.sleep(0.2)
        else:
            pytest.fail("round 2 never started")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for path in out.rglob("*.json"):
        json.loads(path.read_text())  # nothing half-written
    assert snakemake(study, "--unlock").returncode == 0
    result = snakemake(study, "all")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {path: path.stat().st_mtime for path in finished} == finished  # no finished trial redone
    assert len(list(out.glob("rounds/*/trials/*.json"))) == TRIALS
    assert (out / "frontier.csv").is_file()


@pytest.mark.parametrize(
    "change, key",
    [
        ({"search": {"rounds": "two"}}, "search.rounds"),
        ({"serach": {}}, "serach"),
        ({"space": {"width": {"type": "range", "bounds": [16, 2]}}}, "space.width.bounds"),
        ({"adapter": "mypackage.models:Missing"}, "adapter"),
        ({"meter": {"tracking_mode": "node"}}, "meter.tracking_mode"),
    ],
)
def test_invalid_config_fails_before_any_job(tmp_path, change, key):
    config = {**TINY, **change}
    if "serach" in change:
        config["serach"] = {}
    study = make_study(tmp_path / "bad", config)
    result = snakemake(study, "all", timeout=120)
    assert result.returncode != 0
    assert f"'{key}'" in result.stderr
    assert not (study / "results").exists()


def test_html_report_has_every_figure_with_its_caption(finished_study, tmp_path):
    report = tmp_path / "report.html"
    result = snakemake(finished_study, "--report", str(report), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    text = report.read_text(errors="replace")
    for figure in ("pareto.png", "hypervolume.png", "scaling.png", "proxies.png", "calibration.png"):
        assert figure in text
    assert "Pareto frontier" in text and "relative standard deviation" in text and "parameter count" in text
