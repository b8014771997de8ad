"""The Pareto frontier of a study: dominance, hypervolume, knee, and its tables.

The stage around the frontier core (``ecopt.pareto``: dominance, hypervolume and
knee as pure functions, by BoTorch): it turns trial records into the rows of
``trials.csv``, ``frontier.csv`` and ``hypervolume.csv`` and writes them; values are in the optimiser's space (log10 for log-scale
objectives, see ``ecopt.objectives``).

Runnable as ``python -m ecopt.frontier --config FILE --trials DIR... --out-dir DIR``.
With the study's ``mlflow`` section it then brings MLflow up to date
(``ecopt.tracking.sync_study``: the study run, every trial's run, the tables);
a tracking server that is down is a warning, never a failed stage.

Statuses: only ``completed`` trials have objective values; every other status
(failed, out of memory, early stopped, measurement failed) is a row of
trials.csv and of the hypervolume trace that adds nothing, and ``summary.json``
counts trials by every status. The tables are written and read through pandas
with declared dtypes (``ecopt.records.write_table``/``read_table``), and
``summary.json`` is checked against its published schema before it is written.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecopt.objectives import Objective, efficiency_objective, objective_values
from ecopt.pareto import as_maximised, hypervolume, hypervolume_trace, knee_index, pareto_mask  # noqa: F401 - hypervolume re-exported for callers of ecopt.frontier
from ecopt.records import TrialRecord, TrialStatus, as_trial_record

logger = logging.getLogger(__name__)

# The config entries this stage reads (the workflow passes this slice of the study);
# `deployment` gives lifecycle_samples_per_joule its N (ecopt.net_impact.with_lifecycle_efficiency).
FRONTIER_SECTIONS = ["objectives", "search", "mlflow", "deployment"]


def reference_point(completed: np.ndarray, objectives: Sequence[Objective]) -> tuple[list[float], str]:
    """The hypervolume reference point, m values in the optimiser's space, and where each came from.

    ``completed``: (n, m) objective values of completed trials (n may be 0, then 0 is
    used where no threshold is given). Each coordinate is the objective's config
    threshold (transformed) where given, else its worst observed value (anti-ideal).
    """
    worst = as_maximised(completed, [o.minimize for o in objectives]).min(axis=0) if len(completed) else np.zeros(len(objectives))
    signs = np.array([-1.0 if o.minimize else 1.0 for o in objectives])
    reference, sources = [], []
    for column, objective in enumerate(objectives):
        if objective.threshold is not None:
            reference.append(objective.transform(objective.threshold))
            sources.append(f"{objective.name}: config threshold")
        else:
            reference.append(float(worst[column] * signs[column]))
            sources.append(f"{objective.name}: worst observed value")
    return reference, "; ".join(sources)


# --------------------------------------------------------------------------- tables
TRIAL_COLUMNS = [
    "round",
    "index",
    "status",
    "performance_metric",
    "performance",
    "samples_per_joule",
    "samples",
    "eval_passes",
    "eval_joules",
    "eval_seconds",
    "train_joules",
    "train_seconds",
    "parameters",
    "flops_per_sample",
    "energy_source",
    "energy_components",
    "estimated",
    "disturbed",
    "disturbance_share",
    "overhead_seconds",
    "error",
    "filled_defaults",
    "measurement_errors",
]
_NOT_TABULATED = {"params", "ran_on", "traceback", "train_energy", "eval_energy", "performance_spread", "learning_curve"}

AnyRecord = TrialRecord | Mapping[str, Any]


def trial_rows(records: Sequence[AnyRecord]) -> list[dict[str, Any]]:
    """One flat row per trial: position, status, params (``param_<name>``), metrics, provenance.

    List fields become one text cell (``filled_defaults`` space-separated,
    ``measurement_errors`` joined by `` | ``); nested fields stay in the records.
    """
    rows = []
    for record in map(as_trial_record, records):
        data = record.to_dict()
        row = {column: data.get(column) for column in TRIAL_COLUMNS}
        row["filled_defaults"] = " ".join(record.filled_defaults) or None
        row["measurement_errors"] = " | ".join(record.measurement_errors) or None
        for name, value in record.params.items():
            row[f"param_{name}"] = value
        ran_on = record.ran_on or {}
        row["host"] = ran_on.get("host")
        row["slurm_job_id"] = ran_on.get("slurm_job_id")
        for key, value in data.items():  # the remaining scalars, and the metrics of plain-function studies
            if key not in row and key not in _NOT_TABULATED and isinstance(value, (int, float, str, bool, type(None))):
                row[key] = value
        rows.append(row)
    return rows


def frontier_tables(records: Sequence[AnyRecord], objectives: Sequence[Objective]) -> dict[str, list[dict[str, Any]]]:
    """Rows of trials.csv, frontier.csv and hypervolume.csv, keyed ``trials``, ``frontier``, ``hypervolume``.

    One trials row and one hypervolume row per record, in order; frontier rows are
    the non-dominated completed trials (``ecopt.pareto``), best first in the first
    objective, with ``objective_<name>`` values in the optimiser's space and the knee
    flagged. Only completed trials have objective values. A mapping that is not a
    valid trial record raises RecordError (``ecopt.records.as_trial_record``).
    """
    records = [as_trial_record(r) for r in records]
    minimize = [o.minimize for o in objectives]
    rows = trial_rows(records)
    observed_values = [objective_values(r, objectives) if r.status is TrialStatus.COMPLETED else None for r in records]
    values = np.array([v if v is not None else [np.nan] * len(objectives) for v in observed_values], dtype=float).reshape(-1, len(objectives))
    observed = np.flatnonzero(np.all(np.isfinite(values), axis=1))
    reference, source = reference_point(values[observed], objectives)
    frontier_rows: list[dict[str, Any]] = []
    if len(observed):
        mask = pareto_mask(values[observed], minimize)
        knee = observed[knee_index(values[observed], minimize)]
        for position in observed[mask]:
            row = dict(rows[position])
            for objective, value in zip(objectives, values[position], strict=True):
                row[f"objective_{objective.name}"] = value
            row["knee"] = bool(position == knee)
            frontier_rows.append(row)
        # Best first in the first objective: the frontier reads as a trade-off table.
        first = objectives[0]
        frontier_rows.sort(key=lambda r: r[f"objective_{first.name}"], reverse=not first.minimize)
    trace = hypervolume_trace(values, reference, minimize) if len(records) else np.zeros(0)
    hypervolume_rows = []
    for number, (record, hv) in enumerate(zip(records, trace, strict=True), start=1):
        row = {"trial_number": number, "round": record.round, "index": record.index, "status": record.status.value, "hypervolume": float(hv)}
        for objective, value in zip(objectives, reference, strict=True):
            row[f"reference_{objective.name}"] = value
        row["reference_source"] = source
        row["space"] = " x ".join(o.label for o in objectives)
        hypervolume_rows.append(row)
    return {"trials": rows, "frontier": frontier_rows, "hypervolume": hypervolume_rows}


def _same_params(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(key in a and a[key] == value for key, value in b.items())


def gain_interval(
    best: float,
    baseline: Sequence[float],
    best_repeats: Sequence[float] = (),
    relative_noise: float | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The gain ``best / median(baseline)`` with its ``confidence`` interval from the run's own repeated measurements.

    ``best``: the most efficient trial's value (samples/J, > 0); ``baseline``: the
    values of every completed trial at the baseline configuration (>= 1, > 0);
    ``best_repeats``: every completed trial at the best trial's parameters, ``best``
    included (an integer search such as batch size can propose a point again);
    ``relative_noise``: the calibration's samples/J spread (``samples_per_joule_rsd``,
    a fraction) as one trial's relative noise, or None.

    Method (delta method on the log scale): each side's relative noise is the spread
    (``ecopt.statistics.relative_standard_deviation``) of its repeated trials where it
    has two or more, else ``relative_noise``; a relative noise s is a log-scale
    standard deviation sqrt(log(1 + s^2)) (log-normal). The gain's log has variance
    s_best^2 + s_baseline^2 / n_baseline (the best value is one measurement; the
    baseline's median is treated as a mean, exact for n <= 2) and the interval is
    gain x exp(+-z sd), z the normal quantile. Assumptions, each stated because it
    narrows the interval: the spreads are taken as known (from 2-5 values they are not:
    a t quantile with 1 degree of freedom would be 6.5 times wider); the best trial is
    the maximum of many, so its value is biased upward (winner's curse) and the
    interval does not correct that; the noise is the run's own, so a machine that was
    busier during the baseline than during the best trial shifts the gain beyond it.
    Repeated runs (``benchmarks/studies.py``) show that spread.

    Returns ``gain``, ``gain_ci_low``, ``gain_ci_high`` (None, with ``interval_method``
    saying why, when neither side has a spread), ``confidence``,
    ``best_relative_sd``, ``baseline_relative_sd``, ``interval_method`` (a sentence
    naming the method and where each spread came from). Raises ``ValueError`` for an
    empty baseline, a value <= 0, a negative noise or a confidence outside (0, 1).
    """
    from scipy import stats

    from ecopt.statistics import relative_standard_deviation

    values = [float(v) for v in baseline]
    repeats = [float(v) for v in best_repeats]
    if not values:
        raise ValueError("a gain needs at least one baseline value")
    if best <= 0 or any(v <= 0 for v in values + repeats):
        raise ValueError(f"gain values must be > 0, got best {best!r}, baseline {values!r}, best repeats {repeats!r}")
    if relative_noise is not None and relative_noise < 0:
        raise ValueError(f"relative_noise must be >= 0, got {relative_noise!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    gain = float(best) / float(np.median(values))

    def noise(side: list[float], name: str) -> tuple[float | None, str]:
        if len(side) >= 2:
            return relative_standard_deviation(side), f"{name}: spread of its {len(side)} trials"
        if relative_noise is not None:
            return float(relative_noise), f"{name}: calibration samples/J spread (one trial)"
        return None, f"{name}: one trial and no calibration spread"

    best_sd, best_source = noise(repeats if len(repeats) >= 2 else [float(best)], "best")
    baseline_sd, baseline_source = noise(values, "baseline")
    result: dict[str, Any] = {
        "gain": gain,
        "gain_ci_low": None,
        "gain_ci_high": None,
        "confidence": confidence,
        "best_relative_sd": best_sd,
        "baseline_relative_sd": baseline_sd,
    }
    if best_sd is None or baseline_sd is None:
        result["interval_method"] = f"no interval: {best_source if best_sd is None else baseline_source}"
        return result
    log_variance = np.log1p(best_sd**2) + np.log1p(baseline_sd**2) / len(values)
    half_width = float(stats.norm.ppf(0.5 + confidence / 2) * np.sqrt(log_variance))
    result["gain_ci_low"] = gain * float(np.exp(-half_width))
    result["gain_ci_high"] = gain * float(np.exp(half_width))
    result["interval_method"] = (
        f"log-normal delta method, spreads taken as known: gain x exp(+-z sqrt(log(1+s_best^2) + log(1+s_baseline^2)/n_baseline)), "
        f"n_baseline {len(values)}; {best_source}; {baseline_source}"
    )
    return result


def study_summary(
    records: Sequence[AnyRecord],
    baseline: Sequence[Mapping[str, Any]] = (),
    efficiency: str = "samples_per_joule",
    relative_noise: float | None = None,
) -> dict[str, Any]:
    """Headline figures of a study (``summary.schema.json``): trials by status, the most
    efficient trial, its gain over the baseline configurations (``search.baseline``,
    e.g. batch size 1) with its 95 % interval (``gain_interval``; ``relative_noise`` is
    the calibration's samples/J spread, a fraction, or None without a calibration),
    and the power law of efficiency against parameter count."""
    from ecopt.statistics import power_law_fit

    records = [as_trial_record(r) for r in records]
    completed = [
        r
        for r in records
        if r.status is TrialStatus.COMPLETED and isinstance(r.get(efficiency), (int, float)) and not isinstance(r.get(efficiency), bool) and r[efficiency] > 0
    ]
    summary: dict[str, Any] = {
        "efficiency_metric": efficiency,
        "completed": len(completed),
        "trials": len(records),
        "statuses": {status.value: sum(r.status is status for r in records) for status in TrialStatus},
    }
    if not completed:
        return summary
    best = max(completed, key=lambda r: r[efficiency])
    summary["most_efficient"] = {"params": best.params, efficiency: best[efficiency], "performance": best.performance, "round": best.round, "index": best.index}
    gains = []
    # Every completed trial at the best trial's parameters (the best one included): the same for every baseline point.
    best_repeats = [r[efficiency] for r in completed if r.params == best.params]
    for point in baseline:
        matches = [r for r in completed if _same_params(r.params, point)]
        if matches:
            reference = float(np.median([r[efficiency] for r in matches]))
            entry = {"baseline": dict(point), efficiency: reference, "trials": len(matches)}
            entry.update(gain_interval(best[efficiency], [r[efficiency] for r in matches], best_repeats, relative_noise))
            gains.append(entry)
        else:
            gains.append({"baseline": dict(point), "gain": None, "reason": "no completed trial with these parameters"})
    summary["gain_over_baseline"] = gains
    sized = [r for r in completed if isinstance(r.parameters, (int, float)) and r.parameters > 0]
    try:
        summary["power_law_vs_parameters"] = power_law_fit([r.parameters for r in sized], [r[efficiency] for r in sized])
    except ValueError as error:
        summary["power_law_vs_parameters"] = {"reason": str(error)}
    return summary


def calibration_noise(path: str | Path | None) -> float | None:
    """The calibration summary's samples/J spread (``samples_per_joule_rsd``, a fraction), or None
    without a path or without that entry. ``FileNotFoundError`` for a path that does not exist."""
    if path is None:
        return None
    from ecopt.io import read_json

    rsd = read_json(path).get("samples_per_joule_rsd")
    return float(rsd) if isinstance(rsd, (int, float)) and not isinstance(rsd, bool) else None


def write_frontier(
    records: Sequence[AnyRecord],
    objectives: Sequence[Objective],
    out_dir: str | Path,
    baseline: Sequence[Mapping[str, Any]] = (),
    summary_path: str | Path | None = None,
    relative_noise: float | None = None,
) -> dict[str, Path]:
    """Write trials.csv, frontier.csv, hypervolume.csv (typed, ``ecopt.records.read_table`` reads
    them back) into ``out_dir`` and the summary (checked against ``summary.schema.json``) to
    ``summary_path`` (default ``out_dir/summary.json``; the workflow's final ``ecopt.summary``
    stage adds the study's energy ledger and net impact to it as ``summary.json``).
    ``relative_noise``: the calibration's samples/J spread for the gain's interval (``study_summary``)."""
    from ecopt.io import json_ready, write_json
    from ecopt.records import validate_document, write_table

    tables = frontier_tables(records, objectives)
    out = Path(out_dir)
    paths = {name: write_table(out / f"{name}.csv", rows) for name, rows in tables.items()}
    # The headline "most efficient" is in the study's own efficiency metric (lifecycle_samples_per_joule,
    # say); a minimised efficiency objective has no "most efficient" by max, so it keeps samples_per_joule.
    efficiency = efficiency_objective(objectives)
    summary = study_summary(records, baseline, efficiency.metric if not efficiency.minimize else "samples_per_joule", relative_noise)
    summary_file = Path(summary_path) if summary_path is not None else out / "summary.json"
    validate_document(json_ready(summary), "summary", summary_file)
    paths["summary"] = write_json(summary_file, summary)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopt.frontier``: read trial records and write the study's tables and summary.json.

    Exit 2 with a message on a bad config or unreadable/missing records.
    """
    from ecopt.cli import add_study_arguments, study_mapping

    parser = argparse.ArgumentParser(prog="python -m ecopt.frontier", description="Frontier, hypervolume trace and trial table of a study.")
    add_study_arguments(parser)
    parser.add_argument("--trials", nargs="+", required=True, help="trial record files or folders")
    parser.add_argument("--out-dir", required=True, help="folder for trials.csv, frontier.csv, hypervolume.csv")
    parser.add_argument("--summary", default=None, help="where to write the summary (default: OUT_DIR/summary.json)")
    parser.add_argument("--calibration", default=None, help="calibration summary.json: its samples/J spread is one trial's noise in the gain's interval")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    from ecopt.errors import ConfigError
    from ecopt.net_impact import with_lifecycle_efficiency
    from ecopt.records import load_trial_records

    try:
        from ecopt.settings import thaw, validate_study

        mapping = study_mapping(args, fill_baseline=True)
        study = validate_study(mapping, sections=FRONTIER_SECTIONS)
        objectives = list(study.objectives)
        records = with_lifecycle_efficiency(load_trial_records(args.trials), study.deployment.inferences)
        baseline = thaw(study.search.baseline)
        relative_noise = calibration_noise(args.calibration)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        print(f"ecopt.frontier: {error}", file=sys.stderr)
        return 2
    paths = write_frontier(records, objectives, args.out_dir, baseline, args.summary, relative_noise)
    logger.info("wrote %s", ", ".join(str(p) for p in paths.values()))
    if study.mlflow is not None:  # the tables are written: MLflow catches up (idempotent) and never fails the stage
        from ecopt.tracking import sync_study_safely

        name = str(mapping.get("study") or Path(args.out_dir).resolve().name)  # results/<study>
        sync_study_safely(study.mlflow, records, name, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
