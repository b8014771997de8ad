"""The SLURM tax: the default study's wall time on SLURM against local, and each job's overhead, split.

One run of this script runs the study twice from scratch, each in a temporary copy of
the workflow: first locally (``snakemake --cores N all``, the default profile), then
through the SLURM executor plugin (``snakemake --workflow-profile profiles/slurm all``)
on the cluster ``sinfo`` reaches (``scripts/slurm-local-start.sh`` makes a one-node one
on this machine). It prints both wall times and their ratio, then, per SLURM job, where
the time between Snakemake's ``sbatch`` and Snakemake seeing the job end went:

==================  ==================================================================
submission          the ``sbatch`` call (Snakemake -> slurmctld accepted the job)
queue wait          slurmctld's submit -> allocation, less the time the node was held
                    by another of the study's jobs (that wait is work, not overhead: the
                    local run waits for the same node too)
launch              allocation -> the batch script's start (SLURM's own launch)
batch start-up      batch script -> the job step's first process: the plugin's batch
                    script runs Snakemake (the slurm-jobstep executor), which starts the
                    job with ``srun``
step start-up       the job step's first process (a second Snakemake) -> the stage's
                    own process (``python -m ecopt.ledger ...``)
work                the stage's process, start to end (the local run has it too)
Snakemake finish    the stage's end -> slurmctld's ``_job_complete``: the step's
                    Snakemake and the batch script's check the outputs and exit
poll delay          ``_job_complete`` -> the end of the first status poll (``squeue``)
                    that started after it, i.e. when Snakemake could first know
==================  ==================================================================

``overhead`` = everything but work and the wait for another job's node;
``overhead_without_snakemake`` leaves out the three parts that are Snakemake's own work
inside the job (its two start-ups and its finish). Between jobs, Snakemake's
own turnaround (from the poll that saw a job end to the next ``sbatch``) is printed too.

Where the times come from (no guessing): ``sbatch`` and ``squeue`` run through two
logging shims put first on the submitting Snakemake's ``PATH`` (each call's start, end
and output, ``time.time()``); slurmctld's log (``SlurmctldLogFile`` from ``scontrol show
config``, millisecond timestamps: ``_slurm_rpc_submit_batch_job``, ``sched: Allocate``,
``_job_complete``), so the script needs to read it (the local cluster's log, or a
cluster where you can); the study's ledger entries (``results/<study>/ledger``), whose
``slurm`` field names the job and when the job step's first process started
(``ecopt.ledger.slurm_job_context``: batch script and job step) and whose ``process_started_at`` / ``finished_at``
bound the stage's own process.

Both halves do the same work: the calibration's window is pinned (``--window-seconds``,
default 8 s, written into both copies' config as ``calibration.window_seconds: [W]``).
Left to choose, two calibrations of the default study on this VM chose 16 s in one half
and 8 s in the other (no window met the 2 % bar, and the spreads at 4-16 s overlap run to
run), and the trials' evaluation windows doubled with it: the ratio read 1.10 in one run
(local 16 s, SLURM 8 s) and 1.49 in the next (local 8 s, SLURM 16 s) for the same
per-job overhead (9.0 and 7.8 s). ``--window-seconds 0`` leaves the study's own ladder.

Repeated runs: ``--repeats N`` (default 3) runs the pair N times, one after another, each
in its own folder (``run-1``, ``run-2`` ...), prints each run's report, then the figures
across runs (``across_runs``): each run's wall times, ratio and mean overhead per job,
their median and [min, max], and each part's per-run mean with its median and range.
The README quotes that table: one run's ratio depends on how busy the machine was.
``--from-json A.json [B.json ...]`` prints the table again from saved ``--json`` files
(each holds one run, or a ``runs`` list), so runs made at different times can be
combined; it runs nothing.

Usage:
    python benchmarks/slurm_overhead.py [--config config/config.yaml] [--profile profiles/slurm]
        [--cores 2] [--skip-local] [--window-seconds 8] [--repeats 3] [--json OUT] [--keep DIR]
    python benchmarks/slurm_overhead.py --from-json OUT [OUT ...]

Exit status 1 when a run fails (its log's tail is printed), 2 when no cluster answers.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("submission", "queue_wait", "launch", "batch_snakemake_startup", "step_snakemake_startup", "snakemake_finish", "poll_delay")
# The parts that are Snakemake's own work inside the job (the goal leaves them out).
SNAKEMAKE_PARTS = ("batch_snakemake_startup", "step_snakemake_startup", "snakemake_finish")
PART_LABELS = {
    "submission": "submission (sbatch)",
    "queue_wait": "queue wait (node free -> allocated)",
    "launch": "launch (allocated -> batch script)",
    "batch_snakemake_startup": "Snakemake start-up in the job: batch (+srun)",
    "step_snakemake_startup": "Snakemake start-up in the job: step",
    "snakemake_finish": "Snakemake finish in the job (stage end -> job end)",
    "poll_delay": "poll delay (job end -> seen)",
    "overhead": "overhead (all of the above)",
    "overhead_without_snakemake": "overhead without Snakemake in the job",
}

# The shims: each call's start and end (Unix seconds), exit status and output, one JSON line.
SHIM = """#!{python}
import json, os, subprocess, sys, time
started = time.time()
result = subprocess.run([{real!r}, *sys.argv[1:]], capture_output=True, text=True)
ended = time.time()
sys.stdout.write(result.stdout)
sys.stderr.write(result.stderr)
with open(os.environ["ECOPT_SLURM_TRACE"], "a") as trace:
    trace.write(json.dumps({{"command": {name!r}, "args": sys.argv[1:], "started": started, "ended": ended,
                             "returncode": result.returncode, "stdout": result.stdout}}) + "\\n")
sys.exit(result.returncode)
"""

CTLD_LINE = re.compile(r"^\[(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)\] (?P<message>.*)$")
CTLD_EVENTS = {
    "submitted": re.compile(r"_slurm_rpc_submit_batch_job: JobId=(\d+)\b"),
    # The main scheduler logs "sched: Allocate JobId=..", the backfill scheduler
    # "sched/backfill: _start_job: Started JobId=..".
    "allocated": re.compile(r"sched(?:/backfill)?: (?:Allocate|_start_job: Started|Start) JobId=(\d+)\b"),
    "completed": re.compile(r"_job_complete: JobId=(\d+) done"),
}


def parse_ctld_log(lines: Iterable[str]) -> dict[str, dict[str, float]]:
    """slurmctld log lines -> ``{job_id: {"submitted", "allocated", "completed": Unix seconds}}``.

    Timestamps are the log's local time with milliseconds; the last occurrence of an
    event wins (a requeued job is allocated again).
    """
    jobs: dict[str, dict[str, float]] = {}
    for line in lines:
        match = CTLD_LINE.match(line.rstrip("\n"))
        if not match:
            continue
        for event, pattern in CTLD_EVENTS.items():
            found = pattern.search(match["message"])
            if found:
                jobs.setdefault(found.group(1), {})[event] = datetime.fromisoformat(match["time"]).timestamp()
    return jobs


def parse_trace(lines: Iterable[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Shim trace lines -> (sbatch calls with ``job_id`` and ``rule``, squeue calls), in time order."""
    submissions, polls = [], []
    for line in lines:
        if not line.strip():
            continue
        call = json.loads(line)
        if call["command"] == "sbatch":
            args = call["args"]
            comment = args[args.index("--comment") + 1] if "--comment" in args else ""
            job_id = call["stdout"].strip().split(";")[0] if call["returncode"] == 0 else None
            submissions.append(dict(call, job_id=job_id, rule=comment.removeprefix("rule_").split("_wildcards_")[0] or "?", comment=comment))
        elif call["command"] == "squeue":
            polls.append(call)
    return sorted(submissions, key=lambda c: c["started"]), sorted(polls, key=lambda c: c["started"])


def _timestamp(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def ledger_runs_by_job(entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Ledger entries -> ``{SLURM job id: that run's entry}`` (a job's every run is in its ``runs``)."""
    runs: dict[str, dict[str, Any]] = {}
    for entry in entries:
        for run in entry.get("runs") or [entry]:
            slurm = run.get("slurm")
            if slurm and slurm.get("job_id"):
                runs[str(slurm["job_id"])] = dict(run, stage=entry.get("stage"), job=entry.get("job"))
    return runs


def split_jobs(
    submissions: Sequence[Mapping[str, Any]],
    polls: Sequence[Mapping[str, Any]],
    ctld: Mapping[str, Mapping[str, float]],
    ledger: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Each submitted job's seconds per part (``PARTS``, plus ``work``, ``waiting_for_node``,
    ``overhead`` and ``overhead_without_snakemake``); a part that a source lacks is None.

    ``waiting_for_node``: from submission to the latest end of another of these jobs
    before this one's allocation (a one-node cluster runs exclusive jobs one after
    another); the queue wait counts only what is left after it.
    """
    completions = sorted(t["completed"] for t in ctld.values() if "completed" in t)
    jobs = []
    for submission in submissions:
        job_id = submission["job_id"]
        times = ctld.get(job_id or "", {})
        run = ledger.get(job_id or "", {})
        row: dict[str, Any] = {"job_id": job_id, "rule": submission["rule"], "comment": submission["comment"]}
        row["submission"] = submission["ended"] - submission["started"]
        submitted, allocated, completed = times.get("submitted"), times.get("allocated"), times.get("completed")
        batch = _timestamp((run.get("slurm") or {}).get("batch_started_at"))
        step = _timestamp((run.get("slurm") or {}).get("step_started_at"))
        process, finished = _timestamp(run.get("process_started_at")), _timestamp(run.get("finished_at"))
        row["queue_wait"] = row["waiting_for_node"] = None
        if submitted is not None and allocated is not None:
            node_free = max([t for t in completions if t <= allocated] + [submitted])
            row["waiting_for_node"] = node_free - submitted
            row["queue_wait"] = allocated - node_free
        row["launch"] = batch - allocated if batch is not None and allocated is not None else None
        row["batch_snakemake_startup"] = step - batch if step is not None and batch is not None else None
        row["step_snakemake_startup"] = process - step if process is not None and step is not None else None
        row["work"] = finished - process if finished is not None and process is not None else None
        row["snakemake_finish"] = completed - finished if completed is not None and finished is not None else None
        seen = next((p["ended"] for p in polls if completed is not None and p["started"] >= completed), None)
        row["poll_delay"] = seen - completed if seen is not None else None
        row["seen"] = seen
        parts = [row[part] for part in PARTS]
        row["overhead"] = sum(parts) if None not in parts else None
        row["overhead_without_snakemake"] = row["overhead"] - sum(row[part] for part in SNAKEMAKE_PARTS) if row["overhead"] is not None else None
        jobs.append(row)
    return jobs


def turnarounds(submissions: Sequence[Mapping[str, Any]], polls: Sequence[Mapping[str, Any]]) -> list[float]:
    """Seconds from the end of the status poll before each ``sbatch`` to that ``sbatch``
    (Snakemake handling the finished job and scheduling the next); first jobs excluded."""
    gaps = []
    for submission in submissions:
        before = [p["ended"] for p in polls if p["ended"] <= submission["started"]]
        if before:
            gaps.append(submission["started"] - max(before))
    return gaps


def summarise(jobs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, median and max of each part over the jobs that have it (seconds)."""
    out = {}
    for part in (*PARTS, "overhead", "overhead_without_snakemake", "work", "waiting_for_node"):
        values = [j[part] for j in jobs if j.get(part) is not None]
        if values:
            out[part] = {"mean": statistics.fmean(values), "median": statistics.median(values), "max": max(values), "jobs": len(values)}
    return out


def format_report(local_seconds: float | None, slurm_seconds: float, jobs: Sequence[Mapping[str, Any]], gaps: Sequence[float], study: str = "study") -> str:
    """The printed report: both wall times and their ratio, then each part's mean / median / max over the jobs."""
    lines = []
    if local_seconds is not None:
        lines.append(f"{study} wall time: local {local_seconds:.0f} s, SLURM {slurm_seconds:.0f} s, ratio {slurm_seconds / local_seconds:.2f}")
    else:
        lines.append(f"study wall time on SLURM: {slurm_seconds:.0f} s (local run skipped)")
    stats = summarise(jobs)
    lines.append(f"{len(jobs)} SLURM jobs; seconds per job, mean / median / max:")
    for part in (*PARTS, "overhead", "overhead_without_snakemake", "work", "waiting_for_node"):
        if part in stats:
            s = stats[part]
            label = PART_LABELS.get(part, part.replace("_", " "))
            lines.append(f"  {label:<52} {s['mean']:7.2f} {s['median']:7.2f} {s['max']:7.2f}  (n={s['jobs']})")
    if gaps:
        lines.append(
            f"  {'Snakemake turnaround (poll -> next sbatch)':<52} "
            f"{statistics.fmean(gaps):7.2f} {statistics.median(gaps):7.2f} {max(gaps):7.2f}  (n={len(gaps)})"
        )
    by_rule: dict[str, list[float]] = {}
    for job in jobs:
        if job.get("overhead") is not None:
            by_rule.setdefault(job["rule"], []).append(job["overhead"])
    lines.append("overhead per job by rule (mean s, jobs): " + ", ".join(f"{rule} {statistics.fmean(v):.1f} ({len(v)})" for rule, v in sorted(by_rule.items())))
    return "\n".join(lines)


def run_figures(run: Mapping[str, Any]) -> dict[str, float | None]:
    """One run's headline figures (a ``--json`` run dict: ``local_seconds``, ``slurm_seconds``, ``jobs``).

    ``local_seconds``, ``slurm_seconds``, ``ratio`` (SLURM / local; None without a local
    run), ``jobs`` (SLURM jobs) and each part's mean seconds per job (``summarise``) under
    the part's name, ``overhead`` and ``overhead_without_snakemake`` included.
    """
    local, cluster = run.get("local_seconds"), run.get("slurm_seconds")
    figures: dict[str, float | None] = {
        "local_seconds": local,
        "slurm_seconds": cluster,
        "ratio": cluster / local if local and cluster is not None else None,
        "jobs": float(len(run.get("jobs") or [])),
    }
    stats = summarise(run.get("jobs") or [])
    for part in (*PARTS, "overhead", "overhead_without_snakemake"):
        figures[part] = stats[part]["mean"] if part in stats else None
    return figures


def across_runs(runs: Sequence[Mapping[str, Any]]) -> str:
    """The table across runs: per figure (``run_figures``), each run's value, then the median and
    [min, max] over the runs that have it. ``runs``: ``--json`` run dicts, in the order run.
    ValueError for no runs."""
    if not runs:
        raise ValueError("no runs to summarise")
    per_run = [run_figures(run) for run in runs]
    labels = {"local_seconds": "wall time, local (s)", "slurm_seconds": "wall time, SLURM (s)", "ratio": "ratio SLURM / local", "jobs": "SLURM jobs"}
    labels |= {part: f"{PART_LABELS[part]}, mean s per job" for part in (*PARTS, "overhead", "overhead_without_snakemake")}
    lines = [f"{len(runs)} run(s): each run's value -> median [min, max]" + ("" if len(runs) >= 3 else " (fewer than 3 runs: not a README figure)")]
    for name, label in labels.items():
        values = [figures[name] for figures in per_run]
        numbers = [v for v in values if v is not None]
        cells = "; ".join("-" if v is None else f"{v:.2f}" if abs(v) < 100 else f"{v:.0f}" for v in values)
        spread = f"{statistics.median(numbers):.2f} [{min(numbers):.2f}, {max(numbers):.2f}]" if numbers else "no value"
        lines.append(f"  {label:<70} {cells} -> {spread}")
    return "\n".join(lines)


def load_runs(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """The runs saved in ``--json`` files: a file holds one run (a dict with ``slurm_seconds``) or
    ``{"runs": [...]}``. ValueError naming the file when it holds neither."""
    runs: list[dict[str, Any]] = []
    for path in paths:
        try:
            saved = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"--from-json {path}: cannot read it ({error})") from None
        if isinstance(saved, dict) and isinstance(saved.get("runs"), list):
            found = saved["runs"]
        elif isinstance(saved, dict) and "slurm_seconds" in saved:
            found = [saved]
        else:
            raise ValueError(f"--from-json {path}: holds neither a run (slurm_seconds) nor a runs list, expected a file this script's --json wrote")
        for number, run in enumerate(found, 1):
            problem = _run_problem(run)
            if problem:
                raise ValueError(f"--from-json {path}: run {number}: {problem}")
        runs += found
    return runs


def _run_problem(run: Any) -> str | None:
    """Why ``run`` is not a run this script saved (None when it is one)."""

    def seconds(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0

    if not isinstance(run, dict):
        return f"{type(run).__name__}, expected a run (a dict)"
    if not seconds(run.get("slurm_seconds")):
        return f"slurm_seconds is {run.get('slurm_seconds')!r}, expected seconds > 0"
    if run.get("local_seconds") is not None and not seconds(run["local_seconds"]):
        return f"local_seconds is {run['local_seconds']!r}, expected seconds > 0 or null (local run skipped)"
    jobs = run.get("jobs")
    if not isinstance(jobs, list) or not jobs or not all(isinstance(job, dict) for job in jobs):
        return "jobs is empty or not a list of jobs, expected every SLURM job's split"
    return None


def pinned_window_config(mapping: Mapping[str, Any], window_seconds: float) -> dict[str, Any]:
    """``mapping`` (a study config) with its calibration trying the one window ``window_seconds``
    (seconds > 0), so that two runs of it give their trials the same evaluation window; the
    other calibration settings are kept. 0 returns the mapping unchanged."""
    if window_seconds == 0:
        return dict(mapping)
    calibration = dict(mapping.get("calibration") or {})
    calibration["window_seconds"] = [float(window_seconds)]
    return {**mapping, "calibration": calibration}


def _copy_study(folder: Path, config: Path, window_seconds: float) -> Path:
    import yaml

    folder.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "profiles"):
        (folder / name).symlink_to(ROOT / name)
    (folder / "config").mkdir()
    mapping = pinned_window_config(yaml.safe_load(config.read_text()) or {}, window_seconds)
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    return folder


def _run(command: Sequence[str], folder: Path, env: Mapping[str, str], log: Path, limit: int) -> tuple[int, float]:
    started = time.perf_counter()
    with open(log, "w") as out:
        status = subprocess.run(["timeout", "-s", "KILL", str(limit), *command], cwd=folder, env=dict(env), stdout=out, stderr=subprocess.STDOUT).returncode
    return status, time.perf_counter() - started


def _ctld_log_path() -> Path:
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^SlurmctldLogFile\s*=\s*(\S+)", config, re.M)
    if not match:
        raise SystemExit("slurm_overhead: scontrol show config names no SlurmctldLogFile")
    return Path(match.group(1))


def _write_shims(folder: Path) -> Path:
    shims = folder / "slurm-trace-bin"
    shims.mkdir()
    for name in ("sbatch", "squeue"):
        real = shutil.which(name)
        if real is None:
            raise SystemExit(f"slurm_overhead: {name} is not on PATH")
        path = shims / name
        path.write_text(SHIM.format(python=sys.executable, real=real, name=name))
        path.chmod(0o755)
    return shims


def run_pair(work: Path, config: Path, profile: str, cores: int, skip_local: bool, limit: int, window_seconds: float) -> dict[str, Any] | None:
    """One local run and one SLURM run of the study in ``work`` (a new folder); prints the report and
    returns the run's dict (``--json``'s fields), or None when a run failed (its log's tail printed)."""
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    base_env = dict(os.environ, PYTHONPATH=str(ROOT))
    load_before = list(os.getloadavg())
    print(f"slurm_overhead: config {config}, profile {profile}, runs in {work}; load average before {load_before}", flush=True)
    local_seconds = None
    if not skip_local:
        local = _copy_study(work / "local", config, window_seconds)
        env = dict(base_env, ECOPT_METERED_LOCK=str(local / "metered.lock"))
        status, local_seconds = _run([snakemake, "--cores", str(cores), "all"], local, env, local / "snakemake.log", limit)
        print(f"local run: {local_seconds:.0f} s, exit {status}; load average {os.getloadavg()}", flush=True)
        if status != 0:
            print((local / "snakemake.log").read_text()[-3000:], file=sys.stderr)
            return None

    cluster = _copy_study(work / "slurm", config, window_seconds)
    shims = _write_shims(cluster)
    trace = cluster / "slurm-trace.jsonl"
    ctld_log = _ctld_log_path()
    offset = ctld_log.stat().st_size
    env = dict(base_env, PATH=f"{shims}:{base_env.get('PATH', '')}", ECOPT_SLURM_TRACE=str(trace), ECOPT_METERED_LOCK=str(cluster / "metered.lock"))
    status, slurm_seconds = _run([snakemake, "--workflow-profile", str(ROOT / profile), "all"], cluster, env, cluster / "snakemake.log", limit)
    print(f"SLURM run: {slurm_seconds:.0f} s, exit {status}; load average {os.getloadavg()}", flush=True)
    if status != 0:
        print((cluster / "snakemake.log").read_text()[-3000:], file=sys.stderr)
        return None
    time.sleep(1)  # slurmctld flushes its log line by line; the last job's is there by now
    with open(ctld_log) as log:
        log.seek(offset)
        ctld = parse_ctld_log(log)
    submissions, polls = parse_trace(trace.read_text().splitlines())
    entries = [json.loads(p.read_text()) for p in sorted(cluster.glob("results/*/ledger/**/*.json"))]
    jobs = split_jobs(submissions, polls, ctld, ledger_runs_by_job(entries))
    gaps = turnarounds(submissions, polls)
    import yaml

    study = yaml.safe_load(config.read_text()).get("study", "study")
    print(format_report(local_seconds, slurm_seconds, jobs, gaps, study=f"study {study}"), flush=True)
    return {
        "local_seconds": local_seconds,
        "slurm_seconds": slurm_seconds,
        "profile": profile,
        "window_seconds": window_seconds,
        "jobs": jobs,
        "turnarounds": gaps,
        "polls": len(polls),
        "load_before": load_before,
        "load_after": list(os.getloadavg()),
        "folder": str(work),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--profile", default="profiles/slurm", help="the SLURM workflow profile, relative to the repository (default profiles/slurm)")
    parser.add_argument("--cores", type=int, default=2, help="--cores of the local run (default 2)")
    parser.add_argument("--skip-local", action="store_true", help="only the SLURM run")
    parser.add_argument("--repeats", type=int, default=3, help="local + SLURM pairs, one after another (default 3; the README quotes at least 3)")
    parser.add_argument(
        "--window-seconds", type=float, default=8.0, help="the calibration window both halves use (default 8; 0: the study's own ladder, each half choosing)"
    )
    parser.add_argument("--limit", type=int, default=3600, help="seconds each run may take before it is killed (default 3600)")
    parser.add_argument("--json", type=Path, help="write every run's job split and wall times here (after each run)")
    parser.add_argument("--keep", type=Path, help="run in this (new) folder and keep it, instead of a temporary one")
    parser.add_argument("--from-json", type=Path, nargs="+", help="print the table across the runs saved in these --json files; runs nothing")
    args = parser.parse_args(argv)
    if args.from_json:
        try:
            runs = load_runs(args.from_json)
            print(across_runs(runs))
        except ValueError as error:
            parser.error(str(error))
        return 0
    if not args.config.is_file():
        parser.error(f"--config {args.config}: no such file (expected a study config, e.g. config/config.yaml)")
    if not (ROOT / args.profile / "config.yaml").is_file():
        parser.error(f"--profile {args.profile}: no config.yaml there (expected a workflow profile folder relative to {ROOT}, e.g. profiles/slurm)")
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: exists already (expected a new folder, so that no earlier run is mixed in)")
    if not args.window_seconds >= 0:
        parser.error(f"--window-seconds {args.window_seconds}: expected seconds > 0, or 0 for the study's own window ladder")
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: expected a whole number >= 1")

    if shutil.which("sinfo") is None or subprocess.run(["sinfo", "-h"], capture_output=True).returncode != 0:
        print("slurm_overhead: no SLURM cluster answers sinfo (sudo bash scripts/slurm-local-start.sh)", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="ecopt-slurm-overhead-"))
    work.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    for number in range(1, args.repeats + 1):
        print(f"== run {number} of {args.repeats}", flush=True)
        run = run_pair(work / f"run-{number}", args.config, args.profile, args.cores, args.skip_local, args.limit, args.window_seconds)
        if run is None:
            return 1
        runs.append(run)
        if args.json:  # after every run: a killed benchmark keeps what finished
            args.json.write_text(json.dumps({"runs": runs}, indent=1))
    print(across_runs(runs))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
