"""The study energy ledger: consecutive windows, the estimated process start, and the study total."""

from __future__ import annotations

import json

import pytest

from ecopt.ledger import Ledger, ledger_entry, read_entries, study_energy, write_entry
from ecopt.meter import BackendReading, ComponentEnergy, Meter
from tests.fakes import SteppedBackend


def reading(cpu: float, ram: float, seconds: float, gpu: float | None = None, estimated: bool = True) -> BackendReading:
    return BackendReading(
        seconds=seconds,
        cpu=ComponentEnergy(cpu, "fake", estimated, cpu / seconds),
        ram=ComponentEnergy(ram, "fake", True, ram / seconds),
        gpu=None if gpu is None else ComponentEnergy(gpu, "fake_counter", False, gpu / seconds),
        emissions_kg=(cpu + ram + (gpu or 0.0)) * 1e-7,
        tracking_mode="process",
        meter="fake",
    )


def test_entry_adds_windows_and_estimates_the_process_start_at_the_outside_power():
    windows = [(False, reading(8.0, 2.0, 1.0)), (True, reading(60.0, 20.0, 4.0, gpu=20.0)), (False, reading(16.0, 4.0, 2.0))]
    entry = ledger_entry(windows, stage="trial", job="000-1", began_at=103.0, finished_at=110.0, process_started_at=100.0, tracking_mode="machine")
    # outside: 30 J over 3 s = 10 W; the 3 s before the first reading are charged at 10 W
    assert entry["outside_windows_joules"] == pytest.approx(30.0)
    assert entry["inside_windows_joules"] == pytest.approx(100.0)
    assert entry["startup_seconds"] == pytest.approx(3.0)
    assert entry["startup_estimated_joules"] == pytest.approx(30.0)
    assert entry["total_joules"] == pytest.approx(160.0)
    # startup split like the outside windows (80 % cpu, 20 % ram)
    assert entry["by_component"] == pytest.approx({"cpu": 8 + 60 + 16 + 24, "ram": 2 + 20 + 4 + 6, "gpu": 20.0})
    assert entry["estimated"] and entry["startup_estimated"]
    assert entry["emissions_kg_co2eq"] == pytest.approx(160.0 * 1e-7)


def test_entry_without_a_process_start_estimates_nothing():
    entry = ledger_entry(
        [(False, reading(5.0, 5.0, 1.0, estimated=False))],
        stage="frontier",
        job=None,
        began_at=5.0,
        finished_at=6.0,
        process_started_at=None,
        tracking_mode="process",
    )
    assert entry["startup_estimated_joules"] == 0.0 and entry["total_joules"] == pytest.approx(10.0)
    # like the Meter's records, "estimated" follows the CPU and GPU sources (RAM is always CodeCarbon's model)
    assert not entry["estimated"]


def test_ledger_and_meter_windows_alternate_and_never_overlap():
    state: dict = {}
    ledger = Ledger(SteppedBackend(watts=10.0, seconds=2.0, state=state), stage="trial", job="000-0", process_started_at=None, clock=lambda: state["now"])
    ledger.begin()
    meter = Meter({"min_window_seconds": 0.0}, backend=ledger.wrap(SteppedBackend(watts=50.0, seconds=1.0, state=state)))
    meter.measure(lambda: None)
    meter.measure(lambda: None)
    entry = ledger.finish()
    assert state["max_open"] == 1  # one tracker at a time
    assert entry["windows"] == 5  # outside, inside, outside, inside, outside
    assert entry["inside_windows_joules"] == pytest.approx(2 * 50.0)
    assert entry["outside_windows_joules"] == pytest.approx(3 * 20.0)
    assert entry["total_joules"] == pytest.approx(160.0)


def test_entry_so_far_keeps_the_ledger_running():
    state: dict = {}
    ledger = Ledger(SteppedBackend(watts=10.0, seconds=1.0, state=state), stage="summary", clock=lambda: state["now"])
    ledger.begin()
    assert ledger.entry()["total_joules"] == pytest.approx(10.0)
    assert state["open"] == 1  # reopened
    assert ledger.finish()["total_joules"] == pytest.approx(20.0)


def test_study_energy_adds_every_entry_by_stage_and_component(tmp_path):
    entries = [
        ledger_entry(
            [(True, reading(30.0, 10.0, 2.0)), (False, reading(6.0, 4.0, 1.0))],
            stage="trial",
            job="000-0",
            began_at=1.0,
            finished_at=4.0,
            process_started_at=0.0,
            tracking_mode="machine",
        ),
        ledger_entry(
            [(False, reading(15.0, 5.0, 2.0))], stage="search", job="001", began_at=5.0, finished_at=7.0, process_started_at=5.0, tracking_mode="process"
        ),
    ]
    for position, entry in enumerate(entries):
        write_entry(tmp_path / f"{position}.json", entry)
    energy = study_energy(read_entries([tmp_path]))
    assert energy["by_stage"] == pytest.approx({"search": 20.0, "trial": 60.0})  # trial: 40 + 10 + 1 s x 10 W
    assert energy["total_joules"] == pytest.approx(80.0)
    assert energy["total_joules"] >= energy["inside_windows_joules"] == pytest.approx(40.0)
    assert sum(energy["by_component"].values()) == pytest.approx(energy["total_joules"])
    assert energy["jobs"] == 2 and energy["estimated"]
    with pytest.raises(ValueError):
        study_energy([])


def test_a_damaged_entry_is_refused_with_its_path(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"stage": "trial", "total_joules": -1}))
    with pytest.raises(ValueError, match="bad.json"):
        read_entries([path])


def test_a_rerun_adds_its_run_to_the_job_s_entry_instead_of_replacing_it(tmp_path):
    from ecopt.ledger import fold_into_existing, fold_runs

    # the lifecycle study whose N changed: the run that trained the trial, then a no-op rerun that kept its record
    trained = ledger_entry([(True, reading(300.0, 10.0, 30.0)), (False, reading(20.0, 5.0, 5.0))], **_job("000-1", 100.0, 140.0))
    rerun = ledger_entry([(False, reading(3.0, 1.0, 1.0))], **_job("000-1", 500.0, 502.0))
    path = tmp_path / "ledger/trial/000-1.json"
    write_entry(path, fold_into_existing(path, trained))  # the first run: nothing to fold
    assert json.loads(path.read_text())["runs"][0]["total_joules"] == pytest.approx(trained["total_joules"])
    write_entry(path, fold_into_existing(path, rerun))
    folded = read_entries([path])[0]
    assert len(folded["runs"]) == 2
    assert folded["total_joules"] == pytest.approx(trained["total_joules"] + rerun["total_joules"])
    assert folded["inside_windows_joules"] == pytest.approx(310.0)  # the trained run's windows are still counted
    assert folded["by_component"]["cpu"] == pytest.approx(sum(e["by_component"]["cpu"] for e in (trained, rerun)))
    assert folded["began_at"] == trained["began_at"] and folded["finished_at"] == rerun["finished_at"]
    assert study_energy([folded])["total_joules"] == pytest.approx(trained["total_joules"] + rerun["total_joules"])
    # a third run adds a third, never nests
    assert len(fold_runs(folded, rerun)["runs"]) == 3
    with pytest.raises(ValueError, match="cannot fold"):
        fold_runs(folded, ledger_entry([(False, reading(3.0, 1.0, 1.0))], **_job("000-2", 1.0, 2.0)))


def test_an_unreadable_previous_entry_is_not_folded(tmp_path, caplog):
    from ecopt.ledger import fold_into_existing

    path = tmp_path / "trial.json"
    path.write_text('{"stage": "tri')
    run = ledger_entry([(False, reading(3.0, 1.0, 1.0))], **_job("000-1", 1.0, 2.0))
    assert fold_into_existing(path, run)["total_joules"] == pytest.approx(run["total_joules"])
    assert "not folded" in caplog.text


def _job(job: str, began: float, finished: float) -> dict:
    return {"stage": "trial", "job": job, "began_at": began, "finished_at": finished, "process_started_at": None, "tracking_mode": "process"}


def test_every_ledger_output_of_the_workflow_is_kept_across_reruns():
    # Snakemake deletes a plain output before it reruns the job; update() keeps it for fold_into_existing.
    import re
    from pathlib import Path

    rules = Path(__file__).resolve().parents[1] / "workflow" / "rules"
    declared = [line.strip() for path in sorted(rules.glob("*.smk")) for line in path.read_text().splitlines() if re.match(r"\s+ledger=.*LEDGER\}/", line)]
    assert len(declared) >= 10
    assert all(line.startswith("ledger=update(") for line in declared), declared


def test_a_wait_for_the_metered_lock_is_metered_apart_and_not_charged(tmp_path, monkeypatch):
    import fcntl
    import os
    import threading

    from ecopt import metered_lock

    monkeypatch.setenv(metered_lock.LOCK_PATH_VARIABLE, str(tmp_path / "metered.lock"))
    state: dict = {}
    ledger = Ledger(SteppedBackend(watts=10.0, seconds=2.0, state=state), stage="trial", job="000-0", clock=lambda: state["now"])
    ledger.begin()
    # another study's metered job holds the lock (its own open file description) for a moment
    other = os.open(tmp_path / "metered.lock", os.O_RDONLY | os.O_CREAT, 0o666)
    fcntl.flock(other, fcntl.LOCK_EX)
    threading.Timer(0.2, lambda: fcntl.flock(other, fcntl.LOCK_UN)).start()
    metered_lock.set_wait_window(ledger.lock_wait)
    try:
        meter = Meter({"min_window_seconds": 0.0}, backend=ledger.wrap(SteppedBackend(watts=50.0, seconds=1.0, state=state)))
        meter.measure(lambda: None)
    finally:
        metered_lock.set_wait_window(None)
        os.close(other)
    entry = ledger.finish()
    assert state["max_open"] == 1
    assert entry["lock_wait_seconds"] == pytest.approx(2.0) and entry["lock_wait_joules"] == pytest.approx(20.0)
    # outside, (wait), outside, inside, outside: the wait's 20 J are not in the total
    assert entry["total_joules"] == pytest.approx(3 * 20.0 + 50.0)
    energy = study_energy([entry, entry])
    assert energy["lock_wait_joules"] == pytest.approx(40.0) and energy["total_joules"] == pytest.approx(2 * 110.0)


def test_help_prints_the_usage_and_exits_0(capsys):
    from ecopt.__main__ import main as ecopt_main
    from ecopt.ledger import main

    for run in (lambda: main(["--help"]), lambda: ecopt_main(["ledger", "-h"])):
        assert run() == 0
        out = capsys.readouterr().out
        assert "--stage" in out and "-- STAGE ARGS" in out
    assert main(["--stage", "trial", "--out", "x.json"]) == 2
    assert "expected '-- STAGE ARGS...'" in capsys.readouterr().err


def test_process_create_time_is_on_the_wall_clock_within_a_clock_tick():
    # psutil's create_time was 0.9 s early on this project's VM (whole-second boot time).
    import subprocess
    import time

    from ecopt.ledger import process_create_time

    before = time.time()
    child = subprocess.Popen(["sleep", "2"])
    after = time.time()
    try:
        created = process_create_time(child.pid)
    finally:
        child.kill()
        child.wait()
    assert before - 0.02 <= created <= after + 0.02


class _FakeProcess:
    """A process for slurm_job_context: a real pid (for its creation time), a name and a command line."""

    def __init__(self, pid, name, cmdline=(), parents=(), children=()):
        self.pid, self._name, self._cmdline, self._parents, self._children = pid, name, list(cmdline), list(parents), list(children)

    def name(self):
        return self._name

    def cmdline(self):
        return self._cmdline

    def parents(self):
        return self._parents

    def children(self):
        return self._children


def test_slurm_job_context_outside_slurm_is_none():
    from ecopt.ledger import slurm_job_context

    assert slurm_job_context(environ={}) is None


def test_slurm_job_context_finds_the_batch_script_and_the_job_step_s_first_process():
    import os
    from datetime import datetime

    from ecopt.ledger import process_create_time, slurm_job_context

    me = os.getpid()
    parent = os.getppid()
    step_daemon = _FakeProcess(1, "slurmstepd", ["slurmstepd: [42.0]", ""])
    snakemake_in_step = _FakeProcess(parent, "python")
    stage = _FakeProcess(me, "python", parents=[snakemake_in_step, step_daemon, _FakeProcess(1, "init")])
    # SLURM names the batch daemon "slurmstepd:" "[42.batch]" (two arguments); another job's is ignored.
    other_batch = _FakeProcess(1, "slurmstepd", ["slurmstepd:", "[41.batch]"], children=[_FakeProcess(1, "slurm_script")])
    batch = _FakeProcess(1, "slurmstepd", ["slurmstepd:", "[42.batch]"], children=[_FakeProcess(me, "slurm_script")])
    context = slurm_job_context(environ={"SLURM_JOB_ID": "42"}, process=stage, processes=[other_batch, step_daemon, batch])
    assert context["job_id"] == "42"
    assert datetime.fromisoformat(context["step_started_at"]).timestamp() == pytest.approx(process_create_time(parent), abs=0.02)
    assert datetime.fromisoformat(context["batch_started_at"]).timestamp() == pytest.approx(process_create_time(me), abs=0.02)
    # A shell that runs one command execs it: the stage itself is then the step's first process.
    direct = _FakeProcess(me, "python", parents=[step_daemon])
    alone = slurm_job_context(environ={"SLURM_JOB_ID": "42"}, process=direct, processes=[])
    assert datetime.fromisoformat(alone["step_started_at"]).timestamp() == pytest.approx(process_create_time(me), abs=0.02)
    assert alone["batch_started_at"] is None
