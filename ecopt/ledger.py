"""The study energy ledger: the energy of every job's whole process, not only its metered windows.

A trial meters its training and evaluation; everything around them (interpreter
start, imports of torch and CodeCarbon, data loading, FLOP counting), every
optimiser round (Ax/BoTorch fits), the frontier, the figures and the summary
were unmetered. The ledger meters them with the same CodeCarbon backend.

Design choices:

* **One ledger per process, consecutive windows, never two trackers at once.**
  The ledger opens an "outside windows" CodeCarbon window when it begins; when the
  stage's ``Meter`` starts a metered window, the ledger closes its own window
  first and reopens a new one when the metered window stops (``Ledger.wrap``
  turns the Meter's backend into one that does this). Two concurrent trackers
  would each sample the same CPU and could disturb the window being measured;
  consecutive windows add up to the whole process exactly once.
* **The process start cannot be metered, so it is estimated and flagged.** From
  the process's creation (``process_create_time``, the kernel's clock tick) to the ledger's
  first reading lie the interpreter start, the imports and CodeCarbon's first
  start (about 1.8 s on this project's machine). That interval is charged at the
  mean power of the job's own outside-window readings and the entry says
  ``startup_estimated: true``.
* **The ledger's own windows meter this process only (CodeCarbon's
  ``tracking_mode: process``), whatever ``meter.tracking_mode`` says for the
  metered windows.** Optimiser rounds, the frontier, figures and the summary may
  run beside a metered trial (Snakemake limits only the ``metered`` resource); in
  machine mode their windows would also count the trial's power and the study
  would charge it twice. Metered jobs need it too: a trial imports and loads its
  data before it takes the machine-wide metered lock, and waits for that lock
  while another study's metered job holds it. In the first default study run with
  machine-mode ledger windows for metered jobs (this project's machine, shared
  with other test sessions), trial 000-4 waited 112.8 s for the lock and was
  charged 4136 J, 3660 J of it outside its metered windows: other processes'
  energy. Process mode charges the CPU share of this process, which waits idle.
* **Each job writes its entry as a declared output**
  (``results/<study>/ledger/<stage>[/<job>].json``, checked against
  ``ecopt/schemas/ledger_entry.schema.json``, written atomically), so Snakemake
  knows every entry and the final ``ecopt.summary`` stage reads exactly them.
* **A rerun adds to its job's entry, never replaces it.** Snakemake reruns a
  job when its settings change (a lifecycle study's new N reruns its search
  rounds, and their trials then rerun too, keeping their records by
  fingerprint). The rules declare every ledger output ``update()``, so Snakemake
  keeps the previous entry instead of deleting it, and ``fold_runs`` folds it
  into the new one: the entry's ``runs`` list holds every run, and its totals
  are the sums over runs. Replacing it lost real energy: in the first lifecycle
  study whose N changed, the round-0 trials' no-op reruns (1.6-4.4 J each)
  replaced the entries of the runs that had trained them, and the study's trial
  windows fell from 336.5 J to 53.8 J, below the 313.8 J the trials' own records
  say their training and evaluation took. A ledger file deleted by hand is gone
  (its energy no longer counts); a failed rerun is undone by Snakemake, which
  restores an ``update()`` output's previous version.
* **Waiting for the machine-wide metered lock is not the study's work.** A
  metered job waits there while another study's (or session's) metered job runs;
  one trial waited 79 s and was charged 840 J, 21 % of its study. The ledger meters
  the wait in a window of its own (``Ledger.lock_wait``, registered with
  ``ecopt.metered_lock.set_wait_window``) and reports it as ``lock_wait_seconds``
  and ``lock_wait_joules`` beside the entry's total, never in it.
* **Inside a SLURM job the entry says which job and when it began** (``slurm``:
  ``SLURM_JOB_ID``, the batch script's and the job step's start,
  ``slurm_job_context``), so a job's time before the stage's own process (SLURM's
  launch, Snakemake's start-up twice inside the job) can be told apart:
  ``benchmarks/slurm_overhead.py`` splits every job's overhead with it. Creation times
  come from ``/proc`` (``process_create_time``), not from psutil's ``create_time``,
  which adds the tick count to a boot time in whole seconds and was 0.9 s early here:
  every ``startup_seconds`` (and its estimated joules) was 0.9 s too long with it.
* It runs a stage in its own process: ``python -m ecopt.ledger --stage trial
  --out F -- trial --settings ...`` dispatches through ``ecopt.__main__`` after
  the ledger has begun, so stages need no ledger code of their own; the summary
  stage, whose output must include its own energy, reads the active ledger
  (``active_ledger().entry()``) just before it writes.

CodeCarbon (not own code) does every reading: the ledger only arranges windows
and adds them up.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ecopt.meter import JOULES_PER_KWH, BackendReading, MeterBackend

logger = logging.getLogger(__name__)

# The config entries the ledger reads (the workflow passes this slice).
LEDGER_SECTIONS = ["meter"]
COMPONENTS = ("cpu", "ram", "gpu")


def reading_joules(reading: BackendReading) -> dict[str, float]:
    """Joules per component (cpu, ram, gpu) of one backend reading; gpu 0 when there is none."""
    return {"cpu": reading.cpu.joules, "ram": reading.ram.joules, "gpu": reading.gpu.joules if reading.gpu is not None else 0.0}


def reading_estimated(reading: BackendReading) -> bool:
    """True when the CPU or GPU energy of ``reading`` is an estimate (CodeCarbon's load x TDP, NVML power average)."""
    return reading.cpu.estimated or (reading.gpu is not None and reading.gpu.estimated)


@dataclass
class _Window:
    inside: bool
    reading: BackendReading


@dataclass
class Ledger:
    """The energy of one process, as consecutive windows of one backend kind.

    ``outside`` meters the time between the stage's metered windows; the stage's
    own backends are passed through ``wrap``. ``process_started_at`` is the
    process's creation time (Unix seconds; None: the ledger's own start, nothing
    estimated).
    """

    outside: MeterBackend
    stage: str
    job: str | None = None
    process_started_at: float | None = None
    tracking_mode: str = "process"
    clock: Callable[[], float] = time.time
    out: Path | None = None  # the entry's file, whose earlier runs fold into this one (fold_into_existing)
    windows: list[_Window] = field(default_factory=list)
    lock_waits: list[BackendReading] = field(default_factory=list)
    began_at: float | None = None
    _outside_open: bool = False

    def begin(self) -> None:
        """Warm the backend up and open the first outside window (call once, first)."""
        self.outside.warm_up()
        self.began_at = self.clock()
        self._open()

    def _open(self) -> None:
        self.outside.start()
        self._outside_open = True

    def _close(self) -> None:
        if self._outside_open:
            self._outside_open = False
            self.windows.append(_Window(False, self.outside.stop()))

    @contextlib.contextmanager
    def lock_wait(self) -> Iterator[None]:
        """Meter the ``with`` block (a wait for the metered lock) in a window of its own, outside the total.

        Used only between metered windows (the lock is taken before a window opens);
        inside one, the block is left in that window rather than run two trackers.
        """
        if not self._outside_open:
            yield
            return
        self._close()
        self.outside.start()
        try:
            yield
        finally:
            self.lock_waits.append(self.outside.stop())
            self._open()

    def wrap(self, inside: MeterBackend) -> MeterBackend:
        """``inside`` as a backend whose windows close the ledger's window first and reopen it after."""
        return _LedgerWindowBackend(self, inside)

    def entry(self) -> dict[str, Any]:
        """The ledger entry so far (``ledger_entry.schema.json``): closes and reopens the outside window.

        ``total_joules`` = inside + outside windows + the estimated process start.
        Units: joules, seconds, kg CO2eq. Raises ``RuntimeError`` before ``begin``.
        """
        if self.began_at is None:
            raise RuntimeError("Ledger.entry() before begin()")
        was_open = self._outside_open
        self._close()
        if was_open:
            self._open()
        return ledger_entry(
            [(w.inside, w.reading) for w in self.windows],
            stage=self.stage,
            job=self.job,
            began_at=self.began_at,
            finished_at=self.clock(),
            process_started_at=self.process_started_at,
            tracking_mode=self.tracking_mode,
            lock_waits=self.lock_waits,
        )

    def entry_over_runs(self) -> dict[str, Any]:
        """``entry()`` folded over this job's earlier runs at ``out`` (``fold_into_existing``); ``entry()`` without ``out``."""
        entry = self.entry()
        return fold_into_existing(self.out, entry) if self.out is not None else fold_runs(None, entry)

    def finish(self) -> dict[str, Any]:
        """Close the outside window and return the final entry."""
        self._close()
        return self.entry()


class _LedgerWindowBackend:
    """A stage's backend inside a ledger: its window and the ledger's never overlap."""

    def __init__(self, ledger: Ledger, inside: MeterBackend) -> None:
        self.ledger, self.inside = ledger, inside

    def warm_up(self) -> None:
        self.inside.warm_up()

    def start(self) -> None:
        self.ledger._close()
        self.inside.start()

    def stop(self) -> BackendReading:
        reading = self.inside.stop()
        self.ledger.windows.append(_Window(True, reading))
        self.ledger._open()
        return reading


def ledger_entry(
    windows: Sequence[tuple[bool, BackendReading]],
    *,
    stage: str,
    job: str | None,
    began_at: float,
    finished_at: float,
    process_started_at: float | None,
    tracking_mode: str,
    lock_waits: Sequence[BackendReading] = (),
) -> dict[str, Any]:
    """Add up one process's windows (``(inside, reading)`` pairs) into its ledger entry.

    ``lock_waits`` are the readings of its waits for the metered lock: reported as
    ``lock_wait_seconds`` / ``lock_wait_joules``, left out of ``total_joules``,
    ``by_component`` and the emissions.

    The interval ``began_at - process_started_at`` (seconds, clamped at 0) is
    charged at the mean power (W) of the outside windows (of all windows when
    the outside ones last 0 s), split over components in the same proportions,
    and flagged ``startup_estimated``. Emissions of that interval use the
    windows' own kg CO2eq per joule.
    """
    components = dict.fromkeys(COMPONENTS, 0.0)
    inside_joules = outside_joules = inside_seconds = outside_seconds = emissions = 0.0
    estimated = False
    meters = set()
    for inside, reading in windows:
        parts = reading_joules(reading)
        for name in COMPONENTS:
            components[name] += parts[name]
        joules = sum(parts.values())
        if inside:
            inside_joules += joules
            inside_seconds += reading.seconds
        else:
            outside_joules += joules
            outside_seconds += reading.seconds
        emissions += reading.emissions_kg
        estimated = estimated or reading_estimated(reading)
        meters.add(reading.meter)
    metered_joules = inside_joules + outside_joules
    startup_seconds = max(0.0, began_at - process_started_at) if process_started_at is not None else 0.0
    if outside_seconds > 0:
        watts = outside_joules / outside_seconds
        basis = [(i, r) for i, r in windows if not i]
    else:
        seconds = inside_seconds
        watts = inside_joules / seconds if seconds > 0 else 0.0
        basis = list(windows)
    startup_joules = startup_seconds * watts
    if startup_joules > 0:
        shares = dict.fromkeys(COMPONENTS, 0.0)
        for _, reading in basis:
            for name, joules in reading_joules(reading).items():
                shares[name] += joules
        share_total = sum(shares.values())
        for name in COMPONENTS:
            components[name] += startup_joules * shares[name] / share_total if share_total > 0 else 0.0
    kg_per_joule = emissions / metered_joules if metered_joules > 0 else 0.0
    total = metered_joules + startup_joules
    return {
        "stage": stage,
        "job": job,
        "total_joules": total,
        "inside_windows_joules": inside_joules,
        "outside_windows_joules": outside_joules,
        "startup_estimated_joules": startup_joules,
        "inside_windows_seconds": inside_seconds,
        "outside_windows_seconds": outside_seconds,
        "startup_seconds": startup_seconds,
        "by_component": components,
        "windows": len(windows),
        "estimated": bool(estimated or startup_joules > 0),
        "startup_estimated": startup_joules > 0,
        "emissions_kg_co2eq": emissions + startup_joules * kg_per_joule,
        "lock_wait_seconds": sum(r.seconds for r in lock_waits),
        "lock_wait_joules": sum(sum(reading_joules(r).values()) for r in lock_waits),
        "tracking_mode": tracking_mode,
        "meter": ", ".join(sorted(meters)) or None,
        "process_started_at": _iso(process_started_at) if process_started_at is not None else None,
        "began_at": _iso(began_at),
        "finished_at": _iso(finished_at),
    }


# The entry's fields that add up over a job's runs (``fold_runs``).
ADDITIVE_FIELDS = (
    "total_joules",
    "inside_windows_joules",
    "outside_windows_joules",
    "startup_estimated_joules",
    "inside_windows_seconds",
    "outside_windows_seconds",
    "startup_seconds",
    "emissions_kg_co2eq",
    "windows",
    "lock_wait_seconds",
    "lock_wait_joules",
)


def _single_run(entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs an entry holds: its ``runs`` list, or itself when it predates them."""
    runs = entry.get("runs")
    return [dict(run) for run in runs] if isinstance(runs, list) else [{k: v for k, v in entry.items() if k != "runs"}]


def fold_runs(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> dict[str, Any]:
    """One job's entry over all its runs: ``previous`` (the entry already on disk, or None) then ``current``.

    The result has ``current``'s fields, with ``runs`` = every run's own entry (the
    previous entry's runs, or the previous entry itself when it has none, then
    ``current``), and every additive field (``ADDITIVE_FIELDS``: joules, seconds,
    kg CO2eq, windows; ``by_component`` per component) summed over the runs;
    ``estimated`` / ``startup_estimated`` when any run's is; ``began_at`` and
    ``process_started_at`` of the first run, ``finished_at`` and ``exit_status``
    of the last. Raises ``ValueError`` when ``previous`` is another job's entry
    (stage or job differs).
    """
    runs = ([] if previous is None else _single_run(previous)) + _single_run(current)
    if previous is not None and (previous.get("stage"), previous.get("job")) != (current.get("stage"), current.get("job")):
        raise ValueError(f"ledger entry of {previous.get('stage')} {previous.get('job')} cannot fold into {current.get('stage')} {current.get('job')}")
    folded = dict(runs[-1])
    for name in ADDITIVE_FIELDS:
        values = [run[name] for run in runs if isinstance(run.get(name), (int, float))]
        if values:
            folded[name] = sum(values)
    folded["by_component"] = {name: sum(run.get("by_component", {}).get(name, 0.0) for run in runs) for name in COMPONENTS}
    folded["estimated"] = any(run.get("estimated", False) for run in runs)
    folded["startup_estimated"] = any(run.get("startup_estimated", False) for run in runs)
    folded["began_at"], folded["process_started_at"] = runs[0]["began_at"], runs[0].get("process_started_at")
    meters = sorted({part.strip() for run in runs for part in (run.get("meter") or "").split(",") if part.strip()})
    folded["meter"] = ", ".join(meters) or None
    folded["runs"] = runs
    return folded


def fold_into_existing(path: str | Path, entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` folded over the entry already at ``path`` (``fold_runs``); ``entry`` alone when there is none.

    A previous file that does not read or validate (a kill mid-write cannot leave
    one, writes are atomic, but a hand edit can) or that belongs to another job is
    logged as a warning and not folded: its energy is lost, not guessed.
    """
    from ecopt.records import read_document

    path = Path(path)
    if not path.exists():
        return fold_runs(None, entry)
    try:
        return fold_runs(read_document(path, "ledger_entry"), entry)
    except (ValueError, OSError) as error:
        logger.warning("%s: previous ledger entry not folded into this run's (%s)", path, str(error).splitlines()[0])
        return fold_runs(None, entry)


def process_create_time(pid: int | None = None) -> float:
    """When process ``pid`` (default: this one) was created, Unix seconds, to the kernel's clock tick (10 ms).

    psutil's ``create_time`` adds the process's start (clock ticks since boot) to the
    boot time ``/proc/stat`` gives in whole seconds, so its times are early by up to a
    second: 0.9 s on this project's VM (a batch script's own ``date`` against psutil's
    creation time of the script). On Linux this reads the same tick count from
    ``/proc/<pid>/stat`` and the time since boot from ``/proc/uptime`` (10 ms), both on
    the kernel's boot clock; elsewhere it falls back to psutil. Raises
    ``psutil.NoSuchProcess`` / ``OSError`` when the process does not exist.
    """
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/stat") as stat, open("/proc/uptime") as uptime_file:
            fields = stat.read().rsplit(")", 1)[1].split()
            uptime = float(uptime_file.read().split()[0])
        now = time.time()
        # Field 22 of /proc/<pid>/stat, starttime; fields[0] is field 3 (state).
        return now - uptime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, IndexError, ValueError):
        import psutil

        return psutil.Process(pid).create_time()


def slurm_job_context(environ: Mapping[str, str] | None = None, process: Any = None, processes: Iterable[Any] | None = None) -> dict[str, Any] | None:
    """Where this process runs inside a SLURM job, or None outside one.

    Returns ``{"job_id": str, "batch_started_at": ISO-8601 | None, "step_started_at":
    ISO-8601 | None}``. ``job_id`` is ``SLURM_JOB_ID``. ``batch_started_at`` is when the
    job's batch script began: the creation time of the first child of this job's batch
    ``slurmstepd`` (``slurmstepd: [<job>.batch]``; with the SLURM executor plugin, the
    script runs Snakemake at once). ``step_started_at`` is the creation time of the
    outermost process below the job step's ``slurmstepd`` on this process's line: the
    Snakemake that the batch script's Snakemake starts with ``srun``. Creation times come
    from ``process_create_time`` (the kernel's, in 10 ms clock ticks). So SLURM's allocation ->
    ``batch_started_at`` is SLURM's launch, ``batch_started_at`` -> ``step_started_at``
    the batch script's Snakemake start-up and ``srun``, and ``step_started_at`` ->
    ``process_started_at`` the step's Snakemake start-up: ``benchmarks/slurm_overhead.py``
    splits each job's overhead with them. A time is None where its process is not
    visible (another node, a process namespace). ``process``/``processes`` default to
    this process and ``psutil.process_iter()`` (tests pass fakes).
    """
    environ = os.environ if environ is None else environ
    job_id = environ.get("SLURM_JOB_ID")
    if not job_id:
        return None
    import psutil

    def created(proc: Any) -> float | None:
        try:
            return process_create_time(proc.pid) if proc is not None else None
        except (psutil.Error, OSError):
            return None

    process = psutil.Process() if process is None else process
    step_root = process  # a shell that runs one command execs it: the stage is then the step's first process
    try:
        for ancestor in process.parents():
            if ancestor.name().startswith("slurmstepd"):
                break
            step_root = ancestor
        else:
            step_root = None
    except psutil.Error:
        step_root = None
    batch_script = None
    for candidate in psutil.process_iter() if processes is None else processes:
        try:
            if candidate.name().startswith("slurmstepd") and " ".join(candidate.cmdline()).strip() == f"slurmstepd: [{job_id}.batch]":
                batch_script = min(candidate.children(), key=created, default=None)
                break
        except psutil.Error:
            continue
    stamps = {"batch_started_at": created(batch_script), "step_started_at": created(step_root)}
    return {"job_id": str(job_id), **{key: _iso(value) if value is not None else None for key, value in stamps.items()}}


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat()


def study_energy(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``summary.json``'s ``study_energy``: every job's ledger entry added up.

    Returns total_joules, by_stage (J per stage), by_component (J per cpu/ram/gpu),
    inside/outside-window and estimated-startup joules, jobs, estimated (any
    part an estimate), emissions_kg_co2eq, and lock_wait_seconds /
    lock_wait_joules (the waits for the metered lock, not in the total). Raises ``ValueError`` for no entries.
    """
    entries = list(entries)
    if not entries:
        raise ValueError("study_energy needs at least one ledger entry")
    by_stage: dict[str, float] = {}
    by_component = dict.fromkeys(COMPONENTS, 0.0)
    for entry in entries:
        by_stage[entry["stage"]] = by_stage.get(entry["stage"], 0.0) + entry["total_joules"]
        for name in COMPONENTS:
            by_component[name] += entry["by_component"].get(name, 0.0)
    total = sum(e["total_joules"] for e in entries)
    inside = sum(e["inside_windows_joules"] for e in entries)
    return {
        "total_joules": total,
        "by_stage": dict(sorted(by_stage.items())),
        "by_component": by_component,
        "inside_windows_joules": inside,
        "outside_windows_joules": sum(e["outside_windows_joules"] for e in entries),
        "startup_estimated_joules": sum(e["startup_estimated_joules"] for e in entries),
        "share_outside_metered_windows": (total - inside) / total if total > 0 else None,
        "jobs": len(entries),
        "estimated": any(e["estimated"] for e in entries),
        "emissions_kg_co2eq": sum(e["emissions_kg_co2eq"] for e in entries),
        # Waits for the machine-wide metered lock: another job's time, reported beside the total (not in it).
        "lock_wait_seconds": sum(e.get("lock_wait_seconds", 0.0) for e in entries),
        "lock_wait_joules": sum(e.get("lock_wait_joules", 0.0) for e in entries),
    }


def kg_co2eq_per_joule(energy: Mapping[str, Any]) -> float | None:
    """The ledger's own carbon intensity (kg CO2eq per J) from a ``study_energy`` mapping; None at 0 J."""
    return energy["emissions_kg_co2eq"] / energy["total_joules"] if energy["total_joules"] > 0 else None


def read_entries(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Ledger entries from files or folders (every ``*.json`` under a folder), each schema-checked."""
    from ecopt.records import read_document

    files: list[Path] = []
    for path in map(Path, paths):
        files.extend(sorted(path.rglob("*.json")) if path.is_dir() else [path])
    return [read_document(file, "ledger_entry") for file in files]


# --------------------------------------------------------------------------- the running process
_ACTIVE: Ledger | None = None


def active_ledger() -> Ledger | None:
    """The ledger metering this process (set by ``python -m ecopt.ledger``), or None."""
    return _ACTIVE


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopt.ledger --stage NAME [--job ID] --out FILE --settings JSON -- STAGE ARGS...``.

    Begins a ledger, makes every ``Meter`` of the process meter through it, runs
    ``ecopt STAGE ARGS...`` in this process, then writes the entry (even when the
    stage fails, whose exit status it returns). Exit 2 for bad arguments.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    from ecopt.cli import add_study_arguments, study_mapping

    parser = argparse.ArgumentParser(
        prog="python -m ecopt.ledger",
        description="Run a stage and write its process's energy ledger entry.",
        usage="%(prog)s --stage NAME [--job ID] --out FILE [--settings JSON | --config FILE] -- STAGE ARGS...",
        epilog="Everything after '--' is the stage's command line (ecopt STAGE ARGS...). A rerun adds its run to an existing entry at --out.",
    )
    add_study_arguments(parser)
    parser.add_argument("--stage", required=True, help="the stage's name in the ledger (by_stage key)")
    parser.add_argument("--job", default=None, help="the job within the stage, e.g. 001-3 for round 1, trial 3")
    parser.add_argument("--tracking-mode", choices=["process", "machine"], default="process", help="CodeCarbon tracking mode of the outside windows")
    parser.add_argument("--out", required=True, help="ledger entry to write (JSON)")
    split = argv.index("--") if "--" in argv else len(argv)
    own, stage_argv = argv[:split], argv[split + 1 :]
    if any(flag in own for flag in ("-h", "--help")):
        parser.print_help()
        return 0
    if "--" not in argv:
        print("ecopt.ledger: expected '-- STAGE ARGS...' after the ledger's own options (--help: usage)", file=sys.stderr)
        return 2
    args = parser.parse_args(own)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    import dataclasses

    from ecopt import meter as meter_module
    from ecopt.errors import ConfigError
    from ecopt.settings import validate_study

    try:
        study = validate_study(study_mapping(args), sections=LEDGER_SECTIONS)
    except ConfigError as error:
        print(f"ecopt.ledger: {error}", file=sys.stderr)
        return 2
    outside_settings = dataclasses.replace(study.meter, tracking_mode=args.tracking_mode)
    ledger = Ledger(
        meter_module.CodeCarbonBackend(outside_settings),
        stage=args.stage,
        job=args.job,
        process_started_at=process_create_time(),
        tracking_mode=args.tracking_mode,
        out=Path(args.out),
    )
    ledger.begin()
    # Run as ``python -m``, this module is ``__main__``; stages import ``ecopt.ledger``.
    from ecopt import ledger as registry

    registry._ACTIVE = ledger
    meter_module.set_process_backend(lambda settings: ledger.wrap(meter_module.default_backend(settings)))
    from ecopt.metered_lock import set_wait_window

    set_wait_window(ledger.lock_wait)
    from ecopt.__main__ import main as run_stage

    try:
        status = run_stage(stage_argv)
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        meter_module.set_process_backend(None)
        set_wait_window(None)
        registry._ACTIVE = None
    entry = ledger.finish()
    entry["exit_status"] = int(status)
    entry["slurm"] = slurm_job_context()
    entry = fold_into_existing(args.out, entry)
    write_entry(args.out, entry)
    job = f" {args.job}" if args.job else ""
    logger.info(
        "%s%s: %.1f J (%.1f J inside metered windows) over %d run(s) -> %s",
        args.stage,
        job,
        entry["total_joules"],
        entry["inside_windows_joules"],
        len(entry["runs"]),
        args.out,
    )
    return int(status)


def write_entry(path: str | Path, entry: Mapping[str, Any]) -> Path:
    """Check ``entry`` against ``ledger_entry.schema.json`` and write it atomically."""
    from ecopt.io import json_ready, write_json
    from ecopt.records import validate_document

    data = json_ready(dict(entry))
    if not all(math.isfinite(data[key]) for key in ("total_joules", "inside_windows_joules", "outside_windows_joules")):
        raise ValueError(f"{path}: ledger entry with a non-finite energy: {data}")
    validate_document(data, "ledger_entry", path)
    return write_json(path, data)


__all__ = [
    "JOULES_PER_KWH",
    "Ledger",
    "active_ledger",
    "fold_into_existing",
    "fold_runs",
    "kg_co2eq_per_joule",
    "ledger_entry",
    "read_entries",
    "study_energy",
    "write_entry",
]


if __name__ == "__main__":
    sys.exit(main())
