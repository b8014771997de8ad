"""Proxy-correlation study: do parameter counts and FLOPs predict measured joules?

The seed paper found they do not (Pearson r = -0.12 for parameters and 0.26 for
FLOPs against inference energy). This stage draws ``proxies.architectures``
configurations from the study's search space, builds each (inference only, no
training), counts parameters and FLOPs per sample, meters an evaluation window,
and reports Pearson r (p-value, Fisher-z 95 % interval) and Spearman rho of each
proxy against joules per inference.

On an estimate-only meter (no RAPL/NVML) joules are time x a constant, so the
correlation measured is really proxy vs run time; ``stats.json`` says so.

Runnable as ``python -m ecopt.proxies --config FILE --splits-dir DIR --out-dir DIR``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ecopt.errors import ConfigError, InfeasibleArchitecture, MeasurementError
from ecopt.settings import StudySettings, instantiate_adapter, study_settings, thaw, validate_study

logger = logging.getLogger(__name__)

# The config entries the proxy study reads (the workflow passes this slice of the study).
PROXIES_SECTIONS = ["adapter", "adapter_options", "data", "meter", "proxies", "space", "seed"]
PROXY_COLUMNS = ("parameters", "flops_per_sample")


def measure_architectures(config: StudySettings | Mapping[str, Any], splits_dir: str | Path | None = None, meter: Any = None) -> list[dict[str, Any]]:
    """Meter one evaluation per distinct sampled architecture; one row per architecture measured.

    Draws up to ``proxies.max_draws`` configurations from the space (``ecopt.space``),
    skipping repeats, infeasible architectures and refused windows, until
    ``proxies.architectures`` rows. Each row: the parameters (``param_*``),
    ``parameters`` and ``flops_per_sample`` (``ecopt.cost``, torch's FlopCounterMode),
    ``joules``, ``seconds``, ``samples``, per-sample joules and seconds,
    ``samples_per_joule``, and the meter's ``energy_source``/``estimated``. ``meter``
    defaults to ``ecopt.meter.Meter(study.meter)``.
    Raises ConfigError when the adapter has no ``network()``/``single_sample_input()``
    or fewer than 4 architectures could be measured.
    """
    from ecopt.cost import count_flops, count_parameters
    from ecopt.meter import Meter
    from ecopt.space import sample_space

    study = study_settings(config, PROXIES_SECTIONS)
    settings = study.proxies
    seed = settings.seed if settings.seed is not None else (study.seed or 0)
    meter = meter if meter is not None else Meter(study.meter)
    meter.warm_up(background=True)
    model = instantiate_adapter(study, splits_dir=splits_dir)
    space = study.space if study.space is not None else model.hyperparameters
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for draw, params in enumerate(sample_space(space, settings.max_draws, seed)):
        if len(rows) == settings.architectures:
            break
        # Measuring one architecture twice would weigh it double in the correlation.
        key = repr(sorted(params.items()))
        if key in seen:
            continue
        seen.add(key)
        try:
            model.set_hyperparameters({k: v for k, v in params.items() if k in model.hyperparameters})
            model.define()
        except InfeasibleArchitecture as error:
            logger.info("draw %d skipped: %s", draw, error)
            continue
        network = model.network()
        sample = model.single_sample_input()
        if network is None or sample is None:
            raise ConfigError(
                "adapter",
                study.adapter,
                "an adapter whose network() and single_sample_input() return a torch module and an input, to count parameters and FLOPs",
            )
        model.evaluate()  # warm: data on the device, first-call costs outside the window
        try:
            window = meter.measure_window(model.evaluate)
        except MeasurementError as error:  # refused twice: this architecture has no energy to correlate
            logger.warning("draw %d skipped: %s", draw, error)
            continue
        samples = sum(int(n) for _, n in window.results)
        record = window.record
        rows.append(
            {
                "architecture": len(rows),
                **{f"param_{k}": v for k, v in params.items()},
                "parameters": count_parameters(network),
                "flops_per_sample": count_flops(network, sample),
                "joules": record.joules,
                "seconds": record.seconds,
                "samples": samples,
                "joules_per_sample": record.joules / samples,
                "seconds_per_sample": record.seconds / samples,
                "samples_per_joule": samples / record.joules,
                "energy_source": record.energy_source,
                "estimated": record.estimated,
            }
        )
        logger.info(
            "architecture %d: %d parameters, %d FLOPs, %.3g J/sample",
            len(rows) - 1,
            rows[-1]["parameters"],
            rows[-1]["flops_per_sample"],
            rows[-1]["joules_per_sample"],
        )
    if len(rows) < 4:
        raise ConfigError(
            "space",
            thaw(study.effective.get("space")),
            f"a space with at least 4 distinct feasible architectures in {settings.max_draws} draws (found {len(rows)})",
        )
    return rows


def correlation_stats(rows: list[Mapping[str, Any]], target: str = "joules_per_sample") -> dict[str, Any]:
    """Pearson (with 95% CI) and Spearman correlation of each proxy column with ``target`` over ``rows``.

    Keys ``<proxy>_vs_<target>`` hold ``ecopt.statistics.pearson_with_confidence``'s
    dict (scipy.stats); also ``target``, ``architectures``, ``energy_source``,
    ``estimated`` and, for estimated energy, a ``note``. ValueError (from the statistics)
    on fewer than 4 rows or a constant column.
    """
    from ecopt.statistics import pearson_with_confidence

    stats: dict[str, Any] = {"target": target, "architectures": len(rows)}
    for proxy in PROXY_COLUMNS:
        stats[f"{proxy}_vs_{target}"] = pearson_with_confidence([r[proxy] for r in rows], [r[target] for r in rows])
    stats["energy_source"] = rows[0]["energy_source"]
    stats["estimated"] = bool(rows[0]["estimated"])
    if stats["estimated"]:
        stats["note"] = (
            "energy is an estimate (time x assumed power, no RAPL/NVML counter): these correlations measure proxy vs run time, not proxy vs measured energy"
        )
    return stats


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopt.proxies``: measure architectures and write runs.csv and stats.json.

    Exit 2 with a message on a bad config or too few feasible architectures.
    """
    from ecopt.cli import add_study_arguments, study_mapping

    parser = argparse.ArgumentParser(prog="python -m ecopt.proxies", description="Parameters and FLOPs vs measured inference energy.")
    add_study_arguments(parser)
    parser.add_argument("--splits-dir", default=None)
    parser.add_argument("--out-dir", required=True, help="folder for runs.csv and stats.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    from ecopt.io import write_json
    from ecopt.metered_lock import hold_metered_lock
    from ecopt.records import write_table

    try:
        config = validate_study(study_mapping(args), sections=PROXIES_SECTIONS)
        # The whole job holds the machine (see ecopt.metered_lock), not only its windows.
        with hold_metered_lock():
            rows = measure_architectures(config, splits_dir=args.splits_dir)
        stats = correlation_stats(rows)
    except (ConfigError, ValueError) as error:
        print(f"ecopt.proxies: {error}", file=sys.stderr)
        return 2
    out = Path(args.out_dir)
    write_table(out / "runs.csv", rows)
    write_json(out / "stats.json", stats)
    for proxy in PROXY_COLUMNS:
        entry = stats[f"{proxy}_vs_joules_per_sample"]
        logger.info(
            "%s vs J/sample: r = %.2f [%.2f, %.2f], p = %.3g; Spearman %.2f",
            proxy,
            entry["pearson_r"],
            entry["pearson_ci_low"],
            entry["pearson_ci_high"],
            entry["pearson_p"],
            entry["spearman_rho"],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
