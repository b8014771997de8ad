"""One trial: set hyperparameters, define, metered train, metered evaluation, record.

Runnable as ``python -m ecopt.trial --config FILE --params JSON --out FILE``. The
record (one JSON file, written atomically) is the checkpoint the optimiser reads.
A trial never crashes its caller: out-of-memory is recorded as ``out_of_memory``
with zero efficiency (the paper's penalty), any other exception as ``failed``
with its text. Only a config the trial cannot even start from (an adapter that
cannot be imported, bad options) is an error, exit status 2.

A record carries a ``fingerprint`` (SHA-256 of the trial's settings, params, round
and index). The CLI keeps a record already at ``--out`` with the same fingerprint
instead of metering again: the workflow declares the trial's output ``update()``,
so when Snakemake reruns a job it saw interrupted (a kill after the record was
written, before the job was marked complete, with ``rerun-incomplete``) it leaves
that record in place rather than deleting it, and no finished measurement is lost.
The whole trial holds the machine-wide metered lock (``ecopt.metered_lock``).

This module must not import Ax: trial jobs stay light.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import socket
import sys
import statistics
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from ecopt.config import instantiate_adapter
from ecopt.errors import AdapterImportError, ConfigError
from ecopt.io import write_json
from ecopt.meter import EnergyRecord, Meter

logger = logging.getLogger(__name__)

RECORD_SCHEMA = "ecopt.trial/1"
COMPLETED, OUT_OF_MEMORY, FAILED = "completed", "out_of_memory", "failed"

TRIAL_DEFAULTS: dict[str, Any] = {
    "skip_train": False,  # inference-only studies (batch size, model zoo)
    "threads": None,  # torch intra-op threads (null: torch's default)
}

_OOM_MESSAGES = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate")


def trial_settings(section: Mapping[str, Any] | None, key: str = "trial") -> dict[str, Any]:
    from ecopt.config import section_with_defaults

    settings = section_with_defaults(section, TRIAL_DEFAULTS, key)
    if not isinstance(settings["skip_train"], bool):
        raise ConfigError(f"{key}.skip_train", settings["skip_train"], "true or false")
    threads = settings["threads"]
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ConfigError(f"{key}.threads", threads, "a positive integer or null")
    return settings


def is_out_of_memory(error: BaseException) -> bool:
    """torch's OutOfMemoryError, MemoryError, or an allocator RuntimeError."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    return isinstance(error, RuntimeError) and any(text in str(error).lower() for text in _OOM_MESSAGES)


def _release_accelerator_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _process_started_at() -> float:
    """Wall-clock start of this process, so that overhead includes interpreter start and imports."""
    import psutil

    return psutil.Process().create_time()


def where_it_ran() -> dict[str, Any]:
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


def run_trial(
    config: Mapping[str, Any],
    params: Mapping[str, Any],
    meter: Meter | None = None,
    splits_dir: str | Path | None = None,
    process_started_at: float | None = None,
) -> dict[str, Any]:
    """Evaluate one configuration and return its record.

    Raises only for configs the trial cannot start from (``AdapterImportError``,
    ``ConfigError``); every failure of the model itself is recorded.
    """
    started_at = time.time()
    process_started_at = started_at if process_started_at is None else process_started_at
    settings = trial_settings(config.get("trial"))
    meter = meter if meter is not None else Meter(config.get("meter"))
    meter.warm_up(background=True)  # overlaps the adapter's imports and data loading

    model = instantiate_adapter(config, splits_dir=splits_dir)
    record: dict[str, Any] = {
        "schema": RECORD_SCHEMA,
        "status": None,
        "error": None,
        "params": dict(params),
        "performance_metric": getattr(model, "performance_metric", "performance"),
        "performance": None,
        "samples": 0,
        "samples_per_joule": None,
        "dynamic_samples_per_joule": None,
        "eval_joules": None,
        "eval_seconds": None,
        "eval_passes": 0,
        "train_joules": None,
        "train_seconds": None,
        "parameters": None,
        "flops_per_sample": None,
        "energy_source": None,
        "estimated": None,
        "skip_train": settings["skip_train"],
    }
    train_energy: EnergyRecord | None = None
    eval_energy: EnergyRecord | None = None
    try:
        if settings["threads"] is not None:
            import torch

            torch.set_num_threads(settings["threads"])
        from ecopt.space import parse_space, validate_params

        if config.get("space"):
            params = validate_params(parse_space(config["space"]), params)
            record["params"] = dict(params)
        model.set_hyperparameters(params)
        model.define()
        if meter.settings["idle_seconds"] > 0 and meter.idle_watts is None:
            meter.measure_idle()
        if not settings["skip_train"]:
            _, train_energy = meter.measure(model.train)
            record["train_joules"], record["train_seconds"] = train_energy.joules, train_energy.seconds
        network = model.network()
        if network is not None:
            from ecopt.cost import count_flops, count_parameters

            record["parameters"] = count_parameters(network)
            sample = model.single_sample_input()
            if sample is not None:
                record["flops_per_sample"] = count_flops(network, sample)
        window = meter.measure_window(model.evaluate)
        eval_energy = window.record
        performances = [float(performance) for performance, _ in window.results]
        samples = int(sum(int(count) for _, count in window.results))
        # A measured performance (latency) varies from pass to pass: report the median pass.
        varies = model.performance_varies
        record.update(
            status=COMPLETED,
            performance=statistics.median(performances) if varies else performances[0],
            samples=samples,
            samples_per_joule=samples / eval_energy.joules if eval_energy.joules > 0 else None,
            eval_joules=eval_energy.joules,
            eval_seconds=eval_energy.seconds,
            eval_passes=window.passes,
        )
        if eval_energy.dynamic_joules is not None and eval_energy.dynamic_joules > 0:
            record["dynamic_samples_per_joule"] = samples / eval_energy.dynamic_joules
        if varies or max(performances) - min(performances) > 1e-9:
            # Accuracy should be deterministic; say so if it is not rather than hide it.
            record["performance_spread"] = [min(performances), max(performances)]
    except Exception as error:  # a trial records, it does not crash
        if is_out_of_memory(error):
            _release_accelerator_memory()
            record.update(status=OUT_OF_MEMORY, samples_per_joule=0.0, error=f"{type(error).__name__}: {error}")
            logger.warning("trial ran out of memory: %s", error)
        else:
            record.update(status=FAILED, error=f"{type(error).__name__}: {error}")
            record["traceback"] = traceback.format_exc(limit=20)
            logger.warning("trial failed: %s: %s", type(error).__name__, error)

    reference = eval_energy or train_energy
    if reference is not None:
        record["energy_source"] = reference.energy_source
        record["estimated"] = reference.estimated
    record["idle_watts"] = meter.idle_watts
    record["train_energy"] = _phase(train_energy)
    record["eval_energy"] = _phase(eval_energy)
    record["min_window_seconds"] = meter.settings["min_window_seconds"]
    record["ran_on"] = where_it_ran()
    finished_at = time.time()
    metered = sum(r.seconds for r in (train_energy, eval_energy) if r is not None)
    record["process_wall_seconds"] = finished_at - process_started_at
    record["overhead_seconds"] = record["process_wall_seconds"] - metered
    record["started_at"] = datetime.fromtimestamp(started_at, timezone.utc).isoformat()
    record["finished_at"] = datetime.fromtimestamp(finished_at, timezone.utc).isoformat()
    return record


def _parse_params(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        text = Path(text[1:]).read_text()
    params = json.loads(text)
    if not isinstance(params, dict):
        raise ValueError(f"--params must be a JSON object, got {text!r}")
    return params


def _proposal(path: str, index: int | None) -> dict[str, Any]:
    from ecopt.io import read_json

    if index is None:
        raise ValueError("--proposals needs --index")
    proposals = read_json(path)["proposals"]
    matching = [entry["params"] for entry in proposals if entry["index"] == index]
    if not matching:
        raise ValueError(f"{path} has no proposal {index} (it has {len(proposals)})")
    return dict(matching[0])


# The sections a trial reads: its fingerprint covers these and nothing else.
TRIAL_SECTIONS = ("adapter", "adapter_options", "data", "meter", "trial", "space", "seed")
# Tests only: set to 1, the trial SIGKILLs its process group (the Snakemake run that
# started it) right after writing its record, before Snakemake can mark the job complete:
# the worst moment for a kill (tests/test_workflow.py).
KILL_AFTER_RECORD_VARIABLE = "ECOPT_TEST_KILL_GROUP_AFTER_RECORD"


def trial_fingerprint(config: Mapping[str, Any], params: Mapping[str, Any], proposal: Mapping[str, Any] | None) -> str:
    """SHA-256 (hex) of what defines a measurement: the trial's settings, its params and which proposal it is.

    ``config`` contributes only ``TRIAL_SECTIONS``; ``proposal`` is ``{"round", "index"}``
    for a proposed trial (two proposals of equal params are two measurements) or
    None for ``--params``. Canonical JSON (sorted keys), so key order never matters.
    """
    import hashlib

    identity = {
        "settings": {name: config.get(name) for name in TRIAL_SECTIONS},
        "params": dict(params),
        "proposal": dict(proposal) if proposal is not None else None,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    process_started_at = _process_started_at()
    try:
        params = _parse_params(args.params) if args.params is not None else _proposal(args.proposals, args.index)
        proposal = None if args.proposals is None else {"round": read_json(args.proposals).get("round"), "index": args.index}
        config = study_mapping(args)
        fingerprint = trial_fingerprint(config, params, proposal)
        if _finished_record(args.out, fingerprint) is not None:
            logger.info("kept %s: it already holds this trial's measurement (fingerprint %s)", args.out, fingerprint[:12])
            return 0
        # The whole trial holds the machine (see ecopt.metered_lock), not only its windows.
        with hold_metered_lock():
            record = run_trial(config, params, splits_dir=args.splits_dir, process_started_at=process_started_at)
    except (ConfigError, AdapterImportError, ValueError) as error:
        print(f"ecopt.trial: {error}", file=sys.stderr)
        return 2
    record["fingerprint"] = fingerprint
    write_json(args.out, record)
    logger.info(
        "%s: %s=%s, %.1f samples/J (%s%s), overhead %.1f s -> %s",
        record["status"], record["performance_metric"], record["performance"],
        record["samples_per_joule"] or 0.0, record["energy_source"], ", estimated" if record["estimated"] else "",
        record["overhead_seconds"], args.out,
    )
    if os.environ.get(KILL_AFTER_RECORD_VARIABLE) == "1":
        import signal

        os.killpg(os.getpgrp(), signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
