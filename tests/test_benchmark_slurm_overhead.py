"""The pure parts of benchmarks/slurm_overhead.py: slurmctld's log, the sbatch/squeue trace and each job's split."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("slurm_overhead.py")


def at(clock: str) -> float:
    return datetime.fromisoformat(f"2026-11-30T{clock}").timestamp()


def iso(clock: str) -> str:
    return datetime.fromtimestamp(at(clock)).astimezone().isoformat()


CTLD = """\
[2026-11-30T03:38:00.000] _slurm_rpc_submit_batch_job: JobId=7 InitPrio=4294901755 usec=296
[2026-11-30T03:38:00.100] _slurm_rpc_submit_batch_job: JobId=8 InitPrio=4294901754 usec=200
[2026-11-30T03:38:00.500] sched: Allocate JobId=7 NodeList=vm #CPUs=2 Partition=debug
[2026-11-30T03:38:20.000] _job_complete: JobId=7 WEXITSTATUS 0
[2026-11-30T03:38:20.000] _job_complete: JobId=7 done
[2026-11-30T03:38:20.300] sched: Allocate JobId=8 NodeList=vm #CPUs=2 Partition=debug
[2026-11-30T03:38:31.000] _job_complete: JobId=8 done
[2026-11-30T03:38:32.000] _slurm_rpc_submit_batch_job: JobId=9 InitPrio=4294901753 usec=281
[2026-11-30T03:38:33.250] sched/backfill: _start_job: Started JobId=9 in debug on vm
a line that is not slurmctld's
"""


def test_slurmctld_log_gives_each_job_s_submit_allocation_and_end(bench):
    jobs = bench.parse_ctld_log(CTLD.splitlines())
    assert jobs["7"] == {"submitted": at("03:38:00.000"), "allocated": at("03:38:00.500"), "completed": at("03:38:20.000")}
    assert jobs["8"]["allocated"] == at("03:38:20.300")
    assert jobs["9"]["allocated"] == at("03:38:33.250")  # started by the backfill scheduler


def test_trace_names_each_submission_s_job_and_rule(bench):
    lines = [
        json.dumps({"command": "squeue", "args": [], "started": 5.0, "ended": 5.1, "returncode": 0, "stdout": ""}),
        json.dumps(
            {
                "command": "sbatch",
                "args": ["--parsable", "--comment", "rule_trial_wildcards_000_1", "-p", "debug"],
                "started": 1.0,
                "ended": 1.02,
                "returncode": 0,
                "stdout": "8\n",
            }
        ),
        json.dumps(
            {"command": "sbatch", "args": ["--comment", "rule_propose_wildcards_000"], "started": 0.5, "ended": 0.6, "returncode": 0, "stdout": "7;cluster\n"}
        ),
        "",
    ]
    submissions, polls = bench.parse_trace(lines)
    assert [(s["job_id"], s["rule"]) for s in submissions] == [("7", "propose"), ("8", "trial")]
    assert [p["started"] for p in polls] == [5.0]


def test_split_of_two_jobs_on_one_node(bench):
    ctld = {job: times for job, times in bench.parse_ctld_log(CTLD.splitlines()).items() if job != "9"}
    t0 = at("03:38:00")
    submissions = [
        {"job_id": "7", "rule": "propose", "comment": "rule_propose", "started": t0 - 0.05, "ended": t0 - 0.04},
        {"job_id": "8", "rule": "trial", "comment": "rule_trial", "started": t0 + 0.05, "ended": t0 + 0.06},
    ]
    polls = [
        {"started": at("03:38:19.000"), "ended": at("03:38:19.050")},  # before job 7 ended: cannot see it
        {"started": at("03:38:21.000"), "ended": at("03:38:21.040")},
        {"started": at("03:38:32.000"), "ended": at("03:38:32.020")},
    ]
    ledger = bench.ledger_runs_by_job(
        [
            {
                "stage": "search",
                "runs": [
                    {
                        "slurm": {"job_id": "7", "batch_started_at": iso("03:38:00.520"), "step_started_at": iso("03:38:02.500")},
                        "process_started_at": iso("03:38:04.500"),
                        "finished_at": iso("03:38:17.000"),
                    }
                ],
            },
            {
                "stage": "trial",
                "slurm": {"job_id": "8", "batch_started_at": iso("03:38:20.310"), "step_started_at": None},
                "process_started_at": iso("03:38:24.000"),
                "finished_at": iso("03:38:28.000"),
            },
        ]
    )
    first, second = bench.split_jobs(submissions, polls, ctld, ledger)
    assert first["submission"] == pytest.approx(0.01)
    assert first["waiting_for_node"] == pytest.approx(0.0) and first["queue_wait"] == pytest.approx(0.5)
    assert first["launch"] == pytest.approx(0.02)
    assert first["batch_snakemake_startup"] == pytest.approx(1.98)
    assert first["step_snakemake_startup"] == pytest.approx(2.0)
    assert first["work"] == pytest.approx(12.5)
    assert first["snakemake_finish"] == pytest.approx(3.0)
    assert first["poll_delay"] == pytest.approx(1.04)  # the 03:38:19 poll started before the end
    assert first["overhead"] == pytest.approx(0.01 + 0.5 + 0.02 + 1.98 + 2.0 + 3.0 + 1.04)
    assert first["overhead_without_snakemake"] == pytest.approx(0.01 + 0.5 + 0.02 + 1.04)
    # Job 8 waited for job 7's node (work, not overhead), then 0.3 s for the allocation.
    assert second["waiting_for_node"] == pytest.approx(20.0 - 0.1) and second["queue_wait"] == pytest.approx(0.3)
    # No job-step time in its ledger: the parts that need it are unknown, and so is the total.
    assert second["batch_snakemake_startup"] is None and second["step_snakemake_startup"] is None and second["overhead"] is None
    assert second["poll_delay"] == pytest.approx(1.02)
    stats = bench.summarise([first, second])
    assert stats["poll_delay"]["mean"] == pytest.approx(1.03) and stats["overhead"]["jobs"] == 1
    assert bench.turnarounds(submissions, [{"ended": t0 - 1.0}]) == pytest.approx([0.95, 1.05])
    report = bench.format_report(400.0, 480.0, [first, second], [0.95], study="study digits-cnn")
    assert "study digits-cnn wall time: local 400 s, SLURM 480 s, ratio 1.20" in report


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--config", "/nonexistent.yaml"], "--config /nonexistent.yaml: no such file"),
        (["--profile", "profiles/nope"], "--profile profiles/nope: no config.yaml there"),
    ],
)
def test_bad_arguments_are_refused_naming_them(bench, option, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(option)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_an_existing_keep_folder_is_refused(bench, tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--keep", str(tmp_path)])
    assert "exists already" in capsys.readouterr().err


def _saved_run(local: float, cluster: float, overheads: list[float]) -> dict:
    jobs = [{"rule": "trial", "overhead": o, "overhead_without_snakemake": o / 4, "poll_delay": 1.0} for o in overheads]
    return {"local_seconds": local, "slurm_seconds": cluster, "jobs": jobs}


def test_runs_saved_apart_are_summarised_across_runs(bench, tmp_path, capsys):
    # One file from an earlier single run (its --json held one run), one from --repeats (a runs list).
    (tmp_path / "one.json").write_text(json.dumps(_saved_run(500.0, 600.0, [8.0, 10.0])))
    (tmp_path / "two.json").write_text(json.dumps({"runs": [_saved_run(400.0, 440.0, [6.0]), _saved_run(450.0, 540.0, [12.0])]}))
    runs = bench.load_runs([tmp_path / "one.json", tmp_path / "two.json"])
    assert [bench.run_figures(run)["ratio"] for run in runs] == pytest.approx([1.2, 1.1, 1.2])
    assert bench.run_figures(runs[0])["overhead"] == pytest.approx(9.0) and bench.run_figures(runs[0])["jobs"] == 2
    assert bench.main(["--from-json", str(tmp_path / "one.json"), str(tmp_path / "two.json")]) == 0
    table = capsys.readouterr().out
    assert table.startswith("3 run(s)") and "not a README figure" not in table
    assert "ratio SLURM / local" in table and "1.20; 1.10; 1.20 -> 1.20 [1.10, 1.20]" in table
    assert "overhead (all of the above), mean s per job" in table and "9.00; 6.00; 12.00 -> 9.00 [6.00, 12.00]" in table
    assert "2 run(s)" in bench.across_runs(runs[:2]) and "not a README figure" in bench.across_runs(runs[:2])
    with pytest.raises(ValueError, match="no runs"):
        bench.across_runs([])


def test_a_from_json_file_that_is_not_a_run_is_refused_naming_it(bench, tmp_path, capsys):
    (tmp_path / "other.json").write_text(json.dumps({"runs": {"transformer-batch": []}}))
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--from-json", str(tmp_path / "other.json")])
    assert exit_.value.code == 2 and f"--from-json {tmp_path / 'other.json'}: holds neither a run" in capsys.readouterr().err
    broken = {
        "local_seconds is 'x', expected seconds > 0 or null": {**_saved_run(1.0, 2.0, [1.0]), "local_seconds": "x"},
        "slurm_seconds is None, expected seconds > 0": {**_saved_run(1.0, 2.0, [1.0]), "slurm_seconds": None},
        "jobs is empty or not a list of jobs": _saved_run(1.0, 2.0, []),
    }
    for message, run in broken.items():
        (tmp_path / "broken.json").write_text(json.dumps({"runs": [_saved_run(1.0, 2.0, [1.0]), run]}))
        with pytest.raises(SystemExit):
            bench.main(["--from-json", str(tmp_path / "broken.json")])
        assert f"--from-json {tmp_path / 'broken.json'}: run 2: {message}" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--repeats", "0"])
    assert "--repeats 0: expected a whole number >= 1" in capsys.readouterr().err


def test_both_halves_get_the_same_pinned_calibration_window(bench, tmp_path, capsys):
    study = {"study": "s", "calibration": {"repeats": 5, "window_seconds": [0.5, 16.0]}, "meter": {"min_window_seconds": 3.0}}
    pinned = bench.pinned_window_config(study, 8)
    assert pinned["calibration"] == {"repeats": 5, "window_seconds": [8.0]} and pinned["meter"] == study["meter"]
    assert study["calibration"]["window_seconds"] == [0.5, 16.0]  # the caller's mapping is not changed
    assert bench.pinned_window_config(study, 0) == study  # 0: each half's calibration chooses
    assert bench.pinned_window_config({"study": "s"}, 4.0)["calibration"] == {"window_seconds": [4.0]}
    config = tmp_path / "study.yaml"
    config.write_text("study: s\ncalibration: {repeats: 5}\n")
    folder = bench._copy_study(tmp_path / "local", config, 8.0)
    import yaml

    assert yaml.safe_load((folder / "config" / "config.yaml").read_text())["calibration"] == {"repeats": 5, "window_seconds": [8.0]}
    with pytest.raises(SystemExit):
        bench.main(["--window-seconds", "-1"])
    assert "--window-seconds -1.0: expected seconds > 0, or 0" in capsys.readouterr().err
