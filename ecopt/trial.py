"""One trial: set hyperparameters, define, metered train, metered evaluation, record.

Runnable as ``python -m ecopt.trial --config FILE --params JSON --out FILE``. The
record (a ``ecopt.records.TrialRecord``, one JSON file written atomically) is
the checkpoint the optimiser reads. Outcome rules:

* The parameters are resolved before anything runs (``resolve_params``): a
  parameter left out takes the adapter's default value (every ``Hyperparameter``
  carries one; a ``fixed`` entry of the study's space its fixed value) and the
  record lists it in ``filled_defaults``. An unknown name, a value outside a
  range, not among a choice's values or of the wrong type is a
  ``ParameterError`` naming the parameter, the value and the domain: the CLI
  exits 2 and writes no record, since no measurement was made.
* Out of memory is recorded as ``out_of_memory`` with zero efficiency (the
  paper's penalty); any other exception of the model as ``failed`` with its text.
* A metered window the meter refuses (0 J, a negative component; see
  ``ecopt.meter``) is measured again once: the evaluation window over twice
  the length (``Meter.measure_window``), training by defining and training the
  model afresh (its length is the training's, it cannot be stretched). A second
  refusal records ``measurement_failed`` with both reasons and no samples/J.
* In machine mode a window disturbed by other processes' CPU use is measured
  again (``Meter.measure_undisturbed`` for training, after a fresh ``define()``);
  the record says ``disturbed`` and the largest ``disturbance_share``.
* ``--calibration FILE`` (the workflow passes the calibration's summary.json)
  replaces ``meter.min_window_seconds`` by the window the calibration chose
  (``ecopt.calibration.with_calibrated_window``); the record says where its window
  came from (``min_window_source``) and the fingerprint covers it.
* Only a config the trial cannot even start from (an adapter that cannot be
  imported, bad options, bad parameters) is an error, exit status 2.
* With ``early_stopping.enabled`` (``ecopt.early_stopping``) efficiency comes first:
  the metered evaluation window runs on the untrained network, then training runs
  under a ``RungMonitor`` over the earlier rounds' points (``--proposals``'s
  ``rung_history``), then one unmetered ``evaluate()`` scores the weights kept. A
  stopped trial is ``early_stopped`` with ``stopped_at_rung``, the decision, its
  partial performance and the joules it spent. Measured (benchmarks/
  early_stopping_assumptions.py, one torch thread, 60 interleaved passes): process
  CPU seconds per evaluation pass of the untrained and the trained CNN differ by
  +0.0 % (width 8, depth 1), +0.4 % (32, 2, pooling) and +1.2 % (64, 3, kernel 5);
  a forward pass does the same arithmetic whatever the weights. Through the meter
  on this project's shared 2-core VM (CodeCarbon's load estimate, no RAPL) the
  samples/J of 5 windows each differed by -13 % with a spread (RSD) of 87-93 %:
  the meter's noise there swamps any difference.
* Learning curves keep cumulative ``train_joules``: the training window's measured
  joules apportioned by elapsed time (``learning_curve_joules``), since neither
  meter backend reads inside a window without a tracker restart. Where power
  follows CPU load (CodeCarbon without RAPL), the gap between the wall-time and
  CPU-time shares of a 12-epoch training at its checks was at most 2.6 %, 4.1 % and
  9.2 % for the three CNNs above, on the loaded VM: apportioning by time errs by
  that much at a rung, well below the factor between a stopped and a completed trial.

A record carries a ``fingerprint`` (SHA-256 of the trial's settings, params, round
and index). The CLI keeps a record already at ``--out`` with the same fingerprint
instead of metering again: the workflow declares the trial's output ``update()``,
so when Snakemake reruns a job it saw interrupted (a kill after the record was
written, before the job was marked complete, with ``rerun-incomplete``) it leaves
that record in place rather than deleting it, and no finished measurement is lost.
The whole trial holds the machine-wide metered lock (``ecopt.metered_lock``).

With MLflow tracking on (the study's ``mlflow`` section, or ``ECOPT_MLFLOW`` which the
Snakefile exports), the record is sent to MLflow after it is written and the lock is
released (``ecopt.tracking.log_trial_safely``): a tracking server that is down is a
warning, never a lost record. Without it, MLflow is never imported.

This module must not import Ax: trial jobs stay light.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import statistics
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ecopt.cli import canonical_numbers
from ecopt.early_stopping import RungHistory, check_adapter, load_ranking
from ecopt.errors import AdapterImportError, ConfigError, MeasurementError, ParameterError
from ecopt.hyperparameter import Fixed, Hyperparameter, describe_domain
from ecopt.io import json_ready, write_json
from ecopt.meter import EnergyRecord, Meter
from ecopt.records import TrialRecord, TrialStatus, is_out_of_memory, read_proposals, validate_document
from ecopt.settings import StudySettings, instantiate_adapter, study_settings, validate_study

logger = logging.getLogger(__name__)

# The config entries a trial reads (the workflow passes this slice of the study). Not
# `deployment`: it weighs a measurement (ecopt.net_impact.with_lifecycle_efficiency, where
# records are read) but is no part of one, so changing it must not re-measure the trials.
TRIAL_SECTIONS = ["adapter", "adapter_options", "data", "meter", "trial", "space", "seed", "early_stopping"]


def _release_accelerator_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _process_started_at() -> float:
    """Wall-clock start of this process, so that overhead includes interpreter start and imports."""
    import psutil

    return psutil.Process().create_time()


def where_it_ran() -> dict[str, Any]:
    """Provenance of a trial record: host, SLURM job, ``CUDA_VISIBLE_DEVICES``, GPU names, platform, Python and torch versions.

    GPU names come from torch only when the trial already imported it (no import here).
    """
    torch = sys.modules.get("torch")
    gpus: list[str] = []
    if torch is not None and torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return {
        "host": socket.gethostname(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "gpus": gpus,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": getattr(torch, "__version__", None),
    }


def _phase(record: EnergyRecord | None) -> dict[str, Any] | None:
    return None if record is None else record.to_dict()


def resolve_params(
    declared: Mapping[str, Hyperparameter], space: Mapping[str, Hyperparameter] | None, given: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The full assignment a trial runs with, and the names filled with the adapter's defaults.

    ``declared`` is the adapter's ``hyperparameters`` (fresh, so each holds its
    default value), ``space`` the study's parsed space or None. The trial's
    parameters are the space's (every declared one without a space); a value
    given is checked against the space's domain and the adapter's, a value left
    out is the space's fixed value or else the adapter's default (listed in the
    returned names, in declared order).

    Raises ``ParameterError`` (name, value, domain) for an unknown name or a value
    outside its domain or of the wrong type, ``ConfigError`` for a space entry
    the adapter does not declare.
    """
    names: Sequence[str] = list(space) if space else list(declared)
    undeclared = [name for name in names if name not in declared]
    if undeclared:
        raise ConfigError(f"space.{undeclared[0]}", dict(space or {}).get(undeclared[0]), f"a hyperparameter the adapter declares: {sorted(declared)}")
    unknown = [name for name in given if name not in names]
    if unknown:
        raise ParameterError(unknown[0], given[unknown[0]], f"a parameter of this study: one of {list(names)}")
    params: dict[str, Any] = {}
    filled: list[str] = []
    for name in names:
        study_domain = space.get(name) if space else None
        if name in given:
            value = given[name]
        elif isinstance(study_domain, Fixed):
            value = study_domain.value
        else:
            value = declared[name].value
            filled.append(name)
        for domain in (study_domain, declared[name]):
            if domain is None:
                continue
            try:
                value = domain._validate(value)
            except ValueError:
                note = " (the value is the adapter's default: give one in --params)" if name in filled else ""
                raise ParameterError(name, value, describe_domain(domain) + note) from None
        params[name] = value
    return params, filled


def _metered_training(model: Any, meter: Meter, record: TrialRecord, train: Any = None) -> EnergyRecord:
    """Meter ``model.train()`` (or ``train``, a callable that trains ``model``); a refused window is re-measured once by defining and training afresh.

    Training cannot be stretched like the evaluation window, and training on top
    of the first attempt's weights would meter a different model; a fresh
    ``define()`` makes the second window measure the training whose result is
    evaluated. A second refusal raises ``MeasurementError`` with both reasons.
    """
    train = model.train if train is None else train
    try:
        return meter.measure_undisturbed(train, reset=model.define)[1]
    except MeasurementError as first:
        logger.warning("training window refused (%s); defining and training again", first.reason)
        model.define()
        try:
            energy = meter.measure_undisturbed(train, reset=model.define)[1]
        except MeasurementError as second:
            raise MeasurementError(
                f"{second.reason}; measured again after the first was refused: {first.reason}", second.reading, [first.reason, second.reason]
            ) from None
        record.measurement_errors.append(f"training window: {first.reason}")
        return energy


def _metered_evaluation(model: Any, meter: Meter, record: TrialRecord) -> tuple[EnergyRecord, list[float]]:
    """Meter ``model.evaluate()`` over one window; fill the record's samples, samples/J and evaluation fields.

    Returns the window's energy and each pass's performance (the caller decides
    which performance the record keeps). Raises ``MeasurementError`` when the
    window is refused twice (``Meter.measure_window``).
    """
    window = meter.measure_window(model.evaluate)
    record.measurement_errors.extend(f"evaluation window: {reason}" for reason in window.discarded)
    energy = window.record
    samples = int(sum(int(count) for _, count in window.results))
    record.samples = samples
    # The meter refuses windows of 0 J (MeasurementError), so the division is always defined.
    record.samples_per_joule = samples / energy.joules
    record.eval_joules, record.eval_seconds, record.eval_passes = energy.joules, energy.seconds, window.passes
    if energy.dynamic_joules is not None and energy.dynamic_joules > 0:
        record.dynamic_samples_per_joule = samples / energy.dynamic_joules
    return energy, [float(performance) for performance, _ in window.results]


def _count_cost(model: Any, record: TrialRecord) -> None:
    network = model.network()
    if network is not None:
        from ecopt.cost import count_flops, count_parameters

        record.parameters = count_parameters(network)
        sample = model.single_sample_input()
        if sample is not None:
            record.flops_per_sample = count_flops(network, sample)


# How the learning curve's cumulative joules are obtained (the record's ``learning_curve_joules``).
CURVE_JOULES_BY_TIME = "apportioned by time"


def _record_curve(model: Any, energy: EnergyRecord, record: TrialRecord) -> None:
    """The adapter's learning curve into the record, with cumulative ``train_joules`` = window joules x ``train_seconds`` / window seconds.

    Neither meter backend gives a cheap reading inside a window (CodeCarbon's and
    Zeus's trackers read at start and stop), so the training window's measured
    joules are apportioned by elapsed time, and ``learning_curve_joules`` says so;
    the module docstring gives the measurement that justifies it (work per second
    roughly constant across epochs).
    """
    curve = [dict(point) for point in getattr(model, "learning_curve", None) or []]
    apportioned = False
    for point in curve:
        seconds = point.get("train_seconds")
        if seconds is not None and energy.seconds > 0:
            point["train_joules"] = energy.joules * min(1.0, float(seconds) / energy.seconds)
            apportioned = True
    record.learning_curve = curve or None
    record.learning_curve_joules = CURVE_JOULES_BY_TIME if apportioned else None


def _train_with_monitor(model: Any, history: RungHistory | None, settings: Any, record: TrialRecord) -> None:
    """``model.train()`` under a fresh ``RungMonitor`` (fresh for a re-measured window too)."""
    from ecopt.early_stopping import RungMonitor

    efficiency = {
        metric: value
        for metric, value in (("samples_per_joule", record.samples_per_joule), ("dynamic_samples_per_joule", record.dynamic_samples_per_joule))
        if value is not None
    }
    model.rung_monitor = RungMonitor(history, settings, efficiency, int(model.max_resource))
    model.stopped_at_resource = None
    model.train()


def run_trial(
    config: StudySettings | Mapping[str, Any],
    params: Mapping[str, Any],
    meter: Meter | None = None,
    splits_dir: str | Path | None = None,
    process_started_at: float | None = None,
    rung_history: RungHistory | None = None,
) -> TrialRecord:
    """Evaluate one configuration and return its record.

    With ``early_stopping.enabled`` (and training), efficiency comes first: the
    metered evaluation window runs on the untrained network (valid for adapters
    declaring ``efficiency_independent_of_weights``), then metered training under a
    ``RungMonitor`` over ``rung_history`` (the earlier rounds' points; None: never
    stops), then one unmetered ``evaluate()`` of the final (or, when stopped, the
    restored best) weights gives the performance. A stopped trial is recorded
    ``early_stopped`` with ``stopped_at_rung`` and the ``early_stopping`` decision.

    Raises only for trials that cannot start (``AdapterImportError``,
    ``ConfigError``, ``ParameterError`` for parameters outside their domains; see
    ``resolve_params``); every failure of the model or the meter is recorded.
    """
    started_at = time.time()
    process_started_at = started_at if process_started_at is None else process_started_at
    study = study_settings(config, TRIAL_SECTIONS)
    settings = study.trial
    stopping = study.early_stopping if study.early_stopping is not None and study.early_stopping.enabled and not settings.skip_train else None
    meter = meter if meter is not None else Meter(study.meter)
    meter.warm_up(background=True)  # overlaps the adapter's imports and data loading

    model = instantiate_adapter(study, splits_dir=splits_dir)
    if stopping is not None:
        check_adapter(model, stopping.min_resource)
    space = study.space
    resolved, filled = resolve_params(model.hyperparameters, space, params)
    record = TrialRecord(
        params=resolved,
        filled_defaults=filled,
        # Every path below sets the outcome; a trial that raises past them crashed its process.
        status=TrialStatus.FAILED,
        performance_metric=getattr(model, "performance_metric", "performance"),
        samples=0,
        eval_passes=0,
        skip_train=settings.skip_train,
    )
    train_energy: EnergyRecord | None = None
    eval_energy: EnergyRecord | None = None
    refused: EnergyRecord | None = None
    phase = "training window"  # the metered window a MeasurementError comes from
    try:
        if settings.threads is not None:
            import torch

            torch.set_num_threads(settings.threads)
        model.set_hyperparameters(resolved)
        model.define()
        if meter.settings.idle_seconds > 0 and meter.idle_watts is None:
            meter.measure_idle()
        if stopping is not None:
            # Efficiency first, from the untrained network: its inference cost is the trained one's.
            _count_cost(model, record)
            phase = "evaluation window"
            eval_energy, _ = _metered_evaluation(model, meter, record)
            phase = "training window"
            if rung_history is not None:
                load_ranking()
            else:
                logger.info("early stopping is on but this trial has no rung history (round 0, or run without --proposals): it is never judged")
            train_energy = _metered_training(model, meter, record, train=lambda: _train_with_monitor(model, rung_history, stopping, record))
            record.train_joules, record.train_seconds = train_energy.joules, train_energy.seconds
            _record_curve(model, train_energy, record)
            # Unmetered: the efficiency is measured already; this pass only scores the weights kept.
            record.performance = float(model.evaluate()[0])
            monitor = model.rung_monitor
            decision = monitor.decision if monitor is not None else None
            judged = [d.rung for d in monitor.decisions] if monitor is not None else []
            # "Never judged" (no history: round 0, a hand-run trial) must read differently from "judged and continued".
            record.early_stopping = {"judged": len(judged), "rungs_judged": judged, "efficiency_measured": "before training"}
            if model.stopped_at_resource is not None and decision is not None:
                record.status = TrialStatus.EARLY_STOPPED
                record.stopped_at_rung = int(model.stopped_at_resource)
                record.early_stopping |= decision.to_dict()
                logger.info("early stopped at %s: %s", record.stopped_at_rung, decision.reason)
            else:
                record.status = TrialStatus.COMPLETED
        else:
            if not settings.skip_train:
                train_energy = _metered_training(model, meter, record)
                record.train_joules, record.train_seconds = train_energy.joules, train_energy.seconds
                _record_curve(model, train_energy, record)
            _count_cost(model, record)
            phase = "evaluation window"
            eval_energy, performances = _metered_evaluation(model, meter, record)
            # A measured performance (latency) varies from pass to pass: report the median pass.
            varies = model.performance_varies
            record.status = TrialStatus.COMPLETED
            record.performance = statistics.median(performances) if varies else performances[0]
            if varies or max(performances) - min(performances) > 1e-9:
                # Accuracy should be deterministic; say so if it is not rather than hide it.
                record.performance_spread = [min(performances), max(performances)]
    except MeasurementError as error:  # refused twice: no efficiency from such a window
        record.status, record.error = TrialStatus.MEASUREMENT_FAILED, f"MeasurementError: {phase}: {error}"
        record.measurement_errors.extend(f"{phase}: {reason}" for reason in error.refused)
        record.samples_per_joule = record.dynamic_samples_per_joule = None
        refused = error.reading
        logger.warning("trial's measurement failed: %s", error)
    except Exception as error:  # a trial records, it does not crash
        if is_out_of_memory(error):
            _release_accelerator_memory()
            record.status, record.samples_per_joule = TrialStatus.OUT_OF_MEMORY, 0.0
            record.error = f"{type(error).__name__}: {error}"
            logger.warning("trial ran out of memory: %s", error)
        else:
            record.status, record.error = TrialStatus.FAILED, f"{type(error).__name__}: {error}"
            record.traceback = traceback.format_exc(limit=20)
            logger.warning("trial failed: %s: %s", type(error).__name__, error)

    reference = eval_energy or train_energy or refused
    if reference is not None:
        record.energy_source = reference.energy_source
        record.estimated = reference.estimated
        record.energy_components = reference.counted
    kept = [energy for energy in (train_energy, eval_energy) if energy is not None and energy.disturbance_share is not None]
    if kept:  # machine mode: did other processes share the machine during a window (ecopt.meter)?
        record.disturbed = any(energy.disturbed for energy in kept)
        record.disturbance_share = max(float(energy.disturbance_share or 0.0) for energy in kept)
    record.idle_watts = meter.idle_watts
    record.train_energy = _phase(train_energy)
    record.eval_energy = _phase(eval_energy)
    record.min_window_seconds = meter.settings.min_window_seconds
    if train_energy is not None:
        # Training cannot be stretched to the meter's window like evaluation: say when it read below it
        # (an early-stopped trial's 0.05 s window read 0.022 J, 30x low, on the fresh-eyes machine).
        record.train_below_resolution = train_energy.seconds < meter.settings.min_window_seconds
    record.ran_on = where_it_ran()
    finished_at = time.time()
    metered = sum(r.seconds for r in (train_energy, eval_energy) if r is not None)
    record.process_wall_seconds = finished_at - process_started_at
    record.overhead_seconds = record.process_wall_seconds - metered
    record.started_at = datetime.fromtimestamp(started_at, timezone.utc).isoformat()
    record.finished_at = datetime.fromtimestamp(finished_at, timezone.utc).isoformat()
    return record


def parse_params_argument(text: str) -> dict[str, Any]:
    """``--params``: a JSON object, or ``@FILE`` holding one. ``ValueError`` says what is wrong with it."""
    source = "--params"
    if text.startswith("@"):
        source = f"--params file {text[1:]}"
        try:
            text = Path(text[1:]).read_text()
        except OSError as error:
            raise ValueError(f"{source}: cannot read it ({error.strerror})") from None
    try:
        params = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: got {text!r}, expected a JSON object such as '{{\"width\": 8}}' ({error})") from None
    if not isinstance(params, dict):
        raise ValueError(f"{source}: got {text!r}, expected a JSON object of parameter name -> value")
    return params


def _proposal(path: str, index: int | None) -> dict[str, Any]:
    if index is None:
        raise ValueError("--proposals needs --index")
    proposals = read_proposals(path)["proposals"]
    matching = [entry["params"] for entry in proposals if entry["index"] == index]
    if not matching:
        raise ValueError(f"{path} has no proposal {index} (it has {len(proposals)})")
    return dict(matching[0])


def _rung_history(path: str | None) -> RungHistory | None:
    """The earlier rounds' rung points the search round wrote into ``proposals.json`` (``rung_history``), or None."""
    if path is None:
        return None
    data = read_proposals(path).get("rung_history")
    return None if data is None else RungHistory.from_dict(data)


def check_rung_history(history: RungHistory | None, objectives: Sequence[Any]) -> None:
    """Refuse a ``rung_history`` written for other objectives than the config's (``ecopt.objectives.Objective``s).

    A rung compares the trial's point with the history's rows column by column: a
    history of other metrics or directions would rank it against the wrong values.
    Raises ``ConfigError`` naming ``rung_history`` and the first objective that disagrees.
    """
    if history is None or not objectives:
        return
    expected = [(o.metric, not o.minimize) for o in objectives]
    held = list(zip(history.metrics, history.maximize, strict=False))
    if held == expected:
        return
    wrong = objectives[-1]  # the history holds more columns than objectives
    for index, objective in enumerate(objectives):
        if index >= len(held) or held[index] != expected[index]:
            wrong = objective
            break
    raise ConfigError(
        "rung_history",
        {"metrics": list(history.metrics), "maximize": list(history.maximize)},
        f"the config's objectives' metrics and directions {[m for m, _ in expected]} (maximize {[x for _, x in expected]}): objective "
        f"'{wrong.name}' ({wrong.metric}, {'minimize' if wrong.minimize else 'maximize'}) disagrees; the proposals were written for other objectives",
    )


# Tests only: set to 1, the trial SIGKILLs its process group (the Snakemake run that
# started it) right after writing its record, before Snakemake can mark the job complete:
# the worst moment for a kill (tests/test_workflow.py).
KILL_AFTER_RECORD_VARIABLE = "ECOPT_TEST_KILL_GROUP_AFTER_RECORD"


def trial_fingerprint(config: Mapping[str, Any], params: Mapping[str, Any], proposal: Mapping[str, Any] | None) -> str:
    """SHA-256 (hex) of what defines a measurement: the trial's settings, its params and which proposal it is.

    ``config`` (the effective config, defaults filled) contributes only
    ``TRIAL_SECTIONS``, so a study run by hand and by the workflow agree; ``proposal`` is ``{"round", "index"}``
    for a proposed trial (two proposals of equal params are two measurements) or
    None for ``--params``. Canonical JSON (sorted keys), so key order never matters.
    """
    import hashlib

    # Early stopping off leaves a study's fingerprints as they were before the section existed.
    sections = [name for name in TRIAL_SECTIONS if name != "early_stopping" or (config.get(name) or {}).get("enabled")]
    identity = {
        "settings": {name: config.get(name) for name in sections},
        "params": dict(params),
        "proposal": dict(proposal) if proposal is not None else None,
    }
    text = json.dumps(canonical_numbers(identity), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _finished_record(path: str | Path, fingerprint: str) -> dict[str, Any] | None:
    """The record at ``path`` if it exists and measured exactly this trial (same fingerprint), else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # written atomically, so never half a record; anything else is not ours to keep
    return record if isinstance(record, dict) and record.get("fingerprint") == fingerprint else None


def _tracking(mapping: Mapping[str, Any]) -> tuple[str, Any] | None:
    """(study, mlflow section) when the trial is tracked: the config's ``mlflow`` section (a study run by hand),
    else the one the workflow exports in ``ECOPT_MLFLOW``; None when neither is set, and then MLflow is never imported."""
    if mapping.get("mlflow") is not None:
        from ecopt.settings import validate_section

        return str(mapping.get("study") or "ecopt"), validate_section("mlflow", mapping["mlflow"])
    if not os.environ.get("ECOPT_MLFLOW", "").strip():
        return None
    from ecopt.settings import validate_section
    from ecopt.tracking import section_from_environment

    study, section = section_from_environment()  # type: ignore[misc]
    return study, validate_section("mlflow", section)


def main(argv: list[str] | None = None) -> int:
    """``python -m ecopt.trial``: meter one configuration and write its record; exit 2 on a bad config.

    A record already at ``--out`` with this trial's fingerprint is kept, not
    measured again: the workflow declares the trial's output ``update(...)``, so
    Snakemake leaves it in place when it reruns a job it saw interrupted (killed
    after the record was written, before the job was marked complete). Any other
    existing file is replaced by a new measurement.
    """
    from ecopt.cli import add_study_arguments, study_mapping
    from ecopt.io import read_json
    from ecopt.metered_lock import hold_metered_lock

    parser = argparse.ArgumentParser(prog="python -m ecopt.trial", description="Evaluate one configuration with metered training and evaluation.")
    add_study_arguments(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--params", help="hyperparameters as a JSON object, or @FILE holding one")
    source.add_argument("--proposals", help="a round's proposals.json; with --index, the proposal to evaluate")
    parser.add_argument("--index", type=int, default=None, help="proposal index in --proposals")
    parser.add_argument("--out", required=True, help="trial record to write (JSON)")
    parser.add_argument("--splits-dir", default=None, help="prepared dataset splits (from python -m ecopt.data)")
    parser.add_argument("--calibration", default=None, help="calibration summary.json: its chosen window replaces meter.min_window_seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    process_started_at = _process_started_at()
    try:
        params = parse_params_argument(args.params) if args.params is not None else _proposal(args.proposals, args.index)
        history = _rung_history(args.proposals)
        proposal = None if args.proposals is None else {"round": read_json(args.proposals).get("round"), "index": args.index}
        mapping = study_mapping(args)
        window_source = "meter.min_window_seconds"
        if args.calibration is not None:
            from ecopt.calibration import with_calibrated_window

            mapping, window_source = with_calibrated_window(mapping, args.calibration)
        config = validate_study(mapping, sections=TRIAL_SECTIONS)
        if mapping.get("objectives") is not None:
            # The checks search applies (early stopping's comparable objectives, a life-cycle metric's
            # deployment.inferences); the fingerprint keeps the trial's own slice.
            objectives = validate_study(mapping, sections=[*TRIAL_SECTIONS, "objectives", "deployment"]).objectives
            check_rung_history(history, objectives or ())
        tracking = _tracking(mapping)
        fingerprint = trial_fingerprint(config.to_dict(), params, proposal)
        if _finished_record(args.out, fingerprint) is not None:
            logger.info("kept %s: it already holds this trial's measurement (fingerprint %s)", args.out, fingerprint[:12])
            return 0
        # The whole trial holds the machine (see ecopt.metered_lock), not only its windows.
        with hold_metered_lock():
            record = run_trial(config, params, splits_dir=args.splits_dir, process_started_at=process_started_at, rung_history=history)
    except (ConfigError, AdapterImportError, ValueError) as error:  # ParameterError and RecordError are ValueErrors
        print(f"ecopt.trial: {error}", file=sys.stderr)
        return 2
    record.fingerprint = fingerprint
    record.min_window_source = window_source
    data = json_ready(record.to_dict())
    validate_document(data, "trial_record", args.out)  # never write what the next stage would refuse to load
    write_json(args.out, data)
    if record.filled_defaults:
        logger.info("parameters not given took the adapter's defaults: %s", ", ".join(f"{n}={record.params[n]!r}" for n in record.filled_defaults))
    logger.info(
        "%s: %s=%s, %s samples/J (%s%s), overhead %.1f s -> %s",
        record.status,
        record.performance_metric,
        record.performance,
        "no" if record.samples_per_joule is None else f"{record.samples_per_joule:.1f}",
        record.energy_source,
        ", estimated" if record.estimated else "",
        record.overhead_seconds,
        args.out,
    )
    if tracking is not None:  # after the record is written and the metered lock released: MLflow can only add
        from ecopt.tracking import log_trial_safely

        record.path = args.out
        record.round, record.index = (proposal or {}).get("round"), (proposal or {}).get("index")
        log_trial_safely(tracking[1], record, tracking[0])
    if os.environ.get(KILL_AFTER_RECORD_VARIABLE) == "1":
        import signal

        os.killpg(os.getpgrp(), signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
