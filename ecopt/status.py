"""``ecopt status results/<study>``: where a running (or finished) study stands, from its files alone.

It prints rounds done out of the planned total, trials by status, the current
hypervolume and frontier size, the energy spent so far, the median trial time and
an estimate of the time left.

Design choices:

* **Read only, never lock, never write.** A study runs for a day under Snakemake,
  which holds ``.snakemake/`` locks; this command opens the study's JSON files for
  reading and nothing else, so it is safe beside a running workflow (tested by
  checking that the folder's files are byte-identical afterwards).
* **Tolerant of a study in motion.** Every file is written atomically (temporary
  file + rename, ``ecopt.io``), but a reader can still meet a temporary file, a
  record from an older schema or a folder that a parallel helper (the study
  ledger) is still creating. Each file that does not read or validate is counted
  as ``unreadable`` and named, never raised.
* **The plan** (rounds and trials per round) is the study's ``search`` section:
  the proposals do not hold ``search.rounds`` (the propose rule leaves it out, so
  adding rounds never redoes finished ones). It comes from ``--config``/
  ``--settings`` when given, else from the study config under ``config/`` whose
  ``study`` is the folder's name; without one, the planned total is "unknown".
* **Hypervolume and frontier** come from the same pure core the frontier stage
  uses (``ecopt.frontier.frontier_tables`` over ``ecopt.pareto``), with the study's
  objectives (the defaults when no config is found), so the number printed is the
  number ``hypervolume.csv`` will hold.
* **Time left** = median process wall time of the trials so far x trials still
  planned, plus the median time of a model-based proposal (Snakemake's benchmark
  files ``benchmarks/propose/<round>.tsv``, column ``s``) x rounds not proposed
  yet. Rounds run their q trials in parallel only where the machine allows
  (metered trials are exclusive on one machine), so the serial estimate is the
  honest upper figure for a local run.

Cost: reading and validating the records is milliseconds (0.9 ms per record, see
``ecopt.records``); the command's time is importing torch for BoTorch's
hypervolume. Measured on the synthetic study of tests/test_status.py with this
project's 2 cores at load average 10 (three jobs at once): 26 s for
``python -m ecopt status``, of which ``import torch`` alone took 21 s; the
command holds no lock in that time, so a slow machine only slows the answer.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecopt.records import TrialRecord, TrialStatus

logger = logging.getLogger(__name__)

CONFIG_DIRS = ("config", "config/studies")


@dataclass
class StudyStatus:
    """What ``ecopt status`` prints, as numbers: energies in joules, times in seconds.

    ``rounds_planned`` / ``trials_planned`` are None when no study config was found;
    ``hypervolume`` is None before any completed trial.
    """

    study_dir: str
    rounds_done: int = 0
    rounds_started: int = 0
    rounds_planned: int | None = None
    trials_planned: int | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    trials: int = 0
    hypervolume: float | None = None
    frontier_size: int = 0
    trial_joules: float = 0.0
    ledger_joules: float | None = None
    summary_job_joules: float | None = None  # the summary job's whole ledger entry, its write included
    summary_total_joules: float | None = None  # summary.json's study_energy.total_joules, when it reads
    median_trial_seconds: float | None = None
    median_propose_seconds: float | None = None
    seconds_left: float | None = None
    unreadable: list[str] = field(default_factory=list)
    config_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The status as plain JSON-able values (``ecopt status --json``)."""
        return dict(self.__dict__)


def _read_json(path: Path) -> Any:
    """The JSON document at ``path``, or None when it is missing, half-written or not JSON."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_records(study_dir: Path) -> tuple[list[TrialRecord], list[str]]:
    """Every trial record under ``study_dir/rounds/*/trials/``, in (round, index) order, and the files that did not load.

    A file that is missing by the time it is read, not JSON, or not a valid record is
    named in the second list; hidden files (atomic writes' temporaries) are skipped.
    """
    records: list[TrialRecord] = []
    unreadable: list[str] = []
    for path in sorted((study_dir / "rounds").glob("*/trials/*.json")):
        if path.name.startswith(".") or not path.parent.parent.name.isdigit() or not path.stem.isdigit():
            continue
        data = _read_json(path)
        try:
            if not isinstance(data, dict):
                raise ValueError(f"{path}: not a JSON object (missing, or caught while being written)")
            record = TrialRecord.from_dict(data, source=path)  # RecordError (a ValueError) names the file
        except (ValueError, TypeError) as error:
            unreadable.append(str(error).splitlines()[0])
            continue
        record.round = int(path.parent.parent.name) if record.round is None else record.round
        record.index = int(path.stem) if record.index is None else record.index
        records.append(record)
    records.sort(key=lambda r: (r.round, r.index))
    return records, unreadable


def find_study_config(study_dir: Path, search_roots: Sequence[Path] = (Path("."),)) -> tuple[dict[str, Any], str] | None:
    """The study config (mapping, path) under ``<root>/config`` whose ``study`` is ``study_dir``'s name, or None."""
    import yaml

    for root in search_roots:
        for folder in CONFIG_DIRS:
            for path in sorted((root / folder).glob("*.yaml")):
                try:
                    mapping = yaml.safe_load(path.read_text())
                except (OSError, yaml.YAMLError):
                    continue
                if isinstance(mapping, dict) and mapping.get("study") == study_dir.name:
                    return mapping, str(path)
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def ledger_totals(study_dir: Path) -> tuple[float | None, float | None]:
    """The study ledger's total as ``summary.json`` counts it (J), and the summary job's whole entry (J, or None).

    Every JSON file under ``study_dir/ledger/`` with a numeric top-level
    ``total_joules`` (or ``joules``) counts, read tolerantly (unreadable or partial
    files are skipped: status is a glance, not an audit), except the summary job's
    own entry (``stage: summary``): ``summary.json`` counts that job only up to the
    moment before it writes (``ecopt.summary``), and its entry, written after,
    also holds the write. So that one job counts here as ``summary.json``'s
    ``study_energy.by_stage.summary`` when that file reads, else as its entry. The
    two totals then agree to the joule for a finished study; the job's whole entry
    is the second value, printed beside. (None, None) with no ledger yet.
    """
    folder = study_dir / "ledger"
    if not folder.is_dir():
        return None, None
    total, found, summary_entry = 0.0, False, None
    for path in sorted(folder.glob("**/*.json")):
        data = _read_json(path)
        if not isinstance(data, dict):
            continue
        value = next((v for v in (_number(data.get("total_joules")), _number(data.get("joules"))) if v is not None), None)
        if value is None:
            continue
        if data.get("stage") == "summary":
            summary_entry = value
            continue
        total, found = total + value, True
    if summary_entry is not None:
        summary = _read_json(study_dir / "summary.json")
        energy = summary.get("study_energy") if isinstance(summary, dict) else None
        counted = _number(energy.get("by_stage", {}).get("summary")) if isinstance(energy, dict) and energy.get("summary_stage_included") else None
        total, found = total + (counted if counted is not None else summary_entry), True
    return (total if found else None), summary_entry


def ledger_joules(study_dir: Path) -> float | None:
    """The study ledger's total as ``summary.json`` counts it (J; ``ledger_totals``), or None when there is no ledger yet."""
    return ledger_totals(study_dir)[0]


def propose_seconds(study_dir: Path) -> list[float]:
    """Wall seconds of each model-based round's proposal (rounds >= 1), from Snakemake's benchmark files; unreadable ones skipped."""
    seconds = []
    for path in sorted((study_dir / "benchmarks" / "propose").glob("*.tsv")):
        if not path.stem.isdigit() or int(path.stem) == 0:  # round 0 is a Sobol draw: no model to fit
            continue
        try:
            header, values = path.read_text().splitlines()[:2]
            seconds.append(float(dict(zip(header.split("\t"), values.split("\t"), strict=False))["s"]))
        except (OSError, ValueError, KeyError):
            continue
    return seconds


def study_status(study_dir: str | Path, study: Mapping[str, Any] | None = None, config_source: str | None = None) -> StudyStatus:
    """Read ``study_dir`` (``results/<study>``) and return its ``StudyStatus``.

    ``study`` is the study config mapping (validated here for ``search`` and
    ``objectives`` only; ``ConfigError`` names the key) or None for "not known":
    then the planned totals stay None and the default objectives are used.
    A folder with no rounds yet gives zeros; nothing raises for a half-written file.
    """
    from ecopt.frontier import frontier_tables
    from ecopt.settings import validate_study

    study_dir = Path(study_dir)
    status = StudyStatus(study_dir=str(study_dir), config_source=config_source)
    from ecopt.net_impact import with_lifecycle_efficiency

    settings = validate_study(dict(study or {}), sections=["search", "objectives", "deployment"])
    records, status.unreadable = read_records(study_dir)
    records = with_lifecycle_efficiency(records, settings.deployment.inferences)
    status.trials = len(records)
    status.statuses = {s.value: sum(r.status is s for r in records) for s in TrialStatus}

    round_numbers = sorted({int(p.name) for p in (study_dir / "rounds").glob("*") if p.is_dir() and p.name.isdigit()})
    status.rounds_started = len(round_numbers)
    if study is not None:
        search = settings.search
        status.rounds_planned = search.rounds + 1  # round 0 (Sobol) and `rounds` model-based rounds
        status.trials_planned = search.initial_trials + search.rounds * search.batch_size
        expected = {0: search.initial_trials}
    else:
        expected = {}
    for number in round_numbers:
        proposals = _read_json(study_dir / "rounds" / f"{number:03d}" / "proposals.json")
        wanted = len(proposals["proposals"]) if isinstance(proposals, dict) and isinstance(proposals.get("proposals"), list) else None
        if wanted is None and study is not None:
            wanted = expected.get(number, settings.search.batch_size)
        done = sum(r.round == number for r in records)
        if wanted is not None and done >= wanted:
            status.rounds_done += 1

    if records:
        tables = frontier_tables(records, list(settings.objectives))
        status.frontier_size = len(tables["frontier"])
        status.hypervolume = float(tables["hypervolume"][-1]["hypervolume"]) if status.statuses[TrialStatus.COMPLETED.value] else None
    status.trial_joules = sum(float(r.train_joules or 0.0) + float(r.eval_joules or 0.0) for r in records)
    status.ledger_joules, status.summary_job_joules = ledger_totals(study_dir)
    summary = _read_json(study_dir / "summary.json")
    energy = summary.get("study_energy") if isinstance(summary, dict) else None
    status.summary_total_joules = _number(energy.get("total_joules")) if isinstance(energy, dict) else None
    times = [float(r.process_wall_seconds) for r in records if isinstance(r.process_wall_seconds, (int, float))]
    proposals = propose_seconds(study_dir)
    status.median_propose_seconds = statistics.median(proposals) if proposals else None
    if times:
        status.median_trial_seconds = statistics.median(times)
        if status.trials_planned is not None and status.rounds_planned is not None:
            status.seconds_left = max(0, status.trials_planned - len(records)) * status.median_trial_seconds
            status.seconds_left += max(0, status.rounds_planned - status.rounds_started) * (status.median_propose_seconds or 0.0)
    return status


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min" if hours else (f"{minutes} min {secs:02d} s" if minutes else f"{seconds:.1f} s")


def format_status(status: StudyStatus) -> str:
    """The lines ``ecopt status`` prints."""
    planned = "unknown (pass --config)" if status.rounds_planned is None else str(status.rounds_planned)
    trials_planned = "" if status.trials_planned is None else f" of {status.trials_planned} planned"
    by_status = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in status.statuses.items())
    lines = [
        f"study        {status.study_dir}" + (f"  (plan from {status.config_source})" if status.config_source else ""),
        f"rounds       {status.rounds_done} done of {planned} (started: {status.rounds_started})",
        f"trials       {status.trials}{trials_planned}: {by_status}",
        f"frontier     {status.frontier_size} trials, hypervolume " + ("none yet" if status.hypervolume is None else f"{status.hypervolume:.6g}"),
        f"energy       {status.trial_joules:.1f} J in trials (train + eval)"
        + ("" if status.ledger_joules is None else f"; {status.ledger_joules:.1f} J in the study ledger"),
    ]
    if status.summary_job_joules is not None:
        lines.append(
            f"summary job  {status.summary_job_joules:.1f} J in its own ledger entry (its write included; the ledger total counts it "
            "as summary.json does, up to the write)"
        )
    if status.summary_total_joules is not None and status.ledger_joules is not None:
        agrees = abs(status.summary_total_joules - status.ledger_joules) <= 1e-6 * max(1.0, status.ledger_joules)
        lines.append(
            f"summary.json study_energy.total_joules {status.summary_total_joules:.1f} J"
            + (" (= the ledger total)" if agrees else " (differs from the ledger total: summary.json predates some jobs; rerun the summary)")
        )
    lines += [
        f"trial time   median {_duration(status.median_trial_seconds)}; a model-based proposal: median {_duration(status.median_propose_seconds)}",
        f"time left    {_duration(status.seconds_left)}"
        + (" (median trial time x trials still planned + median proposal time x rounds not proposed)" if status.seconds_left is not None else ""),
    ]
    if status.unreadable:
        lines.append(f"unreadable   {len(status.unreadable)} file(s), skipped: " + "; ".join(status.unreadable[:3]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``ecopt status results/<study> [--config FILE | --settings JSON] [--json]``; exit 2 for a missing folder or bad config."""
    from ecopt.cli import study_mapping
    from ecopt.errors import ConfigError

    parser = argparse.ArgumentParser(prog="ecopt status", description="Where a study stands, read from its files (safe while it runs).")
    parser.add_argument("study_dir", help="the study's results folder, results/<study>")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", help="the study config (YAML); default: the one under config/ whose `study` is the folder's name")
    source.add_argument("--settings", help="the study's settings as one JSON object")
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    args = parser.parse_args(argv)
    study_dir = Path(args.study_dir)
    if not study_dir.is_dir():
        print(f"ecopt status: no study folder at {study_dir}", file=sys.stderr)
        return 2
    try:
        if args.config is not None or args.settings is not None:
            study, source_name = study_mapping(args), args.config or "--settings"
        else:
            found = find_study_config(study_dir)
            study, source_name = found if found is not None else (None, None)
        status = study_status(study_dir, study, source_name)
    except ConfigError as error:
        print(f"ecopt status: {error}", file=sys.stderr)
        return 2
    print(json.dumps(status.to_dict(), indent=2) if args.json else format_status(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
