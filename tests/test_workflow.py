"""The workflow end to end on a tiny study: DAG, caching, partial reruns, a SIGKILL, bad configs.

One study is run once per session (module fixture); each test that changes
something works on its own copy. Every snakemake runs inside `timeout -s KILL`
and with its own metered lock file (ECOPT_METERED_LOCK), so that a hung run or
another test session on this machine cannot block these tests.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
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
    "calibration": {"repeats": 3, "idle_seconds": 0.5, "overhead_pairs": 1, "window_seconds": [0.2, 0.4], "budget_seconds": 20},
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


METERED_RULES = ("calibrate", "proxies", "trial")


def environment(folder: Path, **extra: str) -> dict[str, str]:
    """PYTHONPATH to this checkout and a metered lock of this study's own (see ecopt.metered_lock)."""
    return dict(os.environ, PYTHONPATH=str(ROOT), ECOPT_METERED_LOCK=str(folder / "metered.lock"), **extra)


def snakemake(folder: Path, *args: str, timeout: int = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = ["timeout", "-s", "KILL", str(timeout), SNAKEMAKE, "--cores", "2", *args]
    return subprocess.run(command, cwd=folder, env=env or environment(folder), capture_output=True, text=True, check=False)


def start_snakemake(folder: Path, *args: str, env: dict[str, str] | None = None, timeout: int = 900) -> subprocess.Popen:
    """A run in a process group of its own (killed with os.killpg), its output discarded."""
    command = ["timeout", "-s", "KILL", str(timeout), SNAKEMAKE, "--cores", "2", *args]
    return subprocess.Popen(command, cwd=folder, env=env or environment(folder), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under results/ with its modification time (ns) and content."""
    return {str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.read_bytes()) for path in sorted((folder / "results").rglob("*")) if path.is_file()}


@contextmanager
def metered_lock_held(folder: Path):
    """Hold the study's machine-wide metered lock from this test, as another study's metered job would."""
    import fcntl

    with open(folder / "metered.lock", "a") as stream:
        fcntl.flock(stream, fcntl.LOCK_EX)
        yield


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
    (folder / "reads").mkdir()
    # Every stage process reports the files it opens under results/ (tests/read_audit).
    env = environment(folder, ECOPT_TEST_READ_LOG=str(folder / "reads"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests" / "read_audit")])
    result = snakemake(folder, "all", env=env)
    assert result.returncode == 0, result.stderr[-5000:]
    (folder / "first-run.log").write_text(result.stdout + result.stderr)
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
    assert summary["repeats"] >= 2 and summary["samples_per_joule_rsd"] >= 0 and summary["idle_watts"] > 0
    # The trials measure over the window the calibration chose (a declared input), not meter.min_window_seconds.
    assert summary["window_seconds"] in (0.2, 0.4) and [w["window_seconds"] for w in summary["windows"]][0] == 0.2
    assert all(r["min_window_seconds"] == summary["window_seconds"] and r["min_window_source"].startswith("calibration ") for r in records)
    stats = json.loads((out / "proxies/stats.json").read_text())
    assert stats["architectures"] == 4 and -1 <= stats["parameters_vs_joules_per_sample"]["pearson_r"] <= 1
    assert (out / "frontier.csv").read_text().count("\n") >= 2
    for name in ("pareto", "hypervolume", "scaling", "proxies", "calibration"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 10_000
    assert (out / "figures" / "frontier.html").stat().st_size > 1_000_000  # the interactive page, plotly.js inlined
    fit = json.loads((out / "summary.json").read_text())["power_law_vs_parameters"]
    assert fit["n"] >= 3 and fit["exponent_ci_low"] <= fit["exponent"] <= fit["exponent_ci_high"]
    for log in ("prepare_data", "calibrate", "proxies", "frontier", "figures"):
        assert (out / "logs" / f"{log}.log").is_file()


def test_summary_study_energy_covers_every_job(finished_study):
    """Every job left a ledger entry, summary.json adds them all up, and the total covers the trials' windows."""
    out = finished_study / "results" / "tiny"
    summary = json.loads((out / "summary.json").read_text())
    energy = summary["study_energy"]
    entries = [json.loads(path.read_text()) for path in sorted((out / "ledger").rglob("*.json"))]
    jobs = [entry for entry in entries if entry["stage"] != "summary"]
    # data, calibration, proxies, 3 rounds, every trial, frontier, 3 figure jobs, the frontier page, and the summary itself
    assert len(jobs) == 1 + 1 + 1 + 3 + TRIALS + 1 + 3 + 1
    assert energy["jobs"] == len(jobs) + 1 and energy["summary_stage_included"]
    assert set(energy["by_stage"]) == {"data", "calibration", "proxies", "search", "trial", "frontier", "figures", "page", "summary"}
    assert sum(energy["by_stage"].values()) == pytest.approx(energy["total_joules"])
    records = [json.loads(path.read_text()) for path in sorted(out.glob("rounds/*/trials/*.json"))]
    windows = sum((r.get("train_joules") or 0.0) + (r.get("eval_joules") or 0.0) for r in records)
    assert energy["total_joules"] >= windows > 0
    assert energy["trial_windows_joules"] == pytest.approx(windows)
    assert energy["estimated"] and energy["emissions_kg_co2eq"] > 0
    impact = summary["net_impact"]
    assert impact["choice"] == "knee" and "chosen" in impact
    assert impact["break_even_inferences"] is not None or impact["reason"]
    assert (out / "figures" / "study_energy.png").stat().st_size > 10_000


def test_second_run_does_nothing(finished_study):
    assert planned_jobs(finished_study) == {}


def test_the_default_profile_is_loaded_and_runs_one_metered_job_at_a_time(finished_study):
    log = (finished_study / "first-run.log").read_text()
    assert "Using workflow specific profile profiles/default" in log
    assert "-m ecopt.ledger" in log and "-- trial --settings" in log  # printshellcmds, from the profile (trials run under the ledger)
    # Snakemake's own log: at most one calibrate/proxies/trial job between its start and its end,
    # although --cores 2 would run two (the profile's `metered=1`).
    running: set[str] = set()
    started_rule = None
    most = 0
    for line in log.splitlines():
        if match := re.match(r"^(?:local)?rule (\w+):", line):
            started_rule = match.group(1)
        elif (match := re.match(r"^\s+jobid: (\d+)", line)) and started_rule in METERED_RULES:
            running.add(match.group(1))
            most = max(most, len(running))
        elif match := re.match(r"^Finished jobid: (\d+)", line):
            running.discard(match.group(1))
    assert most == 1
    records = [json.loads(path.read_text()) for path in (finished_study / "results/tiny").glob("rounds/*/trials/*.json")]
    windows = sorted((record["started_at"], record["finished_at"]) for record in records)
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(windows))


def test_each_job_reads_only_files_it_declares(finished_study):
    """What each stage process opened under results/ against its job's declared inputs (Snakemake's metadata)."""
    import base64

    reports = [json.loads(path.read_text()) for path in (finished_study / "reads").glob("*.json")]
    # Every job runs its stage under the study energy ledger: python -m ecopt.ledger ... -- <stage> ...
    assert {report["argv"][report["argv"].index("-m") + 1] for report in reports} == {"ecopt.ledger"}
    stages = {report["argv"][report["argv"].index("--") + 1] for report in reports}
    assert stages == {"data", "calibration", "proxies", "search", "trial", "frontier", "figures", "page", "summary"}
    for report in reports:
        declared: set[str] = set()
        outputs = []
        for written in report["writes"]:
            metadata = finished_study / ".snakemake/metadata" / base64.urlsafe_b64encode(written.encode()).decode()
            if metadata.is_file():
                outputs.append(written)
                declared.update(json.loads(metadata.read_text())["input"])
        assert outputs, f"{report['argv'][:4]} wrote no job output: {report['writes']}"
        undeclared = set(report["reads"]) - declared - set(outputs)
        assert not undeclared, f"{' '.join(report['argv'][:4])} read undeclared {sorted(undeclared)}"


def test_workflow_profile_none_turns_the_profile_off(tmp_path):
    """The control for the test above: without the profile, no printed commands (nor its limit)."""
    study = make_study(tmp_path / "noprofile", TINY)
    with_profile = snakemake(study, "--dry-run", timeout=120)
    without = snakemake(study, "--dry-run", "--workflow-profile", "none", timeout=120)
    assert with_profile.returncode == without.returncode == 0
    assert "profiles/default" in with_profile.stderr and "profiles/default" not in without.stderr
    assert "Shell command: " in with_profile.stdout + with_profile.stderr
    assert "-m ecopt.trial" not in without.stdout + without.stderr


def test_editing_the_config_file_without_changing_a_value_reruns_nothing(finished_study, tmp_path):
    study = copy_of(finished_study, tmp_path)

    # Keys in reverse order (sections and fields), other indentation, flow style, comments.
    def reverse(value):
        return {key: reverse(value[key]) for key in reversed(list(value))} if isinstance(value, dict) else value

    text = yaml.safe_dump(reverse(TINY), sort_keys=False, indent=4, default_flow_style=None)
    (study / "config/config.yaml").write_text("# the same study, written differently\n\n" + text.replace("\n", "  # same\n", 1))
    assert yaml.safe_load((study / "config/config.yaml").read_text()) == TINY
    assert planned_jobs(study) == {}


def test_no_invocation_writes_under_results_at_parse_time(finished_study, tmp_path):
    """A dry run, --lint and a run that cannot lock the directory, each with an edited config, while a study runs."""
    study = copy_of(finished_study, tmp_path)
    (study / "results/tiny/rounds/002/trials/1.json").unlink()
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(dict(TINY, meter=dict(TINY["meter"], pue=2.0))))
    with metered_lock_held(study):
        running = start_snakemake(study, "all")  # its trial job waits for the metered lock this test holds
        try:
            log = study / "results/tiny/logs/trials/002-1.log"
            deadline = time.time() + 300
            while not (log.exists() and "waiting for the metered lock" in log.read_text()) and time.time() < deadline:
                time.sleep(0.2)
            assert log.exists(), "the running study never started its trial"
            before = snapshot(study)
            for args in (("--dry-run",), ("--lint",), ()):
                result = snakemake(study, f"--configfile={edited}", "all", *args, timeout=300)
                if not args:
                    assert result.returncode != 0 and "cannot be locked" in result.stdout + result.stderr
                assert snapshot(study) == before, f"snakemake {' '.join(args)} wrote under results/"
            assert running.poll() is None
        finally:
            os.killpg(running.pid, signal.SIGKILL)
            running.wait()
    assert not (study / "results/tiny/study.yaml").exists()


def test_editing_figures_reruns_only_figures(finished_study, tmp_path):
    study = copy_of(finished_study, tmp_path)
    config = dict(TINY, figures={"dpi": 90})
    make_study(study, config)
    # The summary follows: it adds up every job's ledger entry, and the figure jobs' entries are new.
    assert planned_jobs(study) == {"figures": 1, "proxies_figure": 1, "calibration_figure": 1, "summary": 1, "all": 1}
    before = (study / "results/tiny/frontier.csv").stat().st_mtime
    assert snakemake(study, "all").returncode == 0
    assert (study / "results/tiny/frontier.csv").stat().st_mtime == before


def test_deleting_a_trial_reruns_it_and_later_rounds_only(finished_study, tmp_path):
    study = copy_of(finished_study, tmp_path)
    (study / "results/tiny/rounds/001/trials/0.json").unlink()
    expected = {"trial": 1 + 2, "propose": 1, "frontier": 1, "figures": 1, "frontier_page": 1, "summary": 1, "all": 1}
    assert planned_jobs(study) == expected


def test_sigkill_mid_round_then_restart_completes_without_redoing_finished_trials(finished_study, tmp_path):
    study = copy_of(finished_study, tmp_path)
    out = study / "results/tiny"
    shutil.rmtree(out / "rounds/002")
    for name in ("trials.csv", "frontier.csv", "hypervolume.csv", "summary.json"):
        (out / name).unlink()
    finished = {path: path.stat().st_mtime for path in out.glob("rounds/*/trials/*.json")}
    process = start_snakemake(study, "all")
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


def run_killed_after_first_record(study: Path, round_dir: Path) -> tuple[Path, bytes]:
    """Run ``snakemake all`` with ecopt.trial's test hook: the first trial to write its record in ``round_dir``
    SIGKILLs its process group (this Snakemake run) before Snakemake marks the job complete. Returns that
    record (the round's only one) and its bytes."""
    killed = start_snakemake(study, "all", env=environment(study, ECOPT_TEST_KILL_GROUP_AFTER_RECORD="1"))
    assert killed.wait(timeout=600) == -signal.SIGKILL or killed.returncode == 128 + signal.SIGKILL
    written = list(round_dir.glob("trials/*.json"))
    assert len(written) == 1, f"the run should have died right after its first {round_dir.name} record"
    return written[0], written[0].read_bytes()


def test_a_kill_just_after_a_trial_wrote_its_record_keeps_that_measurement(finished_study, tmp_path):
    """The README's recipe (--unlock, then the same command) after a SIGKILL of the whole run at the worst moment."""
    study = copy_of(finished_study, tmp_path)
    out = study / "results/tiny"
    shutil.rmtree(out / "rounds/002")
    for name in ("trials.csv", "frontier.csv", "hypervolume.csv", "summary.json"):
        (out / name).unlink()
    record, measurement = run_killed_after_first_record(study, out / "rounds/002")
    assert "IncompleteFilesException" not in snakemake(study, "--dry-run").stderr  # rerun-incomplete applies
    assert snakemake(study, "--unlock").returncode == 0
    result = snakemake(study, "all")
    assert result.returncode == 0, result.stderr[-3000:]
    assert record.read_bytes() == measurement  # the same joules and timestamps: not metered again
    index = record.stem
    assert "kept" in (out / f"logs/trials/002-{index}.log").read_text()
    assert len(list(out.glob("rounds/*/trials/*.json"))) == TRIALS and (out / "frontier.csv").is_file()


def test_changed_trial_settings_measure_again(finished_study, tmp_path):
    """The kept-record rule is narrow: a trial whose settings changed is metered afresh, not kept."""
    study = copy_of(finished_study, tmp_path)
    record = study / "results/tiny/rounds/000/trials/0.json"
    before = json.loads(record.read_text())
    make_study(study, dict(TINY, trial={"threads": 1}))  # the window comes from the calibration: change the trial section
    assert snakemake(study, str(record.relative_to(study))).returncode == 0
    after = json.loads(record.read_text())
    assert after["fingerprint"] != before["fingerprint"] and after["started_at"] != before["started_at"]
    assert after["min_window_seconds"] == before["min_window_seconds"]


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
    for figure in ("pareto.png", "hypervolume.png", "scaling.png", "proxies.png", "calibration.png", "frontier.html", "net_impact.html"):
        assert figure in text
    assert "break-even inferences" in text  # the net impact's caption; its numbers are the page net_impact.html
    assert "Pareto frontier" in text and "relative standard deviation" in text and "parameter count" in text


def test_switching_mlflow_on_logs_every_trial_without_measuring_again(finished_study, tmp_path):
    """`mlflow:` added to a finished study: no trial reruns (the section is not a trial param); the frontier
    stage logs every trial as an MLflow run of the study's own SQLite store, and a second run adds nothing."""
    mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny is not installed")
    study = copy_of(finished_study, tmp_path)
    make_study(study, dict(TINY, mlflow={"experiment_name": "tiny-tracked"}))
    planned = planned_jobs(study)
    assert "trial" not in planned and planned.get("frontier") == 1 and planned.get("frontier_page") == 1
    result = snakemake(study, "all", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    client = mlflow.MlflowClient(f"sqlite:///{study}/results/tiny/mlflow.db")
    experiment = client.get_experiment_by_name("tiny-tracked").experiment_id
    runs = client.search_runs([experiment])
    trial_runs = [r for r in runs if r.data.tags.get("ecopt.role") == "trial"]
    (study_run,) = [r for r in runs if r.data.tags.get("ecopt.role") == "study"]
    assert len(trial_runs) == TRIALS
    completed = [r for r in trial_runs if r.data.tags["status"] == "completed"]
    assert completed and all(r.data.metrics["samples_per_joule"] > 0 and "train_loss" in r.data.metrics for r in completed)
    assert {r.data.tags["mlflow.parentRunId"] for r in trial_runs} == {study_run.info.run_id}
    artifacts = {a.path for a in client.list_artifacts(study_run.info.run_id, "figures")}
    assert {"figures/pareto.png", "figures/frontier.html"} <= artifacts
    assert planned_jobs(study) == {}


# --------------------------------------------------------------------------- early stopping
# A scripted trainer (tests.fakes.CurveModel) under the real meter: its baseline (x=1, n=4)
# dominates every other configuration at every rung, so with eta 4 a later trial continues
# only if it is that configuration again. Round 1 compares with round 0 alone. One round
# after the Sobol design keeps the two tests short (CI time): no later round is needed.
TINY_EARLY_STOPPING = {
    "study": "tiny-es",
    "seed": 0,
    "stages": ["search"],
    "adapter": "tests.fakes:CurveModel",
    "adapter_options": {"max_epochs": 4, "epoch_seconds": 0.05, "evaluate_seconds": 0.02},
    "data": {"dataset": "digits", "max_train_samples": 300},
    "space": {
        "x": {"type": "choice", "values": [0.2, 0.4, 0.6, 0.8, 1.0], "value_type": "float"},
        "n": {"type": "choice", "values": [1, 2, 4], "value_type": "int"},
    },
    "meter": {"min_window_seconds": 0.3, "tracking_mode": "process"},
    "search": {"initial_trials": 3, "rounds": 1, "batch_size": 2, "num_restarts": 4, "raw_samples": 64, "baseline": [{"x": 1.0, "n": 4}]},
    "early_stopping": {"enabled": True, "reduction_factor": 4, "min_resource": 1, "min_points_at_rung": 2},
}


def records_of(out: Path) -> dict[str, dict]:
    return {str(path.relative_to(out)): json.loads(path.read_text()) for path in sorted(out.glob("rounds/*/trials/*.json"))}


@pytest.fixture(scope="module")
def early_stopped_study(tmp_path_factory) -> Path:
    folder = make_study(tmp_path_factory.mktemp("es") / "run", TINY_EARLY_STOPPING)
    result = snakemake(folder, "all")
    assert result.returncode == 0, result.stderr[-5000:]
    return folder


def test_a_study_with_early_stopping_finishes_with_a_frontier_and_early_stopped_trials(early_stopped_study):
    out = early_stopped_study / "results/tiny-es"
    records = records_of(out)
    assert len(records) == 3 + 2
    stopped = {path: r for path, r in records.items() if r["status"] == "early_stopped"}
    assert stopped and all(not path.startswith("rounds/000") for path in stopped)  # round 0 has nothing to compare with
    completed_joules = sorted(r["train_joules"] for r in records.values() if r["status"] == "completed")
    for record in stopped.values():
        assert record["stopped_at_rung"] == 1 and record["early_stopping"]["compared"] >= 3
        assert record["train_joules"] < completed_joules[len(completed_joules) // 2]
    round_one = json.loads((out / "rounds/001/proposals.json").read_text())["rung_history"]
    assert sorted(round_one["metrics"]) == ["performance", "samples_per_joule"] and len(round_one["points"]["1"]) == 3  # round 0 only
    frontier = (out / "frontier.csv").read_text()
    assert frontier.count("\n") >= 2 and "early_stopped" not in frontier
    summary = json.loads((out / "summary.json").read_text())
    assert summary["statuses"]["early_stopped"] == len(stopped) and summary["early_stopping"]["all_below_median"] is True


def test_a_kill_in_the_middle_of_an_early_stopped_round_resumes_without_measuring_again(early_stopped_study, tmp_path):
    study = copy_of(early_stopped_study, tmp_path)
    out = study / "results/tiny-es"
    before = records_of(out)
    shutil.rmtree(out / "rounds/001")
    for name in ("trials.csv", "frontier.csv", "hypervolume.csv", "summary.json"):
        (out / name).unlink()
    record, measurement = run_killed_after_first_record(study, out / "rounds/001")
    assert snakemake(study, "--unlock").returncode == 0
    result = snakemake(study, "all")
    assert result.returncode == 0, result.stderr[-3000:]
    assert record.read_bytes() == measurement  # kept, not metered again
    after = records_of(out)
    assert len(after) == len(before) and any(r["status"] == "early_stopped" for path, r in after.items() if path.startswith("rounds/001"))
    # The same earlier rounds give the same rung history, whatever order the trials ran in.
    history = json.loads((out / "rounds/001/proposals.json").read_text())["rung_history"]
    columns = {metric: position for position, metric in enumerate(history["metrics"])}
    assert [[point[columns["performance"]], point[columns["samples_per_joule"]]] for point in history["points"]["1"]] == [
        [r["learning_curve"][0]["performance"], r["samples_per_joule"]] for path, r in before.items() if path.startswith("rounds/000")
    ]


def test_changing_n_of_a_lifecycle_study_leaves_round_0_alone(tmp_path):
    # Round 0 (Sobol draw + baseline) cannot depend on N: its settings, and so its proposals and trials, stay as they were.
    lifecycle = dict(
        TINY,
        objectives={"performance": {"metric": "performance"}, "efficiency": {"metric": "lifecycle_samples_per_joule", "log_scale": True}},
    )

    def propose_commands(inferences: int) -> dict[str, str]:
        study = make_study(tmp_path / str(inferences), dict(lifecycle, deployment={"inferences": inferences}))
        result = snakemake(study, "--dry-run", "--printshellcmds", "all", timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        commands = [line for line in (result.stdout + result.stderr).splitlines() if "-- search " in line]
        return {re.search(r"--round (\d{3})", line).group(1): line.replace(str(tmp_path / str(inferences)), "") for line in commands}

    small, large = propose_commands(1000), propose_commands(1_000_000)
    assert set(small) == {"000", "001", "002"}
    assert small["000"] == large["000"] and "deployment" not in small["000"]
    assert small["001"] != large["001"] and "1000000" in large["001"]


def test_changing_early_stopping_leaves_round_0_alone(tmp_path):
    # Round 0 has no earlier round to judge against: a new early_stopping setting must not redo its proposals or trials.
    def commands(reduction_factor: float) -> dict[str, str]:
        folder = tmp_path / str(reduction_factor)
        study = make_study(folder, dict(TINY, early_stopping={"enabled": True, "reduction_factor": reduction_factor}))
        result = snakemake(study, "--dry-run", "--printshellcmds", "all", timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        found = {}
        for line in (result.stdout + result.stderr).splitlines():
            if "-- search " in line or "-- trial " in line:
                if "-- search " in line:
                    key = "search " + re.search(r"--round (\d{3})", line).group(1)
                else:
                    key = "trial {} {}".format(*re.search(r"rounds/(\d{3})/proposals.json --index (\d+)", line).groups())
                found[key] = line.replace(str(folder), "")
        return found

    three, two = commands(3), commands(2)
    zero = [key for key in three if key.split()[1] == "000"]
    assert any(key.startswith("trial") for key in zero) and any(key.startswith("search") for key in zero)
    assert all(three[key] == two[key] and "early_stopping" not in three[key] for key in zero)
    later = [key for key in three if key.split()[1] != "000"]
    assert later and all("early_stopping" in three[key] for key in later) and any(three[key] != two[key] for key in later)


def test_every_study_gets_a_summary_with_its_study_energy(tmp_path):
    # a proxies-only study: no search, but summary.json (study_energy) still closes it, reading every job's entry
    study = make_study(tmp_path / "proxies", dict(TINY, stages=["proxies"]))
    result = snakemake(study, "--dry-run", "--printshellcmds", "all", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    summary = next(line for line in output.splitlines() if "-- summary " in line)
    assert "--frontier-summary" not in summary and "--trials" not in summary
    for entry in ("ledger/data.json", "ledger/proxies.json", "ledger/figures/proxies.json"):
        assert entry in summary


def test_a_rerun_trial_keeps_its_first_run_s_energy_in_the_ledger(finished_study, tmp_path):
    # A forced rerun of a finished trial keeps its record (fingerprint) and measures nothing; its ledger entry must
    # keep the run that trained it and add the no-op rerun, or the study's energy shrinks below its trials' own.
    study = copy_of(finished_study, tmp_path)
    entry_path = study / "results/tiny/ledger/trial/002-0.json"
    first = json.loads(entry_path.read_text())
    record = (study / "results/tiny/rounds/002/trials/0.json").read_bytes()
    result = snakemake(study, "--forcerun", "results/tiny/rounds/002/trials/0.json", "all")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (study / "results/tiny/rounds/002/trials/0.json").read_bytes() == record  # kept, not measured again
    entry = json.loads(entry_path.read_text())
    assert len(entry["runs"]) == 2 and entry["runs"][0] == first["runs"][0]
    assert entry["total_joules"] == pytest.approx(sum(run["total_joules"] for run in entry["runs"]))
    assert entry["inside_windows_joules"] >= first["inside_windows_joules"]
    energy = json.loads((study / "results/tiny/summary.json").read_text())["study_energy"]
    assert energy["ledger_covers_trials"] and energy["trial_windows_joules"] >= energy["trial_records_joules"]
