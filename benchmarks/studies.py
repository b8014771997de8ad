"""The README's study figures, each from repeated runs: every run's value, the median and the range.

Runs each of the README's studies (``config/studies/NAME.yaml``) ``--repeats`` times from
scratch, one after another, each in its own temporary copy of the workflow (the Snakefile,
``workflow/`` and ``profiles/`` linked, the study file copied, as ``benchmarks/workflow.sh``
does), and prints, per figure, each run's value, the median and [min, max] across runs,
and for the batch-size study each run's within-run 95 % interval of the gain over batch
size 1 (``ecopt.frontier.gain_interval``). ``--json OUT`` writes all of it, with each
run's raw inputs (trial values, calibration spread, proxy statistics), so the table can
be recomputed (``--from-json``).

Why repeated runs: one run of the batch-size study gave 9.5x (batch size 1 measured at
21.6 tokens/J while the machine was busy); a rerun on a quiet machine gave 43-46 tokens/J
at batch size 1, 4.7x. A within-run interval cannot show that: it comes from that run's
own repeats, under that run's load. So each run also records the load average before and
after it (``os.getloadavg``: 1, 5, 15 min) and how many trial windows were flagged
disturbed (``meter.max_disturbance_share``), and the README quotes the range over runs.

Compute is separate from running: ``read_run`` reads a finished run's files,
``run_figures`` turns them into figures, ``across_runs`` and ``format_table`` summarise and
print; all four are pure over plain dicts and tested in ``tests/test_benchmark_studies.py``
on hand-made runs (no study runs in the tests).

Besides the three paper studies, ``default`` is the embedded digits study
(``config/config.yaml``: the README's study-energy table, net impact and calibration) and
``early-stopping`` the same with ``config/early_stopping.yaml`` (how many trials stopped
early, their training joules against the median completed trial's). ``--from-results
DIR [DIR ...]`` reads finished runs of one ``--study`` instead of running it (e.g. the
local halves of ``benchmarks/slurm_overhead.py --keep``, which run the default study
from scratch): their figures and the range, without wall times or load.

Usage: python benchmarks/studies.py --study all --repeats 3 [--cores 2] [--json OUT]
       python benchmarks/studies.py --from-json OUT   (print a saved table again)
       python benchmarks/studies.py --study default --from-results RUN1/results/digits-cnn ...
Each run is killed after ``--timeout`` seconds (default 1800). The workflow imports the
``ecopt`` of ``--source`` (default: this checkout) through PYTHONPATH, so the runs measure
the code beside this script.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STUDIES = ["transformer-batch", "model-zoo-proxies", "transformer-size-laptop", "default", "early-stopping"]  # the suspect figure first
# Each study's --configfile list, relative to the checkout, target first (Snakemake merges them in order).
CONFIG_FILES = {
    "transformer-batch": ["config/studies/transformer-batch.yaml"],
    "model-zoo-proxies": ["config/studies/model-zoo-proxies.yaml"],
    "transformer-size-laptop": ["config/studies/transformer-size-laptop.yaml"],
    "default": ["config/config.yaml"],
    "early-stopping": ["config/config.yaml", "config/early_stopping.yaml"],
}
MIN_REPEATS_FOR_README = 3


# --------------------------------------------------------------------------- reading a run
def read_run(study_dir: str | Path) -> dict[str, Any]:
    """The files of one finished run of a study (``results/<study>``) as plain data.

    Returns ``summary`` (summary.json, or None), ``calibration`` (calibration/summary.json's
    ``samples_per_joule_rsd``, ``window_seconds``, ``passed``, or None), ``proxies``
    (proxies/stats.json, or None) and ``trials``: one dict per trial record with
    ``params``, ``status``, ``samples_per_joule``, ``performance``, ``parameters``,
    ``disturbed``. Missing files give None or an empty list, never an error.
    """
    study = Path(study_dir)

    def load(path: Path) -> Any:
        return json.loads(path.read_text()) if path.is_file() else None

    calibration = load(study / "calibration" / "summary.json")
    trials = []
    for path in sorted(glob.glob(str(study / "rounds" / "*" / "trials" / "*.json"))):
        record = json.loads(Path(path).read_text())
        trials.append({key: record.get(key) for key in ("round", "index", "params", "status", "samples_per_joule", "performance", "parameters", "disturbed")})
    frontier = study / "frontier.csv"
    return {
        "summary": load(study / "summary.json"),
        "calibration": None
        if calibration is None
        else {
            key: calibration.get(key) for key in ("samples_per_joule_rsd", "window_seconds", "passed", "disturbed_repeats", "meter_overhead_seconds", "windows")
        },
        "proxies": load(study / "proxies" / "stats.json"),
        "trials": trials,
        # frontier.csv: a header line, then one line per frontier trial
        "frontier_size": max(0, len(frontier.read_text().splitlines()) - 1) if frontier.is_file() else None,
    }


# --------------------------------------------------------------------------- figures of one run
def _completed(run: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        t
        for t in run.get("trials", [])
        if t.get("status") == "completed" and isinstance(t.get("samples_per_joule"), (int, float)) and t["samples_per_joule"] > 0
    ]


def _calibration_rsd(run: Mapping[str, Any]) -> float | None:
    calibration = run.get("calibration") or {}
    rsd = calibration.get("samples_per_joule_rsd")
    return float(rsd) if isinstance(rsd, (int, float)) else None


def run_figures(study: str, run: Mapping[str, Any]) -> dict[str, Any]:
    """The README's figures of one run of ``study`` (``read_run``'s dict): name -> number (or None when missing).

    * ``transformer-batch``: ``best_batch_size``, ``best_tokens_per_joule``,
      ``batch1_tokens_per_joule`` (median of the batch-size-1 trials), ``batch1_trials``,
      ``gain`` with ``gain_ci_low``/``gain_ci_high`` (``ecopt.frontier.study_summary`` over
      the trials, the calibration's spread as one trial's noise), ``calibration_rsd``.
    * ``transformer-size-laptop``: the power law (``exponent``, its 95 % interval,
      ``r_squared``), ``tokens_per_joule_min``/``max`` and the parameter counts there,
      ``accuracy_min``/``max``.
    * ``model-zoo-proxies``: ``r_parameters``/``r_flops`` with their 95 % intervals, ``n``.
    * ``default``: the study's joules (``study_energy``: total, by stage, the trials'
      metered windows and their overhead, the share outside the trials' windows, the
      share of the total that is the RAM component, ``ram_share``), the
      net impact (``break_even_inferences``, the chosen and the baseline model's
      performance and joules per inference), the gain over the baseline with its
      interval, and the calibration (chosen window, its spread, ``calibration_passed``
      1/0, the meter's overhead in seconds, ``calibration_rsd_at_<W>s`` the samples/J
      spread at each window W tried).
    * ``early-stopping``: ``early_stopped`` trials, their ``early_stopped_train_joules``
      (sum), ``median_completed_train_joules``, ``all_below_median`` (1/0),
      ``train_below_resolution`` (early-stopped trials trained for less than the meter's
      window), the study's
      total joules and ``frontier_size``.

    Studies with trials add ``completed`` and ``disturbed_trials``. ValueError for an unknown study.
    """
    from ecopt.frontier import study_summary

    completed = _completed(run)
    figures: dict[str, Any] = {}
    if run.get("trials"):  # the proxy study has no trials
        figures.update(completed=len(completed), disturbed_trials=sum(bool(t.get("disturbed")) for t in run["trials"]))
    if study == "transformer-batch":
        summary = study_summary(completed, baseline=[{"batch_size": 1}], relative_noise=_calibration_rsd(run)) if completed else {}
        best = summary.get("most_efficient") or {}
        gain = (summary.get("gain_over_baseline") or [{}])[0]
        figures.update(
            best_batch_size=(best.get("params") or {}).get("batch_size"),
            best_tokens_per_joule=best.get("samples_per_joule"),
            batch1_tokens_per_joule=gain.get("samples_per_joule"),
            batch1_trials=gain.get("trials", 0),
            gain=gain.get("gain"),
            gain_ci_low=gain.get("gain_ci_low"),
            gain_ci_high=gain.get("gain_ci_high"),
            calibration_rsd=_calibration_rsd(run),
        )
    elif study == "transformer-size-laptop":
        fit = ((run.get("summary") or {}).get("power_law_vs_parameters")) or {}
        if "exponent" not in fit and completed:  # a run without its summary: the same fit from the trials
            fit = study_summary(completed).get("power_law_vs_parameters", {})
        lowest = min(completed, key=lambda t: t["samples_per_joule"], default={})
        highest = max(completed, key=lambda t: t["samples_per_joule"], default={})
        accuracies = [t["performance"] for t in completed if isinstance(t.get("performance"), (int, float))]
        figures.update(
            exponent=fit.get("exponent"),
            exponent_ci_low=fit.get("exponent_ci_low"),
            exponent_ci_high=fit.get("exponent_ci_high"),
            r_squared=fit.get("r_squared"),
            tokens_per_joule_max=highest.get("samples_per_joule"),
            parameters_at_max=highest.get("parameters"),
            tokens_per_joule_min=lowest.get("samples_per_joule"),
            parameters_at_min=lowest.get("parameters"),
            accuracy_min=min(accuracies, default=None),
            accuracy_max=max(accuracies, default=None),
        )
    elif study == "model-zoo-proxies":
        stats = run.get("proxies") or {}
        for proxy, name in (("parameters", "r_parameters"), ("flops_per_sample", "r_flops")):
            entry = stats.get(f"{proxy}_vs_joules_per_sample") or {}
            figures[name] = entry.get("pearson_r")
            figures[f"{name}_ci_low"] = entry.get("pearson_ci_low")
            figures[f"{name}_ci_high"] = entry.get("pearson_ci_high")
        figures["n"] = stats.get("architectures")
    elif study == "default":
        figures.update(_energy_figures(run))
        figures.update(_net_impact_figures(run))
        calibration = run.get("calibration") or {}
        passed = calibration.get("passed")
        figures.update(
            calibration_window_seconds=calibration.get("window_seconds"),
            calibration_rsd=_calibration_rsd(run),
            calibration_passed=None if passed is None else int(bool(passed)),
            meter_overhead_seconds=calibration.get("meter_overhead_seconds"),
            frontier_size=run.get("frontier_size"),
        )
        for window in calibration.get("windows") or []:  # the spread at each window the calibration tried
            figures[f"calibration_rsd_at_{window['window_seconds']:g}s"] = window.get("samples_per_joule_rsd")
    elif study == "early-stopping":
        section = (run.get("summary") or {}).get("early_stopping") or {}
        below = section.get("all_below_median")
        figures.update(
            early_stopped=len(section.get("early_stopped") or []),
            early_stopped_train_joules=section.get("early_stopped_train_joules"),
            median_completed_train_joules=section.get("median_completed_train_joules"),
            all_below_median=None if below is None else int(bool(below)),
            train_below_resolution=section.get("train_below_resolution"),
            total_joules=_energy_figures(run).get("total_joules"),
            frontier_size=run.get("frontier_size"),
        )
    else:
        raise ValueError(f"unknown study {study!r}; expected one of {STUDIES}")
    return figures


# Stages the README's study-energy table names on their own; the rest are summed as "other".
_TABLE_STAGES = ("trial", "search", "calibration", "proxies")


def _energy_figures(run: Mapping[str, Any]) -> dict[str, Any]:
    """The study-energy table's figures (joules) from ``summary.json``'s ``study_energy``; {} without it."""
    energy = (run.get("summary") or {}).get("study_energy") or {}
    if not energy:
        return {}
    by_stage = energy.get("by_stage") or {}
    figures = {"total_joules": energy.get("total_joules"), "jobs": energy.get("jobs")}
    for stage in _TABLE_STAGES:
        figures[f"{stage}_joules"] = by_stage.get(stage)
    figures["other_stages_joules"] = sum(v for stage, v in by_stage.items() if stage not in _TABLE_STAGES) if by_stage else None
    ram, total = (energy.get("by_component") or {}).get("ram"), energy.get("total_joules")
    figures["ram_share"] = ram / total if isinstance(ram, (int, float)) and total else None  # CodeCarbon's RAM model's part
    # study_energy's own keys, under the same names
    copied = ("trial_windows_joules", "trial_overhead_joules", "share_outside_trial_windows", "share_outside_metered_windows", "startup_estimated_joules")
    return figures | {key: energy.get(key) for key in copied}


def _net_impact_figures(run: Mapping[str, Any]) -> dict[str, Any]:
    """The net-impact and gain figures of ``summary.json``; None where the summary lacks them."""
    summary = run.get("summary") or {}
    impact = summary.get("net_impact") or {}
    chosen, baseline = impact.get("chosen") or {}, impact.get("baseline") or {}
    gain = (summary.get("gain_over_baseline") or [{}])[0]
    return {
        "break_even_inferences": impact.get("break_even_inferences"),
        "chosen_performance": chosen.get("performance"),
        "chosen_joules_per_inference": chosen.get("joules_per_inference"),
        "baseline_performance": baseline.get("performance"),
        "baseline_joules_per_inference": baseline.get("joules_per_inference"),
        "gain": gain.get("gain"),
        "gain_ci_low": gain.get("gain_ci_low"),
        "gain_ci_high": gain.get("gain_ci_high"),
    }


# --------------------------------------------------------------------------- across runs
def across_runs(figures_per_run: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per figure: ``values`` (one per run, None where a run lacks it), ``median``, ``min``, ``max``
    over the runs that have it (None when none has), and ``runs`` (how many have it)."""
    names: list[str] = []
    for figures in figures_per_run:
        names += [name for name in figures if name not in names]
    table = {}
    for name in names:
        values = [figures.get(name) for figures in figures_per_run]
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        table[name] = {
            "values": values,
            "median": statistics.median(numbers) if numbers else None,
            "min": min(numbers) if numbers else None,
            "max": max(numbers) if numbers else None,
            "runs": len(numbers),
        }
    return table


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and abs(value) >= 1e6:  # inference counts: 3 significant digits
        return f"{value:.3g}"
    if isinstance(value, float) and not value.is_integer():  # joules per inference (1e-5) keep 3 digits too
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(int(value)) if isinstance(value, float) else str(value)


def _seconds(value: Any) -> str:
    return "wall time not recorded" if value is None else f"{value:.0f} s"


# The within-run interval printed beside a figure: figure -> (low key, high key).
INTERVALS = {
    "gain": ("gain_ci_low", "gain_ci_high"),
    "exponent": ("exponent_ci_low", "exponent_ci_high"),
    "r_parameters": ("r_parameters_ci_low", "r_parameters_ci_high"),
    "r_flops": ("r_flops_ci_low", "r_flops_ci_high"),
}


def format_table(study: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """The printed table of one study: a line per run (wall seconds, exit code, load averages
    before -> after), then a line per figure: each run's value (with its within-run 95 %
    interval where ``INTERVALS`` names one), the median and [min, max]. ``runs``: dicts with
    ``figures`` (``run_figures``), ``wall_seconds``, ``returncode``, ``load_before``, ``load_after``."""
    lines = [
        f"== {study}: {len(runs)} run(s)" + ("" if len(runs) >= MIN_REPEATS_FOR_README else f" (fewer than {MIN_REPEATS_FOR_README}: not a README figure)")
    ]
    for number, run in enumerate(runs, 1):
        before = "/".join(f"{v:.2f}" for v in run.get("load_before") or [])
        after = "/".join(f"{v:.2f}" for v in run.get("load_after") or [])
        lines.append(
            f"run {number}: exit {run.get('returncode')}, {_seconds(run.get('wall_seconds'))}, load average (1/5/15 min) {before or '-'} -> {after or '-'}, "
            f"{run['figures'].get('disturbed_trials', '-')} disturbed trial(s)"
        )
    figures = [run["figures"] for run in runs]
    hidden = {key for low_high in INTERVALS.values() for key in low_high}
    for name, row in across_runs(figures).items():
        if name in hidden:
            continue
        cells = []
        for value, run_figures in zip(row["values"], figures, strict=True):
            cell = _number(value)
            if name in INTERVALS:
                low, high = (run_figures.get(key) for key in INTERVALS[name])
                cell += f" [{_number(low)}, {_number(high)}]" if low is not None and high is not None else ""
            cells.append(cell)
        spread = f"median {_number(row['median'])} [{_number(row['min'])}, {_number(row['max'])}]" if row["runs"] else "no value"
        lines.append(f"  {name}: {'; '.join(cells)} -> {spread}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- running
def results_name(source: Path, study: str) -> str:
    """The folder under ``results/`` a run of ``study`` writes: the ``study:`` key of the last of its
    config files that sets one (Snakemake's merge order). ValueError when none does."""
    import yaml

    name = None
    for relative in CONFIG_FILES[study]:
        name = (yaml.safe_load((source / relative).read_text()) or {}).get("study", name)
    if not name:
        raise ValueError(f"{CONFIG_FILES[study]}: no study: key, expected the study's name")
    return str(name)


def run_once(source: Path, study: str, cores: int, timeout_seconds: int, keep: Path | None) -> dict[str, Any]:
    """One run of ``study`` from scratch in a temporary copy; returns its record (``format_table``'s fields and ``raw``)."""
    work = Path(tempfile.mkdtemp(prefix=f"ecopt-{study}-"))
    try:
        for name in ("Snakefile", "workflow", "profiles"):
            (work / name).symlink_to(source / name)
        for relative in CONFIG_FILES[study]:
            (work / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / relative, work / relative)
        snakemake = Path(sys.executable).with_name("snakemake")
        command = ["timeout", "-s", "KILL", str(timeout_seconds), str(snakemake), "--cores", str(cores), "all", "--configfile", *CONFIG_FILES[study]]
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        load_before = list(os.getloadavg())
        started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        started = time.perf_counter()
        with open(work / "snakemake.log", "w") as log:
            returncode = subprocess.run(command, cwd=work, env=environment, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
        wall = time.perf_counter() - started
        load_after = list(os.getloadavg())
        raw = read_run(work / "results" / results_name(source, study))
        if returncode != 0:
            print(f"{study}: snakemake exit {returncode}; log tail:\n" + "\n".join((work / "snakemake.log").read_text().splitlines()[-15:]), file=sys.stderr)
        if keep is not None:
            target = keep / f"{study}-{time.strftime('%H%M%S')}"
            shutil.copytree(work, target, symlinks=True, ignore=shutil.ignore_patterns("data", ".snakemake"))
        return {"returncode": returncode, "wall_seconds": wall, "load_before": load_before, "load_after": load_after, "started_at": started_at, "raw": raw}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="all", choices=[*STUDIES, "all"])
    parser.add_argument("--repeats", type=int, default=MIN_REPEATS_FOR_README, help=f"runs per study (>= {MIN_REPEATS_FOR_README} for a README figure)")
    parser.add_argument("--cores", type=int, default=2, help="snakemake --cores of each run")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds before a run is killed")
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1], help="the checkout whose workflow and ecopt run")
    parser.add_argument("--json", type=Path, default=None, help="write every run's record and the tables here (after each run)")
    parser.add_argument("--keep", type=Path, default=None, help="copy each run's folder (without data) under this folder")
    parser.add_argument("--from-json", type=Path, default=None, help="print the tables of a saved --json file; runs nothing")
    parser.add_argument(
        "--from-results", type=Path, nargs="+", default=None, help="finished runs of one --study (results/<study> folders) to summarise; runs nothing"
    )
    args = parser.parse_args(argv)
    if args.from_results is not None:
        if args.study == "all":
            parser.error("--from-results needs one --study (the study those folders hold), got all")
        runs = []
        expected = results_name(args.source, args.study)
        if len({folder.resolve() for folder in args.from_results}) < len(args.from_results):
            parser.error(f"--from-results {' '.join(map(str, args.from_results))}: a folder is given twice, expected each run once")
        for folder in args.from_results:
            if not (folder / "summary.json").is_file() or not (folder / "ledger").is_dir():
                parser.error(f"--from-results {folder}: no summary.json and ledger/ there, expected a finished run's results/<study> folder")
            if folder.resolve().name != expected:
                parser.error(f"--from-results {folder}: a run of study {folder.resolve().name!r}, expected {expected!r} (--study {args.study})")
            raw = read_run(folder)
            runs.append({"returncode": 0, "wall_seconds": None, "raw": raw, "figures": run_figures(args.study, raw), "folder": str(folder)})
        print(format_table(args.study, runs))
        if args.json is not None:
            args.json.write_text(json.dumps({"command": " ".join(sys.argv), "runs": {args.study: runs}}, indent=1, default=str))
        return 0
    if args.from_json is not None:
        try:
            saved = json.loads(args.from_json.read_text())
        except (OSError, ValueError) as error:
            parser.error(f"--from-json {args.from_json}: cannot read it ({error})")
        if not isinstance(saved, dict) or not isinstance(saved.get("runs"), dict) or not all(isinstance(r, list) for r in saved["runs"].values()):
            parser.error(f"--from-json {args.from_json}: no runs per study in it, expected a file this script's --json wrote")
        for study, runs in saved["runs"].items():
            if study not in STUDIES or not all(isinstance(run, dict) and "raw" in run for run in runs):
                parser.error(f"--from-json {args.from_json}: study {study!r} or its runs are not this script's, expected one of {STUDIES} with raw run files")
            for run in runs:
                run["figures"] = run_figures(study, run["raw"])
            print(format_table(study, runs))
        return 0
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    if args.repeats < MIN_REPEATS_FOR_README:
        print(f"warning: {args.repeats} repeat(s): the README quotes figures from at least {MIN_REPEATS_FOR_README}", file=sys.stderr)
    studies = STUDIES if args.study == "all" else [args.study]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    command = " ".join(["python", "benchmarks/studies.py", *(argv if argv is not None else sys.argv[1:])])
    document: dict[str, Any] = {"command": command, "cores": args.cores, "cpu_count": os.cpu_count(), "runs": {}, "tables": {}}
    for study in studies:
        runs = document["runs"].setdefault(study, [])
        for repeat in range(args.repeats):
            print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC: {study} run {repeat + 1} of {args.repeats}", file=sys.stderr, flush=True)
            run = run_once(args.source.resolve(), study, args.cores, args.timeout, args.keep)
            try:
                run["figures"] = run_figures(study, run["raw"])
            except (ValueError, TypeError, KeyError) as error:  # the raw files are kept; --from-json recomputes
                print(f"{study}: figures failed: {error!r}", file=sys.stderr)
                run["figures"] = {}
            runs.append(run)
            document["tables"][study] = across_runs([r["figures"] for r in runs])
            if args.json is not None:  # after every run: a killed benchmark keeps what finished
                args.json.write_text(json.dumps(document, indent=1, default=str))
        print(format_table(study, runs), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
