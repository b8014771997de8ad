"""Meter calibration: repeat one fixed evaluation and report the meter's spread.

Before optimising on measured joules, a user needs to know how much two
measurements of the same work differ; the seed paper's bar is a relative
standard deviation below 2 %. This stage meters ``repeats`` evaluation windows
of one fixed model, measures idle power and the meter's overhead, and compares
the spread with ``calibration.max_rsd``: it warns, or stops the study with a
clear message (``calibration.on_fail: stop``). The samples/J spread becomes the
optimiser's observation noise (``ecopt.search``).

Runnable as ``python -m ecopt.calibration --config FILE --splits-dir DIR --out-dir DIR``.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
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


def calibrate(
    config: StudySettings | Mapping[str, Any], splits_dir: str | Path | None = None, meter: Any = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Meter ``calibration.repeats`` identical evaluations of one mid-sized model; returns (rows of runs.csv, summary).

    Each row: ``repeat``, ``joules``, ``seconds``, ``cpu_seconds``, ``samples``,
    ``passes``, ``samples_per_joule``, ``dynamic_joules`` (null without an idle
    measurement), ``energy_source``, ``estimated``. The summary (written as
    summary.json) holds the means and relative standard deviations (fractions) of
    joules and samples per joule, idle power in watts, the meter's wall-time overhead
    (median fraction over ``overhead_pairs``), and ``passed``: RSD <= ``max_rsd``.
    ``meter`` defaults to ``ecopt.meter.Meter(study.meter)`` (CodeCarbon).
    Raises ConfigError for a bad config, MeasurementError when the meter refuses a window twice.
    """
    from ecopt.meter import Meter
    from ecopt.statistics import relative_standard_deviation

    study = study_settings(config, CALIBRATION_SECTIONS)
    settings = study.calibration
    meter = meter if meter is not None else Meter(study.meter)
    meter.warm_up(background=True)
    model = instantiate_adapter(study, splits_dir=splits_dir)
    params, params_source = _define_calibration_model(model, study, settings)
    model.evaluate()  # first pass: data to the device, caches and thread pools warm
    meter.warm_up()

    idle_watts = meter.measure_idle(settings.idle_seconds) if settings.idle_seconds > 0 else None
    rows = []
    for repeat in range(settings.repeats):
        window = meter.measure_window(model.evaluate)
        record = window.record
        samples = sum(int(n) for _, n in window.results)
        rows.append(
            {
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
            }
        )
        logger.info("repeat %d: %.2f J in %.2f s, %.1f samples/J", repeat, record.joules, record.seconds, rows[-1]["samples_per_joule"])

    passes = rows[0]["passes"]  # the same work with and without the meter
    walls = meter.overhead_pairs(lambda: [model.evaluate() for _ in range(passes)], settings.overhead_pairs)
    overheads = [metered / unmetered - 1 for unmetered, metered in walls]

    joules = [row["joules"] for row in rows]
    efficiency = [row["samples_per_joule"] for row in rows]
    rsd = relative_standard_deviation(efficiency)
    passed = rsd <= settings.max_rsd
    summary = {
        "params": params,
        "params_source": params_source,
        "repeats": settings.repeats,
        "window_seconds_min": meter.settings.min_window_seconds,
        "joules_mean": statistics.mean(joules),
        "joules_rsd": relative_standard_deviation(joules),
        "samples_per_joule_mean": statistics.mean(efficiency),
        "samples_per_joule_rsd": rsd,
        "seconds_mean": statistics.mean(row["seconds"] for row in rows),
        "idle_watts": idle_watts,
        "meter_overhead": statistics.median(overheads) if overheads else None,
        "meter_overhead_pairs": overheads,
        "energy_source": rows[0]["energy_source"],
        "estimated": rows[0]["estimated"],
        "tracking_mode": meter.settings.tracking_mode,
        "max_rsd": settings.max_rsd,
        "passed": passed,
        "on_fail": settings.on_fail,
    }
    return rows, summary


def verdict(summary: Mapping[str, Any]) -> str:
    """One-line human verdict on a calibration ``summary`` (the dict ``calibrate`` returns).

    Reads the keys ``samples_per_joule_rsd`` and ``max_rsd`` (fractions, printed as
    percent), ``repeats``, ``energy_source``, ``estimated`` and ``passed``; a missing key
    raises KeyError. Says ESTIMATE when the meter had no energy counter (CodeCarbon's
    time x assumed power fallback).
    """
    estimated = " (an ESTIMATE: time x assumed power, no energy counter)" if summary["estimated"] else ""
    line = (
        f"samples/J spread {summary['samples_per_joule_rsd']:.2%} over {summary['repeats']} repeats "
        f"vs bound {summary['max_rsd']:.2%}; energy source {summary['energy_source']}{estimated}"
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
            "models by energy. Reduce noise (an idle machine, a longer meter.min_window_seconds, a meter with "
            "an energy counter) or set calibration.on_fail: warn to go on.",
            file=sys.stderr,
        )
        return 3
    logger.warning("%s; going on (calibration.on_fail: warn)", message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
