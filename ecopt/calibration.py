"""Meter calibration: find the evaluation window whose repeats agree, and report the meter's spread.

Before optimising on measured joules, a user needs to know how much two
measurements of the same work differ; the seed paper's bar is a relative
standard deviation of samples/J below 2 % (``calibration.max_rsd``). A single
repeat count over one fixed window passed once on this project's machine (1.6 %)
and failed in another run (16.9 %): the spread depends on the window's length
(short windows carry the meter's start/stop jitter and a coarse counter's
resolution), so the window is searched for, as Zeus's profiler does.

Design choices:

* **A ladder of windows, shortest first** (``calibration.window_seconds``,
  default 0.5-16 s, doubling). At each window the same evaluation is metered
  ``calibration.repeats`` times; the first window whose samples/J spread meets
  the bar is chosen, so trials pay for no longer a window than needed. The
  trials then read it: the workflow declares ``calibration/summary.json`` an input
  of every trial (``python -m ecopt.trial --calibration FILE``, which replaces
  ``meter.min_window_seconds``; ``with_calibrated_window``).
* **A window clearly above the bar is left early.** After 3 repeats, when even the
  lower end of the spread's 90 % interval (chi-square interval of a normal
  sample's standard deviation, over the mean:
  ``ecopt.statistics.relative_spread_interval``) is above the bar, more repeats
  cannot bring it under with 95 % confidence, and the next window is tried. A
  window is chosen only on all its repeats (the point spread, as the seed's bar).
* **A time budget** (``calibration.budget_seconds``) bounds the search: a window
  whose repeats would not fit in what is left (from the wall time each repeat has
  cost so far, retries of disturbed windows included) is not started, and the
  summary says so. The shortest window is always measured, so every calibration
  reports a spread.
* **When no window meets the bar** the summary says so plainly (``passed``
  false, ``window_choice`` the sentence), and ``calibration.on_fail`` directs:
  ``stop`` ends the study (exit 3), ``warn`` lets the trials use the window with the
  lowest spread measured among those at least ``meter.min_window_seconds`` long
  (the batch study, whose floor is 5 s, once got 0.5 s when any window could be
  chosen).
* **The meter's overhead is the extra wall time of a metered window over the same
  work unmetered**, from ``calibration.overhead_pairs`` interleaved pairs of one
  evaluation pass (``Meter.overhead_pairs``). Reported in seconds with its median,
  interquartile range and the distribution-free 95 % interval of the median
  (``scipy.stats.quantile_test``), and as a share of the chosen window. The
  earlier figure (22.6 % from 2 pairs of 44.8 % and 0.4 %) was noise; when the
  interval includes 0 the summary says the overhead is below what this machine
  resolves.
* The chosen window's spread still becomes the optimiser's observation noise
  (``ecopt.search``: ``samples_per_joule_rsd``).

Runnable as ``python -m ecopt.calibration --config FILE --splits-dir DIR --out-dir DIR``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecopt.errors import ConfigError
from ecopt.hyperparameter import Choice, Fixed, Hyperparameter, Range
from ecopt.settings import CalibrationSettings, StudySettings, instantiate_adapter, study_settings, thaw, validate_study

logger = logging.getLogger(__name__)

# The config entries calibration reads (the workflow passes this slice of the study).
CALIBRATION_SECTIONS = ["adapter", "adapter_options", "data", "meter", "calibration", "space", "seed"]


def centre_of(space: Mapping[str, Hyperparameter]) -> dict[str, Any]:
    """A mid-sized configuration: range midpoints (geometric on log scales), middle choices."""
    centre: dict[str, Any] = {}
    for name, hyperparameter in space.items():
        if isinstance(hyperparameter, Range):
            low, high = hyperparameter.min, hyperparameter.max
            middle = (low * high) ** 0.5 if hyperparameter.log_scale else (low + high) / 2
            centre[name] = int(round(middle)) if hyperparameter.value_type.value == "int" else float(middle)  # type: ignore[union-attr]
        elif isinstance(hyperparameter, Choice):
            centre[name] = hyperparameter.values[(len(hyperparameter.values) - 1) // 2]
        elif isinstance(hyperparameter, Fixed):
            centre[name] = hyperparameter.value
    return centre


def _define_calibration_model(model: Any, study: StudySettings, settings: CalibrationSettings) -> tuple[dict[str, Any], str]:
    """Define the model to repeat: the configured one, else the centre of the space, else a feasible draw."""
    from ecopt.errors import InfeasibleArchitecture
    from ecopt.space import sample_space

    def define(params: Mapping[str, Any]) -> None:
        model.set_hyperparameters({k: v for k, v in params.items() if k in model.hyperparameters})
        model.define()

    space = study.space if study.space is not None else model.hyperparameters
    if settings.params is not None:
        # The space's fixed values hold for the calibration model too, unless overridden.
        params = {**{name: hp.value for name, hp in space.items() if isinstance(hp, Fixed)}, **thaw(settings.params)}
        try:
            define(params)
        except (InfeasibleArchitecture, ValueError) as error:
            raise ConfigError("calibration.params", thaw(settings.params), f"a model that can be built ({error})") from None
        return params, "config"
    centre = centre_of(space)
    try:
        define(centre)
        return centre, "centre of the search space"
    except InfeasibleArchitecture as error:
        reason = str(error)
    for params in sample_space(space, 100, seed=int(study.seed or 0)):
        try:
            define(params)
            return params, f"first feasible random draw (the centre is infeasible: {reason})"
        except InfeasibleArchitecture:
            continue
    raise ConfigError("space", thaw(study.effective.get("space")), "a space with a model that can be built; 100 draws were all infeasible")


# Repeats before a window may be left as clearly above the bar, and the interval that decides it.
MIN_REPEATS_TO_LEAVE = 3
SPREAD_INTERVAL_CONFIDENCE = 0.90  # its lower end is a one-sided 95 % bound


def _repeat_row(window: Any, window_seconds: float, repeat: int) -> dict[str, Any]:
    """One row of runs.csv from a ``WindowMeasurement`` of the evaluation."""
    record = window.record
    samples = sum(int(n) for _, n in window.results)
    return {
        "window_seconds": window_seconds,
        "repeat": repeat,
        "joules": record.joules,
        "seconds": record.seconds,
        "cpu_seconds": record.cpu_seconds,
        "samples": samples,
        "passes": window.passes,
        "samples_per_joule": samples / record.joules,
        "dynamic_joules": record.dynamic_joules,
        "energy_source": record.energy_source,
        "estimated": record.estimated,
        "disturbed": record.disturbed,
        "disturbance_share": record.disturbance_share,
    }


def _window_entry(window_seconds: float, rows: list[dict[str, Any]], settings: CalibrationSettings, left_early: str | None) -> dict[str, Any]:
    """What summary.json says about one window tried: its repeats' spread, its interval, and the decision."""
    from ecopt.statistics import relative_spread_interval, relative_standard_deviation

    efficiency = [row["samples_per_joule"] for row in rows]
    joules = [row["joules"] for row in rows]
    rsd = relative_standard_deviation(efficiency) if len(rows) >= 2 else None
    interval = list(relative_spread_interval(efficiency, SPREAD_INTERVAL_CONFIDENCE)) if len(rows) >= 2 else None
    met = left_early is None and len(rows) == settings.repeats and rsd is not None and rsd <= settings.max_rsd
    if left_early is not None:
        decision = left_early
    elif met:
        decision = f"meets the bar: spread {rsd:.2%} <= {settings.max_rsd:.2%} over {len(rows)} repeats"
    elif rsd is None:
        decision = f"{len(rows)} repeat: no spread"
    else:
        decision = f"above the bar: spread {rsd:.2%} > {settings.max_rsd:.2%} over {len(rows)} repeats"
    return {
        "window_seconds": window_seconds,
        "repeats": len(rows),
        "samples_per_joule_mean": statistics.mean(efficiency),
        "samples_per_joule_rsd": rsd,
        "samples_per_joule_rsd_interval": interval,
        "joules_mean": statistics.mean(joules),
        "joules_rsd": relative_standard_deviation(joules) if len(rows) >= 2 else None,
        "seconds_mean": statistics.mean(row["seconds"] for row in rows),
        "disturbed_repeats": sum(bool(row["disturbed"]) for row in rows),
        "met": met,
        "decision": decision,
    }


def search_window(
    meter: Any, one_pass: Any, settings: CalibrationSettings, ladder: list[float]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
    """Meter ``one_pass`` over each window of ``ladder`` (seconds, ascending) until one meets ``settings.max_rsd``.

    Returns (runs.csv rows, one summary entry per window tried, the reason the
    search stopped short of the ladder's end for lack of budget or None). Each
    window gets up to ``settings.repeats`` metered windows
    (``meter.measure_window(one_pass, min_seconds=window)``); one is left after
    ``MIN_REPEATS_TO_LEAVE`` when its spread's interval lies above the bar. A window
    (or a repeat) whose predicted wall time would not fit in what is left of
    ``settings.budget_seconds`` is not started; the first window always is, with at
    least two repeats. The caller holds the metered lock (``ecopt.metered_lock``), so
    the budget is never spent waiting for another study's window.
    Raises ``MeasurementError`` when the meter refuses a window twice.
    """
    from ecopt.statistics import relative_spread_interval

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    overheads: list[float] = []  # wall seconds of each repeat beyond its window: meter start/stop, retries

    def predicted(window_seconds: float) -> float:
        return window_seconds + (statistics.median(overheads) if overheads else 0.0)

    for window_seconds in ladder:
        left = settings.budget_seconds - (time.perf_counter() - started)
        needed = settings.repeats * predicted(window_seconds)
        if windows and needed > left:
            return (
                rows,
                windows,
                (
                    f"the {window_seconds:g} s window was not tried: its {settings.repeats} repeats need about {needed:.0f} s "
                    f"and {max(left, 0.0):.0f} s of the {settings.budget_seconds:g} s budget were left"
                ),
            )
        window_rows: list[dict[str, Any]] = []
        left_early = None
        for repeat in range(settings.repeats):
            left = settings.budget_seconds - (time.perf_counter() - started)
            # The first window always gets two repeats: every calibration reports a spread.
            if len(window_rows) >= (1 if windows else 2) and predicted(window_seconds) > left:
                left_early = f"budget spent after {len(window_rows)} of {settings.repeats} repeats"
                break
            repeat_started = time.perf_counter()
            measurement = meter.measure_window(one_pass, min_seconds=window_seconds)
            overheads.append(time.perf_counter() - repeat_started - window_seconds)
            row = _repeat_row(measurement, window_seconds, repeat)
            window_rows.append(row)
            logger.info(
                "window %g s, repeat %d: %.2f J in %.2f s, %.1f samples/J%s",
                window_seconds,
                repeat,
                row["joules"],
                row["seconds"],
                row["samples_per_joule"],
                " (disturbed)" if row["disturbed"] else "",
            )
            efficiency = [r["samples_per_joule"] for r in window_rows]
            if MIN_REPEATS_TO_LEAVE <= len(window_rows) < settings.repeats:
                low, _ = relative_spread_interval(efficiency, SPREAD_INTERVAL_CONFIDENCE)
                if low > settings.max_rsd:
                    left_early = (
                        f"left after {len(window_rows)} repeats: even the low end of its spread's "
                        f"{SPREAD_INTERVAL_CONFIDENCE:.0%} interval, {low:.2%}, is above the bar {settings.max_rsd:.2%}"
                    )
                    break
        rows.extend(window_rows)
        windows.append(_window_entry(window_seconds, window_rows, settings, left_early))
        logger.info("window %g s: %s", window_seconds, windows[-1]["decision"])
        if windows[-1]["met"]:
            break
        if left_early is not None and left_early.startswith("budget"):
            return rows, windows, f"the budget of {settings.budget_seconds:g} s was spent during the {window_seconds:g} s window"
    return rows, windows, None


def choose_window(
    windows: list[dict[str, Any]], settings: CalibrationSettings, budget_note: str | None, floor_seconds: float = 0.0
) -> tuple[dict[str, Any], str]:
    """The window the trials use (an entry of ``windows``) and the sentence that says why.

    The first window that met the bar; else the one with the lowest spread (the
    longer on a tie) among the windows at least ``floor_seconds`` long (the study's
    ``meter.min_window_seconds``: a window that failed the bar gives no reason to go
    below what the user said the meter resolves), or among all windows when none
    that long was measured; with a sentence that says plainly that none met the bar
    and what ``settings.on_fail`` does about it. ValueError for an empty ``windows``.
    """
    if not windows:
        raise ValueError("no calibration window was measured")
    for entry in windows:
        if entry["met"]:
            return entry, f"the shortest window tried whose samples/J spread meets the bar ({entry['decision']})"
    spread = [entry for entry in windows if entry["samples_per_joule_rsd"] is not None] or windows
    long_enough = [entry for entry in spread if entry["window_seconds"] >= floor_seconds]
    best = min(
        long_enough or spread,
        key=lambda entry: (entry["samples_per_joule_rsd"] if entry["samples_per_joule_rsd"] is not None else math.inf, -entry["window_seconds"]),
    )
    tried = ", ".join(
        f"{entry['window_seconds']:g} s: {entry['samples_per_joule_rsd']:.2%}"
        if entry["samples_per_joule_rsd"] is not None
        else f"{entry['window_seconds']:g} s: -"
        for entry in windows
    )
    why = f"; {budget_note}" if budget_note else ""
    if floor_seconds <= min(entry["window_seconds"] for entry in spread):
        floor_note = ""
    elif long_enough:
        floor_note = f" among those of at least meter.min_window_seconds ({floor_seconds:g} s)"
    else:
        floor_note = f" (none of at least meter.min_window_seconds, {floor_seconds:g} s, was measured)"
    action = (
        "the study stops here (calibration.on_fail: stop)"
        if settings.on_fail == "stop"
        else f"the trials use the window with the lowest spread{floor_note}, {best['window_seconds']:g} s (calibration.on_fail: warn)"
    )
    return best, (
        f"NO window met the bar of {settings.max_rsd:.2%} within the {settings.budget_seconds:g} s budget (spread per window: {tried}){why}; {action}"
    )


def overhead_summary(pair_walls: list[tuple[float, float]], window_seconds: float) -> dict[str, Any]:
    """The meter's overhead from (unmetered, metered) wall seconds of the same work, pair by pair.

    Returns ``meter_overhead_seconds`` (median of metered - unmetered, seconds per
    window), its interquartile range, the distribution-free 95 % interval of the
    median (``scipy.stats.quantile_test``), ``meter_overhead`` (the median over
    ``window_seconds``: the share of a window's wall time the meter adds),
    ``meter_overhead_resolved`` (the interval excludes 0) and a sentence. Fewer than
    2 pairs: every figure None.
    """
    differences = [metered - unmetered for unmetered, metered in pair_walls]
    summary: dict[str, Any] = {"meter_overhead_pair_seconds": differences}
    if len(differences) < 2:
        return summary | {
            "meter_overhead_seconds": None,
            "meter_overhead_seconds_iqr": None,
            "meter_overhead_seconds_interval": None,
            "meter_overhead": None,
            "meter_overhead_resolved": None,
            "meter_overhead_note": f"not measured: {len(differences)} pair(s) (calibration.overhead_pairs)",
        }
    import numpy as np
    from scipy import stats

    median = float(np.median(differences))
    q1, q3 = (float(q) for q in np.percentile(differences, [25, 75]))
    interval = stats.quantile_test(differences, q=0.0, p=0.5).confidence_interval(0.95)
    low, high = float(interval.low), float(interval.high)
    resolved = bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))
    if resolved:
        note = (
            f"the meter adds {median * 1000:.1f} ms per window (95 % interval of the median {low * 1000:.1f} to {high * 1000:.1f} ms, "
            f"{len(differences)} interleaved pairs): {median / window_seconds:.2%} of a {window_seconds:g} s window"
        )
    else:
        note = (
            f"below what this machine resolves: the 95 % interval of the median difference over {len(differences)} interleaved pairs, "
            f"{low * 1000:.1f} to {high * 1000:.1f} ms, includes 0 (median {median * 1000:.1f} ms, interquartile range "
            f"{q1 * 1000:.1f} to {q3 * 1000:.1f} ms)"
        )
    return summary | {
        "meter_overhead_seconds": median,
        "meter_overhead_seconds_iqr": [q1, q3],
        "meter_overhead_seconds_interval": [low, high],
        "meter_overhead": median / window_seconds,
        "meter_overhead_resolved": resolved,
        "meter_overhead_note": note,
    }


def calibrate(
    config: StudySettings | Mapping[str, Any], splits_dir: str | Path | None = None, meter: Any = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Search the evaluation window (``search_window``) for one mid-sized model; returns (rows of runs.csv, summary).

    Each row: ``window_seconds``, ``repeat``, ``joules``, ``seconds``, ``cpu_seconds``,
    ``samples``, ``passes``, ``samples_per_joule``, ``dynamic_joules`` (null without an
    idle measurement), ``energy_source``, ``estimated``, ``disturbed`` and
    ``disturbance_share`` (machine mode). The summary (written as summary.json):
    ``window_seconds`` (the chosen window, which the trials use), ``window_choice``
    (why, in words), ``windows`` (each window tried: repeats, samples/J spread and
    its 90 % interval, decision), ``passed`` (a window met the bar); at the chosen
    window the means and relative standard deviations (fractions) of joules and
    samples per joule; idle power in watts; the meter's overhead (``overhead_summary``).
    ``meter`` defaults to ``ecopt.meter.Meter(study.meter)``.
    Raises ConfigError for a bad config, MeasurementError when the meter refuses a window twice.
    """
    from ecopt.meter import Meter

    study = study_settings(config, CALIBRATION_SECTIONS)
    settings = study.calibration
    meter = meter if meter is not None else Meter(study.meter)
    meter.warm_up(background=True)
    model = instantiate_adapter(study, splits_dir=splits_dir)
    params, params_source = _define_calibration_model(model, study, settings)
    model.evaluate()  # first pass: data to the device, caches and thread pools warm
    meter.warm_up()

    idle_watts = meter.measure_idle(settings.idle_seconds) if settings.idle_seconds > 0 else None
    ladder = sorted(float(w) for w in settings.window_seconds) if settings.window_seconds is not None else [float(meter.settings.min_window_seconds)]
    search_started = time.perf_counter()
    rows, windows, budget_note = search_window(meter, model.evaluate, settings, ladder)
    search_seconds = time.perf_counter() - search_started
    chosen, choice = choose_window(windows, settings, budget_note, floor_seconds=float(meter.settings.min_window_seconds))
    logger.info("chosen window %g s: %s", chosen["window_seconds"], choice)

    # One evaluation pass with and without the meter: the difference is the meter's cost per window.
    walls = meter.overhead_pairs(model.evaluate, settings.overhead_pairs)
    chosen_rows = [row for row in rows if row["window_seconds"] == chosen["window_seconds"]]
    summary = {
        "params": params,
        "params_source": params_source,
        "window_seconds": chosen["window_seconds"],
        "window_choice": choice,
        "windows": windows,
        "windows_ladder": ladder,
        "budget_seconds": settings.budget_seconds,
        "search_seconds": search_seconds,
        "repeats": chosen["repeats"],
        "joules_mean": chosen["joules_mean"],
        "joules_rsd": chosen["joules_rsd"],
        "samples_per_joule_mean": chosen["samples_per_joule_mean"],
        "samples_per_joule_rsd": chosen["samples_per_joule_rsd"],
        "samples_per_joule_rsd_interval": chosen["samples_per_joule_rsd_interval"],
        "seconds_mean": chosen["seconds_mean"],
        "disturbed_repeats": sum(bool(row["disturbed"]) for row in rows),
        "idle_watts": idle_watts,
        **overhead_summary(walls, chosen["window_seconds"]),
        "energy_source": chosen_rows[0]["energy_source"],
        "estimated": chosen_rows[0]["estimated"],
        "tracking_mode": meter.settings.tracking_mode,
        "max_rsd": settings.max_rsd,
        "passed": bool(chosen["met"]),
        "on_fail": settings.on_fail,
    }
    return rows, summary


def with_calibrated_window(mapping: Mapping[str, Any], summary_path: str | Path) -> tuple[dict[str, Any], str]:
    """``mapping`` (a study config) with ``meter.min_window_seconds`` set to the window a calibration chose, and its source.

    ``summary_path`` is a calibration's summary.json; its ``window_seconds`` (seconds > 0)
    replaces the meter's. Returns (the new mapping, ``"calibration <path>"``). Raises
    ValueError naming the file when it cannot be read or holds no chosen window.
    """
    path = Path(summary_path)
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"--calibration {path}: cannot read a calibration summary ({error})") from None
    window = summary.get("window_seconds") if isinstance(summary, dict) else None
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not window > 0:
        raise ValueError(f"--calibration {path}: window_seconds is {window!r}, expected the chosen window in seconds (> 0) written by ecopt.calibration")
    meter = dict(mapping.get("meter") or {})
    meter["min_window_seconds"] = float(window)
    return {**mapping, "meter": meter}, f"calibration {path}"


def verdict(summary: Mapping[str, Any]) -> str:
    """One-line human verdict on a calibration ``summary`` (the dict ``calibrate`` returns).

    Reads the keys ``samples_per_joule_rsd`` and ``max_rsd`` (fractions, printed as
    percent), ``repeats``, ``window_seconds``, ``window_choice``, ``energy_source``,
    ``estimated`` and ``passed``; a missing key raises KeyError. Says ESTIMATE when
    the meter had no energy counter (CodeCarbon's time x assumed power fallback).
    """
    estimated = " (an ESTIMATE: time x assumed power, no energy counter)" if summary["estimated"] else ""
    rsd = summary["samples_per_joule_rsd"]
    line = (
        f"window {summary['window_seconds']:g} s, samples/J spread {'-' if rsd is None else format(rsd, '.2%')} over {summary['repeats']} repeats "
        f"vs bound {summary['max_rsd']:.2%}; energy source {summary['energy_source']}{estimated}. {summary['window_choice']}"
    )
    return ("PASSED: " if summary["passed"] else "FAILED: ") + line


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopt.calibration``: repeat one evaluation under the meter and write runs.csv and summary.json.

    Exit 0 when the spread is within ``calibration.max_rsd`` (or ``on_fail: warn``), 2 on a
    bad config, 3 when the meter gives no usable reading or the spread fails with ``on_fail: stop``.
    """
    from ecopt.cli import add_study_arguments, study_mapping

    parser = argparse.ArgumentParser(prog="python -m ecopt.calibration", description="Repeat one evaluation and report the meter's spread.")
    add_study_arguments(parser)
    parser.add_argument("--splits-dir", default=None)
    parser.add_argument("--out-dir", required=True, help="folder for runs.csv and summary.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    from ecopt.errors import MeasurementError
    from ecopt.io import write_json
    from ecopt.metered_lock import hold_metered_lock
    from ecopt.records import write_table

    try:
        config = validate_study(study_mapping(args), sections=CALIBRATION_SECTIONS)
        # The whole job, not only its windows, keeps this machine to itself: another
        # study's unmetered work (imports, data loading) would land in these windows.
        with hold_metered_lock():
            rows, summary = calibrate(config, splits_dir=args.splits_dir)
    except ConfigError as error:
        print(f"ecopt.calibration: {error}", file=sys.stderr)
        return 2
    except MeasurementError as error:  # refused twice: there is no spread to report
        print(f"ecopt.calibration: the meter gave an unusable reading: {error}", file=sys.stderr)
        return 3
    out = Path(args.out_dir)
    write_table(out / "runs.csv", rows)
    write_json(out / "summary.json", summary)
    message = verdict(summary)
    if summary["passed"]:
        logger.info(message)
        return 0
    if summary["on_fail"] == "stop":
        print(
            f"ecopt.calibration: {message}. The study stops here: measurements this noisy cannot rank "
            "models by energy. Reduce noise (an idle machine, a meter with "
            "an energy counter, a larger calibration.budget_seconds or longer calibration.window_seconds) or set calibration.on_fail: warn to go on.",
            file=sys.stderr,
        )
        # Snakemake deletes a failed job's outputs, summary.json included, but keeps its log
        # (this stream): the whole summary goes there too, so the spreads are not lost.
        print(f"ecopt.calibration: the summary, as written to {out / 'summary.json'}:\n{json.dumps(summary, indent=1, default=str)}", file=sys.stderr)
        return 3
    logger.warning("%s; going on (calibration.on_fail: warn)", message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
