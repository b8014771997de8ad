"""The tiny study through the SLURM profile on a real (local, one-node) cluster.

Needs scripts/slurm-local-start.sh to have run (.ci/run does); skipped otherwise.
The executor plugin ignores SIGTERM when it hangs, so every run sits inside
`timeout -s KILL`. One study serves three runs (a SLURM study costs minutes here):
the first has a trial job killed by SLURM (`scancel`) while it runs; the second
finishes the study, with another trial job requeued while it runs (what SLURM's
preemption with PreemptMode=REQUEUE does); the third finds nothing to do.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_workflow import SNAKEMAKE, TINY, make_study

pytestmark = [pytest.mark.slow, pytest.mark.slurm]
ROOT = Path(__file__).resolve().parent.parent


def cluster_is_up() -> bool:
    if shutil.which("sinfo") is None:
        return False
    result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    return result.returncode == 0 and "idle" in result.stdout


def slurm_command(*args: str, limit: int) -> list[str]:
    return ["timeout", "-s", "KILL", str(limit), SNAKEMAKE, "--workflow-profile", "profiles/slurm", *args]


def environment() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def through_slurm(folder: Path, *args: str, limit: int = 1200) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = subprocess.run(slurm_command(*args, limit=limit), cwd=folder, env=environment(), capture_output=True, text=True)
    return result, time.perf_counter() - started


def running_trial_jobs(folder: Path) -> dict[str, str]:
    """SLURM job id -> trial (``<round>_<index>``) of this study's trial jobs that are RUNNING now."""
    listing = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k|%Z"], capture_output=True, text=True, timeout=30).stdout
    jobs = {}
    for line in listing.splitlines():
        job_id, comment, workdir = line.split("|", 2)
        if comment.startswith("rule_trial_wildcards_") and Path(workdir) == folder:
            jobs[job_id] = comment.removeprefix("rule_trial_wildcards_")
    return jobs


def trial_records(out: Path) -> dict[str, dict]:
    return {f"{p.parent.parent.name}_{p.stem}": json.loads(p.read_text()) for p in sorted(out.glob("rounds/*/trials/*.json"))}


def kill(job_id: str) -> None:
    subprocess.run(["scancel", job_id], check=True, timeout=30)


def preempt(job_id: str) -> None:
    """What SLURM's preemption with PreemptMode=REQUEUE does: the running job is killed and queued again.

    SLURM holds a requeued job for 120 s (its BeginTime); the test lets it start again at once.
    """
    subprocess.run(["scontrol", "requeue", job_id], check=True, timeout=30)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True, timeout=30)


def run_and_act_on_a_running_trial(folder: Path, out: Path, action, *, after_records: int, limit: int = 1200) -> tuple[int, str | None, str | None]:
    """One SLURM run; once ``after_records`` trial records exist, ``action(job id)`` on a running trial job.

    Returns the run's exit status, the job id acted on and its trial (None when no trial job ran then).
    """
    run = subprocess.Popen(
        slurm_command("all", limit=limit), cwd=folder, env=environment(), start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    acted_on = trial = None
    try:
        while run.poll() is None:
            if acted_on is None and len(trial_records(out)) >= after_records:
                running = {job: name for job, name in running_trial_jobs(folder).items() if name not in trial_records(out)}
                if running:
                    acted_on, trial = sorted(running.items())[0]
                    action(acted_on)
            time.sleep(0.5)
        return run.wait(), acted_on, trial
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()


@pytest.mark.skipif(not cluster_is_up(), reason="no local SLURM cluster: run scripts/slurm-local-start.sh")
def test_tiny_study_on_slurm_survives_a_killed_and_a_preempted_trial_job_and_a_failing_trial(tmp_path):
    config = dict(TINY)
    # 8x8 digits: depth 4 or 5 with pooling cannot exist; those trials fail (recorded), the rest complete.
    config["space"] = dict(TINY["space"], depth={"type": "range", "bounds": [2, 5], "value_type": "int"}, pooling={"type": "fixed", "value": True})
    study = make_study(tmp_path / "slurm", config)
    out = study / "results/tiny"

    # 1. SLURM kills a running trial job (scancel) once a first trial has finished: the run fails.
    status, killed_job, killed_trial = run_and_act_on_a_running_trial(study, out, kill, after_records=1)
    assert killed_job is not None, "no trial job was running after the first record"
    assert status != 0
    kept = {
        name: (path.stat().st_mtime_ns, path.read_bytes())
        for name, path in ((f"{p.parent.parent.name}_{p.stem}", p) for p in out.glob("rounds/*/trials/*.json"))
    }
    assert kept and killed_trial not in kept

    # 2. The next run redoes the killed trial and keeps every finished one as it was; a trial
    #    job requeued while it runs (preemption) is run again by SLURM within the same run.
    status, requeued_job, requeued_trial = run_and_act_on_a_running_trial(study, out, preempt, after_records=len(kept) + 1)
    assert status == 0
    records = trial_records(out)
    assert len(records) == 7
    for name, (mtime, content) in kept.items():
        path = out / "rounds" / name.split("_")[0] / "trials" / f"{name.split('_')[1]}.json"
        assert (path.stat().st_mtime_ns, path.read_bytes()) == (mtime, content), f"finished trial {name} was measured again"
    assert records[killed_trial]["ran_on"]["slurm_job_id"] != killed_job
    if requeued_job is not None:  # the study may have had no trial left to preempt
        assert records[requeued_trial]["ran_on"]["slurm_job_id"] == requeued_job  # SLURM requeues under the same id
    job_ids = {r["ran_on"]["slurm_job_id"] for r in records.values()}
    assert None not in job_ids and len(job_ids) == 7  # each trial was its own SLURM job
    statuses = [r["status"] for r in records.values()]
    assert "failed" in statuses and "InfeasibleArchitecture" in next(r["error"] for r in records.values() if r["status"] == "failed")
    assert statuses.count("completed") >= 2
    assert (out / "frontier.csv").is_file() and (out / "figures/pareto.png").is_file()

    again, _ = through_slurm(study, "all", limit=300)
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
